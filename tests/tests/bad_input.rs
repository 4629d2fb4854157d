//! Bad input: every case must fail with a non-zero status and one clear
//! stderr line naming the problem, and must leave nothing behind.
//!
//! Tests whose required message runc does not give are marked "expected to
//! fail on runc" where they are defined.

use corral_tests::leaks;
use corral_tests::*;
use serde_json::json;
use std::fs;
use std::sync::Barrier;
use std::time::{Duration, Instant};

fn pausing_bundle() -> Bundle {
    Bundle::with_probe(&["pause"])
}

/// `create` fails with one error line containing every keyword, and leaves
/// nothing behind.
fn assert_create_fails(bundle: &Bundle, keywords: &[&str]) {
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.create(bundle, &id, &[]);
    assert_fails_with(&out, keywords);
    rt.assert_no_leftovers(&id, bundle);
}

#[test]
fn missing_config_json_is_named() {
    skip_unless_root!();
    let bundle = Bundle::new();
    fs::remove_file(bundle.config_path()).expect("remove config.json");
    assert_create_fails(&bundle, &["config.json"]);
}

/// Expected to fail on runc (its message does not name config.json).
#[test]
fn config_that_is_not_json_is_named() {
    skip_unless_root!();
    let bundle = Bundle::new();
    fs::write(bundle.config_path(), "this is not json").expect("write config.json");
    assert_create_fails(&bundle, &["config.json"]);
}

#[test]
fn config_field_of_wrong_type_is_named() {
    skip_unless_root!();
    let mut bundle = Bundle::new();
    bundle.set("/process", json!(5));
    assert_create_fails(&bundle, &["process"]);
}

/// Expected to fail on runc (it accepts any ociVersion).
#[test]
fn unsupported_oci_version_is_named() {
    skip_unless_root!();
    let mut bundle = pausing_bundle();
    bundle.set("/ociVersion", json!("9.9.9"));
    assert_create_fails(&bundle, &["9.9.9", "version"]);
}

/// Expected to fail on runc 1.1 (it accepts relative destinations).
#[test]
fn relative_mount_destination_is_named() {
    skip_unless_root!();
    let mut bundle = pausing_bundle();
    let mounts = bundle.config_mut()["mounts"]
        .as_array_mut()
        .expect("spec has mounts");
    mounts.push(json!({"destination": "relative/dir", "type": "tmpfs", "source": "tmpfs"}));
    bundle.save();
    assert_create_fails(&bundle, &["relative/dir"]);
}

#[test]
fn missing_rootfs_is_named() {
    skip_unless_root!();
    let mut bundle = pausing_bundle();
    bundle.set("/root/path", json!("no-such-rootfs"));
    assert_create_fails(&bundle, &["no-such-rootfs"]);
}

/// Expected to fail on runc ("not a directory" without the path).
#[test]
fn rootfs_that_is_a_file_is_named() {
    skip_unless_root!();
    let mut bundle = pausing_bundle();
    fs::write(bundle.path().join("rootfs-file"), "not a directory").expect("write file");
    bundle.set("/root/path", json!("rootfs-file"));
    assert_create_fails(&bundle, &["rootfs-file"]);
}

/// `create` with an invalid id fails naming the id, and creates nothing:
/// the private root holds no container directory and nothing points into
/// the bundle. (Ids like "." cannot be matched by name, so the by-id leak
/// check is not used.)
fn assert_invalid_id_rejected(id: &str, keywords: &[&str]) {
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let out = rt.create(&bundle, id, &[]);
    assert_fails_with(&out, keywords);
    let dirs: Vec<_> = fs::read_dir(rt.root())
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    assert!(dirs.is_empty(), "invalid id left state: {dirs:?}");
    let left = leaks::bundle_leftovers(bundle.path());
    assert!(left.is_empty(), "invalid id left: {left:?}");
}

#[test]
fn empty_id_is_rejected() {
    skip_unless_root!();
    assert_invalid_id_rejected("", &["id"]);
}

#[test]
fn dot_id_is_rejected() {
    skip_unless_root!();
    assert_invalid_id_rejected(".", &["id"]);
}

#[test]
fn dot_dot_id_is_rejected() {
    skip_unless_root!();
    assert_invalid_id_rejected("..", &["id"]);
}

#[test]
fn id_with_slash_is_rejected() {
    skip_unless_root!();
    assert_invalid_id_rejected("a/b", &["id"]);
}

#[test]
fn id_with_space_and_bang_is_rejected() {
    skip_unless_root!();
    assert_invalid_id_rejected("bad id!", &["id"]);
}

#[test]
fn non_ascii_id_is_rejected() {
    skip_unless_root!();
    assert_invalid_id_rejected("é", &["id"]);
}

/// Expected to fail on runc (no length limit; it fails later, in mkdir).
#[test]
fn id_longer_than_1024_bytes_is_rejected() {
    skip_unless_root!();
    assert_invalid_id_rejected(&"a".repeat(1025), &["id", "long"]);
}

#[test]
fn duplicate_id_is_rejected_and_first_container_kept() {
    skip_unless_root!();
    let rt = Runtime::new();
    let (first, second) = (pausing_bundle(), pausing_bundle());
    let id = unique_id();
    assert_ok(&rt.create(&first, &id, &[]), "first create");
    let before = rt.state(&id);
    assert_fails_with(&rt.create(&second, &id, &[]), &["already exists"]);
    let after = rt.state(&id);
    assert_eq!(after["status"], "created");
    assert_eq!(
        after["pid"], before["pid"],
        "the first container was replaced"
    );
    assert_eq!(after["bundle"], first.path_str());
    assert!(
        pid_alive(after["pid"].as_i64().unwrap_or(0)),
        "first container died"
    );
    assert_ok(&rt.delete(&id, true), "delete --force");
    rt.assert_no_leftovers(&id, &first);
    rt.assert_no_leftovers(&id, &second);
}

/// Expected to fail on runc 1.1.5: both racers can fail on the shared
/// exec.fifo.
#[test]
fn racing_creates_with_one_id_have_exactly_one_winner() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundles = [pausing_bundle(), pausing_bundle()];
    let id = unique_id();
    let barrier = Barrier::new(2);
    let outputs: Vec<_> = std::thread::scope(|scope| {
        let racers: Vec<_> = bundles
            .iter()
            .map(|bundle| {
                let (rt, id, barrier) = (&rt, &id, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    rt.create(bundle, id, &[])
                })
            })
            .collect();
        racers
            .into_iter()
            .map(|r| r.join().expect("racer"))
            .collect()
    });
    let winners: Vec<usize> = (0..2).filter(|i| outputs[*i].status.success()).collect();
    assert_eq!(winners.len(), 1, "exactly one create succeeds: {outputs:?}");
    let (winner, loser) = (&bundles[winners[0]], &bundles[1 - winners[0]]);
    let state = rt.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["bundle"], winner.path_str());
    assert!(
        pid_alive(state["pid"].as_i64().unwrap_or(0)),
        "winner's init died"
    );
    let loser_left = leaks::bundle_leftovers(loser.path());
    assert!(
        loser_left.is_empty(),
        "the losing create left: {loser_left:?}"
    );
    assert_ok(&rt.delete(&id, true), "delete --force");
    rt.assert_no_leftovers(&id, winner);
    rt.assert_no_leftovers(&id, loser);
}

#[test]
fn start_of_running_container_fails_and_keeps_it_running() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    rt.create_and_start(&bundle, &id);
    assert_fails_with(&rt.start(&id), &["running"]);
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    assert_ok(&rt.delete(&id, true), "delete --force");
    rt.assert_no_leftovers(&id, &bundle);
}

#[test]
fn start_of_stopped_container_fails() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["/bin/true"]);
    let id = unique_id();
    rt.create_and_start(&bundle, &id);
    rt.wait_for_status(&id, "stopped", Duration::from_secs(10));
    assert_fails_with(&rt.start(&id), &["stopped"]);
    // As runc, in the words containerd's shim reads as "already finished"; with --all
    // there is nothing left to do, which succeeds.
    assert_fails_with(&rt.kill(&id, "TERM"), &["container not running"]);
    assert_ok(&rt.kill_all(&id, "KILL"), "kill --all of a stopped container");
    assert_ok(&rt.delete(&id, false), "delete");
    rt.assert_no_leftovers(&id, &bundle);
}

/// The error names the id or says it does not exist.
fn assert_names_missing_container(out: &std::process::Output, id: &str) {
    assert_fails_with_any(out, &[id, "does not exist", "not found"]);
}

#[test]
fn start_of_missing_container_fails_clearly() {
    skip_unless_root!();
    let rt = Runtime::new();
    let id = unique_id();
    assert_names_missing_container(&rt.start(&id), &id);
}

#[test]
fn kill_of_missing_container_fails_clearly() {
    skip_unless_root!();
    let rt = Runtime::new();
    let id = unique_id();
    assert_names_missing_container(&rt.kill(&id, "KILL"), &id);
}

#[test]
fn delete_of_missing_container_fails_clearly() {
    skip_unless_root!();
    let rt = Runtime::new();
    let id = unique_id();
    assert_names_missing_container(&rt.delete(&id, false), &id);
    // As with runc, `delete --force` of what is not there succeeds: containerd's shim
    // follows every delete with one.
    assert_ok(&rt.delete(&id, true), "delete --force of a missing container");
    assert!(!rt.root().join(&id).exists(), "no state dir appears");
}

#[test]
fn delete_of_running_container_without_force_fails_and_keeps_it() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    assert_fails_with(&rt.delete(&id, false), &["running"]);
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    assert!(
        pid_alive(pid),
        "delete without --force killed the container"
    );
    assert_ok(&rt.delete(&id, true), "delete --force");
    rt.assert_no_leftovers(&id, &bundle);
}

#[test]
fn missing_executable_is_named() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    // The wording is what podman and containerd turn into exit codes 127 and 126.
    let cases: [(&str, &[&str]); 3] = [
        ("/bin/nope", &["/bin/nope", "no such file or directory"]),
        ("nope", &["nope", "executable file not found in"]),
        ("/etc/passwd", &["/etc/passwd", "permission denied"]),
    ];
    for (program, words) in cases {
        bundle.set_args(&[program]);
        let id = unique_id();
        assert_fails_with(&rt.run(&bundle, &id, &[]), words);
        rt.assert_no_leftovers(&id, &bundle);
    }
}

#[test]
fn missing_namespace_path_is_named() {
    skip_unless_root!();
    let mut bundle = pausing_bundle();
    bundle.set_namespace("network", Some("/nonexistent"));
    assert_create_fails(&bundle, &["/nonexistent"]);
}

#[test]
fn failing_create_runtime_hook_fails_create() {
    skip_unless_root!();
    let mut bundle = pausing_bundle();
    bundle.add_hook("createRuntime", "/bin/false".as_ref(), &["false"], None);
    assert_create_fails(&bundle, &["hook"]);
}

/// The hook is the probe itself (static, so it runs on the host) with the
/// bundle path in its command line: a hook the runtime failed to kill shows
/// up in the leak check.
#[test]
fn hook_that_outlives_its_timeout_fails_create_quickly() {
    skip_unless_root!();
    let mut bundle = pausing_bundle();
    let hook = bundle.rootfs().join("bin/probe");
    let hook_arg0 = hook.to_str().unwrap().to_string();
    bundle.add_hook(
        "createRuntime",
        &hook,
        &[&hook_arg0, "sleep", "10"],
        Some(1),
    );
    let started = Instant::now();
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.create(&bundle, &id, &[]);
    let elapsed = started.elapsed();
    assert_fails_with(&out, &["hook"]);
    assert!(
        elapsed < Duration::from_secs(6),
        "create took {elapsed:?} with a 1 s hook timeout"
    );
    rt.assert_no_leftovers(&id, &bundle);
}

/// A capability name no kernel knows (a typo) is refused by name; runc and crun pass it
/// over, which runtime-tools' process_capabilities_fail counts as a failure.
#[test]
fn unknown_capability_name_is_refused() {
    skip_unless_root!();
    let mut bundle = Bundle::new();
    let caps = bundle.config_mut()["process"]["capabilities"]["bounding"].as_array_mut().expect("bounding set");
    caps.push(serde_json::json!("CAP_TEST"));
    bundle.save();
    assert_create_fails(&bundle, &["process.capabilities", "CAP_TEST", "not a linux capability"]);
}

/// `run --detach` whose start fails (a startContainer hook exits 1) reports it and cleans
/// up: it must not wait on its own lock, nor leave the container for a `delete` to hang on.
#[test]
fn run_detach_whose_start_fails_cleans_up_without_hanging() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = pausing_bundle();
    bundle.add_hook("startContainer", std::path::Path::new("/bin/false"), &["false"], Some(5));
    let id = unique_id();
    let out = rt.with_global(&[], "run", &bundle, &id, &["--detach"]);
    assert!(!out.status.success(), "run --detach succeeded although start failed");
    rt.assert_no_leftovers(&id, &bundle);
}
