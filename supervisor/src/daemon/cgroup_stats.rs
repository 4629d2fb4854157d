//! Memory and CPU use of a container, read from its cgroup (`/corral/<id>` in every
//! hierarchy): cgroup v2 (memory.current, memory.max, cpu.stat) or v1 (memory's
//! usage_in_bytes and limit_in_bytes, cpuacct.usage), whichever the host has.

use std::fs;
use std::path::{Path, PathBuf};

/// What a container's cgroup says; None where a file is missing or unreadable.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub memory_bytes: Option<u64>,
    /// None when unlimited.
    pub memory_limit: Option<u64>,
    pub cpu_seconds: Option<f64>,
}

/// v1 reports "no limit" as a huge page-aligned number; anything this big is unlimited.
const V1_UNLIMITED: u64 = 1 << 62;

/// The usage of cgroup `cgroup` (e.g. "/corral/web-3") on this host.
pub fn usage(cgroup: &str) -> Usage {
    usage_under(Path::new("/sys/fs/cgroup"), cgroup)
}

/// The same under a cgroup mount point `root` (a test can give a fake tree).
pub fn usage_under(root: &Path, cgroup: &str) -> Usage {
    let relative = cgroup.trim_start_matches('/');
    if root.join("cgroup.controllers").exists() {
        v2(&root.join(relative))
    } else {
        v1(root, relative)
    }
}

fn v2(dir: &Path) -> Usage {
    let usec = read(&dir.join("cpu.stat")).and_then(|text| field(&text, "usage_usec"));
    Usage {
        memory_bytes: read_number(&dir.join("memory.current")),
        memory_limit: read_number(&dir.join("memory.max")), // "max" does not parse: unlimited
        cpu_seconds: usec.map(|usec| usec as f64 / 1e6),
    }
}

fn v1(root: &Path, relative: &str) -> Usage {
    let memory = root.join("memory").join(relative);
    let cpuacct: Option<PathBuf> = ["cpuacct", "cpu,cpuacct", "cpuacct,cpu"]
        .iter()
        .map(|name| root.join(name).join(relative).join("cpuacct.usage"))
        .find(|path| path.exists());
    Usage {
        memory_bytes: read_number(&memory.join("memory.usage_in_bytes")),
        memory_limit: read_number(&memory.join("memory.limit_in_bytes")).filter(|limit| *limit < V1_UNLIMITED),
        cpu_seconds: cpuacct.and_then(|path| read_number(&path)).map(|nanos| nanos as f64 / 1e9),
    }
}

fn read(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

fn read_number(path: &Path) -> Option<u64> {
    read(path)?.trim().parse().ok()
}

/// The value of `key` in a flat-keyed file ("key value" lines).
fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> PathBuf {
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("corrald-cgstats-{}-{n}", std::process::id()));
        for (path, text) in files {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        root
    }

    #[test]
    fn reads_cgroup_v2() {
        let root = tree(&[
            ("cgroup.controllers", "cpu memory"),
            ("corral/web-1/memory.current", "1048576\n"),
            ("corral/web-1/memory.max", "max\n"),
            ("corral/web-1/cpu.stat", "usage_usec 2500000\nuser_usec 2000000\n"),
        ]);
        let usage = usage_under(&root, "/corral/web-1");
        assert_eq!(usage, Usage { memory_bytes: Some(1 << 20), memory_limit: None, cpu_seconds: Some(2.5) });
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn reads_cgroup_v1() {
        let root = tree(&[
            ("memory/corral/web-1/memory.usage_in_bytes", "4096\n"),
            ("memory/corral/web-1/memory.limit_in_bytes", "16777216\n"),
            ("cpu,cpuacct/corral/web-1/cpuacct.usage", "1500000000\n"),
        ]);
        let usage = usage_under(&root, "/corral/web-1");
        assert_eq!(usage, Usage { memory_bytes: Some(4096), memory_limit: Some(16 << 20), cpu_seconds: Some(1.5) });
        let unlimited = tree(&[("memory/c/memory.limit_in_bytes", "9223372036854771712\n")]);
        assert_eq!(usage_under(&unlimited, "/c").memory_limit, None);
        assert_eq!(usage_under(&unlimited, "/missing"), Usage::default());
        fs::remove_dir_all(root).unwrap();
        fs::remove_dir_all(unlimited).unwrap();
    }
}
