//! `events`: resource statistics once or at an interval, and OOM notifications.
//!
//! OOM kills are noticed by polling the memory cgroup's oom_kill counter (v1 memory.oom_control,
//! v2 memory.events) every OOM_POLL, instead of an eventfd on cgroup.event_control: simpler, the
//! same on v1 and v2, and a kill is reported within OOM_POLL.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::open;
use crate::state::Status;

/// How often the OOM counter and the container's liveness are checked while streaming.
const OOM_POLL: Duration = Duration::from_millis(200);

/// One `{"type":"stats","id":..,"data":..}` event for the container.
pub fn stats_event(root: &Path, id: &str) -> crate::Result<Value> {
    let (_, saved) = open(root, id)?;
    Ok(json!({"type": "stats", "id": id, "data": saved.cgroup.stats()?}))
}

/// Stream events to `emit` until the container stops: stats every `interval`, and an
/// `{"type":"oom","id":..}` event whenever the OOM-kill counter grows.
pub fn stream(
    root: &Path,
    id: &str,
    interval: Duration,
    mut emit: impl FnMut(&Value),
) -> crate::Result<()> {
    let (dir, saved) = open(root, id)?;
    let mut ooms = saved.cgroup.oom_kills().unwrap_or(0);
    let mut next_stats = Instant::now();
    loop {
        if dir.status(&saved) == Status::Stopped {
            return Ok(());
        }
        if let Some(now_ooms) = saved.cgroup.oom_kills() {
            if now_ooms > ooms {
                emit(&json!({"type": "oom", "id": id}));
            }
            ooms = now_ooms;
        }
        if Instant::now() >= next_stats {
            // The cgroup can vanish between the liveness check and here: then the stream ends.
            match saved.cgroup.stats() {
                Ok(data) => emit(&json!({"type": "stats", "id": id, "data": data})),
                Err(_) if dir.status(&saved) == Status::Stopped => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            next_stats += interval;
        }
        std::thread::sleep(OOM_POLL.min(interval));
    }
}

/// Parse a Go-style duration as runc's --interval takes it: "5s", "100ms", "1m30s", "1.5s", "2h".
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * seconds;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total)
        .ok()
        .filter(|d| !d.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        for bad in ["", "5", "s", "5x", "0s", "-1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
