//! Device nodes in the container's /dev: the default set (null, zero, full, random,
//! urandom, tty) plus linux.devices, made with mknod, or bind-mounted from the host where
//! mknod is not allowed (user namespaces); and the /dev symlinks (fd, stdin, ptmx, ...).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag, makedev};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::RootfsError;
use super::plan::{RootfsPlan, clean_absolute};
use crate::sys::fs::{
    chown_fd, create_file_in_root, device_numbers, mknod_in_root, open_host, open_in_root,
    set_umask, symlink_in_root, unlink_in_root,
};
use crate::sys::mount::{bind_fd, is_errno};

/// One device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceNode {
    /// Absolute and clean, inside the container.
    pub path: PathBuf,
    /// S_IFCHR, S_IFBLK or S_IFIFO.
    pub kind: SFlag,
    pub perm: Mode,
    pub major: u32,
    pub minor: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The nodes every container gets, as runc makes them: (name, major, minor), char, 0666.
const DEFAULT_DEVICES: &[(&str, u32, u32)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// Validates linux.devices and adds the defaults the config does not override.
pub(crate) fn plan_devices(config: Option<&[LinuxDevice]>) -> Result<Vec<DeviceNode>, RootfsError> {
    let mut nodes = Vec::new();
    for device in config.unwrap_or(&[]) {
        nodes.push(plan_device(device)?);
    }
    for (path, major, minor) in DEFAULT_DEVICES {
        if nodes.iter().any(|n| n.path == Path::new(path)) {
            continue;
        }
        nodes.push(DeviceNode {
            path: PathBuf::from(path),
            kind: SFlag::S_IFCHR,
            perm: Mode::from_bits_truncate(0o666),
            major: *major,
            minor: *minor,
            uid: 0,
            gid: 0,
        });
    }
    Ok(nodes)
}

fn plan_device(device: &LinuxDevice) -> Result<DeviceNode, RootfsError> {
    let path = device.path();
    let invalid = |reason: &str| RootfsError::InvalidDevice {
        path: path.clone(),
        reason: reason.to_string(),
    };
    if !path.is_absolute() {
        return Err(invalid(
            "the path is not absolute; write it as \"/dev/NAME\"",
        ));
    }
    let clean = clean_absolute(path);
    if clean == Path::new("/") || clean == Path::new("/dev") {
        return Err(invalid("the path must name a node, not \"/\" or \"/dev\""));
    }
    let kind = match device.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(invalid(
                "type \"a\" is only meaningful in linux.resources.devices; use c, b, u or p",
            ));
        }
    };
    let number = |n: i64, what: &str| {
        u32::try_from(n).map_err(|_| invalid(&format!("{what} number {n} is out of range")))
    };
    let (major, minor) = if kind == SFlag::S_IFIFO {
        (0, 0)
    } else {
        (
            number(device.major(), "major")?,
            number(device.minor(), "minor")?,
        )
    };
    Ok(DeviceNode {
        path: clean,
        kind,
        perm: Mode::from_bits_truncate(device.file_mode().unwrap_or(0o666) & 0o7777),
        major,
        minor,
        uid: device.uid().unwrap_or(0),
        gid: device.gid().unwrap_or(0),
    })
}

/// The /dev symlinks runc makes: (target, link). /dev/core only where the host has /proc/kcore.
pub(crate) fn dev_symlinks() -> Vec<(PathBuf, PathBuf)> {
    let mut links: Vec<(PathBuf, PathBuf)> = [
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
    ]
    .iter()
    .map(|(t, l)| (PathBuf::from(t), PathBuf::from(l)))
    .collect();
    if Path::new("/proc/kcore").exists() {
        links.push((PathBuf::from("/proc/kcore"), PathBuf::from("/dev/core")));
    }
    links
}

/// Creates every planned node, with the umask cleared so modes are exact.
pub(crate) fn create_devices(root: BorrowedFd<'_>, plan: &RootfsPlan) -> Result<(), RootfsError> {
    let old_umask = set_umask(Mode::empty());
    let result = plan
        .devices
        .iter()
        .try_for_each(|node| create_device(root, node, plan.new_userns));
    set_umask(old_umask);
    result
}

fn create_device(
    root: BorrowedFd<'_>,
    node: &DeviceNode,
    new_userns: bool,
) -> Result<(), RootfsError> {
    let err = |step: &'static str| {
        move |source: std::io::Error| RootfsError::Device {
            path: node.path.clone(),
            step,
            source,
        }
    };
    // A FIFO needs no privilege, so it is made even in a user namespace.
    let bind = new_userns && node.kind != SFlag::S_IFIFO;
    if !bind {
        let dev = makedev(u64::from(node.major), u64::from(node.minor));
        match mknod_in_root(root, &node.path, node.kind, node.perm, dev) {
            Ok(fd) => return chown_fd(fd.as_fd(), node.uid, node.gid).map_err(err("chown")),
            // An existing node is kept as it is, as runc does.
            Err(e) if is_errno(&e, Errno::EEXIST) => return Ok(()),
            Err(e) if is_errno(&e, Errno::EPERM) && node.kind != SFlag::S_IFIFO => {}
            Err(e) => return Err(err("mknod")(e)),
        }
    }
    bind_host_device(root, node)
}

/// Bind-mounts the host's node at the same path over an empty file, after checking the
/// host node is the device the config describes.
fn bind_host_device(root: BorrowedFd<'_>, node: &DeviceNode) -> Result<(), RootfsError> {
    let err = |step: &'static str| {
        move |source: std::io::Error| RootfsError::Device {
            path: node.path.clone(),
            step,
            source,
        }
    };
    let source =
        open_host(&node.path, OFlag::empty()).map_err(err("opening the host node to bind"))?;
    let found = device_numbers(source.as_fd(), node.kind).map_err(err("stat of the host node"))?;
    if found != Some((node.major, node.minor)) {
        let kind = if node.kind == SFlag::S_IFBLK {
            "block"
        } else {
            "char"
        };
        return Err(RootfsError::HostDeviceMismatch {
            path: node.path.clone(),
            expected: format!("a {kind} device {}:{}", node.major, node.minor),
        });
    }
    let target = match open_in_root(root, &node.path, OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(e) if is_errno(&e, Errno::ENOENT) => {
            create_file_in_root(root, &node.path, Mode::from_bits_truncate(0o666))
                .map_err(err("creating the bind target"))?
        }
        Err(e) => return Err(err("opening the bind target")(e)),
    };
    bind_fd(source.as_fd(), target.as_fd(), false).map_err(err("bind-mounting the host node"))
}

/// /dev/fd, /dev/stdin, ... and /dev/ptmx -> pts/ptmx (replacing any /dev/ptmx node, so
/// the container's devpts instance is the one used).
pub(crate) fn create_dev_links(root: BorrowedFd<'_>, plan: &RootfsPlan) -> Result<(), RootfsError> {
    for (target, link) in &plan.dev_symlinks {
        make_symlink(root, target, link)?;
    }
    let ptmx = Path::new("/dev/ptmx");
    match unlink_in_root(root, ptmx) {
        Ok(()) => {}
        Err(e) if is_errno(&e, Errno::ENOENT) => {}
        Err(source) => {
            return Err(RootfsError::Device {
                path: ptmx.into(),
                step: "removing the old node",
                source,
            });
        }
    }
    make_symlink(root, Path::new("pts/ptmx"), ptmx)
}

fn make_symlink(root: BorrowedFd<'_>, target: &Path, link: &Path) -> Result<(), RootfsError> {
    match symlink_in_root(root, target, link) {
        Ok(()) => Ok(()),
        Err(e) if is_errno(&e, Errno::EEXIST) => Ok(()),
        Err(source) => Err(RootfsError::Device {
            path: link.into(),
            step: "symlink",
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(json: &str) -> LinuxDevice {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_are_added_unless_overridden() {
        let fuse = device(
            r#"{"type":"c","path":"/dev/fuse","major":10,"minor":229,"fileMode":8630,"uid":5,"gid":6}"#,
        );
        let null = device(r#"{"type":"c","path":"/dev/null","major":1,"minor":3,"fileMode":438}"#);
        let nodes = plan_devices(Some(&[fuse, null])).unwrap();
        assert_eq!(nodes.len(), 2 + DEFAULT_DEVICES.len() - 1);
        assert_eq!(nodes[0].perm.bits(), 0o666); // 8630 = S_IFCHR|0666: type bits dropped
        assert_eq!(
            (nodes[0].uid, nodes[0].gid, nodes[0].major, nodes[0].minor),
            (5, 6, 10, 229)
        );
        assert_eq!(
            nodes
                .iter()
                .filter(|n| n.path == Path::new("/dev/null"))
                .count(),
            1
        );
        assert!(
            nodes
                .iter()
                .any(|n| n.path == Path::new("/dev/tty") && n.major == 5)
        );
    }

    #[test]
    fn invalid_devices_are_refused() {
        let rel = device(r#"{"type":"c","path":"dev/x","major":1,"minor":3}"#);
        let msg = plan_devices(Some(&[rel])).unwrap_err().to_string();
        assert!(msg.contains("not absolute"), "{msg}");
        let all = device(r#"{"type":"a","path":"/dev/x"}"#);
        assert!(plan_devices(Some(&[all])).is_err());
        let neg = device(r#"{"type":"b","path":"/dev/x","major":-1,"minor":0}"#);
        assert!(
            plan_devices(Some(&[neg]))
                .unwrap_err()
                .to_string()
                .contains("out of range")
        );
        let fifo = device(r#"{"type":"p","path":"/dev/../dev/fifo"}"#);
        let nodes = plan_devices(Some(&[fifo])).unwrap();
        assert_eq!(
            (nodes[0].kind, nodes[0].path.as_path()),
            (SFlag::S_IFIFO, Path::new("/dev/fifo"))
        );
    }
}
