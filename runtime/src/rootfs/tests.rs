//! Root-only tests: prepare/pivot/finish on a busybox rootfs, each in a child process
//! started under unshare(1) (new mount namespace, and per test pid/user/cgroup ones).
//!
//! A parent test builds the bundle in a scratch dir, runs this test binary again under
//! unshare with only its `child_*` twin selected, checks the exit status and, afterwards,
//! that nothing leaked onto the host. The `child_*` tests are #[ignore]d and do nothing
//! unless the parent's environment variable is set and the process is in a mount
//! namespace other than the parent's. Without root, unshare or busybox the parent tests
//! print why and pass.

// statfs magics are c_long, which is i64 only on 64-bit targets.
#![allow(clippy::unnecessary_cast)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::{RootfsOptions, RootfsPlan, finish, mount_console, pivot, prepare};
use crate::cgroups::{CgroupDir, HierarchyKind};

const CHILD_ENV: &str = "CORRAL_ROOTFS_TEST_SCRATCH";
const HOST_MNTNS_ENV: &str = "CORRAL_ROOTFS_TEST_HOST_MNTNS";
const BUSYBOX: &str = "/bin/busybox";

/// A scratch dir holding bundle/{config.json,rootfs} and host-side files; removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("corral-rootfs-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let rootfs = dir.join("bundle/rootfs");
        for sub in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
            fs::create_dir_all(rootfs.join(sub)).unwrap();
        }
        fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
        std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
        Scratch(dir)
    }
    fn rootfs(&self) -> PathBuf {
        self.0.join("bundle/rootfs")
    }
    fn write_config(&self, mounts: Value, linux: Value, readonly_root: bool) {
        let config = json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs", "readonly": readonly_root},
            "mounts": mounts,
            "linux": linux,
        });
        fs::write(self.0.join("bundle/config.json"), config.to_string()).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn can_run() -> bool {
    let ok = nix::unistd::geteuid().is_root()
        && Path::new(BUSYBOX).exists()
        && Command::new("unshare").arg("--help").output().is_ok();
    if !ok {
        eprintln!("skipped: needs root, unshare(1) and {BUSYBOX}");
    }
    ok
}

/// Runs `child` (a test of this module) under `unshare ARGS`, and asserts it passed.
fn run_child(child: &str, unshare: &[&str], scratch: &Scratch) {
    let exe = std::env::current_exe().unwrap();
    let host_ns = fs::read_link("/proc/self/ns/mnt").unwrap();
    let out = Command::new("unshare")
        .args(unshare)
        .arg(exe)
        .args([
            "--exact",
            &format!("rootfs::tests::{child}"),
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD_ENV, &scratch.0)
        .env(HOST_MNTNS_ENV, host_ns)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "{child} failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("1 passed"),
        "{child} did not run:\n{stdout}\n{stderr}"
    );
}

/// In a child: the scratch dir, or None when not started by a parent test.
fn child_scratch() -> Option<PathBuf> {
    let scratch = std::env::var_os(CHILD_ENV)?;
    let host_ns = std::env::var_os(HOST_MNTNS_ENV).expect("parent passes its mount namespace");
    let own = fs::read_link("/proc/self/ns/mnt").unwrap();
    assert_ne!(
        own.as_os_str(),
        host_ns,
        "refusing to change mounts in the host's mount namespace"
    );
    Some(PathBuf::from(scratch))
}

fn child_plan(scratch: &Path, opts: RootfsOptions) -> RootfsPlan {
    let bundle = scratch.join("bundle");
    let text = fs::read_to_string(bundle.join("config.json")).unwrap();
    let spec: oci_spec::runtime::Spec = serde_json::from_str(&text).unwrap();
    RootfsPlan::new(&spec, &bundle, opts).unwrap()
}

fn fs_magic(path: &str) -> i64 {
    nix::sys::statfs::statfs(path).unwrap().filesystem_type().0 as i64
}

fn is_read_only(path: &str) -> bool {
    let flags = nix::sys::statvfs::statvfs(path).unwrap().flags();
    flags.contains(nix::sys::statvfs::FsFlags::ST_RDONLY)
}

fn write_fails_erofs(path: &str) {
    let err = fs::write(path, b"x").expect_err(path);
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{path}: {err}");
}

/// The host's cgroup hierarchies from mountinfo, each with the root cgroup as path.
fn host_cgroup_dirs() -> Vec<CgroupDir> {
    let mut dirs = Vec::new();
    for line in fs::read_to_string("/proc/self/mountinfo").unwrap().lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (fstype, super_opts) = (
            fields[dash + 1],
            fields.get(dash + 3).copied().unwrap_or(""),
        );
        let kind = match fstype {
            "cgroup2" => HierarchyKind::V2,
            "cgroup" => {
                let controllers: Vec<&str> = super_opts
                    .split(',')
                    .filter(|o| *o != "rw" && *o != "ro")
                    .collect();
                HierarchyKind::V1 {
                    controllers: controllers.join(","),
                }
            }
            _ => continue,
        };
        dirs.push(CgroupDir {
            kind,
            mount_point: PathBuf::from(fields[4]),
            path: PathBuf::from("/"),
        });
    }
    dirs
}

fn tmpfs(dest: &str) -> Value {
    json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]})
}

// ---------------------------------------------------------------------------------------
// Symlinks and ".." in destinations stay inside the rootfs (openat2 and fallback).

fn escape_scratch(tag: &str) -> Scratch {
    let s = Scratch::new(tag);
    let rootfs = s.rootfs();
    std::os::unix::fs::symlink("/etc", rootfs.join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../etc", rootfs.join("evil_rel")).unwrap();
    fs::write(s.0.join("hosts"), b"inside-only\n").unwrap();
    let mounts = json!([
        tmpfs("/evil"),
        tmpfs("/../../../../tmp/x/../../etc2"),
        tmpfs("/evil_rel/sub"),
        {"destination": "/evil/hosts", "type": "bind", "source": s.0.join("hosts"), "options": ["bind", "ro"]},
    ]);
    s.write_config(mounts, json!({}), false);
    s
}

fn check_no_host_leak() {
    assert!(
        !Path::new("/etc2").exists(),
        "a mount point was created on the host"
    );
    assert!(
        !Path::new("/etc/sub").exists(),
        "a mount point was created in the host's /etc"
    );
    assert_ne!(fs::read("/etc/hosts").unwrap_or_default(), b"inside-only\n");
}

#[test]
fn escape_attempts_stay_inside() {
    if !can_run() {
        return;
    }
    for (child, tag) in [
        ("child_escape", "escape"),
        ("child_escape_fallback", "escape-fb"),
    ] {
        let s = escape_scratch(tag);
        run_child(child, &["--mount"], &s);
        check_no_host_leak();
    }
}

#[test]
#[ignore = "started by escape_attempts_stay_inside in a new mount namespace"]
fn child_escape() {
    if let Some(scratch) = child_scratch() {
        escape_in_child(&scratch);
    }
}

#[test]
#[ignore = "started by escape_attempts_stay_inside in a new mount namespace"]
fn child_escape_fallback() {
    if let Some(scratch) = child_scratch() {
        crate::sys::fs::force_fallback_for_tests();
        escape_in_child(&scratch);
    }
}

fn escape_in_child(scratch: &Path) {
    let plan = child_plan(scratch, RootfsOptions::default());
    prepare(&plan).unwrap();
    let rootfs = plan.rootfs().to_str().unwrap().to_string();
    let tmpfs_magic = libc::TMPFS_MAGIC as i64;
    assert_eq!(fs_magic(&format!("{rootfs}/etc")), tmpfs_magic);
    assert_eq!(fs_magic(&format!("{rootfs}/etc2")), tmpfs_magic);
    assert_eq!(fs_magic(&format!("{rootfs}/etc/sub")), tmpfs_magic);
    assert_ne!(fs_magic("/etc"), tmpfs_magic, "host /etc was mounted over");
    check_no_host_leak();
    pivot(&plan).unwrap();
    finish(&plan).unwrap();
    assert_eq!(fs::read("/etc/hosts").unwrap(), b"inside-only\n");
    write_fails_erofs("/etc/hosts");
    assert!(Path::new("/bin/busybox").exists() && Path::new("/etc/sub").is_dir());
}

// ---------------------------------------------------------------------------------------
// A full container: the usual mounts, devices, masks, read-only paths and root, console.

fn full_mounts(s: &Scratch, with_gid: bool) -> Value {
    fs::create_dir_all(s.0.join("data")).unwrap();
    fs::create_dir_all(s.0.join("data-rw")).unwrap();
    // What tmpcopyup must copy into the /run tmpfs.
    let run = s.rootfs().join("run");
    fs::create_dir_all(run.join("sub")).unwrap();
    fs::write(run.join("a"), b"copied").unwrap();
    fs::write(run.join("sub/b"), b"deep").unwrap();
    fs::set_permissions(run.join("a"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::set_permissions(&run, fs::Permissions::from_mode(0o711)).unwrap();
    std::os::unix::fs::symlink("a", run.join("link")).unwrap();
    let mut devpts = vec![
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620",
    ];
    if with_gid {
        devpts.push("gid=5");
    }
    json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": devpts},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/data", "type": "bind", "source": s.0.join("data"), "options": ["rbind", "ro", "nosuid"]},
        {"destination": "/data-rw", "source": s.0.join("data-rw"), "options": ["bind", "rprivate"]},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "rro", "rnosuid"]},
    ])
}

fn full_linux(propagation: &str) -> Value {
    json!({
        "devices": [
            {"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 384, "uid": 1000, "gid": 1000},
            {"type": "p", "path": "/dev/myfifo", "fileMode": 420},
        ],
        "maskedPaths": ["/proc/kcore", "/proc/timer_list", "/proc/acpi", "/nonexistent"],
        "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger", "/also-missing"],
        "rootfsPropagation": propagation,
    })
}

#[test]
fn full_container_setup() {
    if !can_run() {
        return;
    }
    let s = Scratch::new("full");
    let mut mounts = full_mounts(&s, true);
    let cgroup = json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid"]});
    let mq = json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid"]});
    mounts.as_array_mut().unwrap().extend([cgroup, mq]);
    s.write_config(mounts, full_linux("private"), true);
    run_child("child_full", &["--mount", "--pid", "--fork"], &s);
    assert_eq!(
        fs::read(s.0.join("data-rw/written")).unwrap(),
        b"from inside"
    );
}

#[test]
#[ignore = "started by full_container_setup in new namespaces"]
fn child_full() {
    let Some(scratch) = child_scratch() else {
        return;
    };
    let opts = RootfsOptions {
        cgroup_dirs: host_cgroup_dirs(),
        ..Default::default()
    };
    let plan = child_plan(&scratch, opts);
    prepare(&plan).unwrap();
    pivot(&plan).unwrap();
    let _slave = console_like_the_runtime();
    finish(&plan).unwrap();
    check_devices(true);
    check_common_mounts();
    let console = fs::metadata("/dev/console").unwrap();
    assert!(console.file_type().is_char_device() && libc::major(console.rdev()) == 136);
    assert!(Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists());
    assert!(is_read_only("/sys/fs/cgroup") && is_read_only("/sys/fs/cgroup/memory"));
    assert!(Path::new("/dev/mqueue").is_dir());
    let out = Command::new("/bin/busybox")
        .args(["sh", "-c", "echo ok"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"ok\n");
}

/// A pty on the container's devpts (as crate::console makes it), its slave over /dev/console.
fn console_like_the_runtime() -> std::os::fd::OwnedFd {
    use nix::fcntl::OFlag;
    use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
    use std::os::fd::AsFd;
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = posix_openpt(flags).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname_r(&master).unwrap();
    let slave = nix::fcntl::open(name.as_str(), flags, nix::sys::stat::Mode::empty()).unwrap();
    mount_console(slave.as_fd()).unwrap();
    // Not a pty slave: refused before anything is mounted.
    let null = fs::File::open("/dev/null").unwrap();
    assert!(
        mount_console(null.as_fd())
            .unwrap_err()
            .to_string()
            .contains("not a pty slave")
    );
    slave
}

fn check_devices(mknod: bool) {
    let null = fs::metadata("/dev/null").unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!((libc::major(null.rdev()), libc::minor(null.rdev())), (1, 3));
    assert_eq!(null.permissions().mode() & 0o777, 0o666);
    if mknod {
        let fuse = fs::metadata("/dev/fuse").unwrap();
        assert_eq!(
            (fuse.permissions().mode() & 0o777, fuse.uid()),
            (0o600, 1000)
        );
    }
    assert!(fs::metadata("/dev/myfifo").unwrap().file_type().is_fifo());
    assert_eq!(
        fs::read_link("/dev/fd").unwrap(),
        Path::new("/proc/self/fd")
    );
    assert_eq!(
        fs::read_link("/dev/stderr").unwrap(),
        Path::new("/proc/self/fd/2")
    );
    assert_eq!(fs::read_link("/dev/ptmx").unwrap(), Path::new("pts/ptmx"));
    let mut zero = [1u8; 4];
    fs::File::open("/dev/zero")
        .unwrap()
        .read_exact(&mut zero)
        .unwrap();
    assert_eq!(zero, [0; 4]);
}

fn check_common_mounts() {
    write_fails_erofs("/new-file-in-root");
    fs::write("/dev/shm/x", b"ok").unwrap();
    write_fails_erofs("/data/x");
    fs::File::create("/data-rw/written")
        .unwrap()
        .write_all(b"from inside")
        .unwrap();
    write_fails_erofs("/run/x");
    assert_eq!(fs::read("/run/link").unwrap(), b"copied");
    assert_eq!(fs::read("/run/sub/b").unwrap(), b"deep");
    assert_eq!(
        fs::metadata("/run/a").unwrap().permissions().mode() & 0o7777,
        0o640
    );
    assert_eq!(
        fs::metadata("/run").unwrap().permissions().mode() & 0o7777,
        0o711
    );
    assert_eq!(fs_magic("/run"), libc::TMPFS_MAGIC as i64);
    let run = nix::sys::statvfs::statvfs("/run").unwrap().flags();
    assert!(run.contains(nix::sys::statvfs::FsFlags::ST_NOSUID));
    let mut masked = Vec::new();
    fs::File::open("/proc/timer_list")
        .unwrap()
        .read_to_end(&mut masked)
        .unwrap();
    assert!(masked.is_empty(), "/proc/timer_list is not masked");
    assert_eq!(
        fs::read_dir("/proc/acpi").unwrap().count(),
        0,
        "/proc/acpi is not masked"
    );
    assert!(is_read_only("/proc/acpi"));
    write_fails_erofs("/proc/sys/kernel/hostname");
    assert!(is_read_only("/sys"));
    assert!(Path::new("/sys/kernel").is_dir());
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .unwrap();
    assert!(
        root.split(' ')
            .nth(5)
            .unwrap()
            .split(',')
            .any(|o| o == "ro"),
        "{root}"
    );
}

// ---------------------------------------------------------------------------------------
// The same in a user namespace: devices bound from the host, sysfs falls back to rbind.

#[test]
fn user_namespace_setup() {
    if !can_run() {
        return;
    }
    let s = Scratch::new("userns");
    s.write_config(full_mounts(&s, false), full_linux(""), true);
    run_child(
        "child_userns",
        &["--user", "--map-root-user", "--mount", "--pid", "--fork"],
        &s,
    );
    assert_eq!(
        fs::read(s.0.join("data-rw/written")).unwrap(),
        b"from inside"
    );
}

#[test]
#[ignore = "started by user_namespace_setup in new namespaces"]
fn child_userns() {
    let Some(scratch) = child_scratch() else {
        return;
    };
    let opts = RootfsOptions {
        new_userns: true,
        ..Default::default()
    };
    let plan = child_plan(&scratch, opts);
    prepare(&plan).unwrap();
    pivot(&plan).unwrap();
    finish(&plan).unwrap();
    check_devices(false);
    check_common_mounts();
}

// ---------------------------------------------------------------------------------------
// --no-pivot, and cgroup mounts in a cgroup namespace.

#[test]
fn no_pivot_and_cgroupns() {
    if !can_run() {
        return;
    }
    let s = Scratch::new("nopivot");
    fs::write(s.rootfs().join("marker"), b"rootfs").unwrap();
    let mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "nodev", "noexec"]},
    ]);
    s.write_config(mounts, json!({"maskedPaths": ["/proc/kcore"]}), false);
    run_child(
        "child_no_pivot_cgroupns",
        &["--mount", "--cgroup", "--pid", "--fork"],
        &s,
    );
}

#[test]
#[ignore = "started by no_pivot_and_cgroupns in new namespaces"]
fn child_no_pivot_cgroupns() {
    let Some(scratch) = child_scratch() else {
        return;
    };
    let dirs = host_cgroup_dirs();
    let opts = RootfsOptions {
        no_pivot: true,
        new_cgroupns: true,
        cgroup_dirs: dirs.clone(),
        ..Default::default()
    };
    let plan = child_plan(&scratch, opts);
    prepare(&plan).unwrap();
    pivot(&plan).unwrap();
    finish(&plan).unwrap();
    assert_eq!(fs::read("/marker").unwrap(), b"rootfs");
    for dir in &dirs {
        let name = dir.mount_point.file_name().unwrap();
        let inside = Path::new("/sys/fs/cgroup").join(name);
        assert!(inside.join("cgroup.procs").exists(), "{inside:?}");
        assert!(is_read_only(inside.to_str().unwrap()));
        let magic = fs_magic(inside.to_str().unwrap());
        let expected = if dir.kind == HierarchyKind::V2 {
            0x6367_7270
        } else {
            0x0027_e0eb
        };
        assert_eq!(magic, expected, "{inside:?}");
    }
    assert!(is_read_only("/sys/fs/cgroup"));
}
