//! The default /dev every container gets, and linux.devices, checked from
//! inside the container by the probe.

mod support;

use corral_tests::*;
use serde_json::{Value, json};
use support::{mount_at, probe_ok, report, stat};

/// Asserts `path` is a character device `rdev` with mode 0666, as every
/// default device is.
fn assert_default_device(path: &str, rdev: &str) {
    let rt = Runtime::new();
    let seen = stat(&rt, &mut Bundle::new(), path);
    assert_eq!(seen["type"], "char", "{path}: {seen}");
    assert_eq!(seen["rdev"], rdev, "{path}: {seen}");
    assert_eq!(seen["mode"], "0666", "{path}: {seen}");
}

#[test]
fn dev_null_is_char_1_3() {
    skip_unless_root!();
    assert_default_device("/dev/null", "1:3");
}

#[test]
fn dev_zero_is_char_1_5() {
    skip_unless_root!();
    assert_default_device("/dev/zero", "1:5");
}

#[test]
fn dev_full_is_char_1_7() {
    skip_unless_root!();
    assert_default_device("/dev/full", "1:7");
}

#[test]
fn dev_random_is_char_1_8() {
    skip_unless_root!();
    assert_default_device("/dev/random", "1:8");
}

#[test]
fn dev_urandom_is_char_1_9() {
    skip_unless_root!();
    assert_default_device("/dev/urandom", "1:9");
}

#[test]
fn dev_tty_is_char_5_0() {
    skip_unless_root!();
    assert_default_device("/dev/tty", "5:0");
}

/// The default symlinks in /dev and their targets.
const DEV_LINKS: [(&str, &str); 5] = [
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/ptmx", "pts/ptmx"),
];

#[test]
fn default_dev_symlinks_point_where_expected() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    for (link, target) in DEV_LINKS {
        let seen = probe_ok(&rt, &mut bundle, &["readlink", link]);
        assert_eq!(seen.trim(), target, "{link}");
    }
}

#[test]
fn dev_pts_and_dev_shm_are_mounted() {
    skip_unless_root!();
    let rt = Runtime::new();
    let report = report(&rt, &mut Bundle::new());
    assert_eq!(mount_at(&report, "/dev/pts").fstype, "devpts");
    assert_eq!(mount_at(&report, "/dev/shm").fstype, "tmpfs");
}

/// A device entry for linux.devices.
fn device(path: &str, kind: &str, major: u32, minor: u32, mode: u32) -> Value {
    json!({
        "path": path, "type": kind, "major": major, "minor": minor,
        "fileMode": mode, "uid": 1000, "gid": 5,
    })
}

#[test]
fn configured_char_device_has_numbers_mode_and_owner() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set(
        "/linux/devices",
        json!([device("/dev/mydev", "c", 1, 3, 0o620)]),
    );
    let seen = stat(&rt, &mut bundle, "/dev/mydev");
    let want = json!({ "type": "char", "rdev": "1:3", "mode": "0620", "uid": 1000, "gid": 5 });
    for key in ["type", "rdev", "mode", "uid", "gid"] {
        assert_eq!(seen[key], want[key], "{key} of /dev/mydev: {seen}");
    }
}

/// A device in a directory that does not exist yet: the runtime makes it.
#[test]
fn configured_device_in_new_directory_is_created() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let dev = device("/dev/extra/zero", "c", 1, 5, 0o666);
    bundle.set("/linux/devices", json!([dev]));
    let seen = stat(&rt, &mut bundle, "/dev/extra/zero");
    assert_eq!(
        (&seen["type"], &seen["rdev"]),
        (&json!("char"), &json!("1:5"))
    );
}
