//! Performing config.json's mounts inside the rootfs, in order.
//!
//! Each destination is resolved inside the root by fd and the mount targets that fd's
//! /proc/self/fd path. After a mount, the destination is opened again: that reaches the
//! new mount (an fd from before still names the mount underneath), which is what the
//! remount, propagation and mount_setattr steps must act on.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::Mode;

use super::RootfsError;
use super::cgroupfs::mount_cgroup;
use super::copyup::{copy_tree, open_dir};
use super::plan::{MountKind, MountStep, RootfsPlan};
use crate::sys::fs::{
    create_file_in_root, is_dir, mkdir_all_in_root, open_host, open_in_root,
    open_in_root_no_symlinks,
};
use crate::sys::mount::{
    bind_fd, is_errno, mount_flags, mount_fs, mount_setattr, remount_bind, set_propagation,
};

/// atime-related mount flags: one mode (noatime, relatime, strictatime) plus nodiratime.
const ATIME_FLAGS: MsFlags = MsFlags::MS_NOATIME
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME)
    .union(MsFlags::MS_NODIRATIME);

/// Flags a user namespace locks on a mount it did not create: a remount must keep them.
const LOCKED_FLAGS: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC)
    .union(ATIME_FLAGS);

/// An error-mapping closure for `step`.
pub(crate) fn fail<'a>(
    step: &'a MountStep,
    what: &'static str,
) -> impl FnOnce(io::Error) -> RootfsError + 'a {
    move |source| RootfsError::Mount {
        index: step.index,
        destination: step.destination.clone(),
        step: what,
        source,
    }
}

/// Does every mount of the plan, in config order.
pub(crate) fn mount_all(root: BorrowedFd<'_>, plan: &RootfsPlan) -> Result<(), RootfsError> {
    for step in &plan.mounts {
        mount_one(root, step)?;
    }
    Ok(())
}

fn mount_one(root: BorrowedFd<'_>, step: &MountStep) -> Result<(), RootfsError> {
    match &step.kind {
        MountKind::Bind { source, recursive } => {
            bind_host_path(root, step, source, &step.destination, *recursive)?
        }
        MountKind::Fs {
            fstype,
            source,
            fallback,
        } => {
            let target = ensure_target(root, &step.destination, true)
                .map_err(fail(step, "creating the mount point"))?;
            let data = step.data.as_deref();
            // Opened before the mount, this fd keeps seeing the directory underneath.
            let original = if step.copy_up {
                let dir = open_dir(target.as_fd())
                    .map_err(fail(step, "opening the directory to copy up"))?;
                Some(dir)
            } else {
                None
            };
            match mount_fs(source, target.as_fd(), fstype, step.flags, data) {
                Err(e) if is_errno(&e, Errno::EPERM) && fallback.is_some() => {
                    let host = fallback.as_deref().unwrap_or(Path::new("/"));
                    bind_host_path(root, step, host, &step.destination, true)?;
                }
                other => other.map_err(fail(step, "mount"))?,
            }
            if let Some(original) = original {
                let top = reopen(root, step)?;
                copy_tree(original.as_fd(), top.as_fd())
                    .map_err(fail(step, "tmpcopyup: copying the directory"))?;
            }
        }
        MountKind::Cgroup(layout) => mount_cgroup(root, step, layout)?,
    }
    apply_propagation_and_attrs(root, step)
}

/// Opens the mount point `dest` inside `root`, creating it when missing: a directory, or
/// an empty file when the thing mounted there is not a directory. Under /proc, /sys and
/// /dev a symlink in the image is refused (see [`refuse_symlinked_kernel_dir`]).
pub(crate) fn ensure_target(root: BorrowedFd<'_>, dest: &Path, dir: bool) -> io::Result<OwnedFd> {
    refuse_symlinked_kernel_dir(root, dest)?;
    match open_in_root(root, dest, OFlag::O_PATH) {
        Err(e) if is_errno(&e, Errno::ENOENT) => {
            if dir {
                mkdir_all_in_root(root, dest, Mode::from_bits_truncate(0o755))
            } else {
                create_file_in_root(root, dest, Mode::from_bits_truncate(0o644))
            }
        }
        other => other,
    }
}

/// Top-level directories where the kernel's own filesystems go.
const KERNEL_DIRS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// An image that makes /proc, /sys or /dev a symlink wants procfs, sysfs or device nodes
/// somewhere else (CVE-2019-19921, CVE-2023-27561). Resolution by fd would keep that
/// inside the root, but it is still not what the config asked, so it is refused: for a
/// destination in /proc or /sys no component may be a symlink (procfs and sysfs put
/// none where mounts go); under /dev only /dev itself is checked, since a host /dev
/// bound there legitimately holds symlinks (/dev/log, /dev/fd). A missing directory is
/// fine: it is made as a real one.
pub(crate) fn refuse_symlinked_kernel_dir(root: BorrowedFd<'_>, dest: &Path) -> io::Result<()> {
    let Some(top) = KERNEL_DIRS
        .iter()
        .map(Path::new)
        .find(|d| dest.starts_with(d))
    else {
        return Ok(());
    };
    let checked = if top == Path::new("/dev") { top } else { dest };
    match open_in_root_no_symlinks(root, checked, OFlag::O_PATH) {
        Ok(_) => Ok(()),
        Err(e) if is_errno(&e, Errno::ENOENT) => Ok(()),
        Err(e) if is_errno(&e, Errno::ELOOP) => Err(io::Error::other(format!(
            "{checked:?} in the rootfs is, or passes through, a symbolic link; corral does not follow symlinks where procfs, sysfs or device nodes go: make it a real directory in the image"
        ))),
        Err(e) => Err(e),
    }
}

/// Opens the step's destination again, reaching the mount just made there.
pub(crate) fn reopen(root: BorrowedFd<'_>, step: &MountStep) -> Result<OwnedFd, RootfsError> {
    open_in_root(root, &step.destination, OFlag::O_PATH)
        .map_err(fail(step, "reopening the new mount"))
}

/// Bind-mounts host path `source` at `dest` (inside the root) and applies the step's
/// flags with a bind remount when it has any.
pub(crate) fn bind_host_path(
    root: BorrowedFd<'_>,
    step: &MountStep,
    source: &Path,
    dest: &Path,
    recursive: bool,
) -> Result<(), RootfsError> {
    let src = open_host(source, OFlag::empty()).map_err(fail(step, "opening the bind source"))?;
    let src_is_dir = is_dir(src.as_fd()).map_err(fail(step, "stat of the bind source"))?;
    let target =
        ensure_target(root, dest, src_is_dir).map_err(fail(step, "creating the mount point"))?;
    bind_fd(src.as_fd(), target.as_fd(), recursive).map_err(fail(step, "bind mount"))?;
    let wanted = step.flags - MsFlags::MS_REMOUNT;
    if wanted.is_empty() {
        return Ok(());
    }
    let top =
        open_in_root(root, dest, OFlag::O_PATH).map_err(fail(step, "reopening the new mount"))?;
    remount_bind_keeping(top.as_fd(), wanted, step.atime_given)
        .map_err(fail(step, "remount to apply the mount options"))
}

/// Bind remount with `wanted`, keeping the current atime mode unless the options chose
/// one. On EPERM (flags locked by a user namespace) it retries keeping the locked flags,
/// as runc does, so e.g. "ro" still works on a nosuid host mount.
pub(crate) fn remount_bind_keeping(
    top: BorrowedFd<'_>,
    wanted: MsFlags,
    atime_given: bool,
) -> io::Result<()> {
    let current = mount_flags(top)?;
    let mut flags = wanted;
    if !atime_given {
        flags = (flags - ATIME_FLAGS) | (current & ATIME_FLAGS);
    }
    match remount_bind(top, flags) {
        Err(e) if is_errno(&e, Errno::EPERM) => {
            let kept = (flags - ATIME_FLAGS) | (current & LOCKED_FLAGS);
            remount_bind(top, kept)
        }
        other => other,
    }
}

/// Propagation options, then recursive attributes, on the new mount.
fn apply_propagation_and_attrs(root: BorrowedFd<'_>, step: &MountStep) -> Result<(), RootfsError> {
    if step.propagation.is_empty() && step.attr.is_none() {
        return Ok(());
    }
    let top = reopen(root, step)?;
    for flags in &step.propagation {
        set_propagation(top.as_fd(), *flags).map_err(fail(step, "setting mount propagation"))?;
    }
    if let Some(attr) = &step.attr {
        match mount_setattr(top.as_fd(), true, attr) {
            Err(e) if is_errno(&e, Errno::ENOSYS) => {
                return Err(RootfsError::SetattrUnsupported {
                    index: step.index,
                    destination: step.destination.clone(),
                });
            }
            other => other.map_err(fail(step, "mount_setattr for recursive options"))?,
        }
    }
    Ok(())
}
