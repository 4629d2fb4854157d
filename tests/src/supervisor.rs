//! Driving `corrald run` in tests: a private state dir and manifest per daemon,
//! signals by pid, the state file read back, leak checks, and its control API through
//! `corralctl` (or a raw HTTP request on the socket).

use crate::leaks;
use crate::paths::{corral_bin, workspace_root};
use crate::tempdir::TempDir;
use serde_json::Value;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The daemon under test: `$CORRALD_BIN`, else target/release/corrald, else
/// target/debug/corrald (scripts/test builds the release one).
pub fn corrald_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CORRALD_BIN") {
        return PathBuf::from(bin);
    }
    let target = workspace_root().join("target");
    let candidates = [target.join("release/corrald"), target.join("debug/corrald")];
    candidates.into_iter().find(|bin| bin.is_file()).unwrap_or_else(|| {
        panic!("no corrald binary: run scripts/test, or build it and set CORRALD_BIN")
    })
}

/// The client under test: `$CORRALCTL_BIN`, else a release build made on first use in
/// its own target dir (`<target>/corralctl`, like the probe's: the target dir of the
/// `cargo test` running us may be locked), rebuilt if the sources changed.
pub fn corralctl_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(build_corralctl).clone()
}

fn build_corralctl() -> PathBuf {
    if let Some(bin) = std::env::var_os("CORRALCTL_BIN") {
        return PathBuf::from(bin);
    }
    // A relative CARGO_TARGET_DIR is relative to the workspace, where cargo was run.
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| "target".into(), PathBuf::from);
    let target = workspace_root().join(target);
    let target_dir = target.join("corralctl");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--quiet", "--release", "-p", "corral-supervisor", "--bin", "corralctl", "--target-dir"])
        .arg(&target_dir)
        .current_dir(workspace_root())
        .status()
        .expect("run cargo build for corralctl");
    let bin = target_dir.join("release/corralctl");
    assert!(status.success() && bin.is_file(), "building corralctl failed");
    bin
}

/// A service name unique to this test process: "<tag>-<pid>-<n>" (it becomes part of
/// container ids and cgroup paths, which the leak checks look for).
pub fn unique_service(tag: &str) -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    format!("{tag}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// A running (or stopped) corrald with its own state dir, manifest and `out/` dir
/// (bind-mount it into services to let them report).
pub struct Corrald {
    dir: TempDir,
    extra: Vec<String>,
    env: Vec<(String, String)>,
    runtime: PathBuf,
    child: Option<Child>,
    runs: usize,
}

impl Corrald {
    /// A corrald to be run with `extra` flags; not started yet (write its manifest,
    /// which may use `out_dir`, then `spawn`).
    pub fn new(extra: &[&str]) -> Corrald {
        let dir = TempDir::new("corrald");
        fs::create_dir(dir.path().join("out")).expect("create out dir");
        let extra = extra.iter().map(|s| s.to_string()).collect();
        Corrald { dir, extra, env: Vec::new(), runtime: corral_bin(), child: None, runs: 0 }
    }

    pub fn write_manifest(&self, text: &str) {
        fs::write(self.dir.path().join("manifest.toml"), text).expect("write manifest");
    }

    /// Starts corrald again on the same state dir (after `sigkill` or `terminate`).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "corrald is already running");
        self.runs += 1;
        let stderr = fs::File::create(self.dir.path().join(format!("corrald-{}.err", self.runs)))
            .expect("create stderr file");
        let child = Command::new(corrald_bin())
            .arg("run")
            .arg("--manifest")
            .arg(self.dir.path().join("manifest.toml"))
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--runtime")
            .arg(&self.runtime)
            .args(&self.extra)
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn corrald");
        self.child = Some(child);
    }

    /// Where services can write: bind-mount it at /out.
    pub fn out_dir(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    pub fn out(&self, name: &str) -> String {
        fs::read_to_string(self.out_dir().join(name)).unwrap_or_default()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.state_dir().join("logs")
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.dir.path().join("manifest.toml")
    }

    /// The control socket: the `--socket` given, else corrald's default (in the state dir).
    pub fn socket(&self) -> PathBuf {
        let given = self.extra.iter().position(|arg| arg == "--socket").and_then(|at| self.extra.get(at + 1));
        given.map_or_else(|| self.state_dir().join("corrald.sock"), PathBuf::from)
    }

    /// Makes corrald listen on `<test dir>/<name>` (`--socket`) from its next spawn on.
    pub fn use_socket(&mut self, name: &str) {
        let path = self.dir.path().join(name);
        self.extra.extend(["--socket".to_string(), path.to_str().expect("UTF-8 temp dir").to_string()]);
    }

    /// Makes corrald run `runtime` instead of corral (e.g. a wrapper that records how it
    /// is run) from its next spawn on.
    pub fn set_runtime(&mut self, runtime: &Path) {
        self.runtime = runtime.to_owned();
    }

    /// Sets `key=value` in corrald's environment from its next spawn on.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// A file in the test's private dir (for manifests to apply, follower output...).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `corralctl --socket <ours> ARGS...`, run to its end.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(corralctl_bin()).arg("--socket").arg(self.socket()).args(args).output().expect("run corralctl")
    }

    /// `corralctl ARGS...`, which must succeed: its stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let output = self.ctl(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "corralctl {args:?} failed: {stderr}\ncorrald:\n{}", self.stderr());
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `corralctl inspect SERVICE` as JSON (Null if it failed).
    pub fn inspect(&self, service: &str) -> Value {
        let output = self.ctl(&["inspect", service]);
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
    }

    /// Waits until corrald answers on its socket.
    pub fn wait_for_api(&self) {
        self.wait_for("the control socket", Duration::from_secs(20), || self.ctl(&["status"]).status.success().then_some(()))
    }

    /// One raw HTTP request on the socket: the status code and the body.
    pub fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut stream = UnixStream::connect(self.socket()).expect("connect to corrald");
        let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        stream.write_all(request.as_bytes()).expect("send a request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read the answer");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        (status, body.to_string())
    }

    /// `corralctl ARGS...` left running (e.g. `logs -f`), its stdout going to a file.
    pub fn follow(&self, args: &[&str]) -> Follower {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let out = self.file(&format!("follow-{}.out", SEQ.fetch_add(1, Ordering::Relaxed)));
        let child = Command::new(corralctl_bin())
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).expect("create follower output"))
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn corralctl");
        Follower { child, out }
    }

    /// What corrald printed on stderr, every run, for failure messages.
    pub fn stderr(&self) -> String {
        (1..=self.runs)
            .map(|n| fs::read_to_string(self.dir.path().join(format!("corrald-{n}.err"))).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("--- restarted ---\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("corrald is running").id()
    }

    /// The body of the state file (after its checksum line).
    pub fn state(&self) -> Value {
        let text = fs::read_to_string(self.state_dir().join("state.json")).unwrap_or_default();
        let body = text.split_once('\n').map_or("", |(_, body)| body);
        serde_json::from_str(body).unwrap_or(Value::Null)
    }

    /// The recorded init pid and container id of `service`'s live container.
    pub fn container(&self, service: &str) -> Option<(i64, String)> {
        let container = self.state()["services"][service]["container"].clone();
        Some((container["init"]["pid"].as_i64()?, container["id"].as_str()?.to_string()))
    }

    /// Polls `check` every 20 ms; panics with corrald's stderr after `timeout`.
    pub fn wait_for<T>(&self, what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = check() {
                return found;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}\ncorrald:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL to corrald (and reap it); its containers run on.
    pub fn sigkill(&mut self) {
        let mut child = self.child.take().expect("corrald is running");
        child.kill().expect("kill corrald");
        child.wait().expect("reap corrald");
    }

    /// SIGTERM to corrald; returns how it exited (panics if it takes over `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("corrald is running");
        send_signal(child.id() as i64, "TERM");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("wait for corrald") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("corrald did not exit within {timeout:?} of SIGTERM\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Panics if anything of the containers named `ids` (or of this state dir) is left:
    /// runtime state, cgroups, mounts, processes.
    pub fn assert_nothing_left(&self, ids: &[String]) {
        let root = self.state_dir().join("runtime");
        let mut found: Vec<String> = fs::read_dir(&root)
            .map(|entries| entries.filter_map(Result::ok).map(|e| format!("state: {}", e.path().display())).collect())
            .unwrap_or_default();
        let bundles = fs::read_dir(self.state_dir().join("bundles")).map(|d| d.count()).unwrap_or(0);
        if bundles > 0 {
            found.push(format!("{bundles} bundle(s) under {}", self.state_dir().display()));
        }
        for id in ids {
            found.extend(leaks::cgroup_dirs(id));
            found.extend(leaks::processes_of(id, &self.state_dir()));
            found.extend(leaks::mounts_mentioning(id, &self.state_dir()));
        }
        assert!(found.is_empty(), "left behind:\n  {}\ncorrald:\n{}", found.join("\n  "), self.stderr());
    }
}

impl Drop for Corrald {
    /// Best effort after a failed test: stop corrald, then force-delete any container
    /// still in its runtime root.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            send_signal(child.id() as i64, "TERM");
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let root = self.state_dir().join("runtime");
        for entry in fs::read_dir(&root).into_iter().flatten().filter_map(Result::ok) {
            let _ = Command::new(corral_bin())
                .arg("--root")
                .arg(&root)
                .args(["delete", "--force"])
                .arg(entry.file_name())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A `corralctl ... -f` running in the background; killed (by its pid) on drop.
pub struct Follower {
    child: Child,
    out: PathBuf,
}

impl Follower {
    /// What it printed so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Whether it is still running (following).
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("poll corralctl").is_none()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kill -s <signal> <pid>`: for processes this test started (by pid, never by name).
pub fn send_signal(pid: i64, signal: &str) {
    let status = Command::new("kill").args(["-s", signal, &pid.to_string()]).status().expect("run kill");
    assert!(status.success(), "kill -s {signal} {pid} failed");
}

/// Lines of `text`, trimmed, without empty ones.
pub fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// The rootfs path of a test bundle, for a manifest.
pub fn path_str(path: &Path) -> String {
    path.to_str().expect("temp paths are UTF-8").to_string()
}

/// A `[services.NAME]` block running `script` with /bin/sh in the test rootfs, with
/// the daemon's out dir bind-mounted at /out, plus `extra` lines.
pub fn service(corrald: &Corrald, bundle: &crate::bundle::Bundle, name: &str, script: &str, extra: &str) -> String {
    let script = script.replace('\\', "\\\\").replace('"', "\\\"");
    let (rootfs, out) = (path_str(&bundle.rootfs()), path_str(&corrald.out_dir()));
    format!(
        "[services.{name}]\nrootfs = \"{rootfs}\"\nprocess = {{ args = [\"/bin/sh\", \"-c\", \"{script}\"] }}\n\
         mounts = [{{ type = \"bind\", source = \"{out}\", target = \"/out\" }}]\n{extra}\n"
    )
}
