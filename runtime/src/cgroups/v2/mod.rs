//! Work in the unified (v2) hierarchy, one small file per controller.

mod cpu;
pub(crate) mod freezer;
mod hugetlb;
mod io;
mod memory;
pub(crate) mod stats;
mod unified;

#[cfg(test)]
mod tests;

use std::path::Component;

use oci_spec::runtime::LinuxResources;

use super::fsops::{read_control, write_control};
use super::{CgroupDir, CgroupError};

pub(crate) use hugetlb::apply as set_hugetlb;

/// Apply linux.resources on a pure v2 host. `unified` goes last, so it can override the rest.
pub(crate) fn apply(dir: &CgroupDir, r: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(m) = r.memory() {
        memory::apply(dir, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu::apply(dir, c)?;
    }
    if let Some(p) = r.pids() {
        super::v1::set_pids_limit(dir, p.limit())?;
    }
    if let Some(b) = r.block_io() {
        io::apply(dir, b)?;
    }
    if let Some(limits) = r.hugepage_limits().as_deref().filter(|l| !l.is_empty()) {
        hugetlb::apply(dir, limits)?;
    }
    // net_cls/net_prio do not exist on v2; like runc, classID and priorities are ignored there
    // (an eBPF program would be needed to tag traffic).
    if let Some(u) = r.unified() {
        unified::apply(dir, u)?;
    }
    Ok(())
}

/// true when the unified hierarchy has `controller` at all (its root's cgroup.controllers; on a
/// hybrid host, the controllers no v1 hierarchy claimed).
pub(crate) fn offers(dir: &CgroupDir, controller: &str) -> bool {
    read_control(&dir.mount_point.join(CONTROLLERS))
        .ok()
        .flatten()
        .is_some_and(|c| c.split_whitespace().any(|x| x == controller))
}

/// true when `controller` is enabled for `dir` itself (its parent passes it down), i.e.
/// its control files exist there. On a hybrid host the unified hierarchy belongs to the
/// host's configuration: Corral uses what is delegated to it and never switches
/// controllers on in the host's own cgroups.
pub(crate) fn enabled_here(dir: &CgroupDir, controller: &str) -> bool {
    read_control(&dir.host_dir().join(CONTROLLERS))
        .ok()
        .flatten()
        .is_some_and(|c| c.split_whitespace().any(|x| x == controller))
}

/// "max" for negative values (no limit), the number otherwise.
pub(crate) fn max_or(value: i64) -> String {
    if value < 0 {
        "max".to_string()
    } else {
        value.to_string()
    }
}

/// Write a v2 control file; a missing one means the controller is not enabled for this cgroup.
pub(crate) fn write(
    dir: &CgroupDir,
    field: &'static str,
    file: &str,
    value: &str,
) -> Result<(), CgroupError> {
    super::resources::write(dir, field, file, value, NOT_ENABLED)
}

const NOT_ENABLED: &str = "the controller is not enabled for this cgroup (check cgroup.subtree_control of its parents, and that no parent holds processes)";

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
