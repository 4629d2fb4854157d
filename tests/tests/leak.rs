//! Many lifecycles must leave nothing behind: no mount, cgroup, state
//! directory or process, and no fd in the caller.
//!
//! The cycle count defaults to 200; `CORRAL_LEAK_CYCLES` overrides it.

use corral_tests::leaks::{cgroup_dirs, leftovers, processes_of, state_entries};
use corral_tests::*;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The fd count compares the whole test process, so the tests of this file
/// run one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const DEFAULT_CYCLES: usize = 200;

fn cycles() -> usize {
    std::env::var("CORRAL_LEAK_CYCLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CYCLES)
}

fn pausing_bundle() -> Bundle {
    Bundle::with_probe(&["pause"])
}

/// One create/start/kill/delete cycle; returns the init pid.
fn cycle(rt: &Runtime, bundle: &Bundle, id: &str) -> i64 {
    let pid = rt.create_and_start(bundle, id);
    assert_ok(&rt.kill(id, "KILL"), &format!("kill {id}"));
    rt.wait_for_status(id, "stopped", Duration::from_secs(10));
    assert_ok(&rt.delete(id, false), &format!("delete {id}"));
    pid
}

/// The part of `unique_id()` shared by all ids of this test process and
/// thread ("ct-<test>-<pid>-"), so one scan finds leftovers of any cycle.
fn id_prefix(id: &str) -> String {
    let (prefix, _seq) = id.rsplit_once('-').expect("unique ids end in -<seq>");
    format!("{prefix}-")
}

#[test]
fn create_start_kill_delete_cycles_leave_nothing_behind() {
    skip_unless_root!();
    let _serial = serial();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    // A first cycle, so that lazily opened harness state is in the baseline.
    let first_id = unique_id();
    cycle(&rt, &bundle, &first_id);
    let fds_before = open_fd_count();
    let started = Instant::now();
    let mut pids = Vec::new();
    for _ in 0..cycles() {
        pids.push(cycle(&rt, &bundle, &unique_id()));
    }
    eprintln!("{} cycles in {:?}", cycles(), started.elapsed());
    let prefix = id_prefix(&first_id);
    let left = leftovers(&prefix, &rt.root(), bundle.path());
    assert!(
        left.is_empty(),
        "cycles left behind:\n  {}",
        left.join("\n  ")
    );
    let alive: Vec<i64> = pids.into_iter().filter(|pid| pid_alive(*pid)).collect();
    assert!(alive.is_empty(), "init processes still alive: {alive:?}");
    assert_eq!(
        open_fd_count(),
        fds_before,
        "fds of the test process leaked"
    );
}

/// The leak check itself must see a live container: its state, its cgroup
/// and its process (otherwise every "no leftovers" assertion is vacuous).
#[test]
fn leak_check_detects_a_live_container() {
    skip_unless_root!();
    let _serial = serial();
    let rt = Runtime::new();
    let mut bundle = pausing_bundle();
    let id = unique_id();
    bundle.set("/linux/cgroupsPath", format!("/{id}").into());
    let pid = rt.create_and_start(&bundle, &id);
    assert!(
        !state_entries(&id, &rt.root()).is_empty(),
        "state not detected"
    );
    assert!(!cgroup_dirs(&id).is_empty(), "cgroup /{id} not detected");
    let processes = processes_of(&id, bundle.path());
    assert!(
        processes
            .iter()
            .any(|p| p.starts_with(&format!("process {pid}:"))),
        "init {pid} not detected: {processes:?}"
    );
    assert_ok(&rt.delete(&id, true), "delete --force");
    rt.assert_no_leftovers(&id, &bundle);
}

/// Containers without a cgroupsPath share Corral's default parent (/corral), which the last
/// one deleted removes: creates and deletes racing on it from several threads must all
/// succeed, and the parent must be gone when the last container is.
#[test]
fn parallel_lifecycles_share_the_default_cgroup_parent() {
    skip_unless_root!();
    let _serial = serial();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                let rt = Runtime::new();
                let mut bundle = Bundle::with_probe(&["exit", "0"]);
                bundle.remove("/linux/cgroupsPath");
                for _ in 0..60 {
                    let id = unique_id();
                    assert_exit_code(&rt.run(&bundle, &id, &[]), 0, &format!("run {id}"));
                    rt.assert_no_leftovers(&id, &bundle);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker thread");
    }
}
