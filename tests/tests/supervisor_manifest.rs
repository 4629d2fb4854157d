//! A service's container settings, from the manifest to what its process sees: process
//! (args, env, env files, cwd, user), mounts (bind, read-only bind, tmpfs), a device
//! passed through with its cgroup rule, network "none", resources and priority. The
//! process reports from inside (the probe, /proc); limits are read from its cgroup.

use corral_tests::cgroupfs::{cgroup_dir, pure_v2};
use corral_tests::supervisor::{Corrald, path_str, unique_service};
use corral_tests::*;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Runs as uid 1000: reports, then tries the device, the read-only mount and the network.
const SCRIPT: &str = "/bin/probe report > /out/report.json; cat /proc/self/oom_score_adj > /out/oom; \
    (echo x > DEVICE) 2> /out/device.err; touch /ro/x 2> /out/ro.err; cat /proc/net/dev > /out/netdev; \
    echo done > /out/done; exec sleep 100000";

/// A device node made for this test (the same device as /dev/full, so a write that
/// gets through fails with ENOSPC), removed when dropped.
struct TestDevice(PathBuf);

impl TestDevice {
    fn new() -> TestDevice {
        let path = PathBuf::from(format!("/dev/corral-test-{}", std::process::id()));
        let status = std::process::Command::new("mknod").args(["-m", "0666"]).arg(&path).args(["c", "1", "7"]).status();
        assert!(status.expect("run mknod").success(), "mknod {}", path.display());
        TestDevice(path)
    }
}

impl Drop for TestDevice {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn manifest(corrald: &Corrald, bundle: &Bundle, name: &str, device: &Path, read_only: &Path) -> String {
    let env_file = corrald.file("service.env");
    fs::write(&env_file, "# comment\nFROM_FILE=yes\nSHARED=from-file\n").expect("write the env file");
    let script = SCRIPT.replace("DEVICE", &path_str(device));
    let (rootfs, out, ro) = (path_str(&bundle.rootfs()), path_str(&corrald.out_dir()), path_str(read_only));
    format!(
        r#"[services.{name}]
rootfs = "{rootfs}"
priority = "critical"
devices = ["{device}"]
network = "none"
stop = {{ signal = "SIGKILL" }}
process = {{ args = ["/bin/sh", "-c", "{script}"], env = {{ GREETING = "hello", SHARED = "from-env" }}, env_files = ["{env_file}"], cwd = "/tmp", user = "1000:100" }}
mounts = [{{ type = "bind", source = "{out}", target = "/out" }},
          {{ type = "bind", source = "{ro}", target = "/ro", read_only = true }},
          {{ type = "tmpfs", target = "/tmp", size = "1M" }}]
resources = {{ memory = "48M", cpus = 0.5, cpuset = "0", pids = 40, io_weight = 300 }}
"#,
        device = path_str(device),
        env_file = path_str(&env_file),
    )
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())).trim().to_owned()
}

/// The value of `v1_file` in the v1 `controller` hierarchy, or of `v2_file` on pure v2.
fn cgroup_value(pid: i64, controller: &str, v1_file: &str, v2_file: &str) -> String {
    let file = if pure_v2() { v2_file } else { v1_file };
    read(&cgroup_dir(pid, controller).join(file))
}

/// Whether a root process here may lower its oom_score_adj (it needs CAP_SYS_RESOURCE
/// in the initial user namespace): tried for real, in a child shell.
fn can_lower_oom_score_adj() -> bool {
    let tried = std::process::Command::new("/bin/sh").args(["-c", "echo -900 > /proc/self/oom_score_adj"]).output();
    tried.is_ok_and(|out| out.status.success())
}

#[test]
fn every_container_setting_of_the_manifest_reaches_the_process() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let name = unique_service("manifest");
    let device = TestDevice::new();
    let mut corrald = Corrald::new(&[]);
    // The service runs as uid 1000: let it write its reports.
    fs::set_permissions(corrald.out_dir(), fs::Permissions::from_mode(0o777)).expect("chmod out");
    let read_only = corrald.file("ro");
    fs::create_dir(&read_only).expect("mkdir ro");
    corrald.write_manifest(&manifest(&corrald, &bundle, &name, &device.0, &read_only));
    corrald.spawn();
    corrald.wait_for("the service's reports", Duration::from_secs(30), || (corrald.out("done") == "done\n").then_some(()));
    let pid = corrald.inspect(&name)["container"]["init_pid"].as_i64().expect("running");

    let report: Value = serde_json::from_str(&corrald.out("report.json")).expect("the probe's report");
    assert_eq!((report["uid"].as_i64(), report["gid"].as_i64()), (Some(1000), Some(100)), "user");
    assert_eq!(report["cwd"], "/tmp");
    let env: Vec<&str> = report["env"].as_array().expect("env").iter().filter_map(Value::as_str).collect();
    for pair in ["GREETING=hello", "FROM_FILE=yes", "SHARED=from-env"] {
        assert!(env.contains(&pair), "{pair} in {env:?}");
    }
    let mounts: Vec<&str> = report["mountinfo"].as_array().expect("mountinfo").iter().filter_map(Value::as_str).collect();
    let mount = |target: &str| mounts.iter().find(|line| line.split(' ').nth(4) == Some(target)).copied();
    assert!(mount("/tmp").is_some_and(|line| line.contains(" - tmpfs ") && line.contains("size=1024k")), "{mounts:?}");
    assert!(mount("/ro").is_some_and(|line| line.split(' ').nth(5).is_some_and(|o| o.split(',').any(|o| o == "ro"))));
    assert!(corrald.out("ro.err").contains("Read-only file system"), "{}", corrald.out("ro.err"));
    // The node exists and the device cgroup lets it be opened: the write reaches the device.
    assert!(corrald.out("device.err").contains("No space left on device"), "{}", corrald.out("device.err"));
    let interfaces: Vec<String> = corrald.out("netdev").lines().skip(2).filter_map(|l| Some(l.split(':').next()?.trim().to_owned())).collect();
    assert_eq!(interfaces, ["lo"], "network = none: loopback only");

    // Without CAP_SYS_RESOURCE (this sandbox's bounding set lacks it; the VM's root has
    // it) nobody can lower an oom_score_adj: corrald says so and gives critical
    // services its own value (ours, which it inherited).
    let own = read(Path::new("/proc/self/oom_score_adj"));
    let warned = corrald.stderr().contains("no CAP_SYS_RESOURCE: critical services get oom_score_adj");
    let want = if can_lower_oom_score_adj() { "-900" } else { own.as_str() };
    assert_eq!(corrald.out("oom").trim(), want, "critical priority: oom_score_adj\n{}", corrald.stderr());
    assert_eq!(warned, want != "-900", "corrald says why, and only then:\n{}", corrald.stderr());
    let weight = cgroup_value(pid, "cpu", "cpu.shares", "cpu.weight");
    assert_eq!(weight, if pure_v2() { "1000" } else { "10240" }, "critical priority: cpu weight");
    assert_eq!(cgroup_value(pid, "memory", "memory.limit_in_bytes", "memory.max"), (48u64 << 20).to_string());
    let quota = cgroup_value(pid, "cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(quota == "50000" || quota == "50000 100000", "cpus = 0.5: {quota}");
    assert_eq!(cgroup_value(pid, "cpuset", "cpuset.cpus", "cpuset.cpus"), "0");
    assert_eq!(cgroup_value(pid, "pids", "pids.max", "pids.max"), "40");
    let io = cgroup_dir(pid, "blkio").join(if pure_v2() { "io.weight" } else { "blkio.weight" });
    if io.exists() {
        assert!(read(&io).ends_with("300") || read(&io).ends_with("30"), "io_weight: {}", read(&io));
    } else {
        eprintln!("{} is missing on this kernel (no IO scheduler with weights): io_weight not checked", io.display());
    }

    let status = corrald.terminate(Duration::from_secs(30));
    assert!(status.success(), "corrald exited with {status}\n{}", corrald.stderr());
    corrald.assert_nothing_left(&[format!("{name}-1")]);
}

/// Memory limits that add up to more than this machine has are refused with the numbers
/// (the total, each service's share, MemTotal), before anything starts.
#[test]
fn memory_limits_beyond_the_device_are_refused_with_the_numbers() {
    let meminfo = fs::read_to_string("/proc/meminfo").expect("read /proc/meminfo");
    let kib: u64 = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:")?.trim().strip_suffix(" kB")?.parse().ok()).expect("MemTotal");
    let share_mib = kib / 1024 * 6 / 10; // two of these are 120% of the device
    let dir = corral_tests::tempdir::TempDir::new("budget");
    let [a, b] = ["budget-a", "budget-b"].map(unique_service);
    let block = |name: &str| {
        format!("[services.{name}]\nrootfs = \"/nonexistent\"\nprocess = {{ args = [\"/x\"] }}\nresources = {{ memory = \"{share_mib}M\" }}\n")
    };
    let path = dir.path().join("manifest.toml");
    fs::write(&path, block(&a) + &block(&b)).expect("write the manifest");
    let check = std::process::Command::new(corral_tests::supervisor::corrald_bin()).arg("check").arg(&path).output().expect("run corrald check");
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "{stderr}");
    let total = 2 * share_mib * 1024 * 1024;
    let device = kib * 1024;
    let line = stderr.lines().find(|l| l.contains("memory limits add up to")).unwrap_or_else(|| panic!("{stderr}"));
    for part in [format!("({total} bytes: "), format!("{a} "), format!("{b} "), format!("({device} bytes, MemTotal)")] {
        assert!(line.contains(&part), "{part:?} in {line}");
    }
}
