//! A process that `exec` puts into a running container: the parent side (clone inside
//! the container's namespaces, join its cgroup) and the child's steps.
//!
//! The parent enters every namespace of the container but the user one around clone,
//! so the child is born in them (the pid namespace only applies to children). The child:
//! user namespace → root of the container → session → console → rlimits → ids/caps →
//! cwd → close fds → execve. A report channel, closed by execve, tells the parent whether
//! the program started.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use thiserror::Error;

use super::plan::ProcessPlan;
use super::steps::{self, StepError};
use super::sync::{Channel, Tag};
use crate::cgroups::Cgroup;
use crate::namespaces::NsPlan;

#[derive(Debug, Error)]
pub enum ExecError {
    #[error("cannot set up the channel to the new process: {0}")]
    Channel(std::io::Error),
    #[error(transparent)]
    Namespaces(#[from] crate::namespaces::NsError),
    #[error("cannot clone the process: {0}")]
    Clone(std::io::Error),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error("{0}")]
    Child(String),
    #[error("the new process died during setup ({0})")]
    ChildDied(std::io::Error),
}

/// Everything the new process needs, computed before clone.
pub struct ExecPlan {
    /// The container's namespaces, each joined through /proc/<init>/ns/<type>.
    pub ns: NsPlan,
    pub in_user_ns: bool,
    /// The init's root directory (/proc/<init>/root): after the mount namespace, the
    /// child chroots here, which also covers a container made with --no-pivot or without
    /// a mount namespace of its own.
    pub root: OwnedFd,
    pub process: ProcessPlan,
}

/// The started program: its pid (in the runtime's pid namespace) and a pidfd.
pub struct ExecSpawned {
    pub pid: i32,
    pub pidfd: Option<OwnedFd>,
}

/// Clones the child inside the container's namespaces, puts it in `cgroup`, and returns
/// once it has called execve (or with the error that stopped it). In a frozen cgroup the
/// child stops as soon as it joins, so then this returns at once, and a setup error
/// reaches only the process's stderr, once the container is thawed.
pub fn spawn(plan: &ExecPlan, cgroup: &Cgroup, frozen: bool) -> Result<ExecSpawned, ExecError> {
    let (mut chan, child_chan) = Channel::pair().map_err(ExecError::Channel)?;
    let visit = crate::namespaces::enter(&plan.ns.join)?;
    let forked = crate::sys::process::clone_fork(0);
    let (pid, pidfd) = match forked {
        Ok(crate::sys::process::Forked::Child) => {
            drop(chan);
            run_child(plan, child_chan)
        }
        Ok(crate::sys::process::Forked::Parent { pid, pidfd }) => (pid, pidfd),
        Err(e) => {
            crate::namespaces::leave(visit)?;
            return Err(ExecError::Clone(e));
        }
    };
    let mut guard = KillOnDrop(Some(pid));
    drop(child_chan);
    crate::namespaces::leave(visit)?;
    cgroup.add_pid(pid)?;
    chan.send(Tag::Go, &[]).map_err(ExecError::ChildDied)?;
    if frozen {
        guard.0 = None;
        return Ok(ExecSpawned { pid, pidfd });
    }
    match chan.recv() {
        // execve closed the child's end without a word: the program runs.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(ExecError::ChildDied(e)),
        Ok((Tag::Error, message)) => return Err(ExecError::Child(String::from_utf8_lossy(&message).into_owned())),
        Ok(_) => return Err(ExecError::Child("the new process sent an unexpected message".into())),
    }
    guard.0 = None;
    Ok(ExecSpawned { pid, pidfd })
}

/// Kills and reaps the child unless disarmed, so a failed exec leaves no process.
struct KillOnDrop(Option<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
    }
}

#[derive(Debug, Error)]
enum ChildError {
    #[error("lost contact with the runtime: {0}")]
    Channel(std::io::Error),
    #[error(transparent)]
    Namespaces(#[from] crate::namespaces::NsError),
    #[error("cannot enter the container's root: {0}")]
    Root(std::io::Error),
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    #[error(transparent)]
    Step(#[from] StepError),
}

/// The child: never returns. A failure is reported over the channel, then it exits.
fn run_child(plan: &ExecPlan, mut chan: Channel) -> ! {
    let err = match setup(plan, &mut chan) {
        Ok((exe, env)) => ChildError::Step(steps::exec(&plan.process, &exe, &env)),
        Err(e) => e,
    };
    if chan.send(Tag::Error, err.to_string().as_bytes()).is_err() {
        let _ = writeln!(std::io::stderr(), "corral: exec: {err}");
    }
    crate::sys::process::exit_now(1)
}

fn setup(plan: &ExecPlan, chan: &mut Channel) -> Result<(std::ffi::CString, Vec<std::ffi::CString>), ChildError> {
    steps::hide_runtime_image(plan.in_user_ns)?;
    // The parent has put us in the cgroup by then.
    match chan.recv().map_err(ChildError::Channel)? {
        (Tag::Go, _) => {}
        _ => return Err(ChildError::Channel(std::io::Error::other("unexpected message"))),
    }
    crate::namespaces::child_join_user(&plan.ns)?;
    enter_root(plan)?;
    nix::unistd::setsid().map_err(steps::user_err("setsid"))?;
    if let Some(console) = &plan.process.console {
        crate::console::setup_in_child(console, false)?;
    }
    Ok(steps::prepare(&plan.process)?)
}

fn enter_root(plan: &ExecPlan) -> Result<(), ChildError> {
    crate::sys::mount::fchdir(plan.root.as_fd()).map_err(ChildError::Root)?;
    crate::sys::mount::chroot(std::path::Path::new(".")).map_err(ChildError::Root)
}
