//! Getting the rootfs ready to become "/", and making it so.
//!
//! Sequence (learned from runc and crun, written afresh):
//! 1. "/" of the new mount namespace becomes rslave (or linux.rootfsPropagation), so the
//!    container's mounts never reach the host.
//! 2. The mount holding the rootfs becomes a slave: pivot_root refuses a shared parent.
//! 3. The rootfs is bind-mounted onto itself, so it is a mount point of its own.
//! 4. (mounts, devices)
//! 5. pivot_root(".", ".") from inside it, then the old root, now stacked on top of the
//!    new one, is made rslave (so its unmount does not propagate) and detached.
//!    With --no-pivot: MS_MOVE the rootfs onto "/" and chroot into it instead.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;

use super::RootfsError;
use super::plan::RootfsPlan;
use crate::sys::fs::open_host;
use crate::sys::mount::{
    bind_path, chdir, chroot, detach, fchdir, is_errno, move_mount_path, pivot_root_to_cwd,
    set_propagation_path,
};

/// Steps 1-3; returns an O_PATH fd of the rootfs mount, the root for every later lookup.
pub(crate) fn prepare_root(plan: &RootfsPlan) -> Result<OwnedFd, RootfsError> {
    let err = |step: &'static str| {
        move |source| RootfsError::Prepare {
            path: plan.rootfs.clone(),
            step,
            source,
        }
    };
    // In the runtime's own mount namespace the host's propagation is not ours to change.
    if !plan.host_mountns {
        set_propagation_path(Path::new("/"), plan.initial_propagation).map_err(err(
            "setting the propagation of \"/\" in the new mount namespace",
        ))?;
        make_rootfs_parent_slave(plan)?;
    }
    bind_path(&plan.rootfs, &plan.rootfs, true)
        .map_err(err("bind-mounting the rootfs onto itself"))?;
    open_host(&plan.rootfs, OFlag::O_DIRECTORY).map_err(err("opening the rootfs"))
}

/// Makes the nearest mount point at or above the rootfs a slave: pivot_root refuses a
/// shared parent, and the rootfs bind must not propagate back to the host. MS_SLAVE (not
/// MS_PRIVATE) keeps a mount that already receives from the host receiving, so
/// rootfsPropagation "rslave" still gives "/" a master. MS_SLAVE on a path that is not a
/// mount point fails with EINVAL, so the first success is the right mount.
fn make_rootfs_parent_slave(plan: &RootfsPlan) -> Result<(), RootfsError> {
    for path in &plan.rootfs_ancestors {
        match set_propagation_path(path, MsFlags::MS_SLAVE) {
            Ok(()) => return Ok(()),
            Err(e) if is_errno(&e, Errno::EINVAL) => continue,
            Err(source) => {
                return Err(RootfsError::Prepare {
                    path: path.clone(),
                    step: "making the mount holding the rootfs a slave",
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Step 5.
pub(crate) fn switch_root(plan: &RootfsPlan) -> Result<(), RootfsError> {
    let err = |step: &'static str| {
        move |source| RootfsError::Pivot {
            path: plan.rootfs.clone(),
            step,
            source,
        }
    };
    let root = open_host(&plan.rootfs, OFlag::O_DIRECTORY).map_err(err("opening the rootfs"))?;
    fchdir(root.as_fd()).map_err(err("fchdir into the rootfs"))?;
    let here = Path::new(".");
    if plan.host_mountns {
        // pivot_root would move the host's own root; runc and crun chroot here too.
        chroot(here).map_err(err("chroot"))?;
    } else if plan.no_pivot {
        move_mount_path(here, Path::new("/"))
            .map_err(err("moving the rootfs onto \"/\" (MS_MOVE)"))?;
        chroot(here).map_err(err("chroot"))?;
    } else {
        // Held across pivot_root so "." can be made to name the old root: after
        // pivot_root(".", ".") the cwd is still the new root, under the stacked old one,
        // and a recursive change there would also hit the container's own mounts.
        let old_root =
            open_host(Path::new("/"), OFlag::O_DIRECTORY).map_err(err("opening the old root"))?;
        pivot_root_to_cwd().map_err(err("pivot_root"))?;
        fchdir(old_root.as_fd()).map_err(err("fchdir into the old root"))?;
        set_propagation_path(here, MsFlags::MS_SLAVE | MsFlags::MS_REC)
            .map_err(err("making the old root rslave"))?;
        detach(here).map_err(err("detaching the old root"))?;
    }
    chdir(Path::new("/")).map_err(err("chdir to the new \"/\""))
}
