//! Typed access to the probe's `report` JSON.

use serde_json::Value;
use std::process::Output;

/// What the probe saw inside the container. Rlimits that are unlimited
/// read as -1.
pub struct Report(pub Value);

impl Report {
    /// Parses the last stdout line that is a JSON object.
    pub fn parse(out: &Output) -> Report {
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .unwrap_or_else(|| panic!("no probe report in stdout: {text}"));
        let value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("probe report is not JSON ({e}): {line}"));
        Report(value)
    }

    pub fn get(&self, key: &str) -> &Value {
        &self.0[key]
    }

    pub fn str(&self, key: &str) -> &str {
        self.0[key]
            .as_str()
            .unwrap_or_else(|| panic!("report.{key} is not a string: {}", self.0[key]))
    }

    pub fn int(&self, key: &str) -> i64 {
        self.0[key]
            .as_i64()
            .unwrap_or_else(|| panic!("report.{key} is not an integer: {}", self.0[key]))
    }

    /// A capability set ("inh", "prm", "eff", "bnd", "amb") as a bit mask.
    pub fn caps(&self, set: &str) -> u64 {
        let hex = self.0["caps"][set].as_str().unwrap_or("");
        u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("caps.{set} is not hex: {hex:?}"))
    }

    pub fn env(&self) -> Vec<String> {
        crate::check::json_strings(&self.0["env"])
    }

    /// The value of environment variable `name`, if set.
    pub fn env_var(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.env()
            .into_iter()
            .find_map(|kv| kv.strip_prefix(&prefix).map(str::to_string))
    }

    pub fn fds(&self) -> Vec<i64> {
        let list = self.0["fds"].as_array().cloned().unwrap_or_default();
        list.iter().filter_map(Value::as_i64).collect()
    }

    pub fn fd_target(&self, fd: i64) -> Option<String> {
        self.0["fd_targets"][fd.to_string()]
            .as_str()
            .map(str::to_string)
    }

    pub fn groups(&self) -> Vec<i64> {
        let list = self.0["groups"].as_array().cloned().unwrap_or_default();
        list.iter().filter_map(Value::as_i64).collect()
    }

    /// (soft, hard) for an OCI rlimit name such as "RLIMIT_NOFILE".
    pub fn rlimit(&self, name: &str) -> (i64, i64) {
        let pair = &self.0["rlimits"][name];
        match (pair[0].as_i64(), pair[1].as_i64()) {
            (Some(soft), Some(hard)) => (soft, hard),
            _ => panic!("report has no rlimit {name}: {pair}"),
        }
    }

    /// The namespace inode for a /proc/self/ns name ("net", "pid", ...).
    pub fn namespace(&self, name: &str) -> String {
        self.0["namespaces"][name]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn mountinfo(&self) -> Vec<String> {
        crate::check::json_strings(&self.0["mountinfo"])
    }

    /// The mountinfo line of the mount at `target`, the last one if stacked.
    pub fn mount_at(&self, target: &str) -> Option<String> {
        self.mountinfo()
            .into_iter()
            .rev()
            .find(|line| line.split(' ').nth(4) == Some(target))
    }

    pub fn isatty(&self, fd: u32) -> bool {
        self.0["isatty"][fd.to_string()].as_bool().unwrap_or(false)
    }
}

/// This (host) process's namespace inode for `name`, to compare with a report.
pub fn host_namespace(name: &str) -> String {
    let target = std::fs::read_link(format!("/proc/self/ns/{name}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    target
        .split_once('[')
        .map(|(_, rest)| rest.trim_end_matches(']').to_string())
        .unwrap_or(target)
}
