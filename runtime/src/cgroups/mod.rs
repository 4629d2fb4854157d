//! A cgroup per container, cgroupfs layout, on cgroup v1, v2 and hybrid hosts.
//!
//! Layout: `hierarchy.rs` finds the mounted hierarchies, `path.rs` turns linux.cgroupsPath into one path
//! per hierarchy, `fsops.rs` makes and removes the directories, and `v1/` and `v2/` hold per-controller
//! work (one small file per controller, e.g. `v1/cpuset.rs`).

mod error;
mod freezer;
mod fsops;
mod hierarchy;
mod path;
mod procfile;
mod resources;
mod stats;
pub mod devices;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use error::CgroupError;
pub use fsops::PROCS_FILE;
pub use hierarchy::{CgroupMode, Hierarchies, Hierarchy};
pub use path::DEFAULT_PARENT;

/// How long `remove` waits for dying processes to leave the cgroup.
const REMOVE_PATIENCE: Duration = Duration::from_secs(1);

/// v1 hierarchies that always hold all of a container's processes, best first, for listing them.
const PIDS_SOURCES: [&str; 4] = ["pids", "freezer", "memory", "name=systemd"];

/// Which kind of hierarchy a cgroup directory lives in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HierarchyKind {
    /// A v1 hierarchy; `controllers` is its mount option list, e.g. "memory", "cpu,cpuacct" or "name=systemd".
    V1 { controllers: String },
    /// The unified (v2) hierarchy.
    V2,
}

/// One directory of a container's cgroup, in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CgroupDir {
    pub kind: HierarchyKind,
    /// Where the hierarchy is mounted on the host, e.g. /sys/fs/cgroup/memory.
    pub mount_point: PathBuf,
    /// The container's path inside the hierarchy, absolute, e.g. /corral/abc.
    /// (Relative to what the mount shows, i.e. to mountinfo's root field, which is "/" on hosts.)
    pub path: PathBuf,
}

impl CgroupDir {
    /// The host directory of this cgroup.
    pub fn host_dir(&self) -> PathBuf {
        self.mount_point
            .join(self.path.strip_prefix("/").unwrap_or(&self.path))
    }

    /// A control file of this cgroup, e.g. `file("memory.limit_in_bytes")`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.host_dir().join(name)
    }

    /// This cgroup's cgroup.procs.
    pub fn procs_file(&self) -> PathBuf {
        self.file(PROCS_FILE)
    }

    /// true when this is a v1 hierarchy carrying `controller` (e.g. "cpuset" or "name=systemd").
    pub fn has_controller(&self, controller: &str) -> bool {
        match &self.kind {
            HierarchyKind::V1 { controllers } => controllers.split(',').any(|c| c == controller),
            HierarchyKind::V2 => false,
        }
    }
}

/// A container's cgroup: one CgroupDir per hierarchy, plus which directories Corral created (so delete removes only what it made).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cgroup {
    pub dirs: Vec<CgroupDir>,
    /// Host directories this container created, shallowest first within each hierarchy.
    pub created: Vec<PathBuf>,
}

impl Cgroup {
    /// Resolve linux.cgroupsPath for container `id` and create its directories in every hierarchy.
    ///
    /// None means "/corral/<id>"; "/a/b" is below each hierarchy's root; "a/b" is below our own cgroup
    /// (beside it on v2). `systemd` (--systemd-cgroup) is refused: only the cgroupfs driver exists.
    /// An existing empty leaf is reused (and not recorded as created); one with processes is refused.
    /// On error, everything this call created is removed again.
    pub fn create(
        hier: &Hierarchies,
        cgroups_path: Option<&str>,
        id: &str,
        systemd: bool,
    ) -> Result<Cgroup, CgroupError> {
        let requested = path::parse(cgroups_path, id, systemd)?;
        let dirs = hier
            .in_use()
            .into_iter()
            .map(|h| {
                let path = path::place(&requested, h)?;
                Ok(CgroupDir {
                    kind: h.kind.clone(),
                    mount_point: h.mount_point.clone(),
                    path,
                })
            })
            .collect::<Result<Vec<_>, CgroupError>>()?;
        let mut cgroup = Cgroup {
            dirs,
            created: Vec::new(),
        };
        if let Err(err) = cgroup.make_dirs(hier.mode()) {
            fsops::undo(&cgroup.created);
            return Err(err);
        }
        if cgroups_path.is_none() {
            cgroup.own_default_parents();
        }
        Ok(cgroup)
    }

    /// The default parent (/corral) is Corral's own, shared by every container that has no
    /// cgroupsPath: whichever container is deleted last removes it, not only the one that
    /// happened to create it, so that it does not outlive the last container.
    fn own_default_parents(&mut self) {
        for dir in &self.dirs {
            if let Some(parent) = dir.host_dir().parent().map(PathBuf::from) {
                if !self.created.contains(&parent) {
                    self.created.insert(0, parent);
                }
            }
        }
    }

    fn make_dirs(&mut self, mode: CgroupMode) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            let leaf_existed = fsops::make_path(dir, &mut self.created)?;
            if leaf_existed {
                refuse_if_in_use(dir)?;
            }
            match dir.kind {
                HierarchyKind::V1 { .. } => v1::prepare(dir)?,
                HierarchyKind::V2 if mode == CgroupMode::V2 => v2::enable_controllers(dir),
                // The unified mount of a hybrid host has no controllers of ours to enable.
                HierarchyKind::V2 => {}
            }
        }
        Ok(())
    }

    /// The host layout this cgroup was made for, derived from its directories.
    pub fn mode(&self) -> CgroupMode {
        let has_v1 = self
            .dirs
            .iter()
            .any(|d| matches!(d.kind, HierarchyKind::V1 { .. }));
        match (has_v1, self.v2_dir().is_some()) {
            (true, true) => CgroupMode::Hybrid,
            (false, true) => CgroupMode::V2,
            (_, false) => CgroupMode::V1,
        }
    }

    /// The directory in the unified hierarchy, if the host has one.
    pub fn v2_dir(&self) -> Option<&CgroupDir> {
        self.dirs.iter().find(|d| d.kind == HierarchyKind::V2)
    }

    /// The directory in the v1 hierarchy carrying `controller` (e.g. "memory"), if any.
    pub fn v1_dir(&self, controller: &str) -> Option<&CgroupDir> {
        self.dirs.iter().find(|d| d.has_controller(controller))
    }

    /// Put a process in every hierarchy (write to cgroup.procs). The init process waits while this happens.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        self.dirs
            .iter()
            .try_for_each(|d| fsops::write_pid(&d.host_dir(), pid))
    }

    /// The directory whose subtree holds every process of the container, used by `pids`.
    pub fn pids_source(&self) -> Option<&CgroupDir> {
        if self.mode() == CgroupMode::V2 {
            return self.v2_dir();
        }
        PIDS_SOURCES
            .iter()
            .find_map(|c| self.v1_dir(c))
            .or_else(|| self.dirs.iter().find(|d| d.kind != HierarchyKind::V2))
            .or_else(|| self.v2_dir())
    }

    /// Every pid in the container's cgroup and its sub-cgroups, sorted and without duplicates.
    /// Empty when the cgroup no longer exists.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut pids = Vec::new();
        if let Some(dir) = self.pids_source() {
            fsops::read_pids_recursive(&dir.host_dir(), &mut pids)?;
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Remove every directory this container made: sub-cgroups depth-first, then the leaf (if we created
    /// it), then created parents deepest first, leaving parents other containers still use. Idempotent.
    /// Every hierarchy is attempted; the first failure is returned.
    pub fn remove(&self) -> Result<(), CgroupError> {
        let deadline = Instant::now() + REMOVE_PATIENCE;
        let mut first_error = None;
        for dir in &self.dirs {
            let leaf = dir.host_dir();
            let result = fsops::remove_tree(&leaf, self.created.contains(&leaf), deadline);
            first_error = first_error.or(result.err());
        }
        let leaves: Vec<PathBuf> = self.dirs.iter().map(CgroupDir::host_dir).collect();
        for parent in self.created.iter().rev().filter(|p| !leaves.contains(p)) {
            first_error = first_error.or(fsops::remove_parent_if_unused(parent).err());
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Open the v2 leaf directory (O_PATH|O_DIRECTORY|O_CLOEXEC) for clone3's CLONE_INTO_CGROUP;
    /// None on v1-only hosts. On hybrid hosts this is the unified directory; v1 still needs `add_pid`.
    pub fn v2_dir_fd(&self) -> Option<std::io::Result<OwnedFd>> {
        let dir = self.v2_dir()?;
        // std always adds O_CLOEXEC; O_PATH ignores the read access mode.
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(dir.host_dir());
        Some(opened.map(OwnedFd::from))
    }
}

/// An existing leaf may be reused only when no process lives anywhere in it.
fn refuse_if_in_use(dir: &CgroupDir) -> Result<(), CgroupError> {
    let leaf = dir.host_dir();
    let mut pids = Vec::new();
    fsops::read_pids_recursive(&leaf, &mut pids)?;
    if pids.is_empty() {
        return Ok(());
    }
    pids.sort_unstable();
    pids.dedup();
    Err(CgroupError::InUse { path: leaf, pids })
}
