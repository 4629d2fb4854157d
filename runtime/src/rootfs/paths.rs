//! After the switch of root: read-only and masked paths, the read-only root, the final
//! propagation of "/", and the console. Paths now resolve against the new "/", and
//! /proc/self/fd is the container's own procfs, checked to be one first.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::io;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag};

use super::RootfsError;
use super::plan::RootfsPlan;
use crate::sys::fs::{
    chmod_fd, create_file_in_root, device_numbers, is_dir, open_host, open_in_root, open_in_root_no_symlinks, stat_fd,
    statfs_fd,
};
use crate::sys::mount::{
    bind_fd, is_errno, mount_flags, mount_fs, remount_bind, remount_bind_path, set_propagation_path,
};

/// Major numbers of Unix98 pty slaves (/dev/pts/N).
const PTY_SLAVE_MAJORS: std::ops::RangeInclusive<u32> = 136..=143;

/// Opens the current "/" (the container's root once pivoted) as the lookup root.
fn open_new_root() -> Result<OwnedFd, RootfsError> {
    open_host(Path::new("/"), OFlag::O_DIRECTORY).map_err(|source| RootfsError::Pivot {
        path: "/".into(),
        step: "opening the new root",
        source,
    })
}

/// Every mount below targets /proc/self/fd/N, which must be the container's procfs.
// PROC_SUPER_MAGIC is a c_long, which is not i64 on 32-bit targets.
#[allow(clippy::unnecessary_cast)]
fn require_proc(root: BorrowedFd<'_>) -> Result<(), RootfsError> {
    let proc = open_in_root(root, Path::new("/proc"), OFlag::O_PATH | OFlag::O_DIRECTORY)
        .map_err(|_| RootfsError::ProcMissing)?;
    match statfs_fd(proc.as_fd()) {
        Ok(info) if info.fs_type == libc::PROC_SUPER_MAGIC as i64 => Ok(()),
        _ => Err(RootfsError::ProcMissing),
    }
}

pub(crate) fn finish(plan: &RootfsPlan) -> Result<(), RootfsError> {
    let root = open_new_root()?;
    let root = root.as_fd();
    let needs_proc = plan.dev_readonly_flags.is_some()
        || !plan.readonly_paths.is_empty()
        || !plan.masked_paths.is_empty();
    if needs_proc {
        require_proc(root)?;
    }
    if let Some(flags) = plan.dev_readonly_flags {
        remount_dev_readonly(root, flags)?;
    }
    for path in &plan.readonly_paths {
        make_readonly(root, path)?;
    }
    if !plan.masked_paths.is_empty() {
        let dev_null = open_dev_null(root)?;
        for path in &plan.masked_paths {
            mask(root, path, dev_null.as_fd())?;
        }
    }
    if plan.readonly_root {
        let current = mount_flags(root).map_err(|source| RootfsError::RootReadonly { source })?;
        remount_bind_path(Path::new("/"), current | MsFlags::MS_RDONLY)
            .map_err(|source| RootfsError::RootReadonly { source })?;
    }
    if let Some(flags) = plan.rootfs_propagation {
        set_propagation_path(Path::new("/"), flags)
            .map_err(|source| RootfsError::Propagation { source })?;
    }
    Ok(())
}

fn remount_dev_readonly(root: BorrowedFd<'_>, flags: MsFlags) -> Result<(), RootfsError> {
    let dev = open_in_root(root, Path::new("/dev"), OFlag::O_PATH)
        .map_err(|source| RootfsError::DevReadonly { source })?;
    remount_bind(dev.as_fd(), flags | MsFlags::MS_RDONLY)
        .map_err(|source| RootfsError::DevReadonly { source })
}

/// `path` opened O_PATH inside the root, or None when it does not exist (such entries of
/// maskedPaths and readonlyPaths are skipped, as runc does).
fn open_if_present(root: BorrowedFd<'_>, path: &Path) -> io::Result<Option<OwnedFd>> {
    match open_in_root(root, path, OFlag::O_PATH) {
        Err(e) if is_errno(&e, Errno::ENOENT) => Ok(None),
        other => other.map(Some),
    }
}

/// Binds `path` onto itself (with its submounts) and makes that mount read-only,
/// keeping its nosuid/nodev/noexec and atime flags. A missing path is skipped.
fn make_readonly(root: BorrowedFd<'_>, path: &Path) -> Result<(), RootfsError> {
    let err = |step: &'static str| {
        move |source| RootfsError::Path { field: "readonlyPaths", path: path.to_path_buf(), step, source }
    };
    let Some(fd) = open_if_present(root, path).map_err(err("opening"))? else { return Ok(()) };
    bind_fd(fd.as_fd(), fd.as_fd(), true).map_err(err("bind-mounting onto itself"))?;
    let top = open_in_root(root, path, OFlag::O_PATH).map_err(err("reopening"))?;
    let current = mount_flags(top.as_fd()).map_err(err("reading the mount flags"))?;
    remount_bind(top.as_fd(), current | MsFlags::MS_RDONLY).map_err(err("remounting read-only"))
}

/// The container's /dev/null, checked to be the real null device (char 1:3) so a
/// rootfs cannot make masking bind something else over the masked files.
fn open_dev_null(root: BorrowedFd<'_>) -> Result<OwnedFd, RootfsError> {
    let path = Path::new("/dev/null");
    let fd = open_in_root(root, path, OFlag::O_PATH).map_err(|source| RootfsError::Path {
        field: "maskedPaths",
        path: path.into(),
        step: "opening /dev/null",
        source,
    })?;
    match device_numbers(fd.as_fd(), SFlag::S_IFCHR) {
        Ok(Some((1, 3))) => Ok(fd),
        Ok(Some((major, minor))) => Err(RootfsError::DevNullNotNull {
            found: format!("char device {major}:{minor}"),
        }),
        Ok(None) => Err(RootfsError::DevNullNotNull {
            found: "not a char device".into(),
        }),
        Err(e) => Err(RootfsError::DevNullNotNull {
            found: e.to_string(),
        }),
    }
}

/// A directory gets an empty read-only tmpfs over it, anything else /dev/null.
/// A missing path is skipped.
fn mask(root: BorrowedFd<'_>, path: &Path, dev_null: BorrowedFd<'_>) -> Result<(), RootfsError> {
    let err = |step: &'static str| {
        move |source| RootfsError::Path { field: "maskedPaths", path: path.to_path_buf(), step, source }
    };
    let Some(fd) = open_if_present(root, path).map_err(err("opening"))? else { return Ok(()) };
    if is_dir(fd.as_fd()).map_err(err("stat"))? {
        mount_fs(c"tmpfs", fd.as_fd(), c"tmpfs", MsFlags::MS_RDONLY, None)
            .map_err(err("mounting an empty tmpfs over it"))
    } else {
        bind_fd(dev_null, fd.as_fd(), false).map_err(err("bind-mounting /dev/null over it"))
    }
}

/// Bind-mounts the pty slave over /dev/console (made as an empty 0666 file if missing).
pub(crate) fn mount_console(pty_slave: BorrowedFd<'_>) -> Result<(), RootfsError> {
    match device_numbers(pty_slave, SFlag::S_IFCHR) {
        Ok(Some((major, _))) if PTY_SLAVE_MAJORS.contains(&major) => {}
        Ok(Some((major, minor))) => {
            return Err(RootfsError::NotPtySlave {
                found: format!("char device {major}:{minor}"),
            });
        }
        Ok(None) => {
            let kind = stat_fd(pty_slave)
                .map(|s| s.st_mode & SFlag::S_IFMT.bits())
                .unwrap_or(0);
            return Err(RootfsError::NotPtySlave {
                found: format!("not a char device (file type {kind:#o})"),
            });
        }
        Err(e) => {
            return Err(RootfsError::NotPtySlave {
                found: e.to_string(),
            });
        }
    }
    let err = |step: &'static str| move |source| RootfsError::Console { step, source };
    let root = open_new_root()?;
    require_proc(root.as_fd())?;
    let path = Path::new("/dev/console");
    // No symlink anywhere on the way: an image's /dev/console (or /dev) pointing
    // elsewhere would carry the pty, and the mount, to another file.
    let target = match open_in_root_no_symlinks(root.as_fd(), path, OFlag::O_PATH) {
        Err(e) if is_errno(&e, Errno::ELOOP) => return Err(RootfsError::ConsoleSymlink),
        Err(e) if is_errno(&e, Errno::ENOENT) => {
            let mode = Mode::from_bits_truncate(0o666);
            let file = create_file_in_root(root.as_fd(), path, mode)
                .map_err(err("creating /dev/console"))?;
            chmod_fd(file.as_fd(), mode).map_err(err("chmod of /dev/console"))?;
            file
        }
        other => other.map_err(err("opening /dev/console"))?,
    };
    bind_fd(pty_slave, target.as_fd(), false)
        .map_err(err("bind-mounting the pty over /dev/console"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// A root whose /dev/null is a regular file or a symlink to a host file is refused
    /// before any mask is made; the real /dev/null passes.
    #[test]
    fn dev_null_must_be_the_null_device() {
        let base = std::env::temp_dir().join(format!("corral-devnull-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("file/dev")).unwrap();
        std::fs::create_dir_all(base.join("link/dev")).unwrap();
        std::fs::write(base.join("file/dev/null"), b"fake").unwrap();
        std::fs::write(base.join("secret"), b"host").unwrap();
        std::os::unix::fs::symlink(base.join("secret"), base.join("link/dev/null")).unwrap();
        std::os::unix::fs::symlink("../../secret", base.join("link/dev/rel")).unwrap();
        for case in ["file", "link"] {
            let root = open_host(&base.join(case), OFlag::O_DIRECTORY).unwrap();
            let result = open_dev_null(root.as_fd());
            assert!(result.is_err(), "{case}: a fake /dev/null was accepted");
        }
        let host = open_host(Path::new("/"), OFlag::O_DIRECTORY).unwrap();
        assert!(open_dev_null(host.as_fd()).is_ok());
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// The console check runs on the fd before anything is mounted: a regular file or
    /// another char device is not a pty slave.
    #[test]
    fn console_must_be_a_pty_slave() {
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        for fd in [file.as_fd(), null.as_fd()] {
            match mount_console(fd) {
                Err(RootfsError::NotPtySlave { .. }) => {}
                other => panic!("accepted a non-pty console: {other:?}"),
            }
        }
    }
}
