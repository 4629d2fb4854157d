//! `kill`: signal a container's init, or with `all` every process in its cgroup.

use std::os::fd::AsFd;
use std::path::Path;

use nix::sys::signal::Signal;

use super::{LifecycleError, open};
use crate::state::{Saved, Status};

/// Parse "TERM", "SIGTERM", "term" or "15".
pub fn parse_signal(text: &str) -> Result<i32, LifecycleError> {
    let bad = || LifecycleError::BadSignal(text.to_string());
    if let Ok(n) = text.parse::<i32>() {
        return if (1..=64).contains(&n) { Ok(n) } else { Err(bad()) };
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse::<Signal>().map(|s| s as i32).map_err(|_| bad())
}

pub fn kill(root: &Path, id: &str, signal: i32, all: bool) -> crate::Result<()> {
    let (dir, saved) = open(root, id)?;
    let status = dir.status(&saved);
    // As runc: `kill --all` of a stopped container has nothing left to do and succeeds;
    // a plain kill fails with "container not running", the words containerd's shim
    // reads as "already finished" (so `ctr task delete --force` can go on).
    if status == Status::Stopped {
        return if all { Ok(()) } else { Err(LifecycleError::NotRunning { id: id.to_string() }.into()) };
    }
    if all {
        signal_all(&saved, signal)?;
    } else {
        signal_init(&saved, signal)?;
    }
    // A frozen (v1) process acts on SIGKILL only once thawed; runc thaws too.
    if status == Status::Paused && signal == libc::SIGKILL {
        let _ = saved.cgroup.thaw();
    }
    Ok(())
}

/// Signal the init through a pidfd opened and then checked against the saved start time,
/// so a recycled pid is never signalled.
pub(crate) fn signal_init(saved: &Saved, signal: i32) -> crate::Result<()> {
    let err = |source| LifecycleError::Signal { id: saved.id.clone(), source };
    let pidfd = crate::sys::process::pidfd_open(saved.pid).map_err(err)?;
    if !saved.init_alive() {
        return Err(LifecycleError::InitGone { id: saved.id.clone() }.into());
    }
    crate::sys::process::pidfd_send_signal(pidfd.as_fd(), signal).map_err(err)?;
    Ok(())
}

/// Signal every process of the container's cgroup (processes that exit meanwhile are fine).
pub(crate) fn signal_all(saved: &Saved, signal: i32) -> crate::Result<()> {
    for pid in saved.cgroup.pids()? {
        if let Ok(pidfd) = crate::sys::process::pidfd_open(pid) {
            let _ = crate::sys::process::pidfd_send_signal(pidfd.as_fd(), signal);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("hup").unwrap(), 1);
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("NOPE").is_err());
    }
}
