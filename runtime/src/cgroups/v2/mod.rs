//! Work in the unified (v2) hierarchy. Per-controller files (memory.rs, cpu.rs, io.rs, pids.rs,
//! devices.rs for the eBPF device filter) go here when resource limits arrive.

use std::path::Component;

use super::CgroupDir;
use super::fsops::{read_control, write_control};

const CONTROLLERS: &str = "cgroup.controllers";
const SUBTREE_CONTROL: &str = "cgroup.subtree_control";

/// On a pure v2 host, switch on for the container's cgroup every controller its ancestors offer, so that
/// the limit files exist when limits are applied. Done from the mount point down to the leaf's parent.
///
/// Best effort by design: a controller can be refused for reasons that do not matter until a limit needs
/// it (an ancestor holding processes, a threaded subtree, delegation limits); that later write reports it.
pub(crate) fn enable_controllers(dir: &CgroupDir) {
    let mut current = dir.mount_point.clone();
    for part in dir
        .path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
    {
        enable_all_available(&current);
        current.push(part);
    }
}

fn enable_all_available(dir: &std::path::Path) {
    let Ok(Some(available)) = read_control(&dir.join(CONTROLLERS)) else {
        return;
    };
    let enabled = read_control(&dir.join(SUBTREE_CONTROL))
        .ok()
        .flatten()
        .unwrap_or_default();
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    for controller in available
        .split_whitespace()
        .filter(|c| !enabled.contains(c))
    {
        // One write per controller, so one refusal does not block the others.
        let _ = write_control(&dir.join(SUBTREE_CONTROL), &format!("+{controller}"));
    }
}
