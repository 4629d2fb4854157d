//! Read-only commands: `state`, `list`, `ps`.

use std::path::Path;

use super::open;
use crate::state::{StateRoot, oci_state_json};

/// The OCI state of one container.
pub fn state(root: &Path, id: &str) -> crate::Result<serde_json::Value> {
    let (dir, saved) = open(root, id)?;
    Ok(oci_state_json(&saved, dir.status(&saved)))
}

/// The state of every container under `root` (containers still being created are skipped).
pub fn list(root: &Path) -> crate::Result<Vec<serde_json::Value>> {
    let states = StateRoot::new(root);
    let mut out = Vec::new();
    for id in states.ids()? {
        let dir = states.open(&id)?;
        if let Ok(Some(saved)) = dir.load() {
            out.push(oci_state_json(&saved, dir.status(&saved)));
        }
    }
    Ok(out)
}

/// Pids of every process in the container's cgroup, sorted.
pub fn ps_pids(root: &Path, id: &str) -> crate::Result<Vec<i32>> {
    let (_, saved) = open(root, id)?;
    let mut pids = saved.cgroup.pids()?;
    pids.sort_unstable();
    Ok(pids)
}
