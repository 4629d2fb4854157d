//! Helpers shared by the config_*.rs tests: running the probe once and
//! checking for leftovers, parsing mountinfo lines, capability masks, and
//! host-side fixtures (network namespaces, host mounts) with Drop guards.
//!
//! Each test file uses only some of these.
#![allow(dead_code)]

use corral_tests::check::stdout_text;
use corral_tests::tempdir::TempDir;
use corral_tests::*;
use serde_json::{Value, json};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `/bin/probe <args>` in a fresh container, then checks that nothing
/// of the container is left. Returns the `run` output whatever the status.
pub fn run_probe(rt: &Runtime, bundle: &mut Bundle, args: &[&str]) -> Output {
    bundle.set_probe_args(args);
    let id = unique_id();
    let out = rt.run(bundle, &id, &[]);
    rt.assert_no_leftovers(&id, bundle);
    out
}

/// Like `run_probe`, asserting that the probe (and the runtime) succeeded.
pub fn probe_ok(rt: &Runtime, bundle: &mut Bundle, args: &[&str]) -> String {
    let out = run_probe(rt, bundle, args);
    assert_ok(&out, &format!("run probe {args:?}"));
    stdout_text(&out)
}

/// The probe's `report` from a fresh container (leak-checked afterwards).
pub fn report(rt: &Runtime, bundle: &mut Bundle) -> Report {
    let out = run_probe(rt, bundle, &["report"]);
    assert_ok(&out, "run probe report");
    Report::parse(&out)
}

/// The probe's `stat PATH` as JSON (type, mode, rdev, uid, gid, size).
pub fn stat(rt: &Runtime, bundle: &mut Bundle, path: &str) -> Value {
    let text = probe_ok(rt, bundle, &["stat", path]);
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("probe stat {path} printed no JSON ({e}): {text}"))
}

/// The errno name the probe printed for a failed operation (exit 1), or
/// "ok" when it succeeded.
pub fn probe_result(rt: &Runtime, bundle: &mut Bundle, args: &[&str]) -> String {
    let out = run_probe(rt, bundle, args);
    let text = stdout_text(&out).trim().to_string();
    match out.status.code() {
        Some(0) | Some(1) => text,
        _ => panic!(
            "probe {args:?} neither succeeded nor reported an errno: {}\nstdout: {text}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Sets root.readonly.
pub fn set_readonly_root(bundle: &mut Bundle, readonly: bool) {
    bundle.set("/root/readonly", json!(readonly));
}

/// Appends an entry to `mounts`.
pub fn add_mount(
    bundle: &mut Bundle,
    destination: &str,
    kind: &str,
    source: &str,
    options: &[&str],
) {
    let entry = json!({
        "destination": destination,
        "type": kind,
        "source": source,
        "options": options,
    });
    let mounts = bundle
        .config_mut()
        .pointer_mut("/mounts")
        .and_then(Value::as_array_mut)
        .expect("config has a mounts array");
    mounts.push(entry);
    bundle.save();
}

/// A bind mount of a host path (file or directory) at `destination`.
pub fn add_bind(bundle: &mut Bundle, host: &Path, destination: &str, options: &[&str]) {
    let host = host.to_str().expect("host path is UTF-8");
    add_mount(bundle, destination, "bind", host, options);
}

/// One parsed /proc/self/mountinfo line.
#[derive(Debug)]
pub struct MountLine {
    pub mount_point: String,
    /// Per-mount options (field 6), e.g. ["rw", "nosuid"].
    pub options: Vec<String>,
    /// Optional fields, e.g. ["shared:3"] or ["master:1"]; empty if private.
    pub optional: Vec<String>,
    pub fstype: String,
    pub source: String,
    /// Per-superblock options, e.g. ["rw", "size=1024k", "mode=700"].
    pub super_options: Vec<String>,
}

impl MountLine {
    pub fn parse(line: &str) -> MountLine {
        let fields: Vec<&str> = line.split(' ').collect();
        let dash = fields
            .iter()
            .position(|f| *f == "-")
            .unwrap_or_else(|| panic!("mountinfo line without separator: {line}"));
        let list = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        MountLine {
            mount_point: fields[4].to_string(),
            options: list(fields[5]),
            optional: fields[6..dash].iter().map(|s| s.to_string()).collect(),
            fstype: fields.get(dash + 1).unwrap_or(&"").to_string(),
            source: fields.get(dash + 2).unwrap_or(&"").to_string(),
            super_options: list(fields.get(dash + 3).unwrap_or(&"")),
        }
    }

    pub fn has_option(&self, option: &str) -> bool {
        self.options.iter().any(|o| o == option)
    }

    pub fn has_super_option(&self, option: &str) -> bool {
        self.super_options.iter().any(|o| o == option)
    }

    /// Whether an optional field starts with `tag` ("shared:", "master:").
    pub fn has_tag(&self, tag: &str) -> bool {
        self.optional.iter().any(|o| o.starts_with(tag))
    }
}

/// The (last) mount at `target` in the probe's mountinfo; panics if none.
pub fn mount_at(report: &Report, target: &str) -> MountLine {
    let line = report.mount_at(target).unwrap_or_else(|| {
        panic!(
            "no mount at {target} in the container:\n{}",
            report.mountinfo().join("\n")
        )
    });
    MountLine::parse(&line)
}

/// The capability bit of an OCI capability name ("CAP_KILL" -> 5).
pub fn cap_bit(name: &str) -> u32 {
    const NAMES: [&str; 41] = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    let index = NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("unknown capability {name}"));
    u32::try_from(index).expect("fewer than 64 capabilities")
}

/// The bit mask of a list of capability names.
pub fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |mask, name| mask | 1 << cap_bit(name))
}

/// Panics naming every capability bit that differs between the two masks.
pub fn assert_caps(set: &str, seen: u64, want: u64) {
    let differing: Vec<u32> = (0..64)
        .filter(|bit| (seen ^ want) >> bit & 1 == 1)
        .collect();
    assert!(
        differing.is_empty(),
        "Cap{set}: probe saw {seen:016x}, config asks for {want:016x}; bits differing: {differing:?}"
    );
}

/// A name unique to this test process and call, for host-side objects.
pub fn unique_name(tag: &str) -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("corral-test-{tag}-{}-{seq}", std::process::id())
}

/// Runs a host command, panicking with its output if it fails.
pub fn host_cmd(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace kept alive by a bind mount on a file in a temp
/// directory (`unshare --net=FILE`); unmounted on drop. Unlike
/// `ip netns add`, this leaves no shared /run/netns mount on the host.
pub struct NetNs {
    // Field order matters: the mount goes before its directory.
    file: PathBuf,
    _dir: TempDir,
}

impl NetNs {
    pub fn new() -> NetNs {
        let dir = TempDir::new("netns");
        let file = dir.path().join("net");
        std::fs::write(&file, "").expect("create the netns file");
        let arg = format!("--net={}", file.display());
        host_cmd("unshare", &[&arg, "true"]);
        NetNs { file, _dir: dir }
    }

    pub fn path(&self) -> &Path {
        &self.file
    }

    /// The namespace's inode, as the probe reports namespaces.
    pub fn inode(&self) -> String {
        let meta = std::fs::metadata(&self.file).expect("stat the netns file");
        meta.ino().to_string()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.file).output();
    }
}

/// A mount made on the host by the test, lazily unmounted on drop. Declare
/// it after the directory it lives in, so that it is dropped first.
pub struct HostMount {
    path: PathBuf,
}

impl HostMount {
    /// Mounts a small tmpfs at `path` (which must exist).
    pub fn tmpfs(path: &Path) -> HostMount {
        let target = path.to_str().expect("UTF-8 path");
        host_cmd("mount", &["-t", "tmpfs", "-o", "size=1m", "tmpfs", target]);
        HostMount {
            path: path.to_path_buf(),
        }
    }

    /// Bind-mounts `path` onto itself and makes it a shared mount, so that
    /// a container's bind of it can be a slave or a peer.
    pub fn shared_self_bind(path: &Path) -> HostMount {
        let target = path.to_str().expect("UTF-8 path");
        host_cmd("mount", &["--bind", target, target]);
        let guard = HostMount {
            path: path.to_path_buf(),
        };
        host_cmd("mount", &["--make-shared", target]);
        guard
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).output();
    }
}
