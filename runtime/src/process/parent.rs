//! The runtime side of container creation: clone the init, map its ids, put it in its
//! cgroup, run the runtime-side hooks, and wait until it reports "created".

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{Hook, LinuxIdMapping};
use thiserror::Error;

use super::plan::InitPlan;
use super::sync::{Channel, Tag};
use crate::cgroups::Cgroup;

#[derive(Debug, Error)]
pub enum SpawnError {
    #[error("exec fifo {path}: {source}")]
    Fifo { path: String, source: std::io::Error },
    #[error("cannot set up the parent/init channel: {0}")]
    Channel(std::io::Error),
    #[error(transparent)]
    Namespaces(#[from] crate::namespaces::NsError),
    #[error("cannot clone the container's init: {0}")]
    Clone(std::io::Error),
    #[error("linux.{file}: cannot write the mapping: {source}")]
    IdMap { file: &'static str, source: std::io::Error },
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error("{0}")]
    Init(String),
    #[error("the container's init died during setup ({0})")]
    InitDied(std::io::Error),
}

/// The runtime-side inputs that are not part of the init's plan.
pub struct SpawnContext<'a> {
    pub fifo: &'a Path,
    pub cgroup: &'a Cgroup,
    pub uid_mappings: &'a [LinuxIdMapping],
    pub gid_mappings: &'a [LinuxIdMapping],
    pub prestart: &'a [Hook],
    pub create_runtime: &'a [Hook],
    /// The state JSON hooks receive, given the init's pid.
    pub state_json: &'a dyn Fn(i32) -> Vec<u8>,
}

/// A created container's init, waiting for `start`.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub pidfd: Option<OwnedFd>,
}

/// Kills and reaps the child unless disarmed, so a failed create leaves no process.
struct ChildGuard(Option<i32>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
    }
}

pub fn spawn(plan: &InitPlan, ctx: &SpawnContext) -> Result<Spawned, SpawnError> {
    // Read-write, so the init's blocking read never sees EOF before `start` writes.
    let fifo = File::options()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(ctx.fifo)
        .map_err(|source| SpawnError::Fifo { path: ctx.fifo.display().to_string(), source })?;
    let (mut chan, child_chan) = Channel::pair().map_err(SpawnError::Channel)?;
    let visit = crate::namespaces::enter(&plan.ns.join)?;
    let forked = crate::sys::process::clone_fork(plan.ns.flags_for_clone().bits() as u64);
    let (pid, pidfd) = match forked {
        Ok(crate::sys::process::Forked::Child) => {
            drop(chan);
            super::init::run(plan, child_chan, fifo)
        }
        Ok(crate::sys::process::Forked::Parent { pid, pidfd }) => (pid, pidfd),
        Err(e) => {
            crate::namespaces::leave(visit)?;
            return Err(SpawnError::Clone(e));
        }
    };
    let mut guard = ChildGuard(Some(pid));
    drop(child_chan);
    drop(fifo);
    crate::namespaces::leave(visit)?;
    write_id_maps(pid, ctx)?;
    ctx.cgroup.add_pid(pid)?;
    chan.send(Tag::Go, &(ctx.state_json)(pid)).map_err(SpawnError::InitDied)?;
    await_created(&mut chan, ctx, pid)?;
    guard.0 = None;
    Ok(Spawned { pid, pidfd })
}

fn await_created(chan: &mut Channel, ctx: &SpawnContext, pid: i32) -> Result<(), SpawnError> {
    loop {
        let (tag, payload) = chan.recv().map_err(SpawnError::InitDied)?;
        match tag {
            Tag::Created => return Ok(()),
            Tag::Error => return Err(SpawnError::Init(String::from_utf8_lossy(&payload).into_owned())),
            Tag::RunHooks => {
                let state = (ctx.state_json)(pid);
                crate::hooks::run_all("prestart", ctx.prestart, &state)?;
                crate::hooks::run_all("createRuntime", ctx.create_runtime, &state)?;
                chan.send(Tag::Resume, &[]).map_err(SpawnError::InitDied)?;
            }
            Tag::Go | Tag::Resume => return Err(SpawnError::Init("init sent an unexpected message".into())),
        }
    }
}

fn write_id_maps(pid: i32, ctx: &SpawnContext) -> Result<(), SpawnError> {
    for (file, maps) in [("uid_map", ctx.uid_mappings), ("gid_map", ctx.gid_mappings)] {
        if maps.is_empty() {
            continue;
        }
        let text: String = maps.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect();
        let field = if file == "uid_map" { "uidMappings" } else { "gidMappings" };
        let write = || File::options().write(true).open(format!("/proc/{pid}/{file}"))?.write_all(text.as_bytes());
        write().map_err(|source| SpawnError::IdMap { file: field, source })?;
    }
    Ok(())
}
