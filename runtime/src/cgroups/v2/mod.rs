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

use std::path::{Component, Path};

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

/// Enable just `controllers` from the mount root down to `dir`'s parent (used on hybrid hosts, where
/// the unified hierarchy is shared with the host and only what a limit needs is switched on).
pub(crate) fn enable_for(dir: &CgroupDir, controllers: &[&str]) {
    for ancestor in ancestors(dir) {
        for c in controllers {
            let _ = write_control(&ancestor.join(SUBTREE_CONTROL), &format!("+{c}"));
        }
    }
}

/// Undo `enable_for` on a hybrid host once nothing uses `controller` any more: from the leaf's
/// parent up to the mount root, switch it off where no child cgroup passes it on or limits with
/// it, and stop at the first ancestor where one still does. (A hybrid host's v1 mounts can take
/// a controller back only when the unified hierarchy no longer uses it.)
pub(crate) fn release_unused(dir: &CgroupDir, controller: &str) {
    for ancestor in ancestors(dir).iter().rev().filter(|a| a.is_dir()) {
        let enabled = read_control(&ancestor.join(SUBTREE_CONTROL))
            .ok()
            .flatten()
            .unwrap_or_default();
        if !enabled.split_whitespace().any(|c| c == controller) {
            continue;
        }
        if children_use(ancestor, controller) {
            return;
        }
        let _ = write_control(&ancestor.join(SUBTREE_CONTROL), &format!("-{controller}"));
    }
}

/// true when a child cgroup of `dir` enables `controller` for its own children, or has one of
/// its limits set (a "<controller>.*.max" file other than "max").
fn children_use(dir: &Path, controller: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return true;
    };
    let prefix = format!("{controller}.");
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .any(|child| {
            let child = child.path();
            let passes_on = read_control(&child.join(SUBTREE_CONTROL))
                .ok()
                .flatten()
                .unwrap_or_default()
                .split_whitespace()
                .any(|c| c == controller);
            passes_on || has_limit(&child, &prefix)
        })
}

fn has_limit(dir: &Path, prefix: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.starts_with(prefix)
            && name.ends_with(".max")
            && read_control(&e.path())
                .ok()
                .flatten()
                .is_some_and(|v| !is_unlimited(&v))
    })
}

/// "max", or the huge number hugetlb prints for "no limit" (its page counter's maximum).
fn is_unlimited(value: &str) -> bool {
    value == "max" || value.parse::<u64>().is_ok_and(|v| v >= 1 << 62)
}

/// The mount point and every directory below it down to (not including) `dir`'s leaf.
fn ancestors(dir: &CgroupDir) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut current = dir.mount_point.clone();
    for part in dir
        .path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
    {
        out.push(current.clone());
        current.push(part);
    }
    out
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
