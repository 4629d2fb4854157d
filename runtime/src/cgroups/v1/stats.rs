//! v1 statistics: cpuacct, cpu (throttling), memory (+memsw, kmem), pids, blkio throttle counters.

use serde_json::{Map, Value, json};

use crate::cgroups::stats::{blkio_entry, keyed, memory_entry, number};
use crate::cgroups::{Cgroup, CgroupDir, CgroupError};

/// cpuacct.stat counts USER_HZ ticks, which Linux fixes at 100 per second.
const NANOS_PER_TICK: u64 = 10_000_000;

pub(crate) fn collect(cgroup: &Cgroup) -> Result<Value, CgroupError> {
    let mut data = Map::new();
    data.insert(
        "cpu".into(),
        cpu(cgroup.v1_dir("cpuacct"), cgroup.v1_dir("cpu")),
    );
    data.insert(
        "memory".into(),
        cgroup.v1_dir("memory").map_or_else(|| json!({}), memory),
    );
    data.insert(
        "pids".into(),
        cgroup.v1_dir("pids").map_or_else(|| json!({}), pids),
    );
    data.insert(
        "blkio".into(),
        cgroup.v1_dir("blkio").map_or_else(|| json!({}), blkio),
    );
    Ok(Value::Object(data))
}

fn cpu(cpuacct: Option<&CgroupDir>, cpu: Option<&CgroupDir>) -> Value {
    let usage = cpuacct.map_or_else(|| json!({}), |d| {
        let percpu: Vec<u64> = std::fs::read_to_string(d.file("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let ticks = keyed(&d.file("cpuacct.stat"));
        let ns = |key: &str| ticks.get(key).copied().unwrap_or(0).saturating_mul(NANOS_PER_TICK);
        json!({"total": number(&d.file("cpuacct.usage")), "percpu": percpu, "kernel": ns("system"), "user": ns("user")})
    });
    let throttling = cpu.map_or_else(|| json!({}), |d| {
        let stat = keyed(&d.file("cpu.stat"));
        let get = |key: &str| stat.get(key).copied().unwrap_or(0);
        json!({"periods": get("nr_periods"), "throttledPeriods": get("nr_throttled"), "throttledTime": get("throttled_time")})
    });
    json!({"usage": usage, "throttling": throttling})
}

fn memory(d: &CgroupDir) -> Value {
    let entry = |prefix: &str| {
        let f = |name: &str| number(&d.file(&format!("{prefix}.{name}")));
        memory_entry(
            f("limit_in_bytes"),
            f("usage_in_bytes"),
            f("max_usage_in_bytes"),
            f("failcnt"),
        )
    };
    let raw = keyed(&d.file("memory.stat"));
    let oom = keyed(&d.file("memory.oom_control"));
    json!({
        "cache": raw.get("cache").copied().unwrap_or(0),
        "usage": entry("memory"),
        "swap": entry("memory.memsw"),
        "kernel": entry("memory.kmem"),
        "kernelTCP": entry("memory.kmem.tcp"),
        "raw": raw,
        "oomKill": oom.get("oom_kill").copied().unwrap_or(0),
        "underOom": oom.get("under_oom").copied().unwrap_or(0),
    })
}

fn pids(d: &CgroupDir) -> Value {
    json!({"current": number(&d.file("pids.current")), "limit": number(&d.file("pids.max"))})
}

fn blkio(d: &CgroupDir) -> Value {
    json!({
        "ioServiceBytesRecursive": blkio_list(&d.file("blkio.throttle.io_service_bytes_recursive")),
        "ioServicedRecursive": blkio_list(&d.file("blkio.throttle.io_serviced_recursive")),
    })
}

/// Lines "maj:min Op value"; the per-device and overall "Total" lines are left out, as runc does.
fn blkio_list(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter_map(parse_blkio_line).collect()
}

pub(crate) fn parse_blkio_line(line: &str) -> Option<Value> {
    let mut parts = line.split_whitespace();
    let (device, op, value) = (parts.next()?, parts.next()?, parts.next()?);
    let (major, minor) = device.split_once(':')?;
    if op == "Total" {
        return None;
    }
    Some(blkio_entry(
        major.parse().ok()?,
        minor.parse().ok()?,
        op,
        value.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_blkio_line;

    #[test]
    fn blkio_lines() {
        let v = parse_blkio_line("254:0 Read 4096").expect("entry");
        assert_eq!(v["major"], 254);
        assert_eq!(v["op"], "Read");
        assert_eq!(v["value"], 4096);
        assert!(parse_blkio_line("254:0 Total 4096").is_none());
        assert!(parse_blkio_line("Total 4096").is_none());
    }
}
