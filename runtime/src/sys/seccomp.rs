//! seccomp(2): installing a compiled classic-BPF filter on the calling thread.

use std::io;

/// Install `program` with SECCOMP_SET_MODE_FILTER and the given SECCOMP_FILTER_FLAG_* bits.
/// The caller must have no_new_privs set or hold CAP_SYS_ADMIN.
pub fn set_filter(program: &[libc::sock_filter], flags: libc::c_ulong) -> io::Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = libc::sock_fprog { len, filter: program.as_ptr().cast_mut() };
    // SAFETY: `prog` points at `len` valid instructions in `program`, which outlives the
    // call; the kernel copies them and keeps no pointer, and never writes through it.
    let ret = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong, flags, &prog as *const libc::sock_fprog)
    };
    // With TSYNC a positive result names a thread that could not be synchronised.
    match ret {
        0 => Ok(()),
        r if r > 0 => Err(io::Error::other(format!("SECCOMP_FILTER_FLAG_TSYNC: thread {r} could not be synchronised"))),
        _ => Err(io::Error::last_os_error()),
    }
}
