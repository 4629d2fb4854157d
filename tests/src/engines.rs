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
use crate::runtime::{CapturedIo, Runtime, unique_id};
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

/// Why podman cannot be tested here, or None when it can.
pub fn podman_missing() -> Option<String> {
    if !crate::is_root() {
        return Some("this test needs root".into());
    }
    for prog in ["podman", "conmon"] {
        if find_program(prog).is_none() {
            return Some(format!("{prog} is not installed (apt-get install podman)"));
        }
    }
    None
}

/// Why containerd cannot be tested here, or None when it can.
pub fn containerd_missing() -> Option<String> {
    if !crate::is_root() {
        return Some("this test needs root".into());
    }
    for prog in ["containerd", "ctr", "containerd-shim-runc-v2"] {
        if find_program(prog).is_none() {
            return Some(format!("{prog} is not installed (apt-get install containerd)"));
        }
    }
    None
}

/// Returns early (the test passes, with a note) unless podman can be tested.
#[macro_export]
macro_rules! skip_unless_podman {
    () => {
        if let Some(why) = $crate::engines::podman_missing() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// Returns early (the test passes, with a note) unless containerd can be tested.
#[macro_export]
macro_rules! skip_unless_containerd {
    () => {
        if let Some(why) = $crate::engines::containerd_missing() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// Whether this corral has the `exec` subcommand (podman exec, healthchecks and
/// `ctr task exec` need it).
pub fn corral_has_exec() -> bool {
    Command::new(corral_bin())
        .args(["exec", "--help"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
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
    let line = text
        .lines()
        .rev()
        .map(|l| l.trim_matches(|c: char| c == '\r' || c == '\0' || c.is_whitespace()))
        .find(|l| l.starts_with('{'))
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
        CgroupParent { name: format!("corral-{engine}-{}", unique_id()) }
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
    let Ok(entries) = fs::read_dir(dir) else { return };
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
            created: paths.iter().map(PathBuf::from).filter(|p| !p.exists()).collect(),
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

// ---------------------------------------------------------------------------------------
// podman

/// podman with private storage, corral as its runtime, and a cgroup parent of its own.
pub struct Podman {
    dir: TempDir,
    io: Runtime,
    cgroup: CgroupParent,
    host_dirs: HostDirs,
    /// `--runtime` value: corral's path, or "corral" (the containers.conf entry).
    runtime: String,
    names: Mutex<Vec<String>>,
    _lock: MutexGuard<'static, ()>,
}

impl Podman {
    /// podman with `--runtime <path of corral>`.
    pub fn new() -> Podman {
        Podman::with_runtime(None)
    }

    /// podman with `--runtime corral`, found through containers.conf `[engine.runtimes]`.
    pub fn with_conf_runtime() -> Podman {
        Podman::with_runtime(Some("corral"))
    }

    fn with_runtime(name: Option<&str>) -> Podman {
        let lock = engine_lock();
        let host_dirs = HostDirs::note(&["/run/containers", "/etc/containers/networks"]);
        let dir = TempDir::new("podman");
        for sub in ["root", "runroot", "tmp", "net"] {
            fs::create_dir(dir.path().join(sub)).expect("create podman dir");
        }
        let bin = corral_bin();
        // File locks under --tmpdir instead of the host-wide /dev/shm/libpod_lock segment.
        let conf = format!(
            "[engine]\nlock_type = \"file\"\nruntime_supports_json = [\"corral\", \"crun\", \"runc\"]\n\
             [engine.runtimes]\ncorral = [{:?}]\n",
            bin.display().to_string()
        );
        fs::write(dir.path().join("containers.conf"), conf).expect("write containers.conf");
        Podman {
            dir,
            io: Runtime::new(),
            cgroup: CgroupParent::new("podman"),
            host_dirs,
            runtime: name.map_or_else(|| bin.display().to_string(), str::to_string),
            names: Mutex::new(Vec::new()),
            _lock: lock,
        }
    }

    /// The cgroup parent (as given to `--cgroup-parent`, with a leading slash).
    pub fn cgroup_parent(&self) -> String {
        format!("/{}", self.cgroup.name)
    }

    /// `podman <private global flags> <args>`, not yet run.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .arg("--network-config-dir")
            .arg(d.join("net"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(["--storage-driver", "vfs", "--runtime", &self.runtime])
            .args(args);
        cmd
    }

    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        run_captured(&self.io, self.command(args), ENGINE_TIMEOUT).0
    }

    /// Like `cmd`, panicking with both streams unless it succeeds; returns stdout.
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.cmd(args);
        let shown: Vec<String> = args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
        assert!(out.status.success(), "`podman {}` failed\n{}", shown.join(" "), describe(&out));
        stdout_of(&out)
    }

    /// The flags every container gets: our cgroup parent, no network, and rlimits this
    /// sandbox can grant (its bounding set lacks CAP_SYS_RESOURCE).
    pub fn base_flags(&self, name: &str, rootfs: &Bundle) -> Vec<String> {
        self.names.lock().unwrap_or_else(|e| e.into_inner()).push(name.to_string());
        [
            "--name",
            name,
            "--network",
            "none",
            "--cgroup-parent",
            &self.cgroup_parent(),
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "--rootfs",
            &rootfs.rootfs().to_string_lossy(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// `podman run <base flags> <flags> <rootfs> <command...>`.
    pub fn run(&self, name: &str, rootfs: &Bundle, flags: &[&str], command: &[&str]) -> Output {
        let mut args = vec!["run".to_string()];
        args.extend(flags.iter().map(|s| s.to_string()));
        args.extend(self.base_flags(name, rootfs));
        args.extend(command.iter().map(|s| s.to_string()));
        self.cmd(&args)
    }

    /// `podman run -d ...`, asserting success; waits until the container is running.
    pub fn run_detached(&self, name: &str, rootfs: &Bundle, flags: &[&str], command: &[&str]) -> i64 {
        let mut all = vec!["-d"];
        all.extend_from_slice(flags);
        let out = self.run(name, rootfs, &all, command);
        assert!(out.status.success(), "podman run -d {name} failed\n{}", describe(&out));
        wait_until(Duration::from_secs(10), || {
            let pid: i64 = self.inspect(name, "{{.State.Pid}}").parse().ok()?;
            (pid > 0).then_some(pid)
        })
        .unwrap_or_else(|| panic!("container {name} never got a pid"))
    }

    /// `podman inspect --format <format> <name>`, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "--format", format, name]).trim().to_string()
    }

    /// The container's full id.
    pub fn id(&self, name: &str) -> String {
        self.inspect(name, "{{.Id}}")
    }

    /// Waits until `{{.State.Status}}` is `want`; panics after 10 s.
    pub fn wait_status(&self, name: &str, want: &str) {
        let last = Mutex::new(String::new());
        let got = wait_until(Duration::from_secs(10), || {
            let status = self.inspect(name, "{{.State.Status}}");
            let hit = status == want;
            *last.lock().unwrap() = status;
            hit.then_some(())
        });
        assert!(got.is_some(), "{name} status stayed {:?}, wanted {want}", last.lock().unwrap());
    }

    /// Panics unless nothing of container `id` (a full id) is left: corral state, cgroups,
    /// mounts, processes.
    pub fn assert_gone(&self, id: &str, rootfs: &Bundle) {
        let found = crate::leaks::leftovers(id, Path::new(CORRAL_DEFAULT_ROOT), rootfs.path());
        assert!(found.is_empty(), "container {id} left behind:\n  {}", found.join("\n  "));
    }
}

impl Default for Podman {
    fn default() -> Self {
        Podman::new()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if !names.is_empty() {
            let mut args = vec!["rm".to_string(), "--force".into(), "--time".into(), "0".into()];
            args.extend(names);
            let mut cmd = self.command(&args);
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            if let Ok(mut child) = cmd.spawn() {
                let _ = wait_or_kill(&mut child, ENGINE_TIMEOUT);
            }
        }
        // conmon's exit command (podman container cleanup) may still be finishing.
        let _ = wait_until(Duration::from_secs(10), || self.cgroup.processes().is_empty().then_some(()));
        let procs = self.cgroup.processes();
        let cgroups = self.cgroup.remove();
        let mounts = mounts_mentioning(&self.dir.path().to_string_lossy());
        self.host_dirs.remove();
        if !std::thread::panicking() {
            assert!(procs.is_empty(), "podman left processes: {procs:?}");
            assert!(cgroups.is_empty(), "podman left cgroups: {cgroups:?}");
            assert!(mounts.is_empty(), "podman left mounts: {mounts:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// containerd

/// The name of the runtime handler our config.toml defines for the CRI plugin.
pub const CRI_HANDLER: &str = "corral";

/// A private containerd (own socket, root, state and config.toml), stopped by pid on drop.
pub struct Containerd {
    dir: TempDir,
    io: Runtime,
    child: Option<Child>,
    cgroup: CgroupParent,
    host_dirs: HostDirs,
    namespace: String,
    ids: Mutex<Vec<String>>,
    _lock: MutexGuard<'static, ()>,
}

impl Containerd {
    /// Starts containerd and waits until it answers.
    pub fn start() -> Containerd {
        let lock = engine_lock();
        let host_dirs = HostDirs::note(&["/run/containerd"]);
        let dir = TempDir::new("containerd");
        let d = dir.path().to_path_buf();
        for sub in ["cni-bin", "cni-conf", "fifo", "runc-root"] {
            fs::create_dir(d.join(sub)).expect("create containerd dir");
        }
        fs::write(d.join("config.toml"), config_toml(&d)).expect("write config.toml");
        let log = File::create(d.join("containerd.log")).expect("create containerd.log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn containerd");
        let mut ctd = Containerd {
            dir,
            io: Runtime::new(),
            child: Some(child),
            cgroup: CgroupParent::new("ctd"),
            host_dirs,
            namespace: "corral-test".into(),
            ids: Mutex::new(Vec::new()),
            _lock: lock,
        };
        let up = wait_until(Duration::from_secs(20), || {
            if let Some(child) = ctd.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("containerd exited ({status}):\n{}", ctd.log());
                }
            }
            ctd.ctr(&["version"]).status.success().then_some(())
        });
        assert!(up.is_some(), "containerd did not answer within 20 s:\n{}", ctd.log());
        ctd
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// containerd's own log (debug level).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// The `--root` the runc shim passes to corral for our namespace.
    pub fn corral_root(&self) -> PathBuf {
        self.dir.path().join("runc-root").join(&self.namespace)
    }

    /// `ctr --address <sock> -n <ns> <args>`, not yet run.
    pub fn ctr_command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address").arg(self.socket()).args(["-n", &self.namespace]).args(args);
        cmd
    }

    pub fn ctr<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        run_captured(&self.io, self.ctr_command(args), ENGINE_TIMEOUT).0
    }

    /// Like `ctr`, panicking with both streams unless it succeeds; returns stdout.
    pub fn ctr_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.ctr(args);
        let shown: Vec<String> = args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
        assert!(
            out.status.success(),
            "`ctr {}` failed\n{}\ncontainerd log tail:\n{}",
            shown.join(" "),
            describe(&out),
            tail(&self.log(), 15)
        );
        stdout_of(&out)
    }

    /// The cgroupsPath for container `id`: under this instance's parent.
    pub fn cgroup_path(&self, id: &str) -> String {
        format!("/{}/{id}", self.cgroup.name)
    }

    /// Flags of `ctr run` that make corral the runc shim's binary, with a private shim root,
    /// our cgroup parent and our fifo dir.
    pub fn run_flags(&self, id: &str) -> Vec<String> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).push(id.to_string());
        vec![
            "--runtime".into(),
            "io.containerd.runc.v2".into(),
            "--runc-binary".into(),
            corral_bin().display().to_string(),
            "--runc-root".into(),
            self.dir.path().join("runc-root").display().to_string(),
            "--cgroup".into(),
            self.cgroup_path(id),
            "--fifo-dir".into(),
            self.dir.path().join("fifo").display().to_string(),
        ]
    }

    /// The args of `ctr run <flags> <run_flags> --rootfs <rootfs> <id> <command...>`.
    pub fn run_args(&self, id: &str, rootfs: &Bundle, flags: &[&str], command: &[&str]) -> Vec<String> {
        let mut args = vec!["run".to_string()];
        args.extend(flags.iter().map(|s| s.to_string()));
        args.extend(self.run_flags(id));
        args.push("--rootfs".into());
        args.push(rootfs.rootfs().display().to_string());
        args.push(id.into());
        args.extend(command.iter().map(|s| s.to_string()));
        args
    }

    pub fn run(&self, id: &str, rootfs: &Bundle, flags: &[&str], command: &[&str]) -> Output {
        self.ctr(&self.run_args(id, rootfs, flags, command))
    }

    /// `ctr run -d ...`; returns the task's pid once it is RUNNING.
    pub fn run_detached(&self, id: &str, rootfs: &Bundle, flags: &[&str], command: &[&str]) -> i64 {
        let mut all = vec!["-d"];
        all.extend_from_slice(flags);
        let out = self.run(id, rootfs, &all, command);
        assert!(
            out.status.success(),
            "ctr run -d {id} failed\n{}\ncontainerd log tail:\n{}",
            describe(&out),
            tail(&self.log(), 15)
        );
        let (pid, status) = self.task(id).unwrap_or_else(|| panic!("no task {id} after ctr run -d"));
        assert_eq!(status, "RUNNING", "task {id} after ctr run -d");
        pid
    }

    /// (pid, STATUS) of task `id` from `ctr task ls`.
    pub fn task(&self, id: &str) -> Option<(i64, String)> {
        let text = self.ctr_ok(&["task", "ls"]);
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[0] == id).then(|| (f[1].parse().unwrap_or(0), f[2].to_string()))
        })
    }

    /// Waits until the task's status is `want`.
    pub fn wait_task_status(&self, id: &str, want: &str) {
        let got = wait_until(Duration::from_secs(10), || {
            self.task(id).filter(|(_, s)| s == want).map(|_| ())
        });
        assert!(got.is_some(), "task {id} never became {want}: {:?}", self.task(id));
    }

    /// Panics unless nothing of container `id` is left: corral state under the shim's root,
    /// cgroups, mounts, processes.
    pub fn assert_gone(&self, id: &str, rootfs: &Bundle) {
        let mut found = crate::leaks::leftovers(id, &self.corral_root(), rootfs.path());
        // The shim itself names the id on its command line only while the task lives.
        found.retain(|f| !f.contains("containerd-shim"));
        assert!(found.is_empty(), "container {id} left behind:\n  {}", found.join("\n  "));
    }

    /// Kills and deletes every task and container this instance made.
    fn remove_all(&self) {
        let ids = self.ids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for id in &ids {
            let quiet = |args: &[&str]| {
                let mut cmd = self.ctr_command(args);
                cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
                if let Ok(mut child) = cmd.spawn() {
                    let _ = wait_or_kill(&mut child, Duration::from_secs(20));
                }
            };
            if self.task(id).is_some() {
                quiet(&["task", "kill", "-a", "-s", "SIGKILL", id]);
                quiet(&["task", "delete", "--force", id]);
            }
            quiet(&["container", "delete", id]);
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if child.try_wait().ok().flatten().is_none() {
                self.remove_all();
            }
            // Stop containerd by its pid: SIGTERM, then SIGKILL after 10 s.
            let pid = child.id();
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .stdin(Stdio::null())
                .status();
            if wait_or_kill(&mut child, Duration::from_secs(10)).is_none() {
                eprintln!("containerd {pid} ignored SIGTERM; killed");
            }
        }
        // Shims exit once their task is deleted.
        let _ = wait_until(Duration::from_secs(10), || self.cgroup.processes().is_empty().then_some(()));
        let procs = self.cgroup.processes();
        let shims = shims_of(&self.socket());
        let cgroups = self.cgroup.remove();
        let mounts = mounts_mentioning(&self.dir.path().to_string_lossy());
        self.host_dirs.remove();
        if !std::thread::panicking() {
            assert!(procs.is_empty(), "containerd test left processes: {procs:?}");
            assert!(shims.is_empty(), "containerd test left shims: {shims:?}");
            assert!(cgroups.is_empty(), "containerd test left cgroups: {cgroups:?}");
            assert!(mounts.is_empty(), "containerd test left mounts: {mounts:?}");
        }
    }
}

/// Live shim processes started for the containerd at `socket`.
fn shims_of(socket: &Path) -> Vec<String> {
    let needle = socket.to_string_lossy().into_owned();
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i64>().ok()))
        .filter(|pid| crate::leaks::pid_alive(*pid))
        .filter_map(|pid| {
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.contains("containerd-shim") && cmd.contains(&needle)).then(|| format!("{pid}: {cmd}"))
        })
        .collect()
}

/// containerd's config.toml: everything under `dir`, and a CRI runtime handler "corral"
/// (what a Kubernetes RuntimeClass with `handler: corral` selects).
pub fn config_toml(dir: &Path) -> String {
    let d = dir.display();
    let bin = corral_bin().display().to_string();
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
oom_score = 0

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni-bin"
    conf_dir = "{d}/cni-conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{CRI_HANDLER}]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{CRI_HANDLER}.options]
        BinaryName = {bin:?}
        Root = "{d}/cri-corral-root"
        SystemdCgroup = false
"#
    )
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Waits for the child; kills and reaps it if it outlives `timeout`. None on timeout.
fn wait_or_kill(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Runs `command` (a shell command line) under `script`, which gives it a pseudo-terminal
/// as its stdin/stdout/stderr (`ctr run -t` refuses to run without one). Paths in it must
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
