//! Errors of the cgroup module: one variant per failing step, each naming the path involved.

use std::io;
use std::path::PathBuf;

/// Why a cgroup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot read {path}: {source}; is /proc mounted?")]
    ReadProc { path: PathBuf, source: io::Error },

    #[error("{path} line {line}: {reason}: {text:?}")]
    MalformedProcFile {
        path: PathBuf,
        line: usize,
        reason: &'static str,
        text: String,
    },

    #[error(
        "no usable cgroup hierarchy found in /proc/self/mountinfo; mount cgroupfs (cgroup2 at /sys/fs/cgroup, or v1 controllers below it)"
    )]
    NoHierarchies,

    #[error(
        "systemd cgroup driver is not supported yet: cgroupsPath {path:?} needs it; use a cgroupfs path such as /corral/{id} and drop --systemd-cgroup"
    )]
    SystemdUnsupported { path: String, id: String },

    #[error(
        "cgroupsPath {path:?} looks like a systemd path (slice:prefix:name), but the cgroupfs driver is in use; pass a cgroupfs path such as /corral/{id}"
    )]
    LooksLikeSystemd { path: String, id: String },

    #[error("invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },

    #[error(
        "cannot resolve relative cgroupsPath {path:?} in {mount_point}: our own cgroup {own} is outside that mount (root {mount_root}); use an absolute cgroupsPath"
    )]
    OwnCgroupOutsideMount {
        path: String,
        mount_point: PathBuf,
        own: PathBuf,
        mount_root: PathBuf,
    },

    #[error(
        "cgroup {path} is in use by another container (pids {pids:?}); pick another cgroupsPath or delete that container"
    )]
    InUse { path: PathBuf, pids: Vec<i32> },

    #[error("linux.resources.{field}: cannot write {value:?} to {path}: {source}")]
    SetLimit {
        field: &'static str,
        path: PathBuf,
        value: String,
        source: io::Error,
    },

    #[error(
        "linux.resources.{field}: the host has no {controller} cgroup controller; drop the setting or enable the controller"
    )]
    NoController {
        field: &'static str,
        controller: &'static str,
    },

    #[error(
        "linux.resources.{field}: the {controller} controller is in the unified hierarchy {mount} but not enabled for containers; enable it there (cgroup.subtree_control of the root and of corral's parent cgroup) or mount {controller} as a v1 hierarchy"
    )]
    NotDelegated {
        field: &'static str,
        controller: &'static str,
        mount: PathBuf,
    },

    #[error("linux.resources.{field}: {path} does not exist: {hint}")]
    MissingFile {
        field: &'static str,
        path: PathBuf,
        hint: &'static str,
    },

    #[error("linux.resources.{field}: {value:?} is invalid: {reason}")]
    InvalidValue {
        field: &'static str,
        value: String,
        reason: &'static str,
    },

    #[error("linux.resources.{field} is not supported on cgroup {version}: {hint}")]
    Unsupported {
        field: &'static str,
        version: &'static str,
        hint: &'static str,
    },

    #[error("cannot {action} cgroup {path}: {source}")]
    Freezer {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error(
        "cgroup {path} did not become {wanted} within {millis} ms; its processes may be in uninterruptible sleep, try again"
    )]
    FreezeTimeout {
        path: PathBuf,
        wanted: &'static str,
        millis: u128,
    },

    #[error(
        "the container's cgroup has no freezer (no v1 freezer hierarchy and no cgroup v2 directory); mount the freezer controller"
    )]
    NoFreezer,

    #[error("cannot read cgroup statistics from {path}: {source}")]
    ReadStats { path: PathBuf, source: io::Error },

    #[error("cannot create cgroup directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },

    #[error("cannot initialise cpuset file {path} from its parent: {source}")]
    CpusetInit { path: PathBuf, source: io::Error },

    #[error("cannot move pid {pid} into {path}: {source}{hint}")]
    AddPid {
        pid: i32,
        path: PathBuf,
        source: io::Error,
        hint: &'static str,
    },

    #[error("cannot read the processes of cgroup {path}: {source}")]
    ReadProcs { path: PathBuf, source: io::Error },

    #[error("{path} holds {text:?}, which is not a pid")]
    BadPid { path: PathBuf, text: String },

    #[error("cannot remove cgroup directory {path}: {source}")]
    RemoveDir { path: PathBuf, source: io::Error },

    #[error(
        "cgroup {path} still has processes {pids:?} after waiting; kill them, then delete again"
    )]
    StillBusy { path: PathBuf, pids: Vec<i32> },
}

impl CgroupError {
    /// A hint for a failed write to cgroup.procs, keyed by errno.
    pub(crate) fn add_pid_hint(err: &io::Error) -> &'static str {
        match err.raw_os_error() {
            Some(libc::ENOSPC) => " (cpuset.cpus or cpuset.mems of this cgroup is empty)",
            Some(libc::ESRCH) => " (the process has already exited)",
            Some(libc::EBUSY) => {
                " (a cgroup v2 cgroup with controllers enabled for its children cannot hold processes)"
            }
            _ => "",
        }
    }
}
