//! The v1 cpuset controller. A new cpuset cgroup starts with empty cpus and mems, and the kernel
//! refuses processes (ENOSPC) until both are set, so each directory copies them from its parent.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::fsops::{read_control, write_control};
use crate::cgroups::resources::{need, write};
use crate::cgroups::{CgroupDir, CgroupError};

/// The files to inherit, without the "cpuset." prefix that the `noprefix` mount option drops.
const INHERITED: [&str; 2] = ["cpus", "mems"];

/// Walk from the mount point down to `dir`'s leaf, filling every empty cpus/mems from the parent.
/// Directories that already have values (other users' cgroups) are left alone.
pub(super) fn inherit_from_parents(dir: &CgroupDir) -> Result<(), CgroupError> {
    let mut parent = dir.mount_point.clone();
    for part in dir
        .path
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
    {
        let child = parent.join(part);
        for name in INHERITED {
            copy_if_empty(&parent, &child, name)?;
        }
        parent = child;
    }
    Ok(())
}

/// linux.resources.cpu.cpus and .mems (empty strings leave the inherited values).
pub(super) fn apply(dir: Option<&CgroupDir>, cpu: &LinuxCpu) -> Result<(), CgroupError> {
    let cpus = cpu.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = cpu.mems().as_deref().filter(|s| !s.is_empty());
    if cpus.is_none() && mems.is_none() {
        return Ok(());
    }
    let dir = need(dir, "cpu.cpus", "cpuset")?;
    let host_dir = dir.host_dir();
    if let Some(cpus) = cpus {
        write(
            dir,
            "cpu.cpus",
            &control_name(&host_dir, "cpus"),
            cpus,
            "the cpuset controller is not usable here",
        )?;
    }
    if let Some(mems) = mems {
        write(
            dir,
            "cpu.mems",
            &control_name(&host_dir, "mems"),
            mems,
            "the cpuset controller is not usable here",
        )?;
    }
    Ok(())
}

fn copy_if_empty(parent: &Path, child: &Path, name: &str) -> Result<(), CgroupError> {
    let file = control_name(child, name);
    let child_file = child.join(&file);
    let fail = |source| CgroupError::CpusetInit {
        path: child_file.clone(),
        source,
    };
    if read_control(&child_file)
        .map_err(fail)?
        .is_some_and(|v| !v.is_empty())
    {
        return Ok(());
    }
    let parent_file = parent.join(&file);
    let value = read_control(&parent_file)
        .map_err(|source| CgroupError::CpusetInit {
            path: parent_file.clone(),
            source,
        })?
        .unwrap_or_default();
    write_control(&child_file, &value).map_err(fail)
}

/// "cpuset.cpus", or plain "cpus" on a hierarchy mounted with `noprefix`.
fn control_name(dir: &Path, name: &str) -> String {
    let prefixed = format!("cpuset.{name}");
    if dir.join(&prefixed).exists() || !dir.join(name).exists() {
        prefixed
    } else {
        name.to_string()
    }
}
