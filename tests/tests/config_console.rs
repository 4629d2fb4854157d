//! process.terminal with --console-socket: the runtime hands the pty master
//! to the socket's listener, and the container's stdio is the pty slave.
//!
//! The test plays the part of the console's owner: it listens on a unix
//! socket, receives the master over SCM_RIGHTS and reads what the probe
//! prints through it.

use corral_tests::console::{READ_TIMEOUT, read_all_output, recv_fd};
use corral_tests::tempdir::TempDir;
use corral_tests::*;
use serde_json::Value;
use std::os::unix::net::UnixListener;

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
