//! root.readonly, mounts (tmpfs options, binds, rbind, ro, rro, propagation,
//! the special filesystems) and rootfsPropagation, checked from inside the
//! container by the probe.

mod support;

use corral_tests::tempdir::TempDir;
use corral_tests::*;
use serde_json::json;
use std::fs;
use support::{
    HostMount, MountLine, add_bind, add_mount, mount_at, probe_ok, probe_result, report,
    set_readonly_root,
};

#[test]
fn readonly_root_rejects_writes() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    set_readonly_root(&mut bundle, true);
    assert_eq!(
        probe_result(&rt, &mut bundle, &["write", "/newfile"]),
        "EROFS"
    );
}

#[test]
fn writable_root_accepts_writes() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    set_readonly_root(&mut bundle, false);
    assert_eq!(probe_result(&rt, &mut bundle, &["write", "/newfile"]), "ok");
    assert!(bundle.rootfs().join("newfile").is_file());
}

#[test]
fn tmpfs_options_show_in_mountinfo() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let options = ["nosuid", "nodev", "noexec", "size=1024k", "mode=700"];
    add_mount(&mut bundle, "/scratch", "tmpfs", "tmpfs", &options);
    let mount = mount_at(&report(&rt, &mut bundle), "/scratch");
    assert_eq!(mount.fstype, "tmpfs", "{mount:?}");
    for flag in ["nosuid", "nodev", "noexec"] {
        assert!(mount.has_option(flag), "{flag} missing: {mount:?}");
    }
    for data in ["size=1024k", "mode=700"] {
        assert!(mount.has_super_option(data), "{data} missing: {mount:?}");
    }
}

#[test]
fn bind_mount_shares_files_with_the_host() {
    skip_unless_root!();
    let host = TempDir::new("bind");
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    add_bind(&mut bundle, host.path(), "/shared", &["bind"]);
    let result = probe_result(&rt, &mut bundle, &["write", "/shared/hello", "from inside"]);
    assert_eq!(result, "ok");
    let text = fs::read_to_string(host.path().join("hello")).expect("file on the host");
    assert_eq!(text, "from inside");
}

#[test]
fn ro_bind_rejects_writes() {
    skip_unless_root!();
    let host = TempDir::new("robind");
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    add_bind(&mut bundle, host.path(), "/shared", &["bind", "ro"]);
    let result = probe_result(&rt, &mut bundle, &["write", "/shared/hello"]);
    assert_eq!(result, "EROFS");
    assert!(!host.path().join("hello").exists());
}

#[test]
fn file_bind_mount_shows_the_host_file() {
    skip_unless_root!();
    let host = TempDir::new("filebind");
    let file = host.path().join("settings.conf");
    fs::write(&file, "answer=42\n").expect("write host file");
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    add_bind(&mut bundle, &file, "/etc/settings.conf", &["bind", "ro"]);
    let seen = probe_ok(&rt, &mut bundle, &["read", "/etc/settings.conf"]);
    assert_eq!(seen, "answer=42\n");
}

/// A host directory with a tmpfs mounted on its `sub` directory.
/// Fields drop in order: the mount before its directory.
struct DirWithSubmount {
    _sub_mount: HostMount,
    dir: TempDir,
}

impl DirWithSubmount {
    fn new() -> DirWithSubmount {
        let dir = TempDir::new("submount");
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).expect("create sub");
        let sub_mount = HostMount::tmpfs(&sub);
        DirWithSubmount {
            _sub_mount: sub_mount,
            dir,
        }
    }
}

#[test]
fn rbind_brings_submounts() {
    skip_unless_root!();
    let host = DirWithSubmount::new();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    add_bind(&mut bundle, host.dir.path(), "/tree", &["rbind"]);
    let mount = mount_at(&report(&rt, &mut bundle), "/tree/sub");
    assert_eq!(mount.fstype, "tmpfs", "{mount:?}");
}

#[test]
fn plain_bind_leaves_out_submounts() {
    skip_unless_root!();
    let host = DirWithSubmount::new();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    add_bind(&mut bundle, host.dir.path(), "/tree", &["bind"]);
    let report = report(&rt, &mut bundle);
    assert!(report.mount_at("/tree").is_some(), "/tree is mounted");
    assert_eq!(report.mount_at("/tree/sub"), None);
}

/// rro (mount_setattr with AT_RECURSIVE) makes the submount read-only too.
#[test]
fn rro_makes_submounts_read_only() {
    skip_unless_root!();
    let host = DirWithSubmount::new();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    add_bind(&mut bundle, host.dir.path(), "/tree", &["rbind", "rro"]);
    let result = probe_result(&rt, &mut bundle, &["write", "/tree/sub/file"]);
    assert_eq!(result, "EROFS");
}

/// Binds a host directory that is a shared mount with `propagation` and
/// returns the container's mountinfo line for it.
fn bind_of_shared_dir_with(propagation: &str) -> MountLine {
    let dir = TempDir::new("shared");
    let _shared = HostMount::shared_self_bind(dir.path());
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    add_bind(&mut bundle, dir.path(), "/prop", &["rbind", propagation]);
    mount_at(&report(&rt, &mut bundle), "/prop")
}

#[test]
fn rslave_bind_is_a_slave_of_the_host_mount() {
    skip_unless_root!();
    let mount = bind_of_shared_dir_with("rslave");
    assert!(mount.has_tag("master:"), "{mount:?}");
    assert!(!mount.has_tag("shared:"), "{mount:?}");
}

#[test]
fn rprivate_bind_has_no_propagation() {
    skip_unless_root!();
    let mount = bind_of_shared_dir_with("rprivate");
    assert!(mount.optional.is_empty(), "{mount:?}");
}

#[test]
fn shared_bind_is_a_peer() {
    skip_unless_root!();
    let mount = bind_of_shared_dir_with("shared");
    assert!(mount.has_tag("shared:"), "{mount:?}");
}

/// Asserts the default spec's mount at `target` has filesystem type `fstype`.
fn assert_mount_type(target: &str, fstype: &str) {
    let rt = Runtime::new();
    let mount = mount_at(&report(&rt, &mut Bundle::new()), target);
    assert_eq!(mount.fstype, fstype, "{mount:?}");
}

#[test]
fn proc_is_mounted() {
    skip_unless_root!();
    assert_mount_type("/proc", "proc");
}

#[test]
fn sysfs_is_mounted() {
    skip_unless_root!();
    assert_mount_type("/sys", "sysfs");
}

#[test]
fn mqueue_is_mounted() {
    skip_unless_root!();
    assert_mount_type("/dev/mqueue", "mqueue");
}

#[test]
fn devpts_is_mounted() {
    skip_unless_root!();
    assert_mount_type("/dev/pts", "devpts");
}

#[test]
fn dev_is_a_tmpfs() {
    skip_unless_root!();
    assert_mount_type("/dev", "tmpfs");
}

/// On a cgroup v1 host the cgroup mount is a tmpfs holding one cgroup
/// mount per hierarchy; on v2 it is a single cgroup2 mount.
#[test]
fn cgroup_filesystem_is_mounted_at_sys_fs_cgroup() {
    skip_unless_root!();
    let rt = Runtime::new();
    let report = report(&rt, &mut Bundle::new());
    let top = mount_at(&report, "/sys/fs/cgroup");
    let hierarchies: Vec<MountLine> = report
        .mountinfo()
        .iter()
        .map(|l| MountLine::parse(l))
        .filter(|m| m.mount_point.starts_with("/sys/fs/cgroup/") && m.fstype == "cgroup")
        .collect();
    let v2 = top.fstype == "cgroup2";
    assert!(
        v2 || !hierarchies.is_empty(),
        "neither cgroup2 nor v1 hierarchies at /sys/fs/cgroup: {top:?}\n{}",
        report.mountinfo().join("\n")
    );
    let memory = hierarchies
        .iter()
        .any(|m| m.mount_point.ends_with("/memory"));
    assert!(v2 || memory, "no memory hierarchy: {hierarchies:?}");
}

/// Runs the probe's report in a bundle whose directory is a shared mount
/// on the host, with `rootfsPropagation` set, and returns the line of "/".
/// The shared mount is undone before the leak check (it names the bundle).
fn root_mount_with_propagation(propagation: &str) -> MountLine {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/linux/rootfsPropagation", json!(propagation));
    bundle.set_probe_args(&["report"]);
    let shared = HostMount::shared_self_bind(bundle.path());
    let id = unique_id();
    let out = rt.run(&bundle, &id, &[]);
    drop(shared);
    assert_ok(&out, "run probe report");
    rt.assert_no_leftovers(&id, &bundle);
    mount_at(&Report::parse(&out), "/")
}

#[test]
fn rootfs_propagation_rslave_makes_root_a_slave() {
    skip_unless_root!();
    let root = root_mount_with_propagation("rslave");
    assert!(root.has_tag("master:"), "{root:?}");
    assert!(!root.has_tag("shared:"), "{root:?}");
}

#[test]
fn rootfs_propagation_private_makes_root_private() {
    skip_unless_root!();
    let root = root_mount_with_propagation("private");
    assert!(root.optional.is_empty(), "{root:?}");
}
