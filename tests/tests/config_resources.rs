//! linux.resources, checked by what a process can do inside the container.
//! (Only pids so far; the other controllers come with the resources issue.)

use corral_tests::check::{exit_code, stdout_text};
use corral_tests::*;
use serde_json::json;

/// A shell in the container starts background sleeps, printing the count after
/// each, until it has 30 or fork fails (busybox sh then exits with 2).
const FORKER: &str = "i=0; while [ $i -lt 30 ]; do sleep 30 & i=$((i+1)); echo $i; done";

/// Runs FORKER with `pids` as linux.resources.pids (None: no limit) and
/// returns (exit code, how many sleeps were started).
fn fork_until_refused(pids: Option<i64>) -> (i32, usize) {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["/bin/sh", "-c", FORKER]);
    if let Some(limit) = pids {
        bundle.set("/linux/resources/pids", json!({"limit": limit}));
    }
    let id = unique_id();
    let out = rt.run(&bundle, &id, &[]);
    rt.assert_no_leftovers(&id, &bundle);
    let started = stdout_text(&out).lines().filter(|l| !l.trim().is_empty()).count();
    (exit_code(&out), started)
}

#[test]
fn pids_limit_stops_forks_at_the_limit() {
    skip_unless_root!();
    let (code, started) = fork_until_refused(Some(8));
    assert_ne!(code, 0, "the shell should have failed to fork");
    // The shell itself counts against the limit, so fewer than 8 sleeps start.
    assert!(started < 8, "{started} sleeps started under a limit of 8");
}

#[test]
fn without_pids_limit_all_forks_succeed() {
    skip_unless_root!();
    assert_eq!(fork_until_refused(None), (0, 30));
}
