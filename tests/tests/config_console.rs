//! process.terminal with --console-socket: the runtime hands the pty master
//! to the socket's listener, and the container's stdio is the pty slave.
//!
//! The test plays the part of the console's owner: it listens on a unix
//! socket, receives the master over SCM_RIGHTS and reads what the probe
//! prints through it.

// Receiving a descriptor with SCM_RIGHTS and polling it need libc calls.
#![allow(unsafe_code)]

use corral_tests::tempdir::TempDir;
use corral_tests::*;
use serde_json::Value;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Receives one descriptor sent with SCM_RIGHTS on `stream`.
fn recv_fd(stream: &UnixStream) -> io::Result<OwnedFd> {
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
fn read_all_output(master: OwnedFd) -> String {
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

/// Creates the container with `--console-socket`, takes the pty master,
/// starts it and returns everything the process printed on its terminal.
fn run_on_console(probe_args: &[&str]) -> String {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_probe_args(probe_args);
    bundle.set_terminal(true);
    let sockets = TempDir::new("console");
    let socket_path = sockets.path().join("console.sock");
    let listener = UnixListener::bind(&socket_path).expect("bind console socket");
    let socket = socket_path.to_str().expect("UTF-8 path");
    let id = unique_id();
    assert_ok(
        &rt.create(&bundle, &id, &["--console-socket", socket]),
        "create --console-socket",
    );
    // The runtime connected and sent the master during create; the kernel
    // queued both, so accepting now cannot block unless it never did.
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let (stream, _) = listener
        .accept()
        .expect("the runtime connected to the console socket during create");
    let master = recv_fd(&stream).expect("receive the pty master");
    assert_ok(&rt.start(&id), "start");
    let output = read_all_output(master);
    rt.wait_for_status(&id, "stopped", READ_TIMEOUT);
    assert_ok(&rt.delete(&id, false), "delete");
    rt.assert_no_leftovers(&id, &bundle);
    output
}

/// The probe report printed on the terminal.
fn report_on_console() -> Report {
    let output = run_on_console(&["report"]);
    let line = output
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("no report on the terminal: {output:?}"));
    let value: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("report on the terminal is not JSON ({e}): {line}"));
    Report(value)
}

#[test]
fn terminal_stdio_are_ttys() {
    skip_unless_root!();
    let report = report_on_console();
    for fd in 0..3 {
        assert!(report.isatty(fd), "fd {fd} is not a tty");
    }
}

#[test]
fn terminal_is_a_dev_pts_slave_shared_by_stdio() {
    skip_unless_root!();
    let report = report_on_console();
    let tty = report.str("tty");
    let number = tty.strip_prefix("/dev/pts/").unwrap_or("");
    assert!(
        !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()),
        "tty is {tty:?}"
    );
    for fd in 1..3 {
        assert_eq!(report.fd_target(fd).as_deref(), Some(tty), "fd {fd}");
    }
}

/// The runtime makes the process a session leader with the pty as its
/// controlling terminal.
#[test]
fn terminal_process_leads_its_session() {
    skip_unless_root!();
    let report = report_on_console();
    assert_eq!(report.int("sid"), report.int("pid"));
}

#[test]
fn dev_console_is_the_pty() {
    skip_unless_root!();
    let output = run_on_console(&["stat", "/dev/console"]);
    let line = output.lines().find(|l| l.starts_with('{')).unwrap_or("");
    let stat: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("probe stat /dev/console printed no JSON ({e}): {output:?}"));
    assert_eq!(stat["type"], "char", "{stat}");
    let rdev = stat["rdev"].as_str().unwrap_or("");
    assert!(
        rdev.starts_with("136:"),
        "/dev/console is a pts (major 136): {stat}"
    );
}
