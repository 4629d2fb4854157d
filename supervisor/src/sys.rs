//! The only module with `unsafe`: the few syscalls nix has no safe wrapper for.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// pidfd_open(2): a descriptor bound to process `pid` (never to a later process that
/// reuses the number), readable once the process has exited. Close-on-exec.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1; no memory
    // is shared with the kernel.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
