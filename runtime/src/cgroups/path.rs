//! Resolving linux.cgroupsPath into one path per hierarchy, and rejecting paths we must not use.

use std::path::{Path, PathBuf};

use super::hierarchy::Hierarchy;
use super::{CgroupError, HierarchyKind};

/// Where the container's cgroups go when the bundle names no cgroupsPath: "/corral/<id>".
pub const DEFAULT_PARENT: &str = "corral";

/// A validated linux.cgroupsPath, not yet placed in any hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestedPath {
    /// The path as the user wrote it (or the default), for error messages.
    pub text: String,
    /// Below each hierarchy's root (true) or below our own cgroup (false).
    pub absolute: bool,
    /// The normalised components: no "", "." or "..".
    pub components: PathBuf,
}

/// Validate `cgroups_path` (None = the default "/corral/<id>") for the cgroupfs driver.
pub(crate) fn parse(
    cgroups_path: Option<&str>,
    id: &str,
    systemd: bool,
) -> Result<RequestedPath, CgroupError> {
    let text = match cgroups_path {
        Some(path) => path.to_string(),
        None => {
            check_id(id)?;
            format!("/{DEFAULT_PARENT}/{id}")
        }
    };
    // Only the cgroupfs driver exists. --systemd-cgroup is accepted (containerd and podman
    // may pass it) as long as the path is a cgroupfs one; a systemd-style path is refused.
    let systemd_style = text.matches(':').count() == 2;
    if systemd && systemd_style {
        return Err(CgroupError::SystemdUnsupported {
            path: text,
            id: id.to_string(),
        });
    }
    if systemd_style {
        return Err(CgroupError::LooksLikeSystemd {
            path: text,
            id: id.to_string(),
        });
    }
    let invalid = |reason| CgroupError::InvalidPath {
        path: text.clone(),
        reason,
    };
    if text.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    let mut components = PathBuf::new();
    for part in text.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return Err(invalid(
                "\"..\" is not allowed; it could leave the cgroup hierarchy",
            ));
        }
        components.push(part);
    }
    if components.as_os_str().is_empty() {
        return Err(invalid(
            "it names the root of the hierarchy, which a container cannot own",
        ));
    }
    Ok(RequestedPath {
        absolute: text.starts_with('/'),
        text,
        components,
    })
}

/// The container id becomes a path component of the default cgroupsPath, so it must be one.
fn check_id(id: &str) -> Result<(), CgroupError> {
    let reason = if id.is_empty() {
        "the container id is empty"
    } else if id.contains('/') || id.contains('\0') || id == "." || id == ".." {
        "the container id cannot be a cgroup directory name"
    } else {
        return Ok(());
    };
    Err(CgroupError::InvalidPath {
        path: format!("/{DEFAULT_PARENT}/{id}"),
        reason,
    })
}

/// The container's path below `hierarchy`'s mount point, e.g. "/corral/abc".
pub(crate) fn place(
    requested: &RequestedPath,
    hierarchy: &Hierarchy,
) -> Result<PathBuf, CgroupError> {
    let root = Path::new("/");
    if requested.absolute {
        return Ok(root.join(&requested.components));
    }
    let own =
        hierarchy
            .own_cgroup_in_mount()
            .ok_or_else(|| CgroupError::OwnCgroupOutsideMount {
                path: requested.text.clone(),
                mount_point: hierarchy.mount_point.clone(),
                own: hierarchy.own_cgroup.clone(),
                mount_root: hierarchy.mount_root.clone(),
            })?;
    // A v2 cgroup that holds processes (ours does) cannot give its children controllers,
    // so relative paths go next to our cgroup rather than below it.
    let base = match hierarchy.kind {
        HierarchyKind::V2 => own.parent().unwrap_or(root).to_path_buf(),
        HierarchyKind::V1 { .. } => own,
    };
    Ok(base.join(&requested.components))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hierarchy(kind: HierarchyKind, own: &str) -> Hierarchy {
        Hierarchy {
            kind,
            mount_point: PathBuf::from("/sys/fs/cgroup/x"),
            mount_root: PathBuf::from("/"),
            own_cgroup: PathBuf::from(own),
        }
    }

    fn memory(own: &str) -> Hierarchy {
        hierarchy(
            HierarchyKind::V1 {
                controllers: "memory".into(),
            },
            own,
        )
    }

    #[test]
    fn default_path_is_corral_id() {
        let req = parse(None, "abc", false).expect("parse");
        assert_eq!(
            place(&req, &memory("/process_api/h")).expect("place"),
            PathBuf::from("/corral/abc")
        );
    }

    #[test]
    fn absolute_path_is_below_hierarchy_root_and_normalised() {
        let req = parse(Some("/a//./b/"), "abc", false).expect("parse");
        assert_eq!(
            place(&req, &memory("/process_api/h")).expect("place"),
            PathBuf::from("/a/b")
        );
        let v2 = hierarchy(HierarchyKind::V2, "/user.slice/s.scope");
        assert_eq!(place(&req, &v2).expect("place"), PathBuf::from("/a/b"));
    }

    #[test]
    fn relative_path_is_below_own_cgroup_on_v1_and_beside_it_on_v2() {
        let req = parse(Some("a/b"), "abc", false).expect("parse");
        assert_eq!(
            place(&req, &memory("/process_api/h")).expect("place"),
            PathBuf::from("/process_api/h/a/b")
        );
        assert_eq!(
            place(&req, &memory("/")).expect("place"),
            PathBuf::from("/a/b")
        );
        let v2 = hierarchy(HierarchyKind::V2, "/user.slice/s.scope");
        assert_eq!(
            place(&req, &v2).expect("place"),
            PathBuf::from("/user.slice/a/b")
        );
        let v2_root = hierarchy(HierarchyKind::V2, "/");
        assert_eq!(place(&req, &v2_root).expect("place"), PathBuf::from("/a/b"));
    }

    #[test]
    fn relative_path_fails_when_own_cgroup_is_outside_the_mount() {
        let req = parse(Some("a"), "abc", false).expect("parse");
        let mut h = memory("/other");
        h.mount_root = PathBuf::from("/docker/c1");
        assert!(matches!(
            place(&req, &h),
            Err(CgroupError::OwnCgroupOutsideMount { .. })
        ));
    }

    #[test]
    fn systemd_style_paths_are_rejected_with_either_driver() {
        let err = parse(Some("system.slice:corral:abc"), "abc", true).expect_err("systemd");
        assert!(
            err.to_string()
                .contains("systemd cgroup driver is not supported yet"),
            "{err}"
        );
        assert!(err.to_string().contains("drop --systemd-cgroup"), "{err}");
        let err = parse(Some("system.slice:corral:abc"), "abc", false).expect_err("looks systemd");
        assert!(matches!(err, CgroupError::LooksLikeSystemd { .. }));
        assert!(err.to_string().contains("/corral/abc"), "{err}");
        // One or three colons are legal cgroupfs names.
        assert!(parse(Some("/a:b"), "abc", false).is_ok());
        // --systemd-cgroup with a cgroupfs path is accepted.
        assert!(parse(Some("/corral/abc"), "abc", true).is_ok());
    }

    #[test]
    fn dotdot_nul_root_and_bad_ids_are_rejected() {
        for bad in ["/a/../b", "..", "a/..", "/a\0b", "/", "", "./."] {
            let err = parse(Some(bad), "abc", false).expect_err(bad);
            assert!(
                matches!(err, CgroupError::InvalidPath { .. }),
                "{bad}: {err}"
            );
        }
        for bad_id in ["", "a/b", "..", "."] {
            assert!(parse(None, bad_id, false).is_err(), "{bad_id:?}");
        }
    }
}
