//! Namespaces from config.json: which to create with clone, which to join by path.
//!
//! Joined namespaces (other than user) are entered by the parent just before clone and
//! left right after, so the child is born in them and every new namespace it creates is
//! owned by the right user namespace. A joined user namespace is entered by the child.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::sched::{CloneFlags, setns, unshare};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum NsError {
    #[error("linux.namespaces: {typ} namespace path {path}: {source}; check that the namespace exists")]
    Open { typ: String, path: PathBuf, source: std::io::Error },
    #[error("linux.namespaces: cannot join the {typ} namespace {path}: {source}")]
    Join { typ: String, path: PathBuf, source: nix::Error },
    #[error("cannot return to the runtime's own {typ} namespace: {source}")]
    Restore { typ: &'static str, source: nix::Error },
    #[error("linux.namespaces: {0}")]
    Unsupported(String),
    #[error("cannot create namespaces ({flags:?}): {source}")]
    Unshare { flags: CloneFlags, source: nix::Error },
}

pub fn clone_flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// A namespace to join: its type flag and an open descriptor.
#[derive(Debug)]
pub struct Join {
    pub flag: CloneFlags,
    pub path: PathBuf,
    pub fd: OwnedFd,
}

#[derive(Debug)]
pub struct NsPlan {
    /// New namespaces to create with clone (never the cgroup one: see `new_cgroup`).
    pub clone_flags: CloneFlags,
    /// New cgroup namespace, unshared by the child once it sits in its cgroup, so that the
    /// namespace's root is the container's cgroup and not the runtime's.
    pub new_cgroup: bool,
    /// Joined by the parent around clone.
    pub join: Vec<Join>,
    /// A user namespace joined by the child; new namespaces are then unshared after it.
    pub join_user: Option<Join>,
}

impl NsPlan {
    pub fn from_spec(list: &[LinuxNamespace]) -> Result<NsPlan, NsError> {
        let mut plan = NsPlan { clone_flags: CloneFlags::empty(), new_cgroup: false, join: Vec::new(), join_user: None };
        for ns in list {
            let flag = clone_flag(ns.typ());
            match (ns.path(), ns.typ()) {
                (None, LinuxNamespaceType::Cgroup) => plan.new_cgroup = true,
                (None, LinuxNamespaceType::Time) => return Err(NsError::Unsupported("time namespaces are not supported yet".into())),
                (None, _) => plan.clone_flags |= flag,
                (Some(path), typ) => {
                    let fd = File::open(path)
                        .map_err(|source| NsError::Open { typ: typ.to_string(), path: path.clone(), source })?
                        .into();
                    let join = Join { flag, path: path.clone(), fd };
                    if typ == LinuxNamespaceType::User { plan.join_user = Some(join) } else { plan.join.push(join) }
                }
            }
        }
        if plan.join_user.is_some() && plan.clone_flags.contains(CloneFlags::CLONE_NEWPID) {
            return Err(NsError::Unsupported("joining a user namespace while creating a pid namespace is not supported yet; join the pid namespace too or drop it".into()));
        }
        Ok(plan)
    }

    /// Flags for clone: with a joined user namespace, nothing is created at clone time
    /// (the child unshares after entering that namespace).
    pub fn flags_for_clone(&self) -> CloneFlags {
        if self.join_user.is_some() { CloneFlags::empty() } else { self.clone_flags }
    }
}

/// The runtime's own namespaces, saved while it visits the container's.
pub struct Visit {
    saved: Vec<(CloneFlags, &'static str, OwnedFd)>,
    cwd: Option<File>,
}

fn own_ns_name(flag: CloneFlags) -> &'static str {
    match flag {
        f if f == CloneFlags::CLONE_NEWNS => "mnt",
        f if f == CloneFlags::CLONE_NEWUTS => "uts",
        f if f == CloneFlags::CLONE_NEWIPC => "ipc",
        f if f == CloneFlags::CLONE_NEWNET => "net",
        f if f == CloneFlags::CLONE_NEWCGROUP => "cgroup",
        f if f == CloneFlags::CLONE_NEWPID => "pid_for_children",
        _ => "time_for_children",
    }
}

/// Enter every joined namespace; returns what is needed to come back. The runtime's own
/// namespaces are all opened first: once inside another mount namespace, /proc may be a
/// different pid namespace's, where /proc/self does not exist.
pub fn enter(joins: &[Join]) -> Result<Visit, NsError> {
    let mut visit = Visit { saved: Vec::new(), cwd: File::open(".").ok() };
    for join in joins {
        let name = own_ns_name(join.flag);
        let path = format!("/proc/self/ns/{name}");
        let own = File::open(&path).map_err(|source| NsError::Open { typ: name.into(), path: path.into(), source })?;
        visit.saved.push((join.flag, name, own.into()));
    }
    for (i, join) in joins.iter().enumerate() {
        if let Err(source) = setns(join.fd.as_fd(), join.flag) {
            visit.saved.truncate(i);
            let _ = leave(visit);
            let name = own_ns_name(join.flag);
            return Err(NsError::Join { typ: name.trim_end_matches("_for_children").into(), path: join.path.clone(), source });
        }
    }
    Ok(visit)
}

/// Return to the runtime's own namespaces (and working directory, which a mount
/// namespace switch resets).
pub fn leave(visit: Visit) -> Result<(), NsError> {
    for (flag, name, fd) in visit.saved.into_iter().rev() {
        setns(fd.as_fd(), flag).map_err(|source| NsError::Restore { typ: name, source })?;
    }
    if let Some(cwd) = visit.cwd {
        let _ = nix::unistd::fchdir(cwd.as_fd());
    }
    Ok(())
}

/// In the child: enter a joined user namespace, then create the new namespaces under it.
pub fn child_join_user(plan: &NsPlan) -> Result<(), NsError> {
    let Some(join) = &plan.join_user else { return Ok(()) };
    setns(join.fd.as_fd(), CloneFlags::CLONE_NEWUSER)
        .map_err(|source| NsError::Join { typ: "user".into(), path: join.path.clone(), source })?;
    let flags = plan.clone_flags & !CloneFlags::CLONE_NEWUSER;
    unshare(flags).map_err(|source| NsError::Unshare { flags, source })
}

/// In the child, once placed in its cgroup.
pub fn child_unshare_cgroup(plan: &NsPlan) -> Result<(), NsError> {
    if !plan.new_cgroup {
        return Ok(());
    }
    unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|source| NsError::Unshare { flags: CloneFlags::CLONE_NEWCGROUP, source })
}
