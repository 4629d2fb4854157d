//! linux.maskedPaths and linux.readonlyPaths, checked from inside the
//! container by the probe.

mod support;

use corral_tests::*;
use serde_json::json;
use std::fs;
use support::{mount_at, probe_ok, probe_result, report, set_readonly_root, stat};

/// A bundle whose rootfs has /secret-file ("secret") and /secret-dir/inside.
fn bundle_with_secrets() -> Bundle {
    let bundle = Bundle::new();
    let rootfs = bundle.rootfs();
    fs::write(rootfs.join("secret-file"), "secret\n").expect("write secret-file");
    fs::create_dir(rootfs.join("secret-dir")).expect("create secret-dir");
    fs::write(rootfs.join("secret-dir/inside"), "secret\n").expect("write inside");
    bundle
}

fn mask(bundle: &mut Bundle, path: &str) {
    bundle.set("/linux/maskedPaths", json!([path]));
}

#[test]
fn masked_file_reads_empty() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = bundle_with_secrets();
    mask(&mut bundle, "/secret-file");
    assert_eq!(probe_ok(&rt, &mut bundle, &["read", "/secret-file"]), "");
}

#[test]
fn masked_file_is_dev_null() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = bundle_with_secrets();
    mask(&mut bundle, "/secret-file");
    let seen = stat(&rt, &mut bundle, "/secret-file");
    assert_eq!(
        (&seen["type"], &seen["rdev"]),
        (&json!("char"), &json!("1:3"))
    );
}

#[test]
fn masked_directory_appears_empty() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = bundle_with_secrets();
    mask(&mut bundle, "/secret-dir");
    assert_eq!(
        probe_ok(&rt, &mut bundle, &["ls", "/secret-dir"]).trim(),
        ""
    );
}

#[test]
fn masked_directory_is_a_read_only_tmpfs() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = bundle_with_secrets();
    mask(&mut bundle, "/secret-dir");
    let mount = mount_at(&report(&rt, &mut bundle), "/secret-dir");
    assert_eq!(mount.fstype, "tmpfs", "{mount:?}");
    assert!(mount.has_option("ro"), "{mount:?}");
}

/// The first of `candidates` (default masked paths) present on the host:
/// which /proc files exist depends on the kernel's configuration.
fn first_on_host(candidates: &[&'static str]) -> Option<&'static str> {
    candidates
        .iter()
        .copied()
        .find(|p| std::path::Path::new(p).exists())
}

/// The generated spec masks /proc/kcore, /proc/keys, /proc/timer_list...
#[test]
fn default_masked_proc_file_is_dev_null() {
    skip_unless_root!();
    let Some(path) = first_on_host(&["/proc/kcore", "/proc/keys", "/proc/timer_list"]) else {
        eprintln!("skipped: no default masked /proc file on this kernel");
        return;
    };
    let rt = Runtime::new();
    let seen = stat(&rt, &mut Bundle::new(), path);
    assert_eq!(
        (&seen["type"], &seen["rdev"]),
        (&json!("char"), &json!("1:3")),
        "{path}"
    );
}

/// ... and the directories /proc/acpi, /sys/firmware, /proc/scsi.
#[test]
fn default_masked_proc_directory_is_empty() {
    skip_unless_root!();
    let Some(path) = first_on_host(&["/proc/acpi", "/sys/firmware", "/proc/scsi"]) else {
        eprintln!("skipped: no default masked directory on this kernel");
        return;
    };
    let rt = Runtime::new();
    let listing = probe_ok(&rt, &mut Bundle::new(), &["ls", path]);
    assert_eq!(listing.trim(), "", "{path}");
}

/// A masked path missing from the rootfs is skipped, not an error.
#[test]
fn masked_path_that_does_not_exist_is_ignored() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    mask(&mut bundle, "/no/such/path");
    assert_eq!(
        probe_result(&rt, &mut bundle, &["stat", "/no/such/path"]),
        "ENOENT"
    );
}

/// A writable root with /ro-dir listed in readonlyPaths.
fn bundle_with_readonly_dir() -> Bundle {
    let mut bundle = Bundle::new();
    fs::create_dir(bundle.rootfs().join("ro-dir")).expect("create ro-dir");
    set_readonly_root(&mut bundle, false);
    bundle.set("/linux/readonlyPaths", json!(["/ro-dir"]));
    bundle
}

#[test]
fn readonly_path_rejects_writes() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = bundle_with_readonly_dir();
    assert_eq!(
        probe_result(&rt, &mut bundle, &["write", "/ro-dir/file"]),
        "EROFS"
    );
}

/// The counter-check: only the listed path is read-only.
#[test]
fn readonly_path_leaves_the_rest_writable() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = bundle_with_readonly_dir();
    assert_eq!(
        probe_result(&rt, &mut bundle, &["write", "/tmp/file"]),
        "ok"
    );
}

/// The generated spec lists /proc/sys; even the container's own hostname
/// (in its uts namespace) cannot be written through it.
#[test]
fn default_readonly_proc_sys_rejects_writes() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let args = ["write", "/proc/sys/kernel/hostname", "changed"];
    assert_eq!(probe_result(&rt, &mut bundle, &args), "EROFS");
}
