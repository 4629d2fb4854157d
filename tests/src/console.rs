//! The console owner's side of --console-socket: receive the pty master over
//! SCM_RIGHTS and read what the container prints through it.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// How long `read_all_output` waits for the process to finish printing.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Receives one descriptor sent with SCM_RIGHTS on `stream`.
pub fn recv_fd(stream: &UnixStream) -> io::Result<OwnedFd> {
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg points at iov, data and control, which outlive the call
    // and whose sizes are given in the header.
    let received = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, 0) };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: msg was filled in by recvmsg; CMSG_FIRSTHDR only reads the
    // header fields and returns null or a pointer into `control`.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    // SAFETY: a non-null cmsg points at a complete cmsghdr in `control`.
    let header = unsafe { cmsg.as_ref() }
        .ok_or_else(|| io::Error::other("message carried no descriptor"))?;
    if header.cmsg_level != libc::SOL_SOCKET || header.cmsg_type != libc::SCM_RIGHTS {
        return Err(io::Error::other("control message is not SCM_RIGHTS"));
    }
    // SAFETY: cmsg points at a complete SCM_RIGHTS header in `control`;
    // CMSG_DATA only computes the address just past it.
    let data = unsafe { libc::CMSG_DATA(cmsg) }.cast::<libc::c_int>();
    // SAFETY: an SCM_RIGHTS message's data holds at least one int (the fd);
    // read_unaligned copes with any alignment of the data pointer.
    let fd = unsafe { data.read_unaligned() };
    // SAFETY: the kernel just installed this descriptor for us; we own it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits up to 100 ms for the descriptor to become readable.
fn wait_readable(fd: RawFd) {
    let mut pollfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: pollfd is a valid array of one element for the call's duration.
    unsafe { libc::poll(&mut pollfd, 1, 100) };
}

/// Reads the pty master until the slave side is gone (EIO) or a timeout.
pub fn read_all_output(master: OwnedFd) -> String {
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut file = File::from(master);
    let mut text = Vec::new();
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        wait_readable(file.as_raw_fd());
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(err) if err.raw_os_error() == Some(libc::EIO) => break,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => panic!("reading the pty master: {err}"),
        }
    }
    String::from_utf8_lossy(&text).replace('\r', "")
}

