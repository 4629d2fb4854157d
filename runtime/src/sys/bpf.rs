//! bpf(2): loading and attaching cgroup device programs.
//!
//! Only the two commands the devices controller needs on cgroup v2 are wrapped:
//! BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program, and BPF_PROG_ATTACH of it
//! to a cgroup directory. The attribute structs below are the leading fields of the
//! kernel's `union bpf_attr` for each command; passing their exact size tells the
//! kernel that every later field is zero.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// bpf(2) commands (include/uapi/linux/bpf.h, enum bpf_cmd).
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
/// enum bpf_prog_type: BPF_PROG_TYPE_CGROUP_DEVICE.
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// enum bpf_attach_type: BPF_CGROUP_DEVICE.
const BPF_CGROUP_DEVICE: u32 = 6;
/// Several programs may be attached to one cgroup; all of them must allow an access.
const BPF_F_ALLOW_MULTI: u32 = 2;
/// Size of the verifier log asked for when a load fails, to explain why.
const LOG_SIZE: usize = 64 * 1024;

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn` on little-endian
/// machines: `regs` holds the destination register in its low nibble and the source
/// register in its high nibble.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl BpfInsn {
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
        BpfInsn {
            code,
            regs: (dst & 0x0f) | (src << 4),
            off,
            imm,
        }
    }

    pub const fn dst(&self) -> u8 {
        self.regs & 0x0f
    }

    pub const fn src(&self) -> u8 {
        self.regs >> 4
    }
}

/// The BPF_PROG_LOAD part of `union bpf_attr`, up to expected_attach_type.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The BPF_PROG_ATTACH part of `union bpf_attr`, up to replace_bpf_fd.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// Why loading a program failed: the errno, and the verifier's explanation when it gave one.
#[derive(Debug)]
pub struct LoadError {
    pub source: io::Error,
    pub verifier_log: String,
}

/// Loads `insns` as a cgroup device program and returns its fd.
/// On failure the load is retried once with a verifier log, so the error can say why.
pub fn load_cgroup_device_program(
    insns: &[BpfInsn],
    license: &CStr,
    name: &str,
) -> Result<OwnedFd, LoadError> {
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len()).unwrap_or(u32::MAX),
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..ProgLoadAttr::default()
    };
    // The kernel wants a NUL-terminated name of at most 15 bytes.
    for (slot, byte) in attr.prog_name.iter_mut().zip(name.bytes().take(15)) {
        *slot = byte;
    }
    match prog_load(&attr) {
        Ok(fd) => return Ok(fd),
        Err(first) if first.raw_os_error() == Some(libc::EPERM) => {
            return Err(LoadError {
                source: first,
                verifier_log: String::new(),
            });
        }
        Err(_) => {}
    }
    let mut log = vec![0u8; LOG_SIZE];
    attr.log_level = 1;
    attr.log_size = LOG_SIZE as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    let result = prog_load(&attr);
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let verifier_log = String::from_utf8_lossy(&log[..end]).into_owned();
    result.map_err(|source| LoadError {
        source,
        verifier_log,
    })
}

fn prog_load(attr: &ProgLoadAttr) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a valid, fully initialised ProgLoadAttr and its size is passed; the
    // pointers inside it (instructions, license, log buffer) are borrowed by the caller
    // for the whole call and the kernel writes at most log_size bytes to the log buffer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            attr as *const ProgLoadAttr,
            size_of::<ProgLoadAttr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: on success BPF_PROG_LOAD returns a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Attaches the device program `prog` to the cgroup v2 directory open as `cgroup`,
/// alongside any programs already there (BPF_F_ALLOW_MULTI).
/// The program stays attached until the cgroup is removed, even after `prog` is closed.
pub fn attach_cgroup_device_program(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
) -> io::Result<()> {
    let attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..ProgAttachAttr::default()
    };
    // SAFETY: `attr` is a valid, fully initialised ProgAttachAttr and its size is passed;
    // the fds in it are borrowed, so they stay open for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const ProgAttachAttr,
            size_of::<ProgAttachAttr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
