//! Where a container process's cgroup lives on the host, on cgroup v1, hybrid and v2 hosts.

use std::path::{Path, PathBuf};

/// true on a pure cgroup v2 host (the unified hierarchy is mounted at /sys/fs/cgroup itself).
pub fn pure_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The host directory of `pid`'s cgroup that holds `controller`'s files: the directory in the v1
/// hierarchy carrying it, or on a pure v2 host the unified one (the "0::" line).
pub fn cgroup_dir(pid: i64, controller: &str) -> PathBuf {
    let text =
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/pid/cgroup");
    if pure_v2() {
        let path = text
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or_else(|| panic!("no 0:: line in /proc/{pid}/cgroup:\n{text}"));
        return Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    }
    let line = text
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|x| x == controller))
        })
        .unwrap_or_else(|| panic!("no {controller} line in /proc/{pid}/cgroup:\n{text}"));
    let path = line.splitn(3, ':').nth(2).expect("path field");
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(path.trim_start_matches('/'))
}
