//! Finding what a container left behind on the host.

use std::fs;
use std::path::Path;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP_MAX_DEPTH: usize = 8;

/// Everything container `id` (with bundle dir `bundle`) left behind, one
/// description per item; empty when clean.
pub fn leftovers(id: &str, root: &Path, bundle: &Path) -> Vec<String> {
    let mut found = Vec::new();
    found.extend(state_entries(id, root));
    found.extend(cgroup_dirs(id));
    found.extend(mounts_mentioning(id, bundle));
    found.extend(processes_of(id, bundle));
    found
}

/// What still points at the bundle directory (mounts, processes), whatever
/// the container id; for cases where the id is unusable (e.g. ".").
pub fn bundle_leftovers(bundle: &Path) -> Vec<String> {
    let needle = bundle.to_string_lossy();
    let mut found = mounts_mentioning(&needle, bundle);
    found.extend(processes_of(&needle, bundle));
    found
}

/// Panics listing every leftover of container `id`.
pub fn assert_no_leftovers(id: &str, root: &Path, bundle: &Path) {
    let found = leftovers(id, root, bundle);
    assert!(
        found.is_empty(),
        "container {id} left behind:\n  {}",
        found.join("\n  ")
    );
}

/// Entries under the runtime's root (depth <= 3) whose name contains the id.
pub fn state_entries(id: &str, root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    walk_dirs(root, 3, &mut |path| {
        if name_contains(path, id) {
            found.push(format!("state: {}", path.display()));
        }
    });
    found
}

/// Cgroup directories (any hierarchy) whose name contains the id.
pub fn cgroup_dirs(id: &str) -> Vec<String> {
    let mut found = Vec::new();
    walk_dirs(Path::new(CGROUP_ROOT), CGROUP_MAX_DEPTH, &mut |path| {
        if name_contains(path, id) {
            found.push(format!("cgroup: {}", path.display()));
        }
    });
    found
}

/// Host mounts whose mountinfo line mentions the bundle path or the id.
pub fn mounts_mentioning(id: &str, bundle: &Path) -> Vec<String> {
    let bundle = bundle.to_string_lossy();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo
        .lines()
        .filter(|line| line.contains(bundle.as_ref()) || line.contains(id))
        .map(|line| format!("mount: {line}"))
        .collect()
}

/// Live processes whose command line, cwd or root points at the bundle or
/// names the id, or whose cgroup path names the id.
pub fn processes_of(id: &str, bundle: &Path) -> Vec<String> {
    let bundle = bundle.to_string_lossy().into_owned();
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for pid in all_pids() {
        if pid == me || is_zombie(&pid) {
            continue;
        }
        let proc_dir = format!("/proc/{pid}");
        let cmdline = fs::read(format!("{proc_dir}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let cwd = link(&format!("{proc_dir}/cwd"));
        let root = link(&format!("{proc_dir}/root"));
        let cgroup = fs::read_to_string(format!("{proc_dir}/cgroup")).unwrap_or_default();
        let points_into_bundle = [&cwd, &root].iter().any(|p| p.starts_with(&bundle));
        if cmdline.contains(&bundle)
            || cmdline.contains(id)
            || points_into_bundle
            || cgroup.contains(id)
        {
            found.push(format!("process {pid}: {}", cmdline.trim()));
        }
    }
    found
}

/// Number of open fds of this (test) process.
pub fn open_fd_count() -> usize {
    // read_dir's own fd is in the listing; subtract it.
    fs::read_dir("/proc/self/fd").map_or(0, |d| d.count().saturating_sub(1))
}

/// Whether `pid` is a live (not zombie) process.
pub fn pid_alive(pid: i64) -> bool {
    let pid = pid.to_string();
    Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(&pid)
}

/// Waits up to five seconds for `pid` to exit; false if it is still alive.
pub fn wait_pid_gone(pid: i64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while pid_alive(pid) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    true
}

fn all_pids() -> Vec<String> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .collect()
}

fn is_zombie(pid: &str) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    matches!(state, Some("Z" | "X") | None)
}

fn link(path: &str) -> String {
    fs::read_link(path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn name_contains(path: &Path, id: &str) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains(id))
}

/// Calls `visit` on every directory below `dir` down to `depth` levels,
/// without following symlinks.
fn walk_dirs(dir: &Path, depth: usize, visit: &mut dyn FnMut(&Path)) {
    if depth == 0 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            let path = entry.path();
            visit(&path);
            walk_dirs(&path, depth - 1, visit);
        }
    }
}
