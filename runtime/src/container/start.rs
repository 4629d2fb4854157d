//! `start`: release a created container's init into its program.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{LifecycleError, open};
use crate::process::init::LAUNCH_FAILED;
use crate::state::{ContainerDir, Saved, Status, oci_state_json};

pub fn start(root: &Path, id: &str) -> crate::Result<()> {
    let (dir, saved) = open(root, id)?;
    let _lock = dir.lock()?;
    start_locked(&dir, &saved)
}

/// Write the start byte into the exec fifo, wait until the init has exec'd its program
/// (so poststart hooks really run after it), then run poststart hooks.
pub(crate) fn start_locked(dir: &ContainerDir, saved: &Saved) -> crate::Result<()> {
    let status = dir.status(saved);
    if status != Status::Created {
        return Err(LifecycleError::WrongState { id: saved.id.clone(), status, what: "start works only on a created container" }.into());
    }
    let fifo_err = |source| LifecycleError::Fifo { id: saved.id.clone(), source };
    let open = |write: bool| std::fs::File::options().read(!write).write(write).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(dir.fifo_path());
    // Our own read end lets us see the init close its end: that happens at execve
    // (close-on-exec) or when the init dies.
    let watch = open(false).map_err(fifo_err)?;
    // Non-blocking: with no reader (init died) this fails with ENXIO instead of hanging.
    let mut fifo = match open(true) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return Err(LifecycleError::InitGone { id: saved.id.clone() }.into()),
        Err(e) => return Err(fifo_err(e).into()),
    };
    fifo.write_all(&[0]).map_err(fifo_err)?;
    drop(fifo);
    std::fs::remove_file(dir.fifo_path()).map_err(fifo_err)?;
    wait_for_hangup(&watch).map_err(fifo_err)?;
    // Left in the pipe: LAUNCH_FAILED if the init failed after release (its error is on
    // the container's stderr), our start byte if it died before reading it.
    let mut left = [0u8; 1];
    match (&watch).read(&mut left) {
        Ok(1) if left[0] == LAUNCH_FAILED => return Err(LifecycleError::LaunchFailed { id: saved.id.clone() }.into()),
        Ok(1) => return Err(LifecycleError::InitGone { id: saved.id.clone() }.into()),
        _ => {}
    }
    let state = serde_json::to_vec(&oci_state_json(saved, Status::Running)).unwrap_or_default();
    // The spec asks for a warning, not a failure, when a poststart hook fails.
    if let Err(e) = crate::hooks::run_all("poststart", &saved.poststart, &state) {
        eprintln!("corral: warning: {e}");
    }
    Ok(())
}

/// Block until the fifo has no writer left. Asking for no events makes poll report only
/// POLLHUP, not the start byte still sitting in the pipe.
fn wait_for_hangup(watch: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsFd;
    let mut fds = [nix::poll::PollFd::new(watch.as_fd(), nix::poll::PollFlags::empty())];
    loop {
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
            Ok(_) => return Ok(()),
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
