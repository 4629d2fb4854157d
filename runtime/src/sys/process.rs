//! Process creation and control: clone, pidfd, capabilities of the terminal, fd hygiene.
//!
//! These wrap raw syscalls that nix and libc do not offer safely (clone3 with a
//! pidfd, pidfd_open, pidfd_send_signal, close_range, setdomainname, TIOCSCTTY).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Which side of a fork-like clone we are on.
pub enum Forked {
    /// In the parent: the child's pid (in the parent's pid namespace) and, when the kernel
    /// supports clone3, a pidfd that names exactly that child.
    Parent { pid: i32, pidfd: Option<OwnedFd> },
    /// In the child.
    Child,
}

/// Arguments of clone3(2), laid out as the kernel expects (struct clone_args, version 0).
/// libc defines this only on 64-bit targets, so it is declared here.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

const CLONE_PIDFD: u64 = 0x1000;

/// Fork-like clone with namespace flags: the child continues on a copy of the caller's
/// stack, as with fork(2). Tries clone3 (which also returns a pidfd), and falls back to
/// clone on kernels without it.
///
/// The caller must be single-threaded: the child is a copy of this one thread, and any
/// lock another thread held would stay locked forever in the child.
pub fn clone_fork(ns_flags: u64) -> io::Result<Forked> {
    let mut pidfd: RawFd = -1;
    let args = CloneArgs {
        flags: ns_flags | CLONE_PIDFD,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    // SAFETY: clone3 without CLONE_VM and without a stack behaves like fork: the child
    // gets a private copy of the address space. `args` and `pidfd` outlive the call, and
    // the size passed matches the struct.
    let ret = unsafe {
        libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>())
    };
    if ret == 0 {
        return Ok(Forked::Child);
    }
    if ret > 0 {
        // SAFETY: the kernel stored a new pidfd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        return Ok(Forked::Parent { pid: ret as i32, pidfd: Some(fd) });
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) {
        return Err(err);
    }
    // SAFETY: clone with a null stack and no CLONE_VM is fork with namespace flags; the
    // remaining pointer arguments are unused without CLONE_*TID/SETTLS flags.
    let ret = unsafe {
        libc::syscall(libc::SYS_clone, ns_flags | libc::SIGCHLD as u64, 0usize, 0usize, 0usize, 0usize)
    };
    match ret {
        0 => Ok(Forked::Child),
        r if r > 0 => Ok(Forked::Parent { pid: r as i32, pidfd: None }),
        _ => Err(io::Error::last_os_error()),
    }
}

/// pidfd_open(2): a descriptor that keeps naming `pid` even after the pid is reused.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// pidfd_send_signal(2).
pub fn pidfd_send_signal(pidfd: BorrowedFd, sig: i32) -> io::Result<()> {
    // SAFETY: integer arguments; a null siginfo means "as kill(2) would send it".
    let ret = unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, std::ptr::null::<libc::siginfo_t>(), 0)
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mark every descriptor from `first` up as close-on-exec, so that nothing the runtime
/// holds reaches the container's program. Falls back to walking /proc/self/fd.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: integer arguments; CLOSE_RANGE_CLOEXEC closes nothing, it only sets flags.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC) };
    if ret == 0 {
        return Ok(());
    }
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        if let Some(fd) = entry?.file_name().to_str().and_then(|s| s.parse::<RawFd>().ok()) {
            fds.push(fd);
        }
    }
    for fd in fds.into_iter().filter(|&fd| fd >= first as RawFd) {
        // SAFETY: F_SETFD on an fd number; a stale number (the read_dir fd) gives EBADF, ignored.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Clear close-on-exec on `fd`, so that it survives execve (preserved fds).
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_SETFD with flags 0 on an fd number; errors are reported, nothing is dereferenced.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// setdomainname(2); nix has only sethostname.
pub fn set_domainname(name: &[u8]) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`, which outlives the call.
    if unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Make `tty` the controlling terminal of this (session leader) process.
pub fn set_controlling_tty(tty: BorrowedFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument and touches no memory of ours.
    if unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The slave side of the pty whose master is `master` (TIOCGPTPEER, Linux 4.13), opened
/// by the kernel from the master itself: no /dev/pts path is looked up, so nothing in the
/// container's filesystem can stand in for it. Opened O_RDWR | O_NOCTTY | O_CLOEXEC.
pub fn open_pty_peer(master: BorrowedFd) -> io::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes open flags as an int argument and returns a new fd; it
    // touches no memory of ours.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Leave immediately without running destructors or atexit handlers: used by a cloned
/// child whose setup failed, so that it cannot run the parent's cleanup code twice.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING): give the container its own session keyring so it
/// cannot read the host's keys. EPERM/ENOSYS (keyrings off or restricted) are the caller's call.
pub fn join_session_keyring(name: &std::ffi::CStr) -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Give the program a clean signal state: nothing blocked and SIGPIPE back to default.
/// Rust's runtime ignores SIGPIPE, and ignored signals survive execve, so without this
/// every container would inherit the ignore (and `yes | head` would never end).
pub fn reset_signals() {
    let empty = nix::sys::signal::SigSet::empty();
    let _ = empty.thread_set_mask();
    // SAFETY: installing SIG_DFL has no handler code to race with; this process is
    // single-threaded and about to execve.
    let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) };
}

/// Whether `fd` is an open descriptor of this process.
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the flags of a descriptor number; no memory is touched.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}
