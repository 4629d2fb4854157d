//! The few things std cannot do: send a signal, install a handler, name an errno.

use std::io;

/// Sends `sig` to this process.
pub fn signal_self(sig: i32) -> io::Result<()> {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    // SAFETY: kill only reads its integer arguments.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

extern "C" fn exit_zero(_sig: libc::c_int) {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(0) }
}

/// Makes SIGTERM end the process with status 0 (pid 1 ignores it otherwise).
pub fn exit_on_sigterm() -> io::Result<()> {
    let handler = exit_zero as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only calls the async-signal-safe _exit.
    if unsafe { libc::signal(libc::SIGTERM, handler) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Parses "TERM", "SIGTERM" or "15".
pub fn parse_signal(text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return Some(n);
    }
    let name = text.strip_prefix("SIG").unwrap_or(text);
    let sig = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "SYS" => libc::SIGSYS,
        _ => return None,
    };
    Some(sig)
}

/// The symbolic name of an I/O error's errno ("EACCES"), or its text.
pub fn errno_name(err: &io::Error) -> String {
    let Some(code) = err.raw_os_error() else {
        return err.to_string();
    };
    let name = match code {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::EMLINK => "EMLINK",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ELOOP => "ELOOP",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EDQUOT => "EDQUOT",
        _ => return format!("errno {code}"),
    };
    name.to_string()
}

/// Whether `fd` is an open descriptor of this process.
pub fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only queries the descriptor table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Syscall numbers of the calls `probe without` can take away (those the runtime has
/// fallbacks for), by name.
pub fn syscall_number(name: &str) -> Option<u32> {
    let nr = match name {
        "clone3" => libc::SYS_clone3,
        "openat2" => libc::SYS_openat2,
        "mount_setattr" => libc::SYS_mount_setattr,
        "open_tree" => libc::SYS_open_tree,
        "move_mount" => libc::SYS_move_mount,
        "fsopen" => libc::SYS_fsopen,
        "fsconfig" => libc::SYS_fsconfig,
        "fsmount" => libc::SYS_fsmount,
        "pidfd_open" => libc::SYS_pidfd_open,
        "close_range" => libc::SYS_close_range,
        _ => return None,
    };
    u32::try_from(nr).ok()
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// Makes the given syscalls fail with ENOSYS from now on, in this process and all it
/// starts, as on a kernel that predates them: a seccomp filter (check the architecture,
/// compare the number against each, else allow).
pub fn fail_with_enosys(numbers: &[u32]) -> std::io::Result<()> {
    let stmt = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let jump_eq = |k: u32, jt: u8| libc::sock_filter { code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16, jt, jf: 0, k };
    let load = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u32;
    let ret = (libc::BPF_RET | libc::BPF_K) as u32;
    let count = u8::try_from(numbers.len()).map_err(|_| std::io::Error::other("too many syscalls"))?;
    let mut program = vec![
        stmt(load, 4), // seccomp_data.arch
        libc::sock_filter { code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16, jt: 1, jf: 0, k: AUDIT_ARCH },
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(load, 0), // seccomp_data.nr
    ];
    // Each comparison jumps to the ENOSYS return, which sits after the remaining
    // comparisons and the ALLOW return.
    for (i, nr) in numbers.iter().enumerate() {
        program.push(jump_eq(*nr, count - i as u8));
    }
    program.push(stmt(ret, libc::SECCOMP_RET_ALLOW));
    program.push(stmt(ret, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32));
    let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_mut_ptr() };
    // SAFETY: PR_SET_SECCOMP with SECCOMP_MODE_FILTER reads `fprog`, which points to
    // `program`, alive and unchanged for the duration of the call.
    let rc = unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog as *const libc::sock_fprog) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
