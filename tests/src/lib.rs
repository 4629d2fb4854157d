//! Harness for Corral's integration tests: bundles with a busybox + probe
//! rootfs, a wrapper around the runtime binary, parsed probe reports and
//! leak checks. See tests/README.md.

#![deny(unsafe_code)]

pub mod bundle;
pub mod cgroupfs;
pub mod check;
// Receiving a descriptor with SCM_RIGHTS and polling it need libc calls.
#[allow(unsafe_code)]
pub mod console;
pub mod engines;
pub mod leaks;
pub mod paths;
pub mod report;
pub mod runtime;
pub mod supervisor;
pub mod supervisor_chaos;
pub mod tempdir;

pub use bundle::Bundle;
pub use check::{
    assert_exit_code, assert_fails_with, assert_fails_with_any, assert_ok, json_strings,
    stdout_json,
};
pub use leaks::{assert_no_leftovers, open_fd_count, pid_alive, wait_pid_gone};
pub use paths::{corral_bin, probe_bin, workspace_root};
pub use report::{Report, host_namespace};
pub use runtime::{Runtime, unique_id};

/// Whether this process runs as root (containers need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// Returns early (the test passes, with a note) unless running as root.
#[macro_export]
macro_rules! skip_unless_root {
    () => {
        if !$crate::is_root() {
            eprintln!("skipped: this test needs root (run scripts/test as root)");
            return;
        }
    };
}
