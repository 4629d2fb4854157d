//! CVE-2021-30465: a symlink-exchange race on a shared volume. A host thread keeps
//! swapping a directory of a volume with a symlink to a host path (renameat2
//! RENAME_EXCHANGE, atomic) while the runtime mounts, again and again, at a
//! destination inside that directory. A runtime that resolves the path and then
//! mounts on the path string sometimes mounts onto the host path; corral mounts on the
//! fd it resolved, so every mount must end up inside the container.

mod support;

use corral_tests::tempdir::TempDir;
use corral_tests::*;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{add_bind, add_mount};

/// Mounts per container: the race gets this many chances per `create`.
const MOUNTS: usize = 200;
/// Containers created: MOUNTS * CYCLES attempts in all.
const CYCLES: usize = 4;

/// renameat2(a, b, RENAME_EXCHANGE): swaps two names atomically.
fn exchange(a: &CString, b: &CString) -> bool {
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the
    // call; AT_FDCWD makes the paths absolute-or-cwd-relative as usual.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    rc == 0
}

fn cstring(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("no NUL in temp paths")
}

/// Swaps `dir` and `link` until told to stop; leaves `dir` a directory; returns the
/// number of swaps made.
fn swap_until(stop: Arc<AtomicBool>, dir: &Path, link: &Path, swaps: Arc<AtomicUsize>) {
    let (a, b) = (cstring(dir), cstring(link));
    let mut swapped = false;
    while !stop.load(Ordering::Relaxed) {
        if exchange(&a, &b) {
            swapped = !swapped;
            swaps.fetch_add(1, Ordering::Relaxed);
        }
    }
    if swapped {
        assert!(exchange(&a, &b), "could not swap back");
    }
}

/// Mount points and sources of tmpfs mounts named `source` in /proc/<pid>/mountinfo.
fn mounts_named(pid: i64, source: &str) -> Vec<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("container mountinfo");
    text.lines()
        .filter(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|t| t.split(' ').nth(1) == Some(source))
        })
        .map(|l| l.split(' ').nth(4).unwrap_or("").to_string())
        .collect()
}

#[test]
fn symlink_exchange_race_never_mounts_a_host_path() {
    skip_unless_root!();
    let started = Instant::now();
    let rt = Runtime::new();
    let victim = TempDir::new("race-victim");
    fs::create_dir(victim.path().join("x")).expect("victim/x");
    fs::write(victim.path().join("x/canary"), "host\n").expect("canary");
    let victim_path = victim.path().to_str().expect("UTF-8").to_string();
    let volume = TempDir::new("race-volume");
    let dir = volume.path().join("d");
    let link = volume.path().join("swap");
    fs::create_dir_all(dir.join("x")).expect("volume/d/x");
    symlink(&victim_path, &link).expect("volume/swap -> victim");

    let mut total = 0;
    let swaps = Arc::new(AtomicUsize::new(0));
    for cycle in 0..CYCLES {
        let source = format!("corral-race-{}-{cycle}", std::process::id());
        let mut bundle = Bundle::with_probe(&["pause"]);
        add_bind(&mut bundle, volume.path(), "/volume", &["rbind"]);
        for _ in 0..MOUNTS {
            add_mount(&mut bundle, "/volume/d/x", "tmpfs", &source, &["size=16k"]);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (stop, dir, link, swaps) = (stop.clone(), dir.clone(), link.clone(), swaps.clone());
            std::thread::spawn(move || swap_until(stop, &dir, &link, swaps))
        };
        let id = unique_id();
        let out = rt.create(&bundle, &id, &[]);
        stop.store(true, Ordering::Relaxed);
        swapper.join().expect("swapper thread");
        assert_not_mounted(victim.path());
        if !out.status.success() {
            // A lost race may make a step fail (the directory vanished under it); that
            // is fine, as long as nothing reached the host.
            rt.assert_no_leftovers(&id, &bundle);
            continue;
        }
        let pid = rt.state(&id)["pid"].as_i64().expect("pid");
        let points = mounts_named(pid, &source);
        // Every mount is visible from the container's root, so none went to a host
        // path (those are detached with the old root, and would be missing here).
        assert_eq!(
            points.len(),
            MOUNTS,
            "some mounts are not in the container: {points:?}"
        );
        let inside = format!("{victim_path}/x");
        for point in &points {
            assert!(
                point == "/volume/d/x" || point == "/volume/swap/x" || *point == inside,
                "a mount landed at {point}"
            );
        }
        let redirected = points.iter().filter(|p| **p == inside).count();
        eprintln!(
            "cycle {cycle}: {redirected} of {MOUNTS} mounts met the symlink (kept inside the root)"
        );
        total += points.len();
        rt.delete_force_and_check(&id, &bundle);
    }
    assert_not_mounted(victim.path());
    let canary = fs::read_to_string(victim.path().join("x/canary")).expect("canary");
    assert_eq!(canary, "host\n");
    assert!(
        total >= MOUNTS,
        "too few mounts were attempted under the race: {total}"
    );
    assert!(
        swaps.load(Ordering::Relaxed) > 100,
        "the swapper barely ran"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "too slow: {:?}",
        started.elapsed()
    );
}

fn assert_not_mounted(path: &Path) {
    let path = path.to_str().expect("UTF-8");
    let text = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let hits: Vec<&str> = text
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(path)))
        .collect();
    assert!(hits.is_empty(), "host path {path} got mounts: {hits:?}");
}
