//! Driving the runtime binary: one `--root` per test, outputs captured in
//! files (not pipes: containers inherit the runtime's stdio and would keep a
//! pipe open), and a timeout on every command.

use crate::bundle::Bundle;
use crate::leaks;
use crate::paths::corral_bin;
use crate::tempdir::TempDir;
use serde_json::Value;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long any single runtime command may take before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A container id unique to this test process: "ct-<test name>-<pid>-<n>".
pub fn unique_id() -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let thread = std::thread::current();
    let test_name: String = thread
        .name()
        .unwrap_or("t")
        .rsplit("::")
        .next()
        .unwrap_or("t")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("ct-{test_name}-{}-{seq:05}", std::process::id())
}

/// Where a command's stdout and stderr went; re-read later to see what a
/// container started by that command printed since.
pub struct CapturedIo {
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl CapturedIo {
    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

/// The runtime binary with a private `--root` state directory.
pub struct Runtime {
    bin: PathBuf,
    base: TempDir,
    seq: AtomicUsize,
    ids: Mutex<Vec<String>>,
}

impl Runtime {
    pub fn new() -> Runtime {
        Runtime::with_bin(corral_bin())
    }

    /// Like `new`, for another copy of the runtime binary (a test that attacks the
    /// binary works on a copy, so that a regression cannot break the other tests).
    pub fn with_bin(bin: PathBuf) -> Runtime {
        let base = TempDir::new("root");
        fs::create_dir(base.path().join("io")).expect("create io dir");
        Runtime {
            bin,
            base,
            seq: AtomicUsize::new(0),
            ids: Mutex::new(Vec::new()),
        }
    }

    /// The `--root` directory (not created in advance: the runtime must).
    pub fn root(&self) -> PathBuf {
        self.base.path().join("root")
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Remembers an id so that drop force-deletes it.
    pub fn track(&self, id: &str) {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id.to_string());
    }

    /// `<runtime> --root <root> <args...>`, not yet run.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(self.root()).args(args);
        cmd
    }

    /// Runs `<runtime> --root <root> <args...>`.
    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.output_of(self.command(args))
    }

    /// Runs a prepared command with captured output and the default timeout.
    pub fn output_of(&self, cmd: Command) -> Output {
        self.output_with_io(cmd, COMMAND_TIMEOUT).0
    }

    /// Runs a prepared command; also returns where its output went.
    pub fn output_with_io(&self, mut cmd: Command, timeout: Duration) -> (Output, CapturedIo) {
        let io = self.new_io();
        cmd.stdin(Stdio::null())
            .stdout(File::create(&io.stdout_path).expect("create stdout file"))
            .stderr(File::create(&io.stderr_path).expect("create stderr file"));
        let described = format!("{cmd:?}");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {described}: {e}"));
        let status = wait_or_kill(&mut child, timeout).unwrap_or_else(|| {
            panic!(
                "timed out after {timeout:?}: {described}\nstdout: {}\nstderr: {}",
                io.stdout(),
                io.stderr()
            )
        });
        let output = Output {
            status,
            stdout: fs::read(&io.stdout_path).unwrap_or_default(),
            stderr: fs::read(&io.stderr_path).unwrap_or_default(),
        };
        (output, io)
    }

    fn new_io(&self) -> CapturedIo {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let dir = self.base.path().join("io");
        CapturedIo {
            stdout_path: dir.join(format!("{n}.out")),
            stderr_path: dir.join(format!("{n}.err")),
        }
    }

    /// `run --bundle <bundle> <extra...> <id>`, in the foreground.
    pub fn run(&self, bundle: &Bundle, id: &str, extra: &[&str]) -> Output {
        self.with_global(&[], "run", bundle, id, extra)
    }

    /// `<global...> <verb> --bundle <bundle> <extra...> <id>`, for global
    /// flags such as `--debug` or `--systemd-cgroup`.
    pub fn with_global(
        &self,
        global: &[&str],
        verb: &str,
        bundle: &Bundle,
        id: &str,
        extra: &[&str],
    ) -> Output {
        self.track(id);
        let mut args: Vec<String> = global.iter().map(|s| s.to_string()).collect();
        args.extend(bundle_args(verb, bundle, id, extra));
        self.cmd(&args)
    }

    /// `exec <flags...> <id> <command...>`, in the foreground.
    pub fn exec(&self, id: &str, flags: &[&str], command: &[&str]) -> Output {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.push(id);
        args.extend_from_slice(command);
        self.cmd(&args)
    }

    /// `create --bundle <bundle> <extra...> <id>`.
    pub fn create(&self, bundle: &Bundle, id: &str, extra: &[&str]) -> Output {
        self.create_io(bundle, id, extra).0
    }

    /// Like `create`, also returning the files that hold the container's
    /// stdout and stderr (it inherits them from `create`).
    pub fn create_io(&self, bundle: &Bundle, id: &str, extra: &[&str]) -> (Output, CapturedIo) {
        self.track(id);
        let cmd = self.command(&bundle_args("create", bundle, id, extra));
        self.output_with_io(cmd, COMMAND_TIMEOUT)
    }

    pub fn start(&self, id: &str) -> Output {
        self.cmd(&["start", id])
    }

    pub fn state_output(&self, id: &str) -> Output {
        self.cmd(&["state", id])
    }

    /// The parsed `state` JSON, or None when `state` fails.
    pub fn try_state(&self, id: &str) -> Option<Value> {
        let out = self.state_output(id);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The parsed `state` JSON; panics with the runtime's error if it fails.
    pub fn state(&self, id: &str) -> Value {
        let out = self.state_output(id);
        crate::check::assert_ok(&out, &format!("state {id}"));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "state {id} printed invalid JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// The `status` field of `state`, or None when `state` fails.
    pub fn status(&self, id: &str) -> Option<String> {
        self.try_state(id)
            .and_then(|s| s["status"].as_str().map(str::to_string))
    }

    /// Polls `state` until the status is `want`; panics after `timeout`.
    pub fn wait_for_status(&self, id: &str, want: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.try_state(id);
            if state.as_ref().is_some_and(|s| s["status"] == want) {
                return state.expect("checked above");
            }
            assert!(
                Instant::now() < deadline,
                "container {id} did not reach {want:?} within {timeout:?}; last state: {state:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&self, id: &str, signal: &str) -> Output {
        self.cmd(&["kill", id, signal])
    }

    pub fn kill_all(&self, id: &str, signal: &str) -> Output {
        self.cmd(&["kill", "--all", id, signal])
    }

    pub fn delete(&self, id: &str, force: bool) -> Output {
        if force {
            self.cmd(&["delete", "--force", id])
        } else {
            self.cmd(&["delete", id])
        }
    }

    pub fn list(&self, extra: &[&str]) -> Output {
        let mut args = vec!["list"];
        args.extend_from_slice(extra);
        self.cmd(&args)
    }

    pub fn ps(&self, id: &str, extra: &[&str]) -> Output {
        let mut args = vec!["ps"];
        args.extend_from_slice(extra);
        args.push(id);
        self.cmd(&args)
    }

    /// The pids `ps --format json` lists; panics if `ps` fails.
    pub fn ps_pids(&self, id: &str) -> Vec<i64> {
        let list =
            crate::check::stdout_json(&self.ps(id, &["--format", "json"]), "ps --format json");
        let pids = list.as_array().cloned().unwrap_or_default();
        pids.iter().filter_map(Value::as_i64).collect()
    }

    /// `delete --force`, asserting it succeeds and leaves nothing behind.
    pub fn delete_force_and_check(&self, id: &str, bundle: &Bundle) {
        crate::check::assert_ok(&self.delete(id, true), &format!("delete --force {id}"));
        self.assert_no_leftovers(id, bundle);
    }

    /// create + start, asserting both succeed; returns the init pid.
    pub fn create_and_start(&self, bundle: &Bundle, id: &str) -> i64 {
        crate::check::assert_ok(&self.create(bundle, id, &[]), &format!("create {id}"));
        crate::check::assert_ok(&self.start(id), &format!("start {id}"));
        self.state(id)["pid"].as_i64().expect("state has a pid")
    }

    /// Runs the probe's `report` in a fresh container and parses it.
    pub fn run_report(&self, bundle: &mut Bundle) -> crate::report::Report {
        bundle.set_probe_args(&["report"]);
        let id = unique_id();
        let out = self.run(bundle, &id, &[]);
        crate::check::assert_ok(&out, &format!("run {id} (probe report)"));
        crate::report::Report::parse(&out)
    }

    /// Panics unless nothing of container `id` is left (state, cgroups,
    /// mounts, processes).
    pub fn assert_no_leftovers(&self, id: &str, bundle: &Bundle) {
        leaks::assert_no_leftovers(id, &self.root(), bundle.path());
    }

    /// Ids of containers the runtime still keeps state for under root.
    fn ids_on_disk(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.root()) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect()
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

impl Drop for Runtime {
    /// Best effort: force-delete every container this test may have left,
    /// so one failing test does not leak into the next.
    fn drop(&mut self) {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        ids.extend(self.ids_on_disk());
        ids.sort();
        ids.dedup();
        for id in ids {
            let Ok(mut child) = self
                .command(&["delete", "--force", &id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            else {
                continue;
            };
            let _ = wait_or_kill(&mut child, Duration::from_secs(10));
        }
    }
}

fn bundle_args(verb: &str, bundle: &Bundle, id: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![verb.to_string(), "--bundle".into()];
    args.push(bundle.path().to_string_lossy().into_owned());
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(id.to_string());
    args
}

/// Waits for the child; kills and reaps it if it outlives `timeout`.
pub(crate) fn wait_or_kill(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}
