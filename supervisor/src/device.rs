//! What the manifest is checked against on this device: how much memory it has.
//!
//! Validation takes a `Device` value rather than reading /proc itself, so the same
//! checks run against a made-up device in tests and against the real one in corrald.

use std::io;

/// The facts about the device that a manifest must fit in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// Usable RAM in bytes (MemTotal in /proc/meminfo).
    pub mem_total: u64,
}

impl Device {
    /// Reads this machine's /proc/meminfo.
    pub fn from_host() -> io::Result<Device> {
        let text = std::fs::read_to_string("/proc/meminfo")?;
        Device::from_meminfo(&text)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no MemTotal line in /proc/meminfo"))
    }

    /// Parses the text of /proc/meminfo ("MemTotal:  2048000 kB").
    pub fn from_meminfo(text: &str) -> Option<Device> {
        let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
        let mut words = line["MemTotal:".len()..].split_whitespace();
        let kib: u64 = words.next()?.parse().ok()?;
        match words.next() {
            Some("kB") => Some(Device { mem_total: kib.checked_mul(1024)? }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        let cases = [
            ("MemTotal:        2048000 kB\nMemFree: 1 kB\n", Some(2_048_000 * 1024)),
            ("MemFree: 1 kB\nMemTotal: 16 kB\n", Some(16 * 1024)),
            ("MemTotal: 12\n", None),
            ("MemFree: 1 kB\n", None),
            ("MemTotal: x kB\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(Device::from_meminfo(text).map(|d| d.mem_total), want, "{text:?}");
        }
    }
}
