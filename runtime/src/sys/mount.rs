//! mount(2) family: mounts through /proc/self/fd, mount_setattr, pivot_root.
//!
//! Targets inside a container's rootfs are always passed as the magic link
//! "/proc/self/fd/N" of an O_PATH fd that was resolved inside the root, so the kernel
//! mounts on exactly that inode and no symlink swapped in since can redirect it. A magic
//! link lands on the fd's own mount, not on whatever is mounted on top of it later, so
//! after a mount callers reopen the destination to reach the new mount.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};

use super::fs::statfs_fd;

/// "/proc/self/fd/N" with its NUL, formatted on the stack.
pub struct FdPath {
    buf: [u8; 32],
}

impl FdPath {
    const PREFIX: &'static [u8] = b"/proc/self/fd/";

    /// The magic-link path of `fd` in this process.
    pub fn new(fd: BorrowedFd<'_>) -> FdPath {
        let mut buf = [0u8; 32];
        buf[..Self::PREFIX.len()].copy_from_slice(Self::PREFIX);
        let mut digits = [0u8; 10];
        let mut n = fd.as_raw_fd().unsigned_abs();
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for (i, d) in digits[..len].iter().rev().enumerate() {
            buf[Self::PREFIX.len() + i] = *d;
        }
        FdPath { buf }
    }

    /// The path as a C string.
    pub fn as_cstr(&self) -> &CStr {
        // The buffer is zero-filled past the digits (at most 14 + 10 of 32 bytes used).
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"/proc/self/fd/")
    }
}

const NONE: Option<&'static CStr> = None;

/// Mounts a new filesystem (`fstype`, from `source` with `data`) on the object behind `target`.
pub fn mount_fs(
    source: &CStr,
    target: BorrowedFd<'_>,
    fstype: &CStr,
    flags: MsFlags,
    data: Option<&CStr>,
) -> io::Result<()> {
    let target = FdPath::new(target);
    Ok(mount(
        Some(source),
        target.as_cstr(),
        Some(fstype),
        flags,
        data,
    )?)
}

/// Bind-mounts the object behind `source` (any fd, O_PATH included) onto the one behind `target`.
pub fn bind_fd(source: BorrowedFd<'_>, target: BorrowedFd<'_>, recursive: bool) -> io::Result<()> {
    let (source, target) = (FdPath::new(source), FdPath::new(target));
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    Ok(mount(
        Some(source.as_cstr()),
        target.as_cstr(),
        NONE,
        flags,
        NONE,
    )?)
}

/// Bind-mounts host path `source` onto host path `target` (both runtime-chosen paths).
pub fn bind_path(source: &Path, target: &Path, recursive: bool) -> io::Result<()> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    Ok(mount(Some(source), target, NONE, flags, NONE)?)
}

/// Changes the per-mount flags of the bind mount whose root `target` is
/// (MS_REMOUNT|MS_BIND|flags). Only that mount changes, not its submounts.
pub fn remount_bind(target: BorrowedFd<'_>, flags: MsFlags) -> io::Result<()> {
    let target = FdPath::new(target);
    let flags = flags | MsFlags::MS_REMOUNT | MsFlags::MS_BIND;
    Ok(mount(NONE, target.as_cstr(), NONE, flags, NONE)?)
}

/// Bind-remounts the mount at a path string, for "/" after pivot_root.
pub fn remount_bind_path(target: &Path, flags: MsFlags) -> io::Result<()> {
    let flags = flags | MsFlags::MS_REMOUNT | MsFlags::MS_BIND;
    Ok(mount(NONE, target, NONE, flags, NONE)?)
}

/// Sets the propagation type (MS_PRIVATE, MS_SLAVE|MS_REC, ...) of the mount behind `target`.
pub fn set_propagation(target: BorrowedFd<'_>, flags: MsFlags) -> io::Result<()> {
    let target = FdPath::new(target);
    Ok(mount(NONE, target.as_cstr(), NONE, flags, NONE)?)
}

/// Sets the propagation type of the mount at a path string (host paths, "/", ".").
pub fn set_propagation_path(target: &Path, flags: MsFlags) -> io::Result<()> {
    Ok(mount(NONE, target, NONE, flags, NONE)?)
}

/// Moves the mount at `source` onto `target` (MS_MOVE).
pub fn move_mount_path(source: &Path, target: &Path) -> io::Result<()> {
    Ok(mount(Some(source), target, NONE, MsFlags::MS_MOVE, NONE)?)
}

/// pivot_root(".", "."): the cwd becomes the new root and the old root ends up mounted
/// on top of it, ready to be detached with [`detach`] on ".".
pub fn pivot_root_to_cwd() -> io::Result<()> {
    Ok(nix::unistd::pivot_root(".", ".")?)
}

/// Lazily unmounts the mount at `target` (MNT_DETACH).
pub fn detach(target: &Path) -> io::Result<()> {
    Ok(umount2(target, MntFlags::MNT_DETACH)?)
}

/// fchdir(2).
pub fn fchdir(dir: BorrowedFd<'_>) -> io::Result<()> {
    Ok(nix::unistd::fchdir(dir)?)
}

/// chdir(2).
pub fn chdir(path: &Path) -> io::Result<()> {
    Ok(nix::unistd::chdir(path)?)
}

/// chroot(2).
pub fn chroot(path: &Path) -> io::Result<()> {
    Ok(nix::unistd::chroot(path)?)
}

// statfs ST_* bits (linux/statfs.h); they differ from MS_* for NOATIME and friends.
const ST_RDONLY: u64 = 0x0001;
const ST_NOSUID: u64 = 0x0002;
const ST_NODEV: u64 = 0x0004;
const ST_NOEXEC: u64 = 0x0008;
const ST_NOATIME: u64 = 0x0400;
const ST_NODIRATIME: u64 = 0x0800;
const ST_RELATIME: u64 = 0x1000;
const ST_NOSYMFOLLOW: u64 = 0x2000;

/// MS_NOSYMFOLLOW (Linux 5.10), which nix does not name.
pub const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);

/// The per-mount flags of the mount behind `fd`, as MS_* bits. A mount with neither
/// noatime nor relatime is reported as MS_STRICTATIME, so that passing the result back
/// to a bind remount keeps the atime mode as it is.
pub fn mount_flags(fd: BorrowedFd<'_>) -> io::Result<MsFlags> {
    let st = statfs_fd(fd)?.mount_flags;
    let table = [
        (ST_RDONLY, MsFlags::MS_RDONLY),
        (ST_NOSUID, MsFlags::MS_NOSUID),
        (ST_NODEV, MsFlags::MS_NODEV),
        (ST_NOEXEC, MsFlags::MS_NOEXEC),
        (ST_NOATIME, MsFlags::MS_NOATIME),
        (ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (ST_RELATIME, MsFlags::MS_RELATIME),
        (ST_NOSYMFOLLOW, MS_NOSYMFOLLOW),
    ];
    let mut flags = MsFlags::empty();
    for (st_bit, ms_bit) in table {
        if st & st_bit != 0 {
            flags |= ms_bit;
        }
    }
    if st & (ST_NOATIME | ST_RELATIME) == 0 {
        flags |= MsFlags::MS_STRICTATIME;
    }
    Ok(flags)
}

/// struct mount_attr (linux/mount.h, MOUNT_ATTR_SIZE_VER0), which libc does not export.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
pub const MOUNT_ATTR_NOSUID: u64 = 0x0000_0002;
pub const MOUNT_ATTR_NODEV: u64 = 0x0000_0004;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x0000_0008;
/// Mask of the three atime modes; set it in attr_clr to change the mode.
pub const MOUNT_ATTR__ATIME: u64 = 0x0000_0070;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0000_0000;
pub const MOUNT_ATTR_NOATIME: u64 = 0x0000_0010;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x0000_0020;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x0000_0080;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// mount_setattr(2) (Linux 5.12) on the mount behind `target`, and with `recursive` on
/// every mount below it too. ENOSYS means the kernel lacks the call.
pub fn mount_setattr(target: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> io::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `target` is a live fd for the call, the path is a valid empty C string, and
    // `attr` points to a properly laid out mount_attr whose size we pass alongside; the
    // kernel only reads from it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            target.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;

/// A new filesystem instance of type `fstype` (no options) as a detached mount: the
/// new API (fsopen, fsconfig CREATE, fsmount; Linux 5.2) gives an fd for a mount that
/// is attached nowhere, so no path, and nothing mounted over a path, can stand in for
/// it. It vanishes when the fd is closed. `attrs` are MOUNT_ATTR_* flags. ENOSYS means
/// the kernel lacks the calls.
pub fn new_detached_mount(fstype: &CStr, attrs: u64) -> io::Result<OwnedFd> {
    // SAFETY: `fstype` is a valid NUL-terminated string for the duration of the call;
    // the other arguments are integers.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    let fs = owned_fd_from(fs)?;
    // SAFETY: `fs` is a live fs-context fd; CMD_CREATE takes no key, value or aux.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fs` is a live fs-context fd holding a created superblock; integer flags.
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    owned_fd_from(mnt)
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;

/// A detached copy of the mount at `path` (open_tree with OPEN_TREE_CLONE; Linux 5.2):
/// a bind mount that is attached nowhere, so it is invisible to every mount namespace
/// and vanishes with the last fd. Symlinks in `path` (magic links too) are followed, so
/// `/proc/self/exe` gives a bind mount of this process's binary. ENOSYS means the
/// kernel lacks the call.
pub fn clone_detached_bind(path: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call; the
    // other arguments are integers.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC) };
    owned_fd_from(fd)
}

/// Takes ownership of an fd a syscall returned, or of its errno when it failed.
fn owned_fd_from(ret: libc::c_long) -> io::Result<OwnedFd> {
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let raw = libc::c_int::try_from(ret).map_err(|_| io::Error::from(Errno::EBADF))?;
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// True when an io::Error is exactly this errno.
pub fn is_errno(err: &io::Error, errno: Errno) -> bool {
    err.raw_os_error() == Some(errno as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn fd_path_formats_the_magic_link() {
        let file = std::fs::File::open("/").unwrap();
        let raw = file.as_raw_fd();
        let p = FdPath::new(file.as_fd());
        assert_eq!(
            p.as_cstr().to_str().unwrap(),
            format!("/proc/self/fd/{raw}")
        );
        assert_eq!(std::mem::size_of::<MountAttr>(), 32);
    }
}
