//! OCI hooks: run a program with the container's state JSON on stdin, within its timeout.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use oci_spec::runtime::Hook;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum HookError {
    #[error("{kind} hook {path}: cannot start: {source}")]
    Spawn { kind: &'static str, path: String, source: std::io::Error },
    #[error("{kind} hook {path} failed ({status}){stderr}")]
    Failed { kind: &'static str, path: String, status: String, stderr: String },
    #[error("{kind} hook {path} did not finish within its timeout of {secs} s and was killed")]
    Timeout { kind: &'static str, path: String, secs: i64 },
}

/// Run every hook of a list in order; the first failure stops the list.
pub fn run_all(kind: &'static str, hooks: &[Hook], state: &[u8]) -> Result<(), HookError> {
    hooks.iter().try_for_each(|hook| run(kind, hook, state))
}

/// Run one hook: argv from `args` (args[0] is argv[0]), environment exactly `env`.
pub fn run(kind: &'static str, hook: &Hook, state: &[u8]) -> Result<(), HookError> {
    let path = hook.path().display().to_string();
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some((arg0, rest)) = args.split_first() {
            cmd.arg0(arg0).args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| HookError::Spawn { kind, path: path.clone(), source })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that ignores its stdin may close it early: EPIPE is not its failure.
        let _ = stdin.write_all(state);
    }
    let timeout = hook.timeout().map(|s| Duration::from_secs(s as u64));
    if let Some(limit) = timeout {
        if !wait_with_timeout(&child, limit) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::Timeout { kind, path, secs: hook.timeout().unwrap_or_default() });
        }
    }
    let out = child.wait_with_output().map_err(|source| HookError::Spawn { kind, path: path.clone(), source })?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let stderr = match text.trim() {
        "" => String::new(),
        t => format!(": {}", t.lines().last().unwrap_or(t)),
    };
    Err(HookError::Failed { kind, path, status: out.status.to_string(), stderr })
}

/// Wait until the child exits or `limit` passes; true when it exited. Uses a pidfd, so the
/// wait is an event, not a polling loop.
fn wait_with_timeout(child: &std::process::Child, limit: Duration) -> bool {
    let Ok(pidfd) = crate::sys::process::pidfd_open(child.id() as i32) else {
        return true; // No pidfd (old kernel): fall back to an unbounded wait.
    };
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    let mut left = limit.as_millis();
    // poll's timeout is capped at u16::MAX ms per call in nix; loop for longer limits.
    loop {
        let step = u16::try_from(left).unwrap_or(u16::MAX);
        match poll(&mut fds, PollTimeout::from(step)) {
            Ok(n) if n > 0 => return true,
            Ok(_) if left <= u128::from(step) => return false,
            Ok(_) => left -= u128::from(step),
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return true,
        }
    }
}
