//! `update`: change the resource limits of an existing container.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::{LifecycleError, open};
use crate::state::Status;

/// Apply `resources` to a created, running or paused container's cgroup.
/// Settings left unset (or zero) keep their current values.
pub fn update(root: &Path, id: &str, resources: &LinuxResources) -> crate::Result<()> {
    let (dir, saved) = open(root, id)?;
    let _lock = dir.lock()?;
    let status = dir.status(&saved);
    if status == Status::Stopped {
        return Err(LifecycleError::WrongState {
            id: id.to_string(),
            status,
            what: "a stopped container's limits cannot change",
        }
        .into());
    }
    saved.cgroup.apply_resources(resources)?;
    Ok(())
}
