//! `delete`: remove a stopped (or, with force, any) container and all it made.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::LifecycleError;
use super::signal::{signal_all, signal_init};
use crate::state::{Saved, StateRoot, Status, oci_state_json};

/// How long delete waits for a killed container to die.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub fn delete(root: &Path, id: &str, force: bool) -> crate::Result<()> {
    crate::id::validate(id)?;
    let dir = match StateRoot::new(root).open(id) {
        // As runc: forcing the delete of what is not there succeeds, so callers that
        // always follow a delete with `delete --force` (containerd's shim, podman after a
        // failed create) see no error.
        Err(crate::state::StateError::NotFound(_)) if force => return Ok(()),
        other => other?,
    };
    let _lock = dir.lock()?;
    let Some(saved) = dir.load()? else {
        // A create that died half-way left only its directory.
        if force {
            dir.remove()?;
            return Ok(());
        }
        return Err(LifecycleError::Creating(id.to_string()).into());
    };
    let status = dir.status(&saved);
    match status {
        Status::Stopped => {}
        // runc and crun allow deleting a created container; containerd's shim relies on it.
        Status::Created => stop(&saved)?,
        _ if force => stop(&saved)?,
        _ => {
            return Err(LifecycleError::WrongState { id: id.to_string(), status, what: "stop it first, or use `delete --force`" }.into());
        }
    }
    saved.cgroup.remove()?;
    if saved.host_mountns {
        crate::rootfs::detach_host_rootfs(&saved.rootfs)?;
    }
    let state = serde_json::to_vec(&oci_state_json(&saved, Status::Stopped)).unwrap_or_default();
    if let Err(e) = crate::hooks::run_all("poststop", &saved.poststop, &state) {
        eprintln!("corral: warning: {e}");
    }
    dir.remove()?;
    Ok(())
}

/// SIGKILL the container and wait for its init to die. With its own pid namespace,
/// killing init ends every process in it; without, every process of the cgroup is killed.
fn stop(saved: &Saved) -> crate::Result<()> {
    let pidfd = crate::sys::process::pidfd_open(saved.pid).ok();
    if saved.init_alive() {
        let _ = signal_init(saved, libc::SIGKILL);
    }
    if !saved.own_pid_ns {
        signal_all(saved, libc::SIGKILL)?;
    }
    // A paused container's processes die of the SIGKILL only once thawed.
    if saved.cgroup.is_frozen() {
        let _ = saved.cgroup.thaw();
    }
    if let Some(pidfd) = pidfd {
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(STOP_TIMEOUT.as_millis()).unwrap_or(u16::MAX);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => return Err(LifecycleError::StopTimeout { id: saved.id.clone(), secs: STOP_TIMEOUT.as_secs() }.into()),
            Ok(_) => {}
            Err(source) => return Err(LifecycleError::Wait { id: saved.id.clone(), source }.into()),
        }
    }
    Ok(())
}
