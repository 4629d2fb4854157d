//! v2 statistics: cpu.stat, memory.* (+swap), pids, io.stat, in runc's JSON layout.

use serde_json::{Value, json};

use crate::cgroups::stats::{blkio_entry, keyed, memory_entry, number};
use crate::cgroups::{CgroupDir, CgroupError};

pub(crate) fn collect(d: &CgroupDir) -> Result<Value, CgroupError> {
    if !d.host_dir().is_dir() {
        return Err(CgroupError::ReadStats {
            path: d.host_dir(),
            source: std::io::ErrorKind::NotFound.into(),
        });
    }
    Ok(json!({"cpu": cpu(d), "memory": memory(d), "pids": pids(d), "blkio": io(d)}))
}

fn cpu(d: &CgroupDir) -> Value {
    let stat = keyed(&d.file("cpu.stat"));
    let usec = |key: &str| stat.get(key).copied().unwrap_or(0).saturating_mul(1000);
    let get = |key: &str| stat.get(key).copied().unwrap_or(0);
    json!({
        "usage": {"total": usec("usage_usec"), "kernel": usec("system_usec"), "user": usec("user_usec")},
        "throttling": {"periods": get("nr_periods"), "throttledPeriods": get("nr_throttled"), "throttledTime": usec("throttled_usec")},
    })
}

fn memory(d: &CgroupDir) -> Value {
    let raw = keyed(&d.file("memory.stat"));
    let events = keyed(&d.file("memory.events"));
    let limit = |file: &str| match number(&d.file(file)) {
        0 => u64::MAX, // "max"
        n => n,
    };
    let failcnt = events.get("max").copied().unwrap_or(0);
    json!({
        "cache": raw.get("file").copied().unwrap_or(0),
        "usage": memory_entry(limit("memory.max"), number(&d.file("memory.current")), number(&d.file("memory.peak")), failcnt),
        "swap": memory_entry(limit("memory.swap.max"), number(&d.file("memory.swap.current")), number(&d.file("memory.swap.peak")), 0),
        "raw": raw,
        "oomKill": events.get("oom_kill").copied().unwrap_or(0),
    })
}

fn pids(d: &CgroupDir) -> Value {
    json!({"current": number(&d.file("pids.current")), "limit": number(&d.file("pids.max"))})
}

fn io(d: &CgroupDir) -> Value {
    let text = std::fs::read_to_string(d.file("io.stat")).unwrap_or_default();
    let (bytes, ios) = parse_io_stat(&text);
    json!({"ioServiceBytesRecursive": bytes, "ioServicedRecursive": ios})
}

/// io.stat lines "maj:min rbytes=.. wbytes=.. rios=.. wios=.. ..." → (bytes entries, count entries).
pub(crate) fn parse_io_stat(text: &str) -> (Vec<Value>, Vec<Value>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let Some((major, minor)) = parts.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for (key, value) in parts.filter_map(|kv| kv.split_once('=')) {
            let Ok(value) = value.parse() else { continue };
            match key {
                "rbytes" => bytes.push(blkio_entry(major, minor, "Read", value)),
                "wbytes" => bytes.push(blkio_entry(major, minor, "Write", value)),
                "rios" => ios.push(blkio_entry(major, minor, "Read", value)),
                "wios" => ios.push(blkio_entry(major, minor, "Write", value)),
                _ => {}
            }
        }
    }
    (bytes, ios)
}

#[cfg(test)]
mod tests {
    use super::parse_io_stat;

    #[test]
    fn io_stat() {
        let (bytes, ios) =
            parse_io_stat("254:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n");
        assert_eq!(bytes.len(), 2);
        assert_eq!(bytes[0]["value"], 4096);
        assert_eq!(ios[0]["op"], "Read");
    }
}
