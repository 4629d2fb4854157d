//! `run`: create, start, and (unless detached) wait, forwarding signals, then delete.

use std::os::fd::{AsFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use super::create::{CreateOptions, create};
use super::start::start_locked;
use super::{LifecycleError, delete};

pub enum RunOutcome {
    /// Detached: the container runs on; its init's pid.
    Detached(i32),
    /// The container ended; the exit code a shell would report (128+N for signal N).
    Exited(i32),
}

/// Signals a user sends to `run` that belong to the container.
pub(crate) const FORWARDED: [Signal; 7] =
    [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2, Signal::SIGWINCH];

pub fn run(opts: &CreateOptions, detach: bool) -> crate::Result<RunOutcome> {
    let created = create(opts)?;
    if detach {
        let lock = created.dir.lock()?;
        let started = start_locked(&created.dir, &created.saved);
        // `delete` takes the lock itself: a second flock on the directory from this
        // process would wait for our own, forever.
        drop(lock);
        if let Err(e) = started {
            let _ = delete(opts.root, opts.id, true);
            return Err(e);
        }
        return Ok(RunOutcome::Detached(created.pid));
    }
    let mut mask = SigSet::empty();
    FORWARDED.iter().for_each(|s| mask.add(*s));
    let _ = mask.thread_block();
    let outcome = start_locked(&created.dir, &created.saved).and_then(|()| wait_forwarding(opts.id, created.pid, created.pidfd, &mask));
    let _ = mask.thread_unblock();
    let deleted = delete(opts.root, opts.id, true);
    let code = outcome?;
    deleted?;
    Ok(RunOutcome::Exited(code))
}

/// Wait for the init (our child) to exit, passing on every forwarded signal.
pub(crate) fn wait_forwarding(id: &str, pid: i32, pidfd: Option<OwnedFd>, mask: &SigSet) -> crate::Result<i32> {
    let wait_err = |source| LifecycleError::Wait { id: id.to_string(), source };
    let pidfd = match pidfd {
        Some(fd) => fd,
        None => crate::sys::process::pidfd_open(pid).map_err(|e| wait_err(nix::Error::from_raw(e.raw_os_error().unwrap_or(0))))?,
    };
    let sfd = SignalFd::with_flags(mask, SfdFlags::SFD_CLOEXEC).map_err(wait_err)?;
    loop {
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN), PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(wait_err(e).into()),
            Ok(_) => {}
        }
        if fds[1].revents().is_some_and(|r| r.contains(PollFlags::POLLIN)) {
            if let Ok(Some(info)) = sfd.read_signal() {
                let _ = crate::sys::process::pidfd_send_signal(pidfd.as_fd(), info.ssi_signo as i32);
            }
        }
        if fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLIN)) {
            return match waitpid(Pid::from_raw(pid), None).map_err(wait_err)? {
                WaitStatus::Exited(_, code) => Ok(code),
                WaitStatus::Signaled(_, sig, _) => Ok(128 + sig as i32),
                _ => Ok(255),
            };
        }
    }
}
