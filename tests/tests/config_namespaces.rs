//! linux.namespaces, hostname/domainname, user-namespace mappings and
//! linux.sysctl, checked from inside the container by the probe.
//!
//! Expected to fail on runc 1.1.5: `domainname_is_set_in_the_uts_namespace`
//! (runc supports `domainname` from 1.2 on).

mod support;

use corral_tests::*;
use serde_json::json;
use support::{NetNs, probe_ok, report};

/// Asserts the probe's namespace `name` (a /proc/self/ns entry) differs
/// from this test process's, with namespace `kind` in the config.
fn assert_new_namespace(name: &str, kind: &str) {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_namespace(kind, None);
    let seen = report(&rt, &mut bundle).namespace(name);
    let host = host_namespace(name);
    assert!(!seen.is_empty(), "probe reported no {name} namespace");
    assert_ne!(seen, host, "{kind} namespace is the host's ({host})");
}

#[test]
fn pid_namespace_is_new() {
    skip_unless_root!();
    assert_new_namespace("pid", "pid");
}

#[test]
fn mount_namespace_is_new() {
    skip_unless_root!();
    assert_new_namespace("mnt", "mount");
}

#[test]
fn uts_namespace_is_new() {
    skip_unless_root!();
    assert_new_namespace("uts", "uts");
}

#[test]
fn ipc_namespace_is_new() {
    skip_unless_root!();
    assert_new_namespace("ipc", "ipc");
}

#[test]
fn network_namespace_is_new() {
    skip_unless_root!();
    assert_new_namespace("net", "network");
}

#[test]
fn cgroup_namespace_is_new() {
    skip_unless_root!();
    assert_new_namespace("cgroup", "cgroup");
}

/// The counter-check: a namespace type left out of the config is shared.
#[test]
fn network_namespace_left_out_is_the_hosts() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.remove_namespace("network");
    let seen = report(&rt, &mut bundle).namespace("net");
    assert_eq!(seen, host_namespace("net"));
}

/// Without a mount namespace the container shares the host's, its rootfs is a
/// chroot, and its mounts (made under the rootfs) are gone after delete:
/// `report` asserts no mount naming the bundle is left.
#[test]
fn mount_namespace_left_out_is_the_hosts_and_leaves_no_mounts() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.remove_namespace("mount");
    let seen = report(&rt, &mut bundle);
    assert_eq!(seen.namespace("mnt"), host_namespace("mnt"));
    assert_eq!(seen.str("cwd"), "/");
}

#[test]
fn pid_namespace_makes_the_process_pid_1() {
    skip_unless_root!();
    let rt = Runtime::new();
    assert_eq!(report(&rt, &mut Bundle::new()).int("pid"), 1);
}

#[test]
fn network_namespace_given_by_path_is_joined() {
    skip_unless_root!();
    let netns = NetNs::new();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let path = netns.path();
    bundle.set_namespace("network", Some(path.to_str().expect("UTF-8 path")));
    assert_eq!(report(&rt, &mut bundle).namespace("net"), netns.inode());
}

#[test]
fn hostname_is_set_in_the_uts_namespace() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/hostname", json!("corral-box"));
    assert_eq!(report(&rt, &mut bundle).str("hostname"), "corral-box");
}

#[test]
fn domainname_is_set_in_the_uts_namespace() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/domainname", json!("corral.example"));
    assert_eq!(report(&rt, &mut bundle).str("domainname"), "corral.example");
}

/// A user namespace mapping container 0..65536 to host 100000..165536.
fn user_namespace_bundle() -> Bundle {
    let mut bundle = Bundle::new();
    bundle.set_namespace("user", None);
    let mapping = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    bundle.set("/linux/uidMappings", mapping.clone());
    bundle.set("/linux/gidMappings", mapping);
    bundle
}

/// The whitespace-separated fields of a uid_map/gid_map, one row per line.
fn map_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|row| !row.is_empty())
        .collect()
}

#[test]
fn user_namespace_makes_the_process_root_inside() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = user_namespace_bundle();
    let report = report(&rt, &mut bundle);
    assert_eq!((report.int("uid"), report.int("gid")), (0, 0));
    assert_ne!(report.namespace("user"), host_namespace("user"));
}

#[test]
fn user_namespace_uid_map_is_the_configured_one() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = user_namespace_bundle();
    let map = probe_ok(&rt, &mut bundle, &["read", "/proc/self/uid_map"]);
    assert_eq!(map_rows(&map), [["0", "100000", "65536"]]);
}

#[test]
fn user_namespace_gid_map_is_the_configured_one() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = user_namespace_bundle();
    let map = probe_ok(&rt, &mut bundle, &["read", "/proc/self/gid_map"]);
    assert_eq!(map_rows(&map), [["0", "100000", "65536"]]);
}

/// Sets one sysctl and returns what the probe reads back from /proc/sys.
fn sysctl_seen(key: &str, value: &str) -> String {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/linux/sysctl", json!({ key: value }));
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    probe_ok(&rt, &mut bundle, &["read", &path])
        .trim()
        .to_string()
}

#[test]
fn sysctl_in_network_namespace_applies() {
    skip_unless_root!();
    assert_eq!(sysctl_seen("net.ipv4.ip_forward", "1"), "1");
}

#[test]
fn sysctl_in_ipc_namespace_applies() {
    skip_unless_root!();
    assert_eq!(sysctl_seen("kernel.shmmax", "123456789"), "123456789");
}

/// The host's value is untouched by a container's namespaced sysctl.
#[test]
fn sysctl_in_network_namespace_leaves_the_host_alone() {
    skip_unless_root!();
    let path = "/proc/sys/net/ipv4/conf/lo/forwarding";
    let before = std::fs::read_to_string(path).expect("read host sysctl");
    let flipped = if before.trim() == "1" { "0" } else { "1" };
    assert_eq!(sysctl_seen("net.ipv4.conf.lo.forwarding", flipped), flipped);
    let after = std::fs::read_to_string(path).expect("read host sysctl");
    assert_eq!(after, before, "host sysctl changed");
}

/// A new network namespace has its loopback up (IFF_UP), as with runc and crun, so the
/// container can talk to 127.0.0.1.
#[test]
fn new_network_namespace_has_loopback_up() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_namespace("network", None);
    let flags = probe_ok(&rt, &mut bundle, &["read", "/sys/class/net/lo/flags"]);
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).expect("hex flags");
    assert_ne!(flags & 1, 0, "lo is up (flags {flags:#x})");
}
