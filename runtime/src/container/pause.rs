//! `pause` and `resume`: freeze and thaw every process of the container's cgroup.

use std::path::Path;

use super::{LifecycleError, open};
use crate::state::Status;

/// Freeze a created or running container; `state` then reports it as paused.
pub fn pause(root: &Path, id: &str) -> crate::Result<()> {
    let (dir, saved) = open(root, id)?;
    let _lock = dir.lock()?;
    let status = dir.status(&saved);
    if !matches!(status, Status::Running | Status::Created) {
        return Err(LifecycleError::WrongState {
            id: id.to_string(),
            status,
            what: "only a running or created container can be paused",
        }
        .into());
    }
    saved.cgroup.freeze()?;
    Ok(())
}

/// Thaw a paused container.
pub fn resume(root: &Path, id: &str) -> crate::Result<()> {
    let (dir, saved) = open(root, id)?;
    let _lock = dir.lock()?;
    let status = dir.status(&saved);
    if status != Status::Paused {
        return Err(LifecycleError::WrongState {
            id: id.to_string(),
            status,
            what: "only a paused container can be resumed",
        }
        .into());
    }
    saved.cgroup.thaw()?;
    Ok(())
}
