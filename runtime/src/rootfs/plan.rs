//! config.json → [`RootfsPlan`]: every check and every parse happens here, before clone,
//! so that the child only walks plain data.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::{Mount, Spec};

use super::cgroupfs::{self, CgroupLayout};
use super::devices::{self, DeviceNode};
use super::options::{ParsedOptions, parse_options, parse_propagation};
use super::{RootfsError, RootfsOptions};
use crate::sys::mount::MountAttr;

/// Everything the child needs to build the container's root filesystem.
#[derive(Debug)]
pub struct RootfsPlan {
    /// The rootfs directory on the host, canonical.
    pub(crate) rootfs: PathBuf,
    /// The rootfs and its ancestors up to "/", nearest first: the first that is a mount
    /// point is the mount that must not be shared for pivot_root.
    pub(crate) rootfs_ancestors: Vec<PathBuf>,
    /// Propagation of "/" set first thing in the new mount namespace.
    pub(crate) initial_propagation: MsFlags,
    /// linux.rootfsPropagation, applied to the new "/" at the very end.
    pub(crate) rootfs_propagation: Option<MsFlags>,
    pub(crate) mounts: Vec<MountStep>,
    /// False when a bind mount provides /dev: then no device nodes or /dev symlinks are made.
    pub(crate) setup_dev: bool,
    pub(crate) devices: Vec<DeviceNode>,
    /// (target, link) pairs made in /dev.
    pub(crate) dev_symlinks: Vec<(PathBuf, PathBuf)>,
    pub(crate) masked_paths: Vec<PathBuf>,
    pub(crate) readonly_paths: Vec<PathBuf>,
    pub(crate) readonly_root: bool,
    /// The /dev mount's flags when config asked it read-only: it is mounted writable so
    /// devices can be made, and remounted read-only in `finish`.
    pub(crate) dev_readonly_flags: Option<MsFlags>,
    pub(crate) no_pivot: bool,
    pub(crate) host_mountns: bool,
    pub(crate) new_userns: bool,
}

/// One entry of config.json's "mounts", ready to perform.
#[derive(Debug)]
pub(crate) struct MountStep {
    pub index: usize,
    /// Absolute and lexically clean ("..", "." and "//" removed, clamped at "/").
    pub destination: PathBuf,
    pub kind: MountKind,
    /// mount(2) flags, without MS_BIND/MS_REC and propagation.
    pub flags: MsFlags,
    pub data: Option<CString>,
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes to set with mount_setattr(AT_RECURSIVE).
    pub attr: Option<MountAttr>,
    /// Whether the options chose an atime mode (else a bind remount keeps the current one).
    pub atime_given: bool,
    /// "tmpcopyup" on a tmpfs: fill it with a copy of the directory it covers.
    pub copy_up: bool,
}

#[derive(Debug)]
pub(crate) enum MountKind {
    /// A bind mount of a host path.
    Bind {
        source: PathBuf,
        recursive: bool,
    },
    /// A new filesystem. `fallback` is a host path to rbind instead when mount(2) says
    /// EPERM (sysfs without a network namespace, mqueue without an IPC namespace, in a
    /// user namespace), as runc does.
    Fs {
        fstype: CString,
        source: CString,
        fallback: Option<PathBuf>,
    },
    Cgroup(CgroupLayout),
}

impl RootfsPlan {
    /// Validates `spec` and computes the plan. `bundle` resolves a relative root.path and
    /// relative bind sources.
    pub fn new(spec: &Spec, bundle: &Path, opts: RootfsOptions) -> Result<RootfsPlan, RootfsError> {
        let rootfs = resolve_rootfs(spec, bundle)?;
        let linux = spec.linux().as_ref();
        let rootfs_propagation =
            match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
                None | Some("") => None,
                Some(value) => Some(parse_propagation(value).ok_or_else(|| {
                    RootfsError::InvalidPropagation {
                        value: value.to_string(),
                    }
                })?),
            };
        let mut mounts = Vec::new();
        for (index, mount) in spec.mounts().iter().flatten().enumerate() {
            mounts.push(plan_mount(index, mount, bundle, &opts)?);
        }
        let setup_dev = !mounts.iter().any(|m| {
            matches!(m.kind, MountKind::Bind { .. }) && m.destination == Path::new("/dev")
        });
        let dev_readonly_flags = take_dev_readonly(&mut mounts);
        let devices = devices::plan_devices(linux.and_then(|l| l.devices().as_deref()))?;
        let masked_paths = absolute_paths(
            "maskedPaths",
            linux.and_then(|l| l.masked_paths().as_deref()),
        )?;
        let readonly_paths = absolute_paths(
            "readonlyPaths",
            linux.and_then(|l| l.readonly_paths().as_deref()),
        )?;
        Ok(RootfsPlan {
            rootfs_ancestors: rootfs.ancestors().map(Path::to_path_buf).collect(),
            rootfs,
            initial_propagation: initial_propagation(rootfs_propagation),
            rootfs_propagation,
            mounts,
            setup_dev,
            devices,
            dev_symlinks: devices::dev_symlinks(),
            masked_paths,
            readonly_paths,
            readonly_root: spec
                .root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
            dev_readonly_flags,
            no_pivot: opts.no_pivot,
            host_mountns: opts.host_mountns,
            new_userns: opts.new_userns,
        })
    }

    /// The canonical host path of the container's root filesystem.
    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }
}

fn resolve_rootfs(spec: &Spec, bundle: &Path) -> Result<PathBuf, RootfsError> {
    let root = spec.root().as_ref().ok_or(RootfsError::NoRoot)?;
    let path = bundle.join(root.path());
    let canonical = path
        .canonicalize()
        .map_err(|source| RootfsError::RootPath {
            path: path.clone(),
            source,
        })?;
    if !canonical.is_dir() {
        let source = std::io::Error::from_raw_os_error(libc::ENOTDIR);
        return Err(RootfsError::RootPath { path, source });
    }
    Ok(canonical)
}

/// runc's order: "/" becomes rslave (or takes rootfsPropagation) at once, so nothing the
/// container mounts reaches the host, while host mounts still reach the container.
/// "unbindable" waits for the end (`finish`): an unbindable "/" could not be bound onto
/// itself as the rootfs.
fn initial_propagation(rootfs_propagation: Option<MsFlags>) -> MsFlags {
    match rootfs_propagation {
        Some(flags) if !flags.contains(MsFlags::MS_UNBINDABLE) => flags,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    }
}

/// Removes MS_RDONLY from a non-bind mount at /dev and returns its flags, so devices can
/// be created there before it is made read-only.
fn take_dev_readonly(mounts: &mut [MountStep]) -> Option<MsFlags> {
    let dev = mounts.iter_mut().find(|m| {
        m.destination == Path::new("/dev") && !matches!(m.kind, MountKind::Bind { .. })
    })?;
    if !dev.flags.contains(MsFlags::MS_RDONLY) {
        return None;
    }
    let flags = dev.flags;
    dev.flags.remove(MsFlags::MS_RDONLY);
    Some(flags)
}

/// Lexically cleans an absolute path: drops "." and empty parts, resolves ".." (never
/// above "/").
pub(crate) fn clean_absolute(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

fn plan_destination(index: usize, destination: &Path) -> Result<PathBuf, RootfsError> {
    if !destination.is_absolute() {
        return Err(RootfsError::RelativeDestination {
            index,
            destination: destination.to_path_buf(),
            suggestion: clean_absolute(&Path::new("/").join(destination)),
        });
    }
    if destination.as_os_str().as_bytes().contains(&0) {
        let value = destination.to_string_lossy().into_owned();
        return Err(RootfsError::NulByte {
            what: "mount destination",
            value,
        });
    }
    let clean = clean_absolute(destination);
    if clean == Path::new("/") {
        return Err(RootfsError::RootDestination {
            index,
            destination: destination.to_path_buf(),
        });
    }
    Ok(clean)
}

fn plan_mount(
    index: usize,
    mount: &Mount,
    bundle: &Path,
    opts: &RootfsOptions,
) -> Result<MountStep, RootfsError> {
    let destination = plan_destination(index, mount.destination())?;
    let invalid = |reason: String| RootfsError::InvalidMount {
        index,
        destination: destination.clone(),
        reason,
    };
    if mount.uid_mappings().is_some() || mount.gid_mappings().is_some() {
        return Err(invalid(
            "uidMappings/gidMappings (idmapped mounts) are not supported by corral".into(),
        ));
    }
    let options = mount.options().as_deref().unwrap_or(&[]);
    let parsed = parse_options(options).map_err(&invalid)?;
    let typ = mount.typ().as_deref().filter(|t| !t.is_empty());
    let kind = plan_kind(index, &destination, typ, mount, &parsed, bundle, opts)?;
    if parsed.tmpcopyup && typ != Some("tmpfs") {
        return Err(invalid(
            "option \"tmpcopyup\" only applies to mounts of type \"tmpfs\"".into(),
        ));
    }
    let data = match (&kind, parsed.data.is_empty()) {
        (MountKind::Fs { .. }, false) => Some(cstring("mount option", &parsed.data)?),
        _ => None,
    };
    Ok(MountStep {
        index,
        destination,
        kind,
        flags: parsed.flags,
        data,
        propagation: parsed.propagation,
        attr: parsed.attr,
        atime_given: parsed.atime_given,
        copy_up: parsed.tmpcopyup,
    })
}

fn plan_kind(
    index: usize,
    destination: &Path,
    typ: Option<&str>,
    mount: &Mount,
    parsed: &ParsedOptions,
    bundle: &Path,
    opts: &RootfsOptions,
) -> Result<MountKind, RootfsError> {
    let is_bind = parsed.bind.is_some() || matches!(typ, Some("bind") | Some("rbind"));
    if is_bind {
        let recursive = parsed.bind.unwrap_or(false) || typ == Some("rbind");
        let source = plan_bind_source(index, destination, mount.source().as_deref(), bundle)?;
        return Ok(MountKind::Bind { source, recursive });
    }
    let invalid = |reason: String| RootfsError::InvalidMount {
        index,
        destination: destination.to_path_buf(),
        reason,
    };
    let fstype = match typ {
        None | Some("none") => {
            return Err(invalid(
                "no filesystem type and no \"bind\"/\"rbind\" option; set \"type\" (e.g. \"tmpfs\") or add \"rbind\" to the options".into(),
            ));
        }
        Some(t) => t,
    };
    if fstype == "cgroup" || fstype == "cgroup2" {
        let layout =
            cgroupfs::plan_layout(&opts.cgroup_dirs, opts.new_cgroupns).map_err(&invalid)?;
        return Ok(MountKind::Cgroup(layout));
    }
    let source = match mount.source() {
        Some(s) if !s.as_os_str().is_empty() => s.as_os_str().as_bytes().to_vec(),
        _ => fstype.as_bytes().to_vec(),
    };
    let fallback = match fstype {
        "sysfs" => Some(PathBuf::from("/sys")),
        "mqueue" => Some(PathBuf::from("/dev/mqueue")),
        _ => None,
    };
    Ok(MountKind::Fs {
        fstype: cstring("mount type", fstype)?,
        source: CString::new(source.clone()).map_err(|_| RootfsError::NulByte {
            what: "mount source",
            value: String::from_utf8_lossy(&source).into_owned(),
        })?,
        fallback,
    })
}

fn plan_bind_source(
    index: usize,
    destination: &Path,
    source: Option<&Path>,
    bundle: &Path,
) -> Result<PathBuf, RootfsError> {
    let Some(source) = source.filter(|s| !s.as_os_str().is_empty()) else {
        return Err(RootfsError::InvalidMount {
            index,
            destination: destination.to_path_buf(),
            reason: "a bind mount needs a \"source\" path on the host".into(),
        });
    };
    let path = bundle.join(source);
    if let Err(err) = std::fs::metadata(&path) {
        return Err(RootfsError::BindSource {
            index,
            destination: destination.to_path_buf(),
            path,
            source: err,
        });
    }
    Ok(path)
}

fn absolute_paths(
    field: &'static str,
    paths: Option<&[String]>,
) -> Result<Vec<PathBuf>, RootfsError> {
    let mut out = Vec::new();
    for path in paths.unwrap_or(&[]) {
        if !path.starts_with('/') {
            return Err(RootfsError::RelativePath {
                field,
                path: path.clone(),
                suggestion: format!("/{path}"),
            });
        }
        if path.contains('\0') {
            return Err(RootfsError::NulByte {
                what: "path",
                value: path.clone(),
            });
        }
        let clean = clean_absolute(Path::new(path));
        if field == "maskedPaths" && clean == Path::new("/") {
            return Err(RootfsError::MaskedRoot { path: path.clone() });
        }
        out.push(clean);
    }
    Ok(out)
}

fn cstring(what: &'static str, value: &str) -> Result<CString, RootfsError> {
    CString::new(value).map_err(|_| RootfsError::NulByte {
        what,
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    struct Bundle(PathBuf);
    impl Drop for Bundle {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn bundle(tag: &str) -> Bundle {
        let dir = std::env::temp_dir().join(format!("corral-plan-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        std::fs::write(dir.join("file"), b"").unwrap();
        Bundle(dir)
    }

    fn plan(b: &Bundle, mounts: Value, linux: Value) -> Result<RootfsPlan, RootfsError> {
        let spec: Spec = serde_json::from_value(json!({
            "ociVersion": "1.2.0", "root": {"path": "rootfs"}, "mounts": mounts, "linux": linux
        }))
        .unwrap();
        RootfsPlan::new(&spec, &b.0, RootfsOptions::default())
    }

    fn err(b: &Bundle, mounts: Value, linux: Value) -> String {
        plan(b, mounts, linux).unwrap_err().to_string()
    }

    #[test]
    fn destinations_are_validated() {
        let b = bundle("dest");
        let msg = err(
            &b,
            json!([{"destination": "tmp", "type": "tmpfs"}]),
            json!({}),
        );
        assert_eq!(
            msg,
            "mounts[0]: mount destination \"tmp\" is not absolute; use \"/tmp\""
        );
        let msg = err(
            &b,
            json!([{"destination": "/x", "type": "tmpfs"}, {"destination": "/a/..", "type": "tmpfs"}]),
            json!({}),
        );
        assert!(
            msg.starts_with("mounts[1]: mount destination \"/a/..\" is the container's root"),
            "{msg}"
        );
        let p = plan(
            &b,
            json!([{"destination": "/../../x/./y//", "type": "tmpfs"}]),
            json!({}),
        )
        .unwrap();
        assert_eq!(p.mounts[0].destination, Path::new("/x/y"));
    }

    #[test]
    fn types_and_sources_are_validated() {
        let b = bundle("types");
        let msg = err(
            &b,
            json!([{"destination": "/x", "type": "none"}]),
            json!({}),
        );
        assert!(msg.contains("no filesystem type"), "{msg}");
        let msg = err(
            &b,
            json!([{"destination": "/x", "type": "bind", "source": "/does/not/exist"}]),
            json!({}),
        );
        assert!(msg.contains("bind source \"/does/not/exist\""), "{msg}");
        let msg = err(
            &b,
            json!([{"destination": "/x", "type": "bind"}]),
            json!({}),
        );
        assert!(msg.contains("needs a \"source\""), "{msg}");
        let msg = err(
            &b,
            json!([{"destination": "/x", "type": "bind", "source": "file", "options": ["tmpcopyup"]}]),
            json!({}),
        );
        assert!(msg.contains("tmpcopyup"), "{msg}");
        let msg = err(
            &b,
            json!([{"destination": "/sys/fs/cgroup", "type": "cgroup"}]),
            json!({}),
        );
        assert!(msg.contains("no cgroup directories"), "{msg}");
        let msg = err(
            &b,
            json!([{"destination": "/x", "type": "tmpfs", "options": ["idmap"]}]),
            json!({}),
        );
        assert!(msg.contains("idmap"), "{msg}");
    }

    #[test]
    fn bind_mounts_are_recognised() {
        let b = bundle("bind");
        let mounts = json!([
            {"destination": "/f", "source": "file", "options": ["rbind", "ro"]},
            {"destination": "/dev", "type": "none", "source": "/dev", "options": ["bind"]},
        ]);
        let p = plan(&b, mounts, json!({})).unwrap();
        let MountKind::Bind { source, recursive } = &p.mounts[0].kind else {
            panic!()
        };
        assert_eq!(
            (source.as_path(), *recursive),
            (b.0.join("file").as_path(), true)
        );
        assert_eq!(p.mounts[0].flags, MsFlags::MS_RDONLY);
        assert!(!p.setup_dev, "a bind mount at /dev means no device setup");
    }

    #[test]
    fn dev_tmpfs_read_only_is_deferred() {
        let b = bundle("devro");
        let mounts = json!([{"destination": "/dev", "type": "tmpfs", "options": ["ro", "nosuid", "size=10k"]}]);
        let p = plan(&b, mounts, json!({})).unwrap();
        assert!(p.setup_dev);
        assert_eq!(p.mounts[0].flags, MsFlags::MS_NOSUID);
        assert_eq!(
            p.dev_readonly_flags,
            Some(MsFlags::MS_NOSUID | MsFlags::MS_RDONLY)
        );
        assert_eq!(p.mounts[0].data.as_deref(), Some(c"size=10k"));
    }

    #[test]
    fn linux_paths_and_propagation_are_validated() {
        let b = bundle("linux");
        let msg = err(&b, json!([]), json!({"maskedPaths": ["proc/kcore"]}));
        assert_eq!(
            msg,
            "linux.maskedPaths entry \"proc/kcore\" is not an absolute path; write it as \"/proc/kcore\""
        );
        assert!(err(&b, json!([]), json!({"maskedPaths": ["/.."]})).contains("cannot be masked"));
        let msg = err(&b, json!([]), json!({"rootfsPropagation": "sideways"}));
        assert!(msg.contains("\"sideways\" is not one of"), "{msg}");
        let p = plan(
            &b,
            json!([]),
            json!({"rootfsPropagation": "shared", "readonlyPaths": ["/proc/sys"]}),
        )
        .unwrap();
        assert_eq!(
            (p.initial_propagation, p.rootfs_propagation),
            (MsFlags::MS_SHARED, Some(MsFlags::MS_SHARED))
        );
        assert_eq!(p.readonly_paths, vec![PathBuf::from("/proc/sys")]);
        assert_eq!(p.rootfs, b.0.join("rootfs").canonicalize().unwrap());
        assert_eq!(
            p.rootfs_ancestors.last().map(PathBuf::as_path),
            Some(Path::new("/"))
        );
    }

    #[test]
    fn missing_root_is_reported() {
        let b = bundle("noroot");
        let spec: Spec =
            serde_json::from_value(json!({"ociVersion": "1.2.0", "root": {"path": "nope"}}))
                .unwrap();
        let msg = RootfsPlan::new(&spec, &b.0, RootfsOptions::default())
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("root.path"), "{msg}");
    }
}
