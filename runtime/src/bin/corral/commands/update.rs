//! `update`: runc's flags, or a LinuxResources JSON file (`-r FILE`, `-r -` for stdin).

use serde_json::{Map, Value, json};

use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// JSON file with linux.resources to apply ("-" reads stdin); the other flags are then ignored.
    #[arg(short = 'r', long)]
    resources: Option<String>,
    /// Block I/O weight, 10 to 1000.
    #[arg(long)]
    blkio_weight: Option<u16>,
    /// CFS period in microseconds.
    #[arg(long)]
    cpu_period: Option<u64>,
    /// CFS quota in microseconds per period (-1: no limit).
    #[arg(long, allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long, alias = "cpu-shares")]
    cpu_share: Option<u64>,
    /// Realtime period in microseconds.
    #[arg(long)]
    cpu_rt_period: Option<u64>,
    /// Realtime runtime in microseconds per period.
    #[arg(long, allow_hyphen_values = true)]
    cpu_rt_runtime: Option<i64>,
    /// CPUs the container may use, e.g. 0-3 or 0,2.
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long)]
    cpuset_mems: Option<String>,
    /// Memory limit: bytes or 512k, 256m, 1g ... (-1: no limit).
    #[arg(long, allow_hyphen_values = true)]
    memory: Option<String>,
    /// Soft memory limit, same units as --memory.
    #[arg(long, allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Memory plus swap limit, same units as --memory (-1: unlimited swap).
    #[arg(long, allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Kernel memory limit (accepted and ignored, as the kernel no longer enforces it).
    #[arg(long, allow_hyphen_values = true)]
    kernel_memory: Option<String>,
    /// Kernel TCP buffer limit (cgroup v1), same units as --memory.
    #[arg(long, allow_hyphen_values = true)]
    kernel_memory_tcp: Option<String>,
    /// Maximum number of processes (-1: no limit).
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Container id.
    id: String,
}

pub fn run(a: Args, g: &Globals) -> CmdResult {
    let value = match &a.resources {
        Some(path) => read_resources(path)?,
        None => resources_from_flags(&a)?,
    };
    let resources: oci_spec::runtime::LinuxResources = serde_json::from_value(value)
        .map_err(|e| format!("--resources: not a valid linux.resources object: {e}"))?;
    corral_runtime::container::update(&g.root, &a.id, &resources)?;
    Ok(0)
}

fn read_resources(path: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| format!("--resources -: reading stdin: {e}"))?
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("--resources {path}: {e}"))?
    };
    Ok(
        serde_json::from_str(&text)
            .map_err(|e| format!("--resources {path}: invalid JSON: {e}"))?,
    )
}

fn resources_from_flags(a: &Args) -> Result<Value, Box<dyn std::error::Error>> {
    let mut memory = Map::new();
    for (flag, key, value) in [
        ("--memory", "limit", &a.memory),
        ("--memory-reservation", "reservation", &a.memory_reservation),
        ("--memory-swap", "swap", &a.memory_swap),
        ("--kernel-memory-tcp", "kernelTCP", &a.kernel_memory_tcp),
    ] {
        if let Some(text) = value {
            let bytes = ram_in_bytes(text).ok_or_else(|| {
                format!("{flag} {text:?}: use bytes, a size like 512m or 1g, or -1")
            })?;
            memory.insert(key.into(), json!(bytes));
        }
    }
    let mut cpu = Map::new();
    let numbers = [
        ("shares", a.cpu_share.map(|v| json!(v))),
        ("quota", a.cpu_quota.map(|v| json!(v))),
        ("period", a.cpu_period.map(|v| json!(v))),
        ("realtimeRuntime", a.cpu_rt_runtime.map(|v| json!(v))),
        ("realtimePeriod", a.cpu_rt_period.map(|v| json!(v))),
        ("cpus", a.cpuset_cpus.as_ref().map(|v| json!(v))),
        ("mems", a.cpuset_mems.as_ref().map(|v| json!(v))),
    ];
    for (key, value) in numbers {
        if let Some(value) = value {
            cpu.insert(key.into(), value);
        }
    }
    let mut out = Map::new();
    if !memory.is_empty() {
        out.insert("memory".into(), Value::Object(memory));
    }
    if !cpu.is_empty() {
        out.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(limit) = a.pids_limit {
        out.insert("pids".into(), json!({"limit": limit}));
    }
    if let Some(weight) = a.blkio_weight {
        out.insert("blockIO".into(), json!({"weight": weight}));
    }
    Ok(Value::Object(out))
}

/// Bytes from "-1", "1048576", "512k", "256m", "1.5g", "2GiB", "64 MB" (binary multiples, case
/// insensitive), the sizes runc's --memory accepts.
fn ram_in_bytes(text: &str) -> Option<i64> {
    let text = text.trim();
    if text == "-1" {
        return Some(-1);
    }
    let number_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number: f64 = text[..number_len].parse().ok()?;
    let unit = text[number_len..].trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return None,
    };
    let bytes = number * 1024f64.powi(power);
    (bytes.is_finite() && bytes < i64::MAX as f64).then_some(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::ram_in_bytes;

    #[test]
    fn sizes() {
        assert_eq!(ram_in_bytes("-1"), Some(-1));
        assert_eq!(ram_in_bytes("1048576"), Some(1_048_576));
        assert_eq!(ram_in_bytes("512k"), Some(524_288));
        assert_eq!(ram_in_bytes("256m"), Some(268_435_456));
        assert_eq!(ram_in_bytes("1.5g"), Some(1_610_612_736));
        assert_eq!(ram_in_bytes("2GiB"), Some(2_147_483_648));
        assert_eq!(ram_in_bytes("64 MB"), Some(67_108_864));
        for bad in ["", "m", "12x", "-2", "1..2k"] {
            assert_eq!(ram_in_bytes(bad), None, "{bad}");
        }
    }
}
