//! A cgroup per container, cgroupfs layout, on cgroup v1, v2 and hybrid hosts.

use std::path::PathBuf;

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
    pub path: PathBuf,
}

impl CgroupDir {
    /// The host directory of this cgroup.
    pub fn host_dir(&self) -> PathBuf {
        self.mount_point.join(self.path.strip_prefix("/").unwrap_or(&self.path))
    }
}
