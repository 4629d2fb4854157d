//! v2 resources on a fake directory tree: the files a pure v2 kernel would offer, pre-created,
//! so the writes can be read back without a v2 host.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde_json::json;

use crate::cgroups::{Cgroup, CgroupDir, HierarchyKind};

const FILES: [&str; 14] = [
    "cgroup.controllers",
    "cgroup.subtree_control",
    "cgroup.freeze",
    "cgroup.events",
    "memory.max",
    "memory.low",
    "memory.swap.max",
    "cpu.weight",
    "cpu.max",
    "cpuset.cpus",
    "io.max",
    "io.weight",
    "pids.max",
    "hugetlb.2MB.max",
];

struct FakeV2 {
    base: PathBuf,
    cgroup: Cgroup,
}

impl Drop for FakeV2 {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

fn fake_v2() -> FakeV2 {
    let base = std::env::temp_dir().join(format!(
        "corral-v2fake-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let leaf = base.join("corral/c1");
    fs::create_dir_all(&leaf).expect("mkdir");
    for f in FILES {
        fs::write(leaf.join(f), "").expect("create control file");
    }
    fs::write(
        base.join("cgroup.controllers"),
        "cpuset cpu io memory hugetlb pids",
    )
    .expect("controllers");
    let dir = CgroupDir {
        kind: HierarchyKind::V2,
        mount_point: base.clone(),
        path: PathBuf::from("/corral/c1"),
    };
    FakeV2 {
        base,
        cgroup: Cgroup {
            dirs: vec![dir],
            created: Vec::new(),
        },
    }
}

fn read(leaf: &Path, file: &str) -> String {
    fs::read_to_string(leaf.join(file)).expect("read back")
}

fn resources(value: serde_json::Value) -> LinuxResources {
    serde_json::from_value(value).expect("valid resources")
}

#[test]
fn pure_v2_resources_are_converted_and_written() {
    let fake = fake_v2();
    let leaf = fake.cgroup.dirs[0].host_dir();
    let r = resources(json!({
        "memory": {"limit": 100, "swap": 300, "reservation": 50},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1"},
        "pids": {"limit": -1},
        "blockIO": {"weight": 1000, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 4096}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
        "unified": {"memory.max": "200"}
    }));
    fake.cgroup.apply_resources(&r).expect("apply");
    assert_eq!(read(&leaf, "memory.swap.max"), "200");
    assert_eq!(read(&leaf, "memory.low"), "50");
    assert_eq!(read(&leaf, "cpu.weight"), "39");
    assert_eq!(read(&leaf, "cpu.max"), "50000 100000");
    assert_eq!(read(&leaf, "cpuset.cpus"), "0-1");
    assert_eq!(read(&leaf, "pids.max"), "max");
    assert_eq!(read(&leaf, "io.weight"), "10000");
    assert_eq!(read(&leaf, "io.max"), "8:0 rbps=4096");
    assert_eq!(read(&leaf, "hugetlb.2MB.max"), "2097152");
    // unified goes last and wins.
    assert_eq!(read(&leaf, "memory.max"), "200");
}

#[test]
fn pure_v2_refuses_realtime_and_bad_unified_keys_and_reports_missing_controllers() {
    let fake = fake_v2();
    let rt = resources(json!({"cpu": {"realtimeRuntime": 1000}}));
    assert!(
        fake.cgroup
            .apply_resources(&rt)
            .expect_err("rt")
            .to_string()
            .contains("v2")
    );
    let bad = resources(json!({"unified": {"../memory.max": "1"}}));
    assert!(fake.cgroup.apply_resources(&bad).is_err());
    let missing = resources(json!({"unified": {"rdma.max": "mlx4_0 hca_handle=2"}}));
    let err = fake
        .cgroup
        .apply_resources(&missing)
        .expect_err("missing file")
        .to_string();
    assert!(
        err.contains("rdma.max") && err.contains("not enabled"),
        "{err}"
    );
    let empty: HashMap<String, String> = HashMap::new();
    assert!(
        fake.cgroup
            .apply_resources(&resources(json!({"unified": empty})))
            .is_ok()
    );
}

#[test]
fn pure_v2_freeze_state_reads_cgroup_freeze() {
    let fake = fake_v2();
    let leaf = fake.cgroup.dirs[0].host_dir();
    fs::write(leaf.join("cgroup.events"), "populated 1\nfrozen 1\n").expect("events");
    fake.cgroup
        .freeze()
        .expect("freeze completes when cgroup.events says frozen 1");
    assert_eq!(read(&leaf, "cgroup.freeze"), "1");
    assert!(fake.cgroup.is_frozen());
    fs::write(leaf.join("cgroup.events"), "populated 1\nfrozen 0\n").expect("events");
    fake.cgroup.thaw().expect("thaw");
    assert!(!fake.cgroup.is_frozen());
}

#[test]
fn pure_v2_stats_and_oom_counter() {
    let fake = fake_v2();
    let leaf = fake.cgroup.dirs[0].host_dir();
    fs::write(leaf.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 3\nnr_throttled 1\nthrottled_usec 7\n").expect("cpu.stat");
    fs::write(leaf.join("memory.current"), "4096\n").expect("current");
    fs::write(leaf.join("memory.max"), "max\n").expect("max");
    fs::write(
        leaf.join("memory.events"),
        "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n",
    )
    .expect("events");
    fs::write(leaf.join("pids.current"), "3\n").expect("pids");
    let stats = fake.cgroup.stats().expect("stats");
    assert_eq!(stats["cpu"]["usage"]["total"], 1_500_000);
    assert_eq!(stats["cpu"]["throttling"]["throttledTime"], 7000);
    assert_eq!(stats["memory"]["usage"]["usage"], 4096);
    assert_eq!(stats["memory"]["usage"]["limit"], u64::MAX);
    assert_eq!(stats["memory"]["usage"]["failcnt"], 4);
    assert_eq!(stats["pids"]["current"], 3);
    assert_eq!(fake.cgroup.oom_kills(), Some(2));
}
