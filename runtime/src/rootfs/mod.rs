//! The container's root filesystem: mounts, devices, pivot, masked and read-only paths.
//!
//! [`RootfsPlan::new`] runs in the runtime before clone and does all parsing and
//! validation. The child, already in its new mount namespace and single-threaded, then
//! calls [`prepare`], [`pivot`], optionally [`mount_console`], and [`finish`], in that
//! order. Every path inside the rootfs is resolved by fd relative to the rootfs
//! (crate::sys::fs::open_in_root) and every mount targets /proc/self/fd/N of such an fd,
//! so symlinks and ".." in the image cannot redirect a mount to the host.

mod cgroupfs;
mod copyup;
mod devices;
mod error;
mod mounts;
mod options;
mod paths;
mod pivot;
mod plan;
#[cfg(test)]
mod tests;

use std::os::fd::{AsFd, BorrowedFd};

pub use error::RootfsError;
pub use options::MOUNT_OPTIONS;
pub use plan::RootfsPlan;

/// Facts about the container that config.json alone does not give.
#[derive(Debug, Clone, Default)]
pub struct RootfsOptions {
    /// --no-pivot: MS_MOVE the rootfs onto / and chroot instead of pivot_root.
    pub no_pivot: bool,
    /// The config lists no mount namespace: the container shares the runtime's. Mounts
    /// are still made, under a bind of the rootfs onto itself that `delete` detaches in
    /// one go (see [`detach_host_rootfs`]); "/" keeps its propagation, and the switch of
    /// root is a chroot.
    pub host_mountns: bool,
    /// The container has its own cgroup namespace.
    pub new_cgroupns: bool,
    /// The container has its own user namespace (mknod is not allowed: device nodes are
    /// bind-mounted from the host instead).
    pub new_userns: bool,
    /// The container's cgroup directories, for mounts of type "cgroup".
    pub cgroup_dirs: Vec<crate::cgroups::CgroupDir>,
}

/// In the child, in its new mount namespace, before the switch of root: propagation of
/// "/", the rootfs bound onto itself, every config mount in order, then (unless a bind
/// mount provides /dev) the device nodes and /dev symlinks.
pub fn prepare(plan: &RootfsPlan) -> Result<(), RootfsError> {
    let root = pivot::prepare_root(plan)?;
    mounts::mount_all(root.as_fd(), plan)?;
    if plan.setup_dev {
        // Device nodes go into the image's own /dev when no mount replaced it.
        mounts::refuse_symlinked_kernel_dir(root.as_fd(), std::path::Path::new("/dev")).map_err(
            |source| RootfsError::Prepare {
                path: plan.rootfs.join("dev"),
                step: "checking /dev before creating device nodes",
                source,
            },
        )?;
        devices::create_devices(root.as_fd(), plan)?;
        devices::create_dev_links(root.as_fd(), plan)?;
    }
    Ok(())
}

/// For a container without its own mount namespace: detach the rootfs bind (and every
/// mount made under it) from the runtime's mount namespace. Called by `delete` and by a
/// failed `create`; a rootfs that is not a mount point is fine.
pub fn detach_host_rootfs(rootfs: &std::path::Path) -> Result<(), RootfsError> {
    match crate::sys::mount::detach(rootfs) {
        Err(e)
            if crate::sys::mount::is_errno(&e, nix::errno::Errno::EINVAL)
                || crate::sys::mount::is_errno(&e, nix::errno::Errno::ENOENT) =>
        {
            Ok(())
        }
        other => other.map_err(|source| RootfsError::Prepare {
            path: rootfs.to_path_buf(),
            step: "detaching the container's mounts",
            source,
        }),
    }
}

/// pivot_root into the rootfs and detach the old root (or MS_MOVE + chroot with
/// no_pivot); the cwd ends at the new "/".
pub fn pivot(plan: &RootfsPlan) -> Result<(), RootfsError> {
    pivot::switch_root(plan)
}

/// After [`pivot`] (and [`mount_console`]): readonlyPaths, maskedPaths, /dev read-only
/// when asked, root.readonly, then linux.rootfsPropagation on "/". Needs the container's
/// procfs at /proc when there are masked or read-only paths.
pub fn finish(plan: &RootfsPlan) -> Result<(), RootfsError> {
    paths::finish(plan)
}

/// After [`pivot`], before [`finish`] (which may make "/" read-only): bind-mounts the pty
/// slave over /dev/console, creating it as an empty 0666 file when missing. Refuses an fd
/// that is not a pty slave (char device, major 136-143). Needs the container's /proc.
pub fn mount_console(pty_slave: BorrowedFd) -> Result<(), RootfsError> {
    paths::mount_console(pty_slave)
}
