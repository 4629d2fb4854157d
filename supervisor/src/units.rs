//! Human-written quantities in the manifest: durations ("500ms", "10s", "1m30s") and
//! sizes ("64M", "1G", or a plain byte count).
//!
//! Both parse from strings so that a manifest reads the way people talk; a bare number
//! of seconds is refused because "10" could as well mean milliseconds.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// Units a duration may use, longest first so "ms" wins over "m".
const DURATION_UNITS: [(&str, u64); 4] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)];

/// Binary size suffixes (case-insensitive); "M" and "MiB" are both 2^20.
const SIZE_UNITS: [(&str, u32); 9] =
    [("kib", 10), ("mib", 20), ("gib", 30), ("tib", 40), ("k", 10), ("m", 20), ("g", 30), ("t", 40), ("b", 0)];

/// Parses "500ms", "10s", "1m", "2h", or several such parts in a row ("1m30s").
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("empty duration; write e.g. \"500ms\", \"10s\" or \"1m\"".into());
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("invalid duration {text:?}: expected a number at {rest:?}"));
        }
        let (number, after) = rest.split_at(digits);
        let Some((unit, scale)) = DURATION_UNITS.iter().find(|(unit, _)| after.starts_with(unit)) else {
            return Err(format!(
                "invalid duration {text:?}: a number needs a unit (ms, s, m or h), e.g. \"{number}s\""
            ));
        };
        let part =
            number.parse::<u64>().ok().and_then(|n| n.checked_mul(*scale)).and_then(|ms| total_ms.checked_add(ms));
        total_ms = part.ok_or_else(|| format!("duration {text:?} is too large"))?;
        rest = &after[unit.len()..];
    }
    Ok(Duration::from_millis(total_ms))
}

/// Parses "64M", "1G", "512KiB", "4096" (bytes). Units are powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("invalid size {text:?}: write e.g. \"64M\", \"1G\" or a byte count"));
    }
    let (number, suffix) = trimmed.split_at(digits);
    let suffix = suffix.trim_start().to_ascii_lowercase();
    let shift = if suffix.is_empty() {
        0
    } else {
        let unit = SIZE_UNITS.iter().find(|(unit, _)| *unit == suffix);
        unit.map(|(_, shift)| *shift)
            .ok_or_else(|| format!("invalid size {text:?}: unknown unit {suffix:?} (use K, M, G or T)"))?
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// Formats a byte count the way people read it back in messages: "1.5 GiB", "64 MiB".
pub fn format_size(bytes: u64) -> String {
    const NAMES: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut index = 0;
    while value >= 1024.0 && index < NAMES.len() - 1 {
        value /= 1024.0;
        index += 1;
    }
    if index == 0 {
        format!("{bytes} bytes")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", NAMES[index])
    } else {
        format!("{value:.1} {}", NAMES[index])
    }
}

/// A duration written as "500ms", "10s", "1m"...
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

/// A size written as "64M", "1G" or a byte count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> serde::Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = HumanDuration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration string such as \"500ms\", \"10s\" or \"1m\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<HumanDuration, E> {
        parse_duration(text).map(HumanDuration).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<HumanDuration, E> {
        Err(E::custom(format!("a duration needs a unit: write \"{n}s\" or \"{n}ms\"")))
    }
}

impl<'de> serde::Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SizeVisitor)
    }
}

struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = Size;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a size such as \"64M\" or \"1G\", or a byte count")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Size, E> {
        parse_size(text).map(Size).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Size, E> {
        u64::try_from(n).map(Size).map_err(|_| E::custom("a size cannot be negative"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases: [(&str, Option<u64>); 12] = [
            ("500ms", Some(500)),
            ("10s", Some(10_000)),
            ("1m", Some(60_000)),
            ("2h", Some(7_200_000)),
            ("1m30s", Some(90_000)),
            ("0s", Some(0)),
            (" 3s ", Some(3_000)),
            ("10", None),
            ("", None),
            ("s", None),
            ("1.5s", None),
            ("5d", None),
        ];
        for (text, want) in cases {
            let got = parse_duration(text).ok().map(|d| d.as_millis() as u64);
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn sizes() {
        let cases: [(&str, Option<u64>); 10] = [
            ("64M", Some(64 << 20)),
            ("1G", Some(1 << 30)),
            ("512k", Some(512 << 10)),
            ("2MiB", Some(2 << 20)),
            ("4096", Some(4096)),
            ("100B", Some(100)),
            ("1 G", Some(1 << 30)),
            ("G", None),
            ("12Q", None),
            ("99999999999T", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text).ok(), want, "{text:?}");
        }
    }

    #[test]
    fn size_formatting() {
        assert_eq!(format_size(512), "512 bytes");
        assert_eq!(format_size(64 << 20), "64 MiB");
        assert_eq!(format_size(3 << 29), "1.5 GiB");
    }
}
