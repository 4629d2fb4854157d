//! Which cgroup hierarchies the host has, where they are mounted, and where we sit in each.

use std::path::{Path, PathBuf};

use super::procfile::{self, CgroupMount, OwnCgroup};
use super::{CgroupError, HierarchyKind};

const MOUNTINFO: &str = "/proc/self/mountinfo";
const PROC_CGROUP: &str = "/proc/self/cgroup";

/// How the host arranges its cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CgroupMode {
    /// Only v1 hierarchies.
    V1,
    /// v1 controllers plus a cgroup2 mount (e.g. /sys/fs/cgroup/unified) that usually holds no controllers.
    Hybrid,
    /// One unified hierarchy holding every controller.
    V2,
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub kind: HierarchyKind,
    pub mount_point: PathBuf,
    /// The directory of the hierarchy shown at `mount_point` (mountinfo field 4), usually "/".
    pub mount_root: PathBuf,
    /// Our own cgroup in this hierarchy as /proc/self/cgroup prints it (relative to our cgroup namespace).
    pub own_cgroup: PathBuf,
}

impl Hierarchy {
    /// Our own cgroup as a path below `mount_point` ("/" = the mount point itself);
    /// None when we sit outside the part of the hierarchy this mount shows.
    pub fn own_cgroup_in_mount(&self) -> Option<PathBuf> {
        let rest = self.own_cgroup.strip_prefix(&self.mount_root).ok()?;
        Some(Path::new("/").join(rest))
    }

    /// true when this v1 hierarchy carries `controller` (e.g. "memory" or "name=systemd").
    pub fn has_controller(&self, controller: &str) -> bool {
        match &self.kind {
            HierarchyKind::V1 { controllers } => controllers.split(',').any(|c| c == controller),
            HierarchyKind::V2 => false,
        }
    }
}

/// The host's cgroup layout, read from /proc/self/mountinfo (cgroup and cgroup2 mounts) and /proc/self/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchies {
    /// One entry per mounted v1 hierarchy, in /proc/self/cgroup order; named ones (name=systemd) included.
    pub v1: Vec<Hierarchy>,
    /// The unified hierarchy, when cgroup2 is mounted.
    pub v2: Option<Hierarchy>,
}

impl Hierarchies {
    /// Read the layout of the host (as seen from our mount and cgroup namespaces).
    pub fn detect() -> Result<Hierarchies, CgroupError> {
        let read = |path: &str| {
            std::fs::read_to_string(path).map_err(|source| CgroupError::ReadProc {
                path: PathBuf::from(path),
                source,
            })
        };
        Self::from_proc_text(&read(MOUNTINFO)?, &read(PROC_CGROUP)?)
    }

    /// Build the layout from the text of /proc/self/mountinfo and /proc/self/cgroup.
    pub fn from_proc_text(mountinfo: &str, proc_cgroup: &str) -> Result<Hierarchies, CgroupError> {
        let malformed = |file: &str, (line, reason, text): procfile::LineError| {
            CgroupError::MalformedProcFile {
                path: PathBuf::from(file),
                line,
                reason,
                text,
            }
        };
        let mounts = procfile::parse_mountinfo(mountinfo).map_err(|e| malformed(MOUNTINFO, e))?;
        let own =
            procfile::parse_proc_cgroup(proc_cgroup).map_err(|e| malformed(PROC_CGROUP, e))?;

        let v1 = own
            .iter()
            .filter(|o| !o.controllers.is_empty())
            .filter_map(|o| v1_hierarchy(&mounts, o))
            .collect();
        let v2 = v2_hierarchy(&mounts, &own);
        let found = Hierarchies { v1, v2 };
        if found.v1.is_empty() && found.v2.is_none() {
            return Err(CgroupError::NoHierarchies);
        }
        Ok(found)
    }

    pub fn mode(&self) -> CgroupMode {
        let v1_has_controllers = self.v1.iter().any(|h| match &h.kind {
            HierarchyKind::V1 { controllers } => {
                controllers.split(',').any(|c| !c.starts_with("name="))
            }
            HierarchyKind::V2 => false,
        });
        match (&self.v2, v1_has_controllers) {
            (None, _) => CgroupMode::V1,
            (Some(_), true) => CgroupMode::Hybrid,
            (Some(_), false) => CgroupMode::V2,
        }
    }

    /// The hierarchies a container gets a directory in: all v1 ones plus the unified one, except on a
    /// pure v2 host, where stray named v1 hierarchies are ignored (as other runtimes do).
    pub fn in_use(&self) -> Vec<&Hierarchy> {
        match self.mode() {
            CgroupMode::V2 => self.v2.iter().collect(),
            CgroupMode::V1 | CgroupMode::Hybrid => self.v1.iter().chain(self.v2.iter()).collect(),
        }
    }
}

/// The v1 hierarchy of one /proc/self/cgroup line, if some mount shows it.
fn v1_hierarchy(mounts: &[CgroupMount], own: &OwnCgroup) -> Option<Hierarchy> {
    // A controller belongs to exactly one hierarchy, so "mount carries all of the line's controllers" is unique.
    let carries_all = |m: &&CgroupMount| {
        !m.unified
            && own
                .controllers
                .split(',')
                .all(|c| m.super_options.iter().any(|o| o == c))
    };
    let mount = best_mount(mounts.iter().filter(carries_all), &own.path)?;
    Some(Hierarchy {
        kind: HierarchyKind::V1 {
            controllers: own.controllers.clone(),
        },
        mount_point: mount.mount_point.clone(),
        mount_root: mount.root.clone(),
        own_cgroup: own.path.clone(),
    })
}

fn v2_hierarchy(mounts: &[CgroupMount], own: &[OwnCgroup]) -> Option<Hierarchy> {
    // Without a "0::" line (very old kernels) assume the root.
    let own_path = own
        .iter()
        .find(|o| o.controllers.is_empty())
        .map_or_else(|| PathBuf::from("/"), |o| o.path.clone());
    let mount = best_mount(mounts.iter().filter(|m| m.unified), &own_path)?;
    Some(Hierarchy {
        kind: HierarchyKind::V2,
        mount_point: mount.mount_point.clone(),
        mount_root: mount.root.clone(),
        own_cgroup: own_path,
    })
}

/// Among several mounts of one hierarchy, prefer one that shows our own cgroup, then the widest view.
fn best_mount<'a>(
    candidates: impl Iterator<Item = &'a CgroupMount>,
    own: &Path,
) -> Option<&'a CgroupMount> {
    candidates.min_by_key(|m| (!own.starts_with(&m.root), m.root.components().count()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_MOUNTINFO: &str = "\
25 19 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:11 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid shared:12 - cgroup cgroup rw,memory
";
    const V1_CGROUP: &str =
        "3:memory:/user.slice\n2:cpu,cpuacct:/\n1:name=systemd:/user.slice/s.scope\n";

    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CGROUP: &str = "9:name=systemd:/\n4:memory:/process_api/abc\n0::/\n";

    const V2_MOUNTINFO: &str = "\
26 21 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
    const V2_CGROUP: &str = "0::/user.slice/user-1000.slice/session-2.scope\n";

    #[test]
    fn v1_host_with_joined_and_named_hierarchies() {
        let h = Hierarchies::from_proc_text(V1_MOUNTINFO, V1_CGROUP).expect("detect");
        assert_eq!(h.mode(), CgroupMode::V1);
        assert_eq!(h.v1.len(), 3);
        assert_eq!(
            h.v1[1].kind,
            HierarchyKind::V1 {
                controllers: "cpu,cpuacct".into()
            }
        );
        assert_eq!(
            h.v1[1].mount_point,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert!(h.v1[2].has_controller("name=systemd"));
        assert_eq!(
            h.v1[0].own_cgroup_in_mount(),
            Some(PathBuf::from("/user.slice"))
        );
        assert_eq!(h.in_use().len(), 3);
    }

    #[test]
    fn hybrid_host_uses_v1_and_unified() {
        let h = Hierarchies::from_proc_text(HYBRID_MOUNTINFO, HYBRID_CGROUP).expect("detect");
        assert_eq!(h.mode(), CgroupMode::Hybrid);
        let v2 = h.v2.as_ref().expect("unified");
        assert_eq!(v2.mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(h.in_use().len(), 3);
        assert_eq!(h.v1[1].own_cgroup, PathBuf::from("/process_api/abc"));
    }

    #[test]
    fn pure_v2_host() {
        let h = Hierarchies::from_proc_text(V2_MOUNTINFO, V2_CGROUP).expect("detect");
        assert_eq!(h.mode(), CgroupMode::V2);
        assert!(h.v1.is_empty());
        assert_eq!(h.in_use().len(), 1);
    }

    #[test]
    fn v2_host_with_stray_named_v1_mount_is_still_v2() {
        let mountinfo =
            format!("{V2_MOUNTINFO}50 26 0:40 / /run/x rw - cgroup cgroup rw,name=systemd\n");
        let cgroup = format!("1:name=systemd:/\n{V2_CGROUP}");
        let h = Hierarchies::from_proc_text(&mountinfo, &cgroup).expect("detect");
        assert_eq!(h.mode(), CgroupMode::V2);
        assert_eq!(h.in_use().len(), 1);
    }

    #[test]
    fn unmounted_v1_hierarchy_is_skipped_and_bind_mount_with_subroot_is_resolved() {
        let mountinfo =
            "30 25 0:27 /docker/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let h = Hierarchies::from_proc_text(mountinfo, "5:pids:/\n3:memory:/docker/c1/inner\n")
            .expect("detect");
        assert_eq!(h.v1.len(), 1);
        assert_eq!(h.v1[0].own_cgroup_in_mount(), Some(PathBuf::from("/inner")));
    }

    #[test]
    fn no_cgroup_mounts_is_an_error() {
        let err = Hierarchies::from_proc_text("22 1 259:1 / / rw - ext4 /dev/root rw\n", "0::/\n");
        assert!(matches!(err, Err(CgroupError::NoHierarchies)));
    }
}
