//! The container's init, in the cloned child: small named steps, in the order the kernel
//! needs them, ending in execve.
//!
//! namespaces → rootfs → hooks → pivot → hostname/sysctl → console → masked/readonly →
//! rlimits → [seccomp without no_new_privs] → ids/caps → no_new_privs → close fds → wait for
//! start → startContainer hooks → [seccomp with no_new_privs] → execve.
//!
//! The child is a fork of a single-threaded process, so it may allocate, but it parses
//! nothing: everything comes ready-made in the `InitPlan`.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;

use nix::unistd::{Gid, Uid};
use thiserror::Error;

use super::plan::InitPlan;
use super::steps::{self, StepError, user_err};
use super::sync::{Channel, Tag};

#[derive(Debug, Error)]
pub enum InitError {
    #[error("lost contact with the runtime: {0}")]
    Channel(std::io::Error),
    #[error("unexpected message from the runtime")]
    Protocol,
    #[error(transparent)]
    Namespaces(#[from] crate::namespaces::NsError),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error("hostname {name:?}: {source}")]
    Hostname { name: String, source: std::io::Error },
    #[error("linux.sysctl {key}: {source}; check the name and that the container's namespaces own it")]
    Sysctl { key: String, source: std::io::Error },
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    #[error(transparent)]
    Step(#[from] super::steps::StepError),
    #[error("bringing up loopback in the new network namespace: {0}")]
    Loopback(std::io::Error),
    #[error("session keyring: {0}")]
    Keyring(std::io::Error),
    #[error("waiting for start: {0}")]
    StartWait(std::io::Error),
}

/// Byte the init writes into the exec fifo when it fails after `start` released it, so
/// `start` can tell a failed launch from a program that ran and exited quickly.
pub const LAUNCH_FAILED: u8 = 1;

/// Run init; never returns. On failure the error goes to the parent and the child exits.
pub fn run(plan: &InitPlan, mut chan: Channel, mut fifo: File) -> ! {
    let err = match setup(plan, &mut chan, &mut fifo) {
        Err(e) => e,
        Ok(ready) => {
            // `start` has released us; the parent is gone, so stderr and the fifo byte
            // are the only ways to report.
            let err = launch(plan, ready);
            let _ = fifo.write_all(&[LAUNCH_FAILED]);
            let _ = writeln!(std::io::stderr(), "corral: container init: {err}");
            crate::sys::process::exit_now(1)
        }
    };
    if chan.send(Tag::Error, err.to_string().as_bytes()).is_err() {
        let _ = writeln!(std::io::stderr(), "corral: container init: {err}");
    }
    crate::sys::process::exit_now(1)
}

/// What `launch` needs once `start` releases the init.
struct Ready {
    exe: CString,
    env: Vec<CString>,
    state: Vec<u8>,
}

/// Everything up to "created", then block until `start`.
fn setup(plan: &InitPlan, chan: &mut Channel, fifo: &mut File) -> Result<Ready, InitError> {
    if let Some(fd) = plan.state_lock {
        let _ = nix::unistd::close(fd);
    }
    steps::hide_runtime_image(plan.in_user_ns)?;
    let state = expect(chan, Tag::Go)?;
    crate::namespaces::child_join_user(&plan.ns)?;
    become_userns_root(plan)?;
    crate::namespaces::child_unshare_cgroup(&plan.ns)?;
    if plan.ns.clone_flags.contains(nix::sched::CloneFlags::CLONE_NEWNET) {
        crate::sys::net::loopback_up().map_err(InitError::Loopback)?;
    }
    nix::unistd::setsid().map_err(user_err("setsid"))?;
    join_keyring(plan)?;
    crate::rootfs::prepare(&plan.rootfs)?;
    if plan.has_runtime_hooks {
        chan.send(Tag::RunHooks, &[]).map_err(InitError::Channel)?;
        expect(chan, Tag::Resume)?;
    }
    crate::hooks::run_all("createContainer", &plan.create_container_hooks, &state)?;
    crate::rootfs::pivot(&plan.rootfs)?;
    make_cwd(plan)?;
    set_names(plan)?;
    super::sysctl::write_all(&plan.sysctl)?;
    // The console goes in before `finish`, which may make /dev read-only.
    if let Some(console) = &plan.process.console {
        crate::console::setup_in_child(console, true)?;
    }
    crate::rootfs::finish(&plan.rootfs)?;
    let (exe, env) = steps::prepare(&plan.process)?;
    chan.send(Tag::Created, &[]).map_err(InitError::Channel)?;
    wait_for_start(fifo)?;
    Ok(Ready { exe, env, state })
}

/// After `start`: startContainer hooks, then the program. Returns only on failure.
fn launch(plan: &InitPlan, ready: Ready) -> InitError {
    if let Err(e) = crate::hooks::run_all("startContainer", &plan.start_container_hooks, &ready.state) {
        return e.into();
    }
    steps::exec(&plan.process, &ready.exe, &ready.env).into()
}

fn expect(chan: &mut Channel, want: Tag) -> Result<Vec<u8>, InitError> {
    let (tag, payload) = chan.recv().map_err(InitError::Channel)?;
    if tag == want { Ok(payload) } else { Err(InitError::Protocol) }
}

/// In a user namespace the child starts with unmapped ids (it was cloned by host root,
/// which the mapping does not cover), and the kernel refuses to create files for an
/// unmapped owner. Become the namespace's root before touching the rootfs.
fn become_userns_root(plan: &InitPlan) -> Result<(), InitError> {
    if !plan.in_user_ns {
        return Ok(());
    }
    let (uid, gid) = (Uid::from_raw(0), Gid::from_raw(0));
    nix::unistd::setresgid(gid, gid, gid).map_err(user_err("setresgid(0) in the user namespace; check gidMappings maps 0"))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(user_err("setresuid(0) in the user namespace; check uidMappings maps 0"))?;
    Ok(())
}

fn join_keyring(plan: &InitPlan) -> Result<(), InitError> {
    let Some(name) = &plan.new_keyring else { return Ok(()) };
    match crate::sys::process::join_session_keyring(name) {
        // Keyrings may be disabled or restricted (seccomp on the host): runc carries on too.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM | libc::EACCES)) => Ok(()),
        other => other.map_err(InitError::Keyring),
    }
}

fn set_names(plan: &InitPlan) -> Result<(), InitError> {
    if let Some(name) = &plan.hostname {
        nix::unistd::sethostname(name).map_err(|e| InitError::Hostname { name: name.clone(), source: e.into() })?;
    }
    if let Some(name) = &plan.domainname {
        crate::sys::process::set_domainname(name.as_bytes()).map_err(|source| InitError::Hostname { name: name.clone(), source })?;
    }
    Ok(())
}

/// Create the working directory if the image lacks it (as root, before ids change).
fn make_cwd(plan: &InitPlan) -> Result<(), InitError> {
    match std::fs::DirBuilder::new().recursive(true).mode(0o755).create(&plan.process.cwd) {
        Ok(()) => Ok(()),
        Err(source) => Err(StepError::Cwd { path: plan.process.cwd.clone(), source }.into()),
    }
}

/// Block until `start` writes a byte into the exec fifo. The fifo was opened read-write
/// by the parent, so this read blocks (it never sees EOF) until the byte arrives.
fn wait_for_start(fifo: &mut File) -> Result<(), InitError> {
    let mut byte = [0u8; 1];
    loop {
        match fifo.read(&mut byte) {
            Ok(1) => return Ok(()),
            Ok(_) => return Err(InitError::StartWait(std::io::Error::other("exec fifo closed"))),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(InitError::StartWait(e)),
        }
    }
}
