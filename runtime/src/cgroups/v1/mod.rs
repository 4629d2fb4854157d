//! Per-controller work in v1 hierarchies, one small file per controller.

mod blkio;
mod cpu;
mod cpuset;
pub(crate) mod freezer;
mod hugetlb;
mod memory;
mod net;
pub(crate) mod stats;

use oci_spec::runtime::LinuxResources;

use super::resources::need;
use super::{Cgroup, CgroupDir, CgroupError};

/// Make a freshly created (or reused) v1 directory able to take processes.
pub(crate) fn prepare(dir: &CgroupDir) -> Result<(), CgroupError> {
    if dir.has_controller("cpuset") {
        cpuset::inherit_from_parents(dir)?;
    }
    Ok(())
}

/// Apply linux.resources on a v1 (or hybrid) host: each controller in its own hierarchy.
pub(crate) fn apply(cgroup: &Cgroup, r: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(memory) = r.memory() {
        memory::apply(cgroup.v1_dir("memory"), memory)?;
    }
    if let Some(cpu) = r.cpu() {
        cpu::apply(cgroup.v1_dir("cpu"), cpu)?;
        cpuset::apply(cgroup.v1_dir("cpuset"), cpu)?;
    }
    if let Some(pids) = r.pids() {
        set_pids_limit(
            need(cgroup.v1_dir("pids"), "pids.limit", "pids")?,
            pids.limit(),
        )?;
    }
    if let Some(block_io) = r.block_io() {
        blkio::apply(cgroup.v1_dir("blkio"), block_io)?;
    }
    if let Some(limits) = r.hugepage_limits().as_deref().filter(|l| !l.is_empty()) {
        hugetlb::apply(cgroup, limits)?;
    }
    if let Some(network) = r.network() {
        net::apply(cgroup, network)?;
    }
    Ok(())
}

/// pids.max (the same file on v1 and v2): a positive limit, "max" for a negative one; 0 leaves it.
pub(crate) fn set_pids_limit(dir: &CgroupDir, limit: i64) -> Result<(), CgroupError> {
    let value = match limit {
        0 => return Ok(()),
        l if l > 0 => l.to_string(),
        _ => "max".to_string(),
    };
    super::resources::write(
        dir,
        "pids.limit",
        "pids.max",
        &value,
        "the kernel lacks the pids controller",
    )
}
