//! Driving container engines (podman, containerd's `ctr`) with corral as their runtime,
//! for tests/tests/engine_podman.rs and engine_containerd.rs.
//!
//! Every engine instance is private: podman gets its own `--root`, `--runroot`, `--tmpdir`,
//! network config dir and containers.conf (file locks, not the shared /dev/shm segment);
//! containerd gets its own socket, root, state, config.toml and shim root, and is stopped by
//! pid on drop. Containers live under a cgroup parent unique to the instance, removed on drop.
//! Instances in one test binary take a global lock, so they never overlap: the few host
//! directories the engines create outside our temp dirs (/run/containers/networks,
//! /run/containerd/s) can then be removed safely when they were not there before.

use crate::bundle::Bundle;
use crate::paths::corral_bin;
use crate::runtime::{CapturedIo, Runtime, unique_id, wait_or_kill};
use crate::tempdir::TempDir;
use serde_json::Value;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long one engine command may take.
pub const ENGINE_TIMEOUT: Duration = Duration::from_secs(60);

/// The state directory corral uses when the engine passes no `--root` (podman does not).
pub const CORRAL_DEFAULT_ROOT: &str = "/run/corral";

static ENGINE_LOCK: Mutex<()> = Mutex::new(());

fn engine_lock() -> MutexGuard<'static, ()> {
    ENGINE_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The full path of `name` on PATH (or in /usr/sbin, /sbin), if installed.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin"])
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// Whether an engine test can run: false (after a note) unless root. A missing program is a
/// failure, not a skip: scripts/setup installs `package`, and CI must not pass without it.
pub fn engine_ready(programs: &[&str], package: &str) -> bool {
    if !crate::is_root() {
        eprintln!("skipped: this test needs root (run scripts/test as root)");
        return false;
    }
    for prog in programs {
        assert!(
            find_program(prog).is_some(),
            "{prog} is not installed: run scripts/setup (apt-get install {package})"
        );
    }
    true
}

/// Returns early (the test passes, with a note) unless root; fails if podman is missing.
#[macro_export]
macro_rules! require_podman {
    () => {
        if !$crate::engines::engine_ready(&["podman", "conmon"], "podman") {
            return;
        }
    };
}

/// Returns early (the test passes, with a note) unless root; fails if containerd is missing.
#[macro_export]
macro_rules! require_containerd {
    () => {
        if !$crate::engines::engine_ready(
            &["containerd", "ctr", "containerd-shim-runc-v2"],
            "containerd",
        ) {
            return;
        }
    };
}

/// The cgroup v1 hierarchies this process is in (as /proc/self/cgroup lists them) that have
/// no cgroup mount in its mount namespace, e.g. "hugetlb" after `mount -t cgroup -o hugetlb`
/// was undone while the hierarchy still had child cgroups: the kernel keeps such a hierarchy,
/// unmounted, and every process stays listed in it. containerd 1.6's cgroup v1 loader needs a
/// mount for each listed hierarchy ("cannot find cgroup mount destination"), so task metrics
/// then fail whatever the runtime.
pub fn unmounted_v1_hierarchies() -> Vec<String> {
    let mounted: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (_, post) = l.split_once(" - ")?;
            let f: Vec<&str> = post.split_whitespace().collect();
            (f.first() == Some(&"cgroup")).then(|| f.get(2).unwrap_or(&"").to_string())
        })
        .flat_map(|opts| opts.split(',').map(str::to_string).collect::<Vec<_>>())
        .collect();
    fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(str::to_string))
        .filter(|controllers| !controllers.is_empty())
        .filter(|controllers| {
            controllers
                .split(',')
                .any(|c| !mounted.iter().any(|m| m == c))
        })
        .collect()
}

/// A busybox + probe root filesystem (the harness's bundle rootfs) in a temp dir.
pub fn rootfs() -> Bundle {
    Bundle::new()
}

/// Text of both streams, for failure messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The last line of `text` that holds a JSON object (terminal output may carry \r and NULs).
pub fn last_json_object(text: &str) -> Value {
    // A terminal may echo a NUL as "^@" before the object: start at the first '{'.
    let line = text
        .lines()
        .rev()
        .filter_map(|l| {
            l.find('{')
                .map(|at| l[at..].trim_end_matches(['\r', '\0', ' ']))
        })
        .find(|l| l.ends_with('}'))
        .unwrap_or_else(|| panic!("no JSON object in output: {text}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// Polls `probe` every 50 ms until it returns Some, up to `timeout`.
pub fn wait_until<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pid-namespace inode of a host pid, as the probe reports namespaces.
pub fn pid_namespace_of(pid: i64) -> String {
    let link = fs::read_link(format!("/proc/{pid}/ns/pid"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    link.split_once('[')
        .map(|(_, rest)| rest.trim_end_matches(']').to_string())
        .unwrap_or(link)
}

/// A cgroup parent unique to one engine instance, e.g. "corral-podman-1234-ct-x-00001",
/// and its removal (every hierarchy, deepest first) on drop.
struct CgroupParent {
    name: String,
}

impl CgroupParent {
    fn new(engine: &str) -> CgroupParent {
        CgroupParent {
            name: format!("corral-{engine}-{}", unique_id()),
        }
    }

    /// Every directory of this parent in every mounted hierarchy.
    fn dirs(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir("/sys/fs/cgroup") else {
            return Vec::new();
        };
        let mut found = Vec::new();
        let mut roots: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        roots.push(PathBuf::from("/sys/fs/cgroup"));
        for root in roots {
            let dir = root.join(&self.name);
            if dir.is_dir() {
                found.push(dir);
            }
        }
        found
    }

    /// Pids still in the parent's cgroups, with the cgroup they are in.
    fn processes(&self) -> Vec<String> {
        let mut procs = Vec::new();
        for dir in self.dirs() {
            walk(&dir, &mut |d| {
                let text = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
                for pid in text.split_whitespace() {
                    let cmd = fs::read(format!("/proc/{pid}/cmdline"))
                        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                        .unwrap_or_default();
                    procs.push(format!("pid {pid} in {}: {}", d.display(), cmd.trim()));
                }
            });
        }
        procs
    }

    fn remove(&self) -> Vec<String> {
        let mut left = Vec::new();
        for dir in self.dirs() {
            let mut all = Vec::new();
            walk(&dir, &mut |d| all.push(d.to_path_buf()));
            // walk lists parents before children: remove in reverse.
            for d in all.iter().rev() {
                if fs::remove_dir(d).is_err() && d.exists() {
                    left.push(d.display().to_string());
                }
            }
        }
        left
    }
}

fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) {
    visit(dir);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&e.path(), visit);
        }
    }
}

/// Host directories an engine creates outside its private dirs: removed again on drop when
/// they did not exist before (and hold only empty directories).
struct HostDirs {
    created: Vec<PathBuf>,
}

impl HostDirs {
    fn note(paths: &[&str]) -> HostDirs {
        HostDirs {
            created: paths
                .iter()
                .map(PathBuf::from)
                .filter(|p| !p.exists())
                .collect(),
        }
    }

    fn remove(&self) {
        for top in &self.created {
            if !top.exists() {
                continue;
            }
            let mut all = Vec::new();
            walk(top, &mut |d| all.push(d.to_path_buf()));
            for d in all.iter().rev() {
                let _ = fs::remove_dir(d);
            }
        }
    }
}

/// Mount points whose line in our mountinfo mentions `needle`.
pub fn mounts_mentioning(needle: &str) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Runs a command with output in files and a timeout (a helper `Runtime` holds the files).
fn run_captured(io: &Runtime, cmd: Command, timeout: Duration) -> (Output, CapturedIo) {
    io.output_with_io(cmd, timeout)
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `command` (a shell command line) under `script` (bsdutils, always installed on Debian),
/// which gives it a pseudo-terminal as its stdin/stdout/stderr (`ctr run -t` refuses to run
/// without one). Paths in it must
/// not need quoting.
pub fn with_pty(io_holder: &Containerd, command: &str) -> Output {
    let mut cmd = Command::new("script");
    cmd.args(["-qec", command, "/dev/null"]);
    run_captured(&io_holder.io, cmd, ENGINE_TIMEOUT).0
}

/// The shell-quoted form of args for `with_pty` (simple single quotes).
pub fn shell_line(program: &str, args: &[String]) -> String {
    let mut line = program.to_string();
    for a in args {
        line.push(' ');
        line.push('\'');
        line.push_str(&a.replace('\'', r"'\''"));
        line.push('\'');
    }
    line
}

mod containerd;
mod podman;

pub use containerd::{CRI_HANDLER, Containerd, config_toml};
pub use podman::Podman;

