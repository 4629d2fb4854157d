//! Per-controller work in v1 hierarchies. Each controller gets its own small file here
//! (cpuset.rs today; memory.rs, cpu.rs, pids.rs ... when resource limits arrive).

mod cpuset;

use super::{CgroupDir, CgroupError};

/// Make a freshly created (or reused) v1 directory able to take processes.
pub(crate) fn prepare(dir: &CgroupDir) -> Result<(), CgroupError> {
    if dir.has_controller("cpuset") {
        cpuset::inherit_from_parents(dir)?;
    }
    Ok(())
}
