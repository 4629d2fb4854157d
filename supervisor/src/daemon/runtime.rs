//! The `corral` binary, run for every container operation (as containerd runs runc):
//! corrald never clones a container itself. Each command is a child process whose exit
//! comes back to the loop as SIGCHLD.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `corral --root <state>/runtime ...`.
#[derive(Clone, Debug)]
pub struct RuntimeCli {
    bin: PathBuf,
    root: PathBuf,
}

impl RuntimeCli {
    pub fn new(bin: PathBuf, root: PathBuf) -> RuntimeCli {
        RuntimeCli { bin, root }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command.arg("--root").arg(&self.root).stdin(Stdio::null());
        for variable in super::notify::VARIABLES {
            command.env_remove(variable);
        }
        command
    }

    /// `run --detach`: returns once the container's process runs. Its stdout and
    /// stderr (and the runtime's own error line) go to `output`, the log pipe; the
    /// error is also logged as JSON to `RUN_LOG` in the bundle, for `run_error`.
    pub fn run_detached(&self, id: &str, bundle: &Path, pid_file: &Path, output: &OwnedFd) -> std::io::Result<Command> {
        let mut command = self.command();
        command.arg("--log").arg(bundle.join(RUN_LOG)).args(["--log-format", "json"]);
        command.args(["run", "--detach", "--bundle"]).arg(bundle).arg("--pid-file").arg(pid_file).arg(id);
        command.stdout(output.try_clone()?).stderr(output.try_clone()?);
        Ok(command)
    }

    /// `kill [--all] <id> <signal>`.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Command {
        let mut command = self.command();
        command.arg("kill");
        if all {
            command.arg("--all");
        }
        command.arg(id).arg(signal.to_string()).stdout(Stdio::null()).stderr(Stdio::null());
        command
    }

    /// `delete --force <id>`: kills what is left and removes state and cgroups.
    pub fn delete(&self, id: &str) -> Command {
        let mut command = self.command();
        command.args(["delete", "--force", id]).stdout(Stdio::null());
        command
    }

    /// `exec <id> <args...>`, output discarded (a probe's answer is its exit status).
    pub fn exec(&self, id: &str, args: &[String]) -> Command {
        let mut command = self.command();
        command.arg("exec").arg(id).args(args).stdout(Stdio::null()).stderr(Stdio::null());
        command
    }

    /// Ids of every container the runtime keeps state for under our root.
    pub fn container_ids(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.root) else { return Vec::new() };
        let ids = entries.filter_map(Result::ok).filter(|entry| entry.path().is_dir());
        ids.filter_map(|entry| entry.file_name().into_string().ok()).collect()
    }
}

/// The runtime's log of a `run`, in the container's bundle directory.
const RUN_LOG: &str = "run.log";

/// Why `corral run` of the container in `bundle` failed: the last error the runtime
/// logged (it names the fault and the fix), else how the command ended.
pub fn run_error(bundle: &Path, ended: &str) -> String {
    let text = fs::read_to_string(bundle.join(RUN_LOG)).unwrap_or_default();
    let entries = text.lines().rev().filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok());
    let mut errors = entries.filter(|entry| entry["level"] == "error");
    let logged = errors.find_map(|entry| entry["msg"].as_str().map(str::to_owned));
    logged.unwrap_or_else(|| format!("corral run {ended}"))
}

/// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks after boot.
/// With the pid it names one process for good (a reused pid has a later start time).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let after_name = stat.rsplit_once(')')?.1;
    after_name.split_whitespace().nth(22 - 3).and_then(|field| field.parse().ok())
}

/// Whether the kernel's OOM killer killed a process in cgroup `path`
/// (memory.events on v2 and hybrid, memory.oom_control on v1).
pub fn oom_killed(cgroup: &str) -> bool {
    let relative = cgroup.trim_start_matches('/');
    let candidates = [
        (format!("/sys/fs/cgroup/{relative}/memory.events"), "oom_kill "),
        (format!("/sys/fs/cgroup/unified/{relative}/memory.events"), "oom_kill "),
        (format!("/sys/fs/cgroup/memory/{relative}/memory.oom_control"), "oom_kill "),
    ];
    candidates.iter().any(|(path, key)| {
        let text = fs::read_to_string(path).unwrap_or_default();
        let count = text.lines().find_map(|line| line.strip_prefix(key)).and_then(|n| n.trim().parse::<u64>().ok());
        count.is_some_and(|n| n > 0)
    })
}

/// The corral binary: next to this executable, else the first `corral` in PATH.
pub fn default_runtime_bin() -> Option<PathBuf> {
    let beside = std::env::current_exe().ok()?.with_file_name("corral");
    if beside.is_file() {
        return Some(beside);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("corral")).find(|bin| bin.is_file())
}
