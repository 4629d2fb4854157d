//! Statistics for `events`: cpu, memory, pids and block I/O numbers in runc's JSON layout, plus
//! the OOM-kill counter that `events` watches.
//!
//! Missing files give zeros or empty lists (a host may lack a controller); only a cgroup that
//! cannot be read at all is an error.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::fsops::read_control;
use super::{Cgroup, CgroupError, CgroupMode, v1, v2};

impl Cgroup {
    /// The cgroup's current statistics as runc's `events --stats` "data" object.
    pub fn stats(&self) -> Result<Value, CgroupError> {
        if self.mode() == CgroupMode::V2 {
            let dir = self.v2_dir().ok_or(CgroupError::NoHierarchies)?;
            return v2::stats::collect(dir);
        }
        v1::stats::collect(self)
    }

    /// How many processes the kernel's OOM killer has killed in this cgroup; None without memory accounting.
    pub fn oom_kills(&self) -> Option<u64> {
        if self.mode() == CgroupMode::V2 {
            return keyed(&self.v2_dir()?.file("memory.events"))
                .get("oom_kill")
                .copied();
        }
        keyed(&self.v1_dir("memory")?.file("memory.oom_control"))
            .get("oom_kill")
            .copied()
    }
}

/// A file holding one number; 0 when missing or not a number ("max" included).
pub(crate) fn number(path: &Path) -> u64 {
    read_control(path)
        .ok()
        .flatten()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

/// A flat keyed file ("key value" per line: memory.stat, cpu.stat, memory.events ...).
pub(crate) fn keyed(path: &Path) -> BTreeMap<String, u64> {
    let text = read_control(path).ok().flatten().unwrap_or_default();
    parse_keyed(&text)
}

pub(crate) fn parse_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (key, value) = (parts.next()?, parts.next()?.parse().ok()?);
            Some((key.to_string(), value))
        })
        .collect()
}

/// A runc-style memory entry.
pub(crate) fn memory_entry(limit: u64, usage: u64, max: u64, failcnt: u64) -> Value {
    json!({"limit": limit, "usage": usage, "max": max, "failcnt": failcnt})
}

/// A runc-style blkio entry.
pub(crate) fn blkio_entry(major: u64, minor: u64, op: &str, value: u64) -> Value {
    json!({"major": major, "minor": minor, "op": op, "value": value})
}

#[cfg(test)]
mod tests {
    use super::parse_keyed;

    #[test]
    fn keyed_files() {
        let map = parse_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\nbad\n");
        assert_eq!(map.get("oom_kill"), Some(&3));
        assert_eq!(map.len(), 3);
    }
}
