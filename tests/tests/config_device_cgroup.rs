//! The devices cgroup: which devices a container may create (mknod) and open, from
//! linux.resources.devices and linux.devices, checked with a shell in the container.
//!
//! CAP_MKNOD is added to the container's capabilities, so a mknod refused with EPERM is
//! refused by the device cgroup, not for lack of the capability.

use corral_tests::check::{exit_code, stderr_text, stdout_text};
use corral_tests::*;
use serde_json::{Value, json};

const EPERM_TEXT: &str = "Operation not permitted";

/// A bundle whose process has CAP_MKNOD in every set that matters for root.
fn bundle_with_mknod() -> Bundle {
    let mut bundle = Bundle::new();
    for set in ["bounding", "effective", "permitted"] {
        let pointer = format!("/process/capabilities/{set}");
        let mut caps = bundle
            .config()
            .pointer(&pointer)
            .cloned()
            .unwrap_or_else(|| json!([]));
        if let Value::Array(list) = &mut caps {
            list.push(json!("CAP_MKNOD"));
        }
        bundle.set(&pointer, caps);
    }
    bundle
}

fn rule(allow: bool, kind: &str, major: i64, minor: i64, access: &str) -> Value {
    json!({"allow": allow, "type": kind, "major": major, "minor": minor, "access": access})
}

/// The rules a runc-style config carries: deny everything, then `extra`.
fn rules(extra: &[Value]) -> Value {
    let mut list = vec![json!({"allow": false, "access": "rwm"})];
    list.extend_from_slice(extra);
    Value::Array(list)
}

/// Runs `script` under /bin/sh in a fresh container; returns (exit code, stdout, stderr).
fn sh(bundle: &mut Bundle, script: &str) -> (i32, String, String) {
    bundle.set_args(&["/bin/sh", "-c", script]);
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.run(bundle, &id, &[]);
    rt.assert_no_leftovers(&id, bundle);
    (exit_code(&out), stdout_text(&out), stderr_text(&out))
}

/// Asserts the script failed because the device cgroup said no.
fn assert_eperm(result: (i32, String, String), what: &str) {
    let (code, stdout, stderr) = result;
    assert_ne!(code, 0, "{what} succeeded; stdout: {stdout}");
    assert!(
        stderr.contains(EPERM_TEXT),
        "{what} failed, but not with EPERM: {stderr}"
    );
}

fn assert_success(result: (i32, String, String), what: &str) {
    let (code, stdout, stderr) = result;
    assert_eq!(code, 0, "{what} failed; stdout: {stdout}\nstderr: {stderr}");
}

#[test]
fn without_rules_mknod_of_a_disk_is_refused() {
    skip_unless_root!();
    let mut bundle = bundle_with_mknod();
    bundle.remove("/linux/resources/devices");
    assert_eperm(sh(&mut bundle, "mknod /dev/sda b 8 0"), "mknod b 8 0");
    assert_eperm(sh(&mut bundle, "mknod /dev/mem c 1 1"), "mknod c 1 1");
    assert_eperm(sh(&mut bundle, "mknod /dev/kmsg c 1 11"), "mknod c 1 11");
}

#[test]
fn with_only_the_runc_deny_all_rule_mknod_is_refused() {
    skip_unless_root!();
    let mut bundle = bundle_with_mknod();
    bundle.set("/linux/resources/devices", rules(&[]));
    assert_eperm(sh(&mut bundle, "mknod /dev/sda b 8 0"), "mknod b 8 0");
}

#[test]
fn standard_devices_stay_usable() {
    skip_unless_root!();
    let mut bundle = bundle_with_mknod();
    bundle.remove("/linux/resources/devices");
    let script = "exec 3</dev/null 4>/dev/zero 5>/dev/full 6</dev/random 7</dev/urandom && \
                  head -c 4 /dev/urandom >/dev/null && mknod /dev/null2 c 1 3 && exec 8</dev/null2";
    assert_success(sh(&mut bundle, script), "using the standard devices");
}

/// A host device bind-mounted in is still refused without a rule: opening it for
/// writing (which /dev/kmsg allows without CAP_SYSLOG) fails with EPERM.
#[test]
fn bind_mounted_host_device_needs_a_rule() {
    skip_unless_root!();
    let mut bundle = bundle_with_mknod();
    let mount = json!({"destination": "/dev/kmsg", "type": "bind", "source": "/dev/kmsg", "options": ["bind"]});
    let mut mounts = bundle.config()["mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    mounts.push(mount);
    bundle.set("/mounts", Value::Array(mounts));
    bundle.set("/linux/resources/devices", rules(&[]));
    assert_eperm(
        sh(&mut bundle, "exec 3>/dev/kmsg"),
        "opening the bound /dev/kmsg",
    );
    bundle.set(
        "/linux/resources/devices",
        rules(&[rule(true, "c", 1, 11, "w")]),
    );
    assert_success(
        sh(&mut bundle, "exec 3>/dev/kmsg"),
        "opening /dev/kmsg with a w rule",
    );
}

#[test]
fn rule_allowing_a_disk_permits_mknod() {
    skip_unless_root!();
    let mut bundle = bundle_with_mknod();
    bundle.set(
        "/linux/resources/devices",
        rules(&[rule(true, "b", 8, 0, "rwm")]),
    );
    // The host has no 8:0 disk, so the open that the cgroup lets through ends in ENXIO.
    let (code, stdout, stderr) = sh(
        &mut bundle,
        "mknod /dev/sda b 8 0 && echo made && exec 3</dev/sda",
    );
    assert!(stdout.contains("made"), "mknod refused: {stderr}");
    assert!(
        code == 0 || !stderr.contains(EPERM_TEXT),
        "open refused by the cgroup: {stderr}"
    );
}

#[test]
fn mknod_only_rule_does_not_permit_open() {
    skip_unless_root!();
    let mut bundle = bundle_with_mknod();
    bundle.set(
        "/linux/resources/devices",
        rules(&[rule(true, "b", 8, 0, "m")]),
    );
    let (code, stdout, stderr) = sh(
        &mut bundle,
        "mknod /dev/sda b 8 0 && echo made && exec 3</dev/sda",
    );
    assert!(stdout.contains("made"), "mknod refused: {stderr}");
    assert_eperm((code, stdout, stderr), "opening b 8:0 with only m");
}

#[test]
fn deny_after_allow_wins() {
    skip_unless_root!();
    let mut bundle = bundle_with_mknod();
    let list = rules(&[rule(true, "b", 8, 0, "rwm"), rule(false, "b", 8, 0, "m")]);
    bundle.set("/linux/resources/devices", list);
    assert_eperm(
        sh(&mut bundle, "mknod /dev/sda b 8 0"),
        "mknod b 8 0 after a deny",
    );
}

#[test]
fn configured_device_is_usable() {
    skip_unless_root!();
    let mut bundle = bundle_with_mknod();
    let device =
        json!({"path": "/dev/mykmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o600});
    bundle.set("/linux/devices", json!([device]));
    bundle.set("/linux/resources/devices", rules(&[]));
    assert_success(
        sh(&mut bundle, "exec 3>/dev/mykmsg"),
        "opening the configured /dev/mykmsg",
    );
    // Its numbers are allowed, not every device: a neighbour is still refused.
    assert_eperm(sh(&mut bundle, "mknod /dev/port c 1 4"), "mknod c 1 4");
}

#[test]
fn invalid_rule_is_refused_before_the_container_starts() {
    skip_unless_root!();
    let mut bundle = bundle_with_mknod();
    bundle.set(
        "/linux/resources/devices",
        rules(&[json!({"allow": true, "type": "c", "access": "rwx"})]),
    );
    let (code, _, stderr) = sh(&mut bundle, "true");
    assert_ne!(code, 0, "a rule with access rwx was accepted");
    assert!(
        stderr.contains("devices[1]"),
        "error does not name the rule: {stderr}"
    );
}
