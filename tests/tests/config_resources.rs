//! linux.resources, checked by what a process can do inside the container (or, where the
//! kernel's own accounting is the only witness, by what the kernel reports for it).
//!
//! The tests run on whatever hierarchy the host has: v1 or hybrid (the development host: blkio
//! has no weight files and net_cls/net_prio/hugetlb are not v1 hierarchies, so those tests check
//! the clear refusal instead of an effect) and pure v2 (scripts/test-v2's VM), where they read the
//! v2 control files. Tests meaningful on one kind only say so and return on the other.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use corral_tests::check::{exit_code, stderr_text, stdout_text};
use corral_tests::cgroupfs::{cgroup_dir, pure_v2};
use corral_tests::*;
use serde_json::{Value, json};

/// A shell in the container starts background sleeps, printing the count after
/// each, until it has 30 or fork fails (busybox sh then exits with 2).
const FORKER: &str = "i=0; while [ $i -lt 30 ]; do sleep 30 & i=$((i+1)); echo $i; done";

/// Holds 32 MiB in a shell variable (dd's zeros turned into 'a's, which a variable can hold).
/// Small enough to finish in the emulated VM, twice the limits the OOM tests set.
const ALLOC_32M: &str =
    "x=$(dd if=/dev/zero bs=1M count=32 2>/dev/null | tr '\\0' a); echo survived ${#x}";

/// Generous for `run`s that allocate: programs run 10-100x slower in the emulated v2 VM.
const ALLOC_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs FORKER with `pids` as linux.resources.pids (None: no limit) and
/// returns (exit code, how many sleeps were started).
fn fork_until_refused(pids: Option<i64>) -> (i32, usize) {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["/bin/sh", "-c", FORKER]);
    if let Some(limit) = pids {
        bundle.set("/linux/resources/pids", json!({"limit": limit}));
    }
    let id = unique_id();
    let out = rt.run(&bundle, &id, &[]);
    rt.assert_no_leftovers(&id, &bundle);
    let started = stdout_text(&out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    (exit_code(&out), started)
}

/// `run` with a timeout long enough for allocating in the emulated VM.
fn run_slow(rt: &Runtime, bundle: &Bundle, id: &str) -> std::process::Output {
    rt.track(id);
    let bundle_dir = bundle.path().to_str().expect("utf-8 bundle path");
    let cmd = rt.command(&["run", "--bundle", bundle_dir, id]);
    rt.output_with_io(cmd, ALLOC_TIMEOUT).0
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// `events --stats` data for a container.
fn stats(rt: &Runtime, id: &str) -> Value {
    let event = stdout_json(&rt.cmd(&["events", "--stats", id]), "events --stats");
    assert_eq!(event["type"], "stats", "{event}");
    event["data"].clone()
}

#[test]
fn pids_limit_stops_forks_at_the_limit() {
    skip_unless_root!();
    let (code, started) = fork_until_refused(Some(8));
    assert_ne!(code, 0, "the shell should have failed to fork");
    // The shell itself counts against the limit, so fewer than 8 sleeps start.
    assert!(started < 8, "{started} sleeps started under a limit of 8");
}

#[test]
fn without_pids_limit_all_forks_succeed() {
    skip_unless_root!();
    assert_eq!(fork_until_refused(None), (0, 30));
}

#[test]
fn memory_limit_oom_kills_an_allocation_beyond_it() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["/bin/sh", "-c", ALLOC_32M]);
    let id = unique_id();
    let out = run_slow(&rt, &bundle, &id);
    assert_ok(&out, "32 MiB without a limit");
    assert!(
        stdout_text(&out).contains("survived 33554432"),
        "{}",
        stdout_text(&out)
    );

    bundle.set(
        "/linux/resources/memory",
        json!({"limit": 16 << 20, "swap": 16 << 20}),
    );
    let id = unique_id();
    let out = run_slow(&rt, &bundle, &id);
    rt.assert_no_leftovers(&id, &bundle);
    assert_eq!(
        exit_code(&out),
        128 + 9,
        "the shell should be OOM-killed: {}",
        stderr_text(&out)
    );
    assert!(
        !stdout_text(&out).contains("survived"),
        "{}",
        stdout_text(&out)
    );
}

/// The shell allocates in a child shell, which is OOM-killed; `events` must notice.
#[test]
fn oom_kill_is_reported_by_events() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    std::fs::write(bundle.rootfs().join("alloc.sh"), ALLOC_32M).expect("write alloc.sh");
    bundle.set_args(&[
        "/bin/sh",
        "-c",
        "sleep 1; sh /alloc.sh; echo child=$?; exec /bin/probe pause",
    ]);
    bundle.set(
        "/linux/resources/memory",
        json!({"limit": 16 << 20, "swap": 16 << 20}),
    );
    let id = unique_id();
    rt.create_and_start(&bundle, &id);

    let (events_out, events_child) = spawn_events(&rt, &id);
    let oom_line = wait_for_line(&events_out, "\"oom\"", Duration::from_secs(60));
    stop_child(events_child);
    let printed = read_or_empty(&events_out);
    let _ = std::fs::remove_file(&events_out);
    assert!(
        oom_line.is_some(),
        "no oom event; the last event was:\n{}",
        printed.lines().last().unwrap_or_default()
    );
    assert!(
        printed.lines().any(|l| l.contains("\"stats\"")),
        "no stats events streamed"
    );
    let memory = &stats(&rt, &id)["memory"];
    assert!(memory["oomKill"].as_u64() >= Some(1), "{memory}");
    // The peak reached the limit (failcnt may stay 0: the kernel charged memsw first).
    assert_eq!(memory["usage"]["max"], json!(16u64 << 20), "{memory}");
    rt.delete_force_and_check(&id, &bundle);
}

/// `events --interval 1s <id>` writing to a file; returns the file and the child to stop.
fn spawn_events(rt: &Runtime, id: &str) -> (PathBuf, std::process::Child) {
    let out = std::env::temp_dir().join(format!("{id}.events"));
    let file = std::fs::File::create(&out).expect("create events file");
    let child = rt
        .command(&["events", "--interval", "1s", id])
        .stdout(file)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn events");
    (out, child)
}

fn wait_for_line(path: &Path, needle: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(line) = read_or_empty(path).lines().find(|l| l.contains(needle)) {
            return Some(line.to_string());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn read_or_empty(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Kill a child this test spawned (by its own pid) and reap it.
fn stop_child(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn memory_swappiness_reservation_and_oom_killer_are_what_the_kernel_reports() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["pause"]);
    bundle.set(
        "/linux/resources/memory",
        json!({"limit": 64 << 20, "reservation": 16 << 20, "swappiness": 7, "disableOOMKiller": true}),
    );
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    let dir = cgroup_dir(pid, "memory");
    if pure_v2() {
        // v2 has no swappiness or OOM-killer switch (ignored, as runc does); the reservation is memory.low.
        assert_eq!(
            read_trimmed(&dir.join("memory.max")),
            (64u64 << 20).to_string()
        );
        assert_eq!(
            read_trimmed(&dir.join("memory.low")),
            (16u64 << 20).to_string()
        );
    } else {
        assert_eq!(
            read_trimmed(&dir.join("memory.limit_in_bytes")),
            (64u64 << 20).to_string()
        );
        assert_eq!(
            read_trimmed(&dir.join("memory.soft_limit_in_bytes")),
            (16u64 << 20).to_string()
        );
        assert_eq!(read_trimmed(&dir.join("memory.swappiness")), "7");
        let oom_control = read_trimmed(&dir.join("memory.oom_control"));
        assert!(oom_control.contains("oom_kill_disable 1"), "{oom_control}");
    }
    assert_eq!(
        stats(&rt, &id)["memory"]["usage"]["limit"],
        json!(64u64 << 20)
    );
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn swappiness_above_100_is_refused() {
    skip_unless_root!();
    if pure_v2() {
        eprintln!("skipped: cgroup v2 has no swappiness; the setting is ignored there, as in runc");
        return;
    }
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["exit", "0"]);
    bundle.set("/linux/resources/memory", json!({"swappiness": 101}));
    let id = unique_id();
    assert_fails_with(&rt.run(&bundle, &id, &[]), &["swappiness", "100"]);
    rt.assert_no_leftovers(&id, &bundle);
}

/// A busy loop under a 20% quota gets about 20% of a CPU (generous bounds for a loaded host).
#[test]
fn cpu_quota_limits_a_busy_loop() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["/bin/sh", "-c", "while :; do :; done"]);
    bundle.set(
        "/linux/resources/cpu",
        json!({"quota": 20000, "period": 100000, "shares": 512}),
    );
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    let cpu = cgroup_dir(pid, "cpu");
    if pure_v2() {
        // shares 512 map linearly onto weight 20 (runc's conversion).
        assert_eq!(read_trimmed(&cpu.join("cpu.weight")), "20");
        assert_eq!(read_trimmed(&cpu.join("cpu.max")), "20000 100000");
    } else {
        assert_eq!(read_trimmed(&cpu.join("cpu.shares")), "512");
    }
    let before = stats(&rt, &id)["cpu"]["usage"]["total"]
        .as_u64()
        .expect("cpu total");
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let data = stats(&rt, &id);
    let used = data["cpu"]["usage"]["total"].as_u64().expect("cpu total") - before;
    let share = used as f64 / started.elapsed().as_nanos() as f64;
    // The emulated VM may starve the loop; the quota's ceiling is what must hold there.
    let floor = if pure_v2() { 0.005 } else { 0.05 };
    assert!(
        (floor..0.35).contains(&share),
        "busy loop got {share:.2} of a CPU under a 0.2 quota"
    );
    assert!(
        data["cpu"]["throttling"]["throttledPeriods"].as_u64() > Some(0),
        "{}",
        data["cpu"]
    );
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn cpuset_pins_the_process_to_the_cpus_given() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["read", "/proc/self/status"]);
    bundle.set("/linux/resources/cpu", json!({"cpus": "1", "mems": "0"}));
    let id = unique_id();
    let out = rt.run(&bundle, &id, &[]);
    rt.assert_no_leftovers(&id, &bundle);
    assert_ok(&out, "probe read /proc/self/status");
    let status = stdout_text(&out);
    let line = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .map(|l| l[key.len()..].trim().to_string())
    };
    assert_eq!(line("Cpus_allowed_list:").as_deref(), Some("1"), "{status}");
    assert_eq!(line("Mems_allowed_list:").as_deref(), Some("0"), "{status}");
}

#[test]
fn realtime_settings_reach_the_cpu_controller_or_fail_clearly() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["exit", "0"]);
    bundle.set(
        "/linux/resources/cpu",
        json!({"realtimePeriod": 500000, "realtimeRuntime": 0}),
    );
    let id = unique_id();
    let out = rt.run(&bundle, &id, &[]);
    if pure_v2() {
        // v2 has no realtime group scheduling: refused like runc, naming the settings.
        assert_fails_with(&out, &["realtime", "v2"]);
    } else if !Path::new("/sys/fs/cgroup/cpu/cpu.rt_period_us").exists() {
        // A kernel built without CONFIG_RT_GROUP_SCHED (Debian's) has no such files.
        assert_fails_with(&out, &["realtimePeriod", "CONFIG_RT_GROUP_SCHED"]);
    } else {
        assert_ok(&out, "realtime period");
    }
    rt.assert_no_leftovers(&id, &bundle);
}

/// blkio weights exist only under CFQ/BFQ (files in non-root cgroups: blkio.weight or
/// blkio.bfq.weight; on v2 io.bfq.weight, or io.weight from the io.cost controller). With
/// neither, the setting must be refused naming the file; otherwise the kernel must report the
/// weight (on v2's io.weight converted from [10, 1000] to [1, 10000]: 300 → 2930).
#[test]
fn blkio_weight_takes_effect_or_is_refused_clearly() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["pause"]);
    bundle.set("/linux/resources/blockIO", json!({"weight": 300}));
    let id = unique_id();
    let created = rt.create(&bundle, &id, &[]);
    if !created.status.success() {
        eprintln!("note: this host's blkio cgroups have no weight files; checking the refusal");
        let file = if pure_v2() { "io." } else { "blkio.weight" };
        assert_fails_with(&created, &["blockIO.weight", file]);
        rt.assert_no_leftovers(&id, &bundle);
        return;
    }
    rt.track(&id);
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    let dir = cgroup_dir(pid, "blkio");
    let (files, want) = if pure_v2() {
        let bfq = dir.join("io.bfq.weight").exists();
        (
            ["io.bfq.weight", "io.weight"],
            if bfq { "300" } else { "2930" },
        )
    } else {
        (["blkio.weight", "blkio.bfq.weight"], "300")
    };
    let weight = files
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
        .expect("weight file");
    let text = read_trimmed(&weight);
    assert!(
        text == want || text.contains(&format!("default {want}")),
        "{}: {text}",
        weight.display()
    );
    rt.delete_force_and_check(&id, &bundle);
}

/// A write-bandwidth throttle on the root disk: the kernel lists it, and events reports blkio.
#[test]
fn blkio_throttle_is_set_on_the_device() {
    skip_unless_root!();
    let Some(device) = root_disk() else {
        eprintln!("skipped: / is not on a block device (or cannot tell which one)");
        return;
    };
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["pause"]);
    let (major, minor) = device;
    bundle.set(
        "/linux/resources/blockIO",
        json!({"throttleWriteBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
               "throttleReadIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]}),
    );
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    let dir = cgroup_dir(pid, "blkio");
    if pure_v2() {
        let io_max = read_trimmed(&dir.join("io.max"));
        let line = io_max
            .lines()
            .find(|l| l.starts_with(&format!("{major}:{minor} ")))
            .unwrap_or_else(|| panic!("no {major}:{minor} line in io.max: {io_max}"));
        assert!(
            line.contains("wbps=1048576") && line.contains("riops=100"),
            "{line}"
        );
    } else {
        assert_eq!(
            read_trimmed(&dir.join("blkio.throttle.write_bps_device")),
            format!("{major}:{minor} 1048576")
        );
        assert_eq!(
            read_trimmed(&dir.join("blkio.throttle.read_iops_device")),
            format!("{major}:{minor} 100")
        );
    }
    assert!(stats(&rt, &id)["blkio"].is_object());
    rt.delete_force_and_check(&id, &bundle);
}

/// (major, minor) of the whole disk holding / (throttles apply to whole disks); None when / is
/// not on a block device (the VM's 9p root has an anonymous device number).
fn root_disk() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata("/").ok()?.dev();
    let (major, minor) = (libc_major(dev), libc_minor(dev));
    // A partition's parent disk: /sys/dev/block/M:m/.. is the disk when "partition" exists.
    let sys = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    if !sys.exists() {
        return None;
    }
    let disk = if sys.join("partition").exists() {
        std::fs::read_to_string(sys.join("../dev")).ok()?
    } else {
        format!("{major}:{minor}")
    };
    let (a, b) = disk.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn libc_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn libc_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

/// hugetlb is a v1 hierarchy on some hosts and lives in the unified hierarchy on this hybrid one
/// (and on pure v2). No huge pages are reserved here, so the witness is the kernel's limit file.
/// Where the unified hierarchy holds hugetlb but the host has not enabled it for child cgroups
/// (this machine), the setting is refused naming the controller, and the host's unified root is
/// left exactly as it was.
#[test]
fn hugepage_limit_is_set_where_the_hugetlb_controller_lives() {
    skip_unless_root!();
    if !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        eprintln!("skipped: no 2 MB huge pages on this kernel");
        return;
    }
    if pure_v2() {
        hugepage_limit_is_hugetlb_max_on_v2();
        return;
    }
    let unified_root = Path::new("/sys/fs/cgroup/unified/cgroup.subtree_control");
    let enabled_before = std::fs::read_to_string(unified_root).unwrap_or_default();
    let v1_hugetlb = std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(':').nth(1) == Some("hugetlb"));
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["pause"]);
    bundle.set(
        "/linux/resources/hugepageLimits",
        json!([{"pageSize": "2MB", "limit": 4194304}]),
    );
    let id = unique_id();
    if !v1_hugetlb && !enabled_before.split_whitespace().any(|c| c == "hugetlb") {
        let out = rt.create(&bundle, &id, &[]);
        assert_fails_with(&out, &["hugepageLimits", "hugetlb"]);
        rt.assert_no_leftovers(&id, &bundle);
        assert_eq!(
            std::fs::read_to_string(unified_root).unwrap_or_default(),
            enabled_before
        );
        return;
    }
    let pid = rt.create_and_start(&bundle, &id);
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    let file = if v1_hugetlb {
        cgroup_dir(pid, "hugetlb").join("hugetlb.2MB.limit_in_bytes")
    } else {
        let path = cgroup
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .expect("unified line");
        Path::new("/sys/fs/cgroup/unified")
            .join(path.trim_start_matches('/'))
            .join("hugetlb.2MB.max")
    };
    assert_eq!(read_trimmed(&file), "4194304", "{}", file.display());
    rt.delete_force_and_check(&id, &bundle);
}

/// On pure v2, where every controller the root offers is enabled for containers.
fn hugepage_limit_is_hugetlb_max_on_v2() {
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["pause"]);
    bundle.set(
        "/linux/resources/hugepageLimits",
        json!([{"pageSize": "2MB", "limit": 4194304}]),
    );
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    let file = cgroup_dir(pid, "hugetlb").join("hugetlb.2MB.max");
    assert_eq!(read_trimmed(&file), "4194304", "{}", file.display());
    rt.delete_force_and_check(&id, &bundle);
}

/// net_cls/net_prio are not mounted on this host: like runc, the setting is an error naming the controller.
#[test]
fn network_class_id_without_net_cls_is_refused_naming_it() {
    skip_unless_root!();
    if pure_v2() {
        eprintln!("skipped: cgroup v2 has no net_cls; classID is ignored there, as in runc");
        return;
    }
    if Path::new("/sys/fs/cgroup/net_cls").exists() {
        eprintln!("skipped: this host has net_cls; the refusal cannot be shown");
        return;
    }
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["exit", "0"]);
    bundle.set("/linux/resources/network", json!({"classID": 1048577}));
    let id = unique_id();
    assert_fails_with(&rt.run(&bundle, &id, &[]), &["network.classID", "net_cls"]);
    rt.assert_no_leftovers(&id, &bundle);
}

/// Where net_cls and net_prio are mounted (the v1 VM of scripts/test-v1): the container's
/// process sits in a net_cls cgroup with the classID (which the kernel stamps on its
/// sockets' packets) and a net_prio cgroup with the interface priority.
#[test]
fn network_class_id_and_priorities_apply_where_net_cls_is_mounted() {
    skip_unless_root!();
    if pure_v2() || !Path::new("/sys/fs/cgroup/net_cls").exists() {
        eprintln!("skipped: no net_cls/net_prio hierarchy here (scripts/test-v1 runs this)");
        return;
    }
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["pause"]);
    bundle.set(
        "/linux/resources/network",
        json!({"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]}),
    );
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    let class = cgroup_dir(pid, "net_cls").join("net_cls.classid");
    assert_eq!(read_trimmed(&class), "1048577", "{}", class.display());
    let map = read_trimmed(&cgroup_dir(pid, "net_prio").join("net_prio.ifpriomap"));
    assert!(map.lines().any(|l| l.trim() == "lo 5"), "ifpriomap: {map}");
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn unified_on_a_v1_host_is_refused() {
    skip_unless_root!();
    if pure_v2() {
        eprintln!("skipped: this host is pure cgroup v2, where unified is accepted");
        return;
    }
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["exit", "0"]);
    bundle.set(
        "/linux/resources/unified",
        json!({"memory.high": "1000000"}),
    );
    let id = unique_id();
    assert_fails_with(&rt.run(&bundle, &id, &[]), &["unified", "v2"]);
    rt.assert_no_leftovers(&id, &bundle);
}

/// On v2, linux.resources.unified writes raw control files: pids.max 7 stops the forks.
#[test]
fn unified_pids_max_limits_forks_on_v2() {
    skip_unless_root!();
    if !pure_v2() {
        eprintln!("skipped: unified key/values need a pure cgroup v2 host");
        return;
    }
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["/bin/sh", "-c", FORKER]);
    bundle.set("/linux/resources/unified", json!({"pids.max": "7"}));
    let id = unique_id();
    let out = rt.run(&bundle, &id, &[]);
    rt.assert_no_leftovers(&id, &bundle);
    let started = stdout_text(&out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert_ne!(exit_code(&out), 0, "the shell should have failed to fork");
    assert!(started < 7, "{started} sleeps started under pids.max 7");
}

/// unified overrides the structured settings it shares a file with, and reaches the kernel.
#[test]
fn unified_overrides_memory_max_on_v2() {
    skip_unless_root!();
    if !pure_v2() {
        eprintln!("skipped: unified key/values need a pure cgroup v2 host");
        return;
    }
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["pause"]);
    bundle.set("/linux/resources/memory", json!({"limit": 64 << 20}));
    bundle.set(
        "/linux/resources/unified",
        json!({"memory.max": "33554432", "memory.high": "16777216"}),
    );
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    let dir = cgroup_dir(pid, "memory");
    assert_eq!(read_trimmed(&dir.join("memory.max")), "33554432");
    assert_eq!(read_trimmed(&dir.join("memory.high")), "16777216");
    rt.delete_force_and_check(&id, &bundle);
}
