//! Mounts of type "cgroup"/"cgroup2": what the container sees at /sys/fs/cgroup.
//!
//! With its own cgroup namespace the container gets real cgroup mounts, rooted at its own
//! cgroup by the namespace. Without one, it gets bind mounts of its own host directories,
//! so it never sees the rest of the host's tree. On a v1 or hybrid host, a tmpfs holds
//! one directory per hierarchy, named as on the host (cpu,cpuacct, memory, systemd,
//! unified), with symlinks for joined controllers (cpu -> cpu,cpuacct) as runc makes.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::Mode;

use super::RootfsError;
use super::mounts::{bind_host_path, ensure_target, fail, reopen};
use super::plan::MountStep;
use crate::cgroups::{CgroupDir, HierarchyKind};
use crate::sys::fs::{mkdir_all_in_root, symlink_in_root};
use crate::sys::mount::{is_errno, mount_fs, remount_bind};

/// How a cgroup mount is laid out in the container.
#[derive(Debug)]
pub(crate) enum CgroupLayout {
    /// cgroup2 mounted at the destination (own cgroup namespace, unified host). On EPERM
    /// the host directory, if known, is bind-mounted instead.
    Unified { fallback: Option<PathBuf> },
    /// The container's host cgroup2 directory bind-mounted at the destination.
    BindUnified { host_dir: PathBuf },
    /// A tmpfs at the destination with one entry per hierarchy.
    Split { entries: Vec<CgroupEntry> },
}

#[derive(Debug)]
pub(crate) struct CgroupEntry {
    /// Directory name under the destination (the host mount point's name).
    pub name: OsString,
    pub source: EntrySource,
    /// Symlinks to `name` for each controller of a joined hierarchy.
    pub aliases: Vec<OsString>,
}

#[derive(Debug)]
pub(crate) enum EntrySource {
    /// A new cgroup mount: fstype "cgroup" with the controller list as data, or "cgroup2".
    Mount {
        fstype: CString,
        data: Option<CString>,
    },
    /// The container's host directory in this hierarchy.
    Bind(PathBuf),
}

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Chooses the layout. Err is a sentence for RootfsError::InvalidMount.
pub(crate) fn plan_layout(dirs: &[CgroupDir], new_cgroupns: bool) -> Result<CgroupLayout, String> {
    if dirs.is_empty() {
        if new_cgroupns && host_is_unified() {
            return Ok(CgroupLayout::Unified { fallback: None });
        }
        return Err("config mounts a cgroup filesystem, but the container has no cgroup directories to show there".into());
    }
    if let [dir] = dirs {
        if dir.kind == HierarchyKind::V2 {
            return Ok(if new_cgroupns {
                CgroupLayout::Unified {
                    fallback: Some(dir.host_dir()),
                }
            } else {
                CgroupLayout::BindUnified {
                    host_dir: dir.host_dir(),
                }
            });
        }
    }
    let mut entries: Vec<CgroupEntry> = Vec::new();
    for dir in dirs {
        let entry = plan_entry(dir, new_cgroupns)?;
        if entries.iter().any(|e| e.name == entry.name) {
            return Err(format!(
                "two cgroup hierarchies are both named {:?}",
                entry.name
            ));
        }
        entries.push(entry);
    }
    Ok(CgroupLayout::Split { entries })
}

fn plan_entry(dir: &CgroupDir, new_cgroupns: bool) -> Result<CgroupEntry, String> {
    let name = dir
        .mount_point
        .file_name()
        .ok_or_else(|| format!("cgroup mount point {:?} has no name", dir.mount_point))?
        .to_os_string();
    let source = match (&dir.kind, new_cgroupns) {
        (_, false) => EntrySource::Bind(dir.host_dir()),
        (HierarchyKind::V2, true) => EntrySource::Mount {
            fstype: c"cgroup2".into(),
            data: None,
        },
        (HierarchyKind::V1 { controllers }, true) => EntrySource::Mount {
            fstype: c"cgroup".into(),
            data: Some(v1_mount_data(controllers)?),
        },
    };
    Ok(CgroupEntry {
        aliases: aliases(&name),
        name,
        source,
    })
}

/// The data string for a v1 mount: the controller list, with "none" added for a named
/// hierarchy without controllers ("none,name=systemd").
fn v1_mount_data(controllers: &str) -> Result<CString, String> {
    let only_names = controllers.split(',').all(|c| c.starts_with("name="));
    let data = if only_names {
        format!("none,{controllers}")
    } else {
        controllers.to_string()
    };
    CString::new(data).map_err(|_| format!("cgroup controller list {controllers:?} has a NUL byte"))
}

/// "cpu,cpuacct" -> ["cpu", "cpuacct"]; a single controller or a name= has none.
fn aliases(name: &OsStr) -> Vec<OsString> {
    let Some(name) = name.to_str() else {
        return Vec::new();
    };
    if !name.contains(',') {
        return Vec::new();
    }
    name.split(',')
        .filter(|c| !c.is_empty() && !c.starts_with("name="))
        .map(OsString::from)
        .collect()
}

// f_type is a c_long, which is not i64 on 32-bit targets.
#[allow(clippy::unnecessary_cast)]
fn host_is_unified() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type().0 as i64 == CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// Performs a cgroup mount step.
pub(crate) fn mount_cgroup(
    root: BorrowedFd<'_>,
    step: &MountStep,
    layout: &CgroupLayout,
) -> Result<(), RootfsError> {
    let dest = &step.destination;
    match layout {
        CgroupLayout::Unified { fallback } => {
            let target =
                ensure_target(root, dest, true).map_err(fail(step, "creating the mount point"))?;
            match mount_fs(c"cgroup2", target.as_fd(), c"cgroup2", step.flags, None) {
                Err(e) if is_errno(&e, Errno::EPERM) && fallback.is_some() => {
                    let host = fallback.as_deref().unwrap_or(Path::new("/sys/fs/cgroup"));
                    bind_host_path(root, step, host, dest, true)
                }
                other => other.map_err(fail(step, "mounting cgroup2")),
            }
        }
        CgroupLayout::BindUnified { host_dir } => bind_host_path(root, step, host_dir, dest, true),
        CgroupLayout::Split { entries } => mount_split(root, step, entries),
    }
}

/// tmpfs, then each hierarchy under it, then the aliases; the tmpfs is made read-only
/// last when asked, so the entries can be created first.
fn mount_split(
    root: BorrowedFd<'_>,
    step: &MountStep,
    entries: &[CgroupEntry],
) -> Result<(), RootfsError> {
    let dest = &step.destination;
    let tmpfs_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let target = ensure_target(root, dest, true).map_err(fail(step, "creating the mount point"))?;
    mount_fs(
        c"tmpfs",
        target.as_fd(),
        c"tmpfs",
        tmpfs_flags,
        Some(c"mode=755"),
    )
    .map_err(fail(step, "mounting the tmpfs for cgroup hierarchies"))?;
    let tmpfs = reopen(root, step)?;
    for entry in entries {
        let sub = dest.join(&entry.name);
        let dir = mkdir_all_in_root(
            tmpfs.as_fd(),
            Path::new(&entry.name),
            Mode::from_bits_truncate(0o755),
        )
        .map_err(fail(step, "creating a cgroup hierarchy directory"))?;
        match &entry.source {
            EntrySource::Mount { fstype, data } => {
                mount_fs(c"cgroup", dir.as_fd(), fstype, step.flags, data.as_deref())
                    .map_err(fail(step, "mounting a cgroup hierarchy"))?;
            }
            EntrySource::Bind(host_dir) => bind_host_path(root, step, host_dir, &sub, true)?,
        }
        for alias in &entry.aliases {
            match symlink_in_root(
                tmpfs.as_fd(),
                Path::new(&entry.name),
                &Path::new("/").join(alias),
            ) {
                Err(e) if !is_errno(&e, Errno::EEXIST) => {
                    return Err(fail(step, "linking a joined controller")(e));
                }
                _ => {}
            }
        }
    }
    if step.flags.contains(MsFlags::MS_RDONLY) {
        remount_bind(tmpfs.as_fd(), tmpfs_flags | MsFlags::MS_RDONLY)
            .map_err(fail(step, "making the cgroup tmpfs read-only"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(mount: &str, controllers: &str) -> CgroupDir {
        CgroupDir {
            kind: HierarchyKind::V1 {
                controllers: controllers.into(),
            },
            mount_point: PathBuf::from(mount),
            path: PathBuf::from("/corral/x"),
        }
    }

    #[test]
    fn v1_with_cgroupns_mounts_each_hierarchy() {
        let dirs = [
            v1("/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct"),
            v1("/sys/fs/cgroup/systemd", "name=systemd"),
        ];
        let CgroupLayout::Split { entries } = plan_layout(&dirs, true).unwrap() else {
            panic!()
        };
        assert_eq!(entries[0].name, "cpu,cpuacct");
        assert_eq!(
            entries[0].aliases,
            vec![OsString::from("cpu"), OsString::from("cpuacct")]
        );
        let EntrySource::Mount { data, .. } = &entries[1].source else {
            panic!()
        };
        assert_eq!(data.as_deref(), Some(c"none,name=systemd"));
        assert!(entries[1].aliases.is_empty());
    }

    #[test]
    fn without_cgroupns_host_dirs_are_bound() {
        let dirs = [v1("/sys/fs/cgroup/memory", "memory")];
        let CgroupLayout::Split { entries } = plan_layout(&dirs, false).unwrap() else {
            panic!()
        };
        let EntrySource::Bind(p) = &entries[0].source else {
            panic!()
        };
        assert_eq!(p, Path::new("/sys/fs/cgroup/memory/corral/x"));
        let v2 = CgroupDir {
            kind: HierarchyKind::V2,
            mount_point: "/sys/fs/cgroup".into(),
            path: "/c".into(),
        };
        assert!(matches!(
            plan_layout(std::slice::from_ref(&v2), false).unwrap(),
            CgroupLayout::BindUnified { .. }
        ));
        assert!(matches!(
            plan_layout(&[v2], true).unwrap(),
            CgroupLayout::Unified { fallback: Some(_) }
        ));
        assert!(plan_layout(&[], false).is_err());
    }
}
