//! `update`, `pause`/`resume`, `events --stats` and `delete` of a container whose processes
//! moved into sub-cgroups, all on real containers, on the host's hierarchy: v1 or hybrid (the
//! development host), or pure v2 (scripts/test-v2's VM), where the v2 files are read.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use corral_tests::check::stdout_text;
use corral_tests::cgroupfs::{cgroup_dir, pure_v2};
use corral_tests::*;
use serde_json::{Value, json};

const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A shell that, each time /go appears, runs /alloc.sh (64 MiB in a variable) in a child shell,
/// prints "rc=<status>" and removes /go: the same process tries again after each `update`.
const ALLOC_ON_DEMAND: &str =
    "while :; do if [ -e /go ]; then sh /alloc.sh; echo rc=$?; rm -f /go; fi; sleep 0.1; done";
const ALLOC_64M: &str = "x=$(dd if=/dev/zero bs=1M count=64 2>/dev/null | tr '\\0' a)";

/// Counts up in /count, forever.
const COUNTER: &str = "i=0; while :; do i=$((i+1)); echo $i > /count; sleep 0.05; done";

/// A control file's value, read from its v1 name or (on pure v2) its v2 name.
fn control(pid: i64, controller: &str, v1_file: &str, v2_file: &str) -> String {
    let file = if pure_v2() { v2_file } else { v1_file };
    read_trimmed(&cgroup_dir(pid, controller).join(file))
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

fn writable_bundle(script: &str) -> Bundle {
    let mut bundle = Bundle::new();
    bundle.set("/root/readonly", json!(false));
    bundle.set_args(&["/bin/sh", "-c", script]);
    bundle
}

/// Touch /go in the rootfs and wait for the container to print the next "rc=" line.
fn alloc_once(bundle: &Bundle, io: &runtime::CapturedIo, seen: usize) -> String {
    std::fs::write(bundle.rootfs().join("go"), "").expect("touch go");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines: Vec<String> = io
            .stdout()
            .lines()
            .filter(|l| l.starts_with("rc="))
            .map(String::from)
            .collect();
        if lines.len() > seen {
            return lines[seen].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no rc= line after /go; stdout:\n{}",
            io.stdout()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn update_memory_limit_reaches_the_running_process() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = writable_bundle(ALLOC_ON_DEMAND);
    std::fs::write(bundle.rootfs().join("alloc.sh"), ALLOC_64M).expect("write alloc.sh");
    let id = unique_id();
    let (out, io) = rt.create_io(&bundle, &id, &[]);
    assert_ok(&out, "create");
    rt.track(&id);
    assert_ok(&rt.start(&id), "start");
    assert_eq!(
        alloc_once(&bundle, &io, 0),
        "rc=0",
        "64 MiB without a limit"
    );

    assert_ok(
        &rt.cmd(&["update", "--memory", "16m", "--memory-swap", "16m", &id]),
        "update --memory 16m",
    );
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    assert_eq!(
        control(pid, "memory", "memory.limit_in_bytes", "memory.max"),
        (16u64 << 20).to_string()
    );
    assert_eq!(
        alloc_once(&bundle, &io, 1),
        "rc=137",
        "the child shell must be OOM-killed under 16m"
    );

    assert_ok(
        &rt.cmd(&["update", "--memory-swap", "-1", "--memory", "-1", &id]),
        "update --memory -1",
    );
    assert_eq!(
        alloc_once(&bundle, &io, 2),
        "rc=0",
        "64 MiB after lifting the limit"
    );
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn update_cpuset_and_pids_take_effect_on_the_running_process() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = Bundle::with_probe(&["pause"]);
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    let cpus_allowed = || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(|v| v.trim().to_string())
    };
    assert_ok(
        &rt.cmd(&["update", "--cpuset-cpus", "1", &id]),
        "update --cpuset-cpus 1",
    );
    assert_eq!(cpus_allowed().as_deref(), Some("1"));
    assert_ok(
        &rt.cmd(&[
            "update",
            "--cpuset-cpus",
            "0",
            "--cpu-shares",
            "256",
            "--cpu-quota",
            "30000",
            "--cpu-period",
            "100000",
            &id,
        ]),
        "update cpu",
    );
    assert_eq!(cpus_allowed().as_deref(), Some("0"));
    let cpu = cgroup_dir(pid, "cpu");
    if pure_v2() {
        // shares 256 map onto weight 10 (runc's linear conversion).
        assert_eq!(read_trimmed(&cpu.join("cpu.weight")), "10");
        assert_eq!(read_trimmed(&cpu.join("cpu.max")), "30000 100000");
    } else {
        assert_eq!(read_trimmed(&cpu.join("cpu.shares")), "256");
        assert_eq!(read_trimmed(&cpu.join("cpu.cfs_quota_us")), "30000");
    }
    assert_ok(
        &rt.cmd(&["update", "--pids-limit", "7", &id]),
        "update --pids-limit",
    );
    assert_eq!(read_trimmed(&cgroup_dir(pid, "pids").join("pids.max")), "7");
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn update_reads_resources_json_from_a_file_and_stdin() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = Bundle::with_probe(&["pause"]);
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    let file = bundle.path().join("resources.json");
    std::fs::write(
        &file,
        json!({"pids": {"limit": 5}, "memory": {"reservation": 8388608}}).to_string(),
    )
    .expect("write");
    assert_ok(
        &rt.cmd(&["update", "-r", file.to_str().expect("utf-8"), &id]),
        "update -r FILE",
    );
    assert_eq!(read_trimmed(&cgroup_dir(pid, "pids").join("pids.max")), "5");
    assert_eq!(
        control(pid, "memory", "memory.soft_limit_in_bytes", "memory.low"),
        "8388608"
    );

    let mut child = rt
        .command(&["update", "-r", "-", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(br#"{"cpu": {"shares": 300}}"#)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert_ok(&out, "update -r -");
    // shares 300 are weight 12 on v2.
    assert_eq!(
        control(pid, "cpu", "cpu.shares", "cpu.weight"),
        if pure_v2() { "12" } else { "300" }
    );
    assert_fails_with(
        &rt.cmd(&["update", "--memory", "12x", &id]),
        &["--memory", "12x"],
    );
    rt.delete_force_and_check(&id, &bundle);
    assert_fails_with(
        &rt.cmd(&["update", "--pids-limit", "5", &id]),
        &["does not exist"],
    );
}

fn count(bundle: &Bundle) -> u64 {
    std::fs::read_to_string(bundle.rootfs().join("count"))
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0)
}

fn wait_for_count_above(bundle: &Bundle, floor: u64) -> u64 {
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        let now = count(bundle);
        if now > floor {
            return now;
        }
        assert!(Instant::now() < deadline, "the counter stayed at {now}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pause_freezes_the_counter_and_resume_lets_it_continue() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = writable_bundle(COUNTER);
    let id = unique_id();
    rt.create_and_start(&bundle, &id);
    wait_for_count_above(&bundle, 2);
    assert_ok(&rt.cmd(&["pause", &id]), "pause");
    assert_eq!(rt.status(&id).as_deref(), Some("paused"));
    let frozen_at = count(&bundle);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        count(&bundle),
        frozen_at,
        "the counter advanced while paused"
    );
    assert_fails_with(&rt.cmd(&["pause", &id]), &["paused"]);
    let listed = stdout_text(&rt.list(&["--format", "json"]));
    assert!(listed.contains("\"paused\""), "{listed}");

    assert_ok(&rt.cmd(&["resume", &id]), "resume");
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    wait_for_count_above(&bundle, frozen_at);
    assert_fails_with(&rt.cmd(&["resume", &id]), &["running"]);
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn a_paused_container_can_be_killed() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = writable_bundle(COUNTER);
    let id = unique_id();
    rt.create_and_start(&bundle, &id);
    assert_ok(&rt.cmd(&["pause", &id]), "pause");
    assert_ok(&rt.kill(&id, "KILL"), "kill KILL of a paused container");
    rt.wait_for_status(&id, "stopped", STOP_TIMEOUT);
    assert_ok(&rt.delete(&id, false), "delete");
    rt.assert_no_leftovers(&id, &bundle);
}

#[test]
fn delete_force_removes_a_paused_container() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = writable_bundle(COUNTER);
    let id = unique_id();
    rt.create_and_start(&bundle, &id);
    assert_ok(&rt.cmd(&["pause", &id]), "pause");
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn events_stats_reports_plausible_numbers() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&[
        "/bin/sh",
        "-c",
        "sleep 1000 & i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec /bin/probe pause",
    ]);
    bundle.set("/linux/resources/memory", json!({"limit": 64 << 20}));
    bundle.set("/linux/resources/pids", json!({"limit": 50}));
    let id = unique_id();
    rt.create_and_start(&bundle, &id);
    std::thread::sleep(Duration::from_millis(500));
    let event = stdout_json(&rt.cmd(&["events", "--stats", &id]), "events --stats");
    assert_eq!(event["type"], "stats");
    assert_eq!(event["id"], json!(id));
    let data = &event["data"];
    let num = |v: &Value| {
        v.as_u64()
            .unwrap_or_else(|| panic!("not a number: {v} in {data}"))
    };
    assert!(
        num(&data["cpu"]["usage"]["total"]) > 1_000_000,
        "{}",
        data["cpu"]
    );
    // v2's cpu.stat has no per-CPU usage; like runc, the stats may leave percpu out there.
    let percpu = data["cpu"]["usage"]["percpu"].as_array();
    assert!(percpu.is_some() || pure_v2(), "no percpu: {}", data["cpu"]);
    if let Some(percpu) = percpu {
        let sum: u64 = percpu.iter().map(num).sum();
        assert!(
            sum > 0 && sum <= num(&data["cpu"]["usage"]["total"]) + 1_000_000,
            "{}",
            data["cpu"]
        );
    }
    let usage = num(&data["memory"]["usage"]["usage"]);
    assert!(usage > 100_000 && usage < 64 << 20, "memory usage {usage}");
    assert_eq!(num(&data["memory"]["usage"]["limit"]), 64 << 20);
    // The raw memory.stat keys differ: v1 has total_rss, v2 anon.
    let raw_key = if pure_v2() { "anon" } else { "total_rss" };
    assert!(
        data["memory"]["raw"][raw_key].is_u64(),
        "{}",
        data["memory"]
    );
    assert_eq!(num(&data["pids"]["current"]), 2, "{}", data["pids"]);
    assert_eq!(num(&data["pids"]["limit"]), 50);
    assert!(
        data["blkio"]["ioServiceBytesRecursive"].is_array(),
        "{}",
        data["blkio"]
    );
    rt.delete_force_and_check(&id, &bundle);
    assert_fails_with(&rt.cmd(&["events", "--stats", &id]), &["does not exist"]);
}

/// The host moves a container process into a sub-cgroup it makes inside the container's
/// cgroup (in every v1 hierarchy, or the unified one on pure v2); delete must kill it and
/// remove the sub-cgroups too.
fn delete_kills_processes_in_sub_cgroups(own_pid_ns: bool) {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["/bin/sh", "-c", "sleep 1000 & exec /bin/probe pause"]);
    if !own_pid_ns {
        bundle.remove_namespace("pid");
    }
    let id = unique_id();
    let init = rt.create_and_start(&bundle, &id);
    let deadline = Instant::now() + STOP_TIMEOUT;
    let sleeper = loop {
        if let Some(pid) = rt.ps_pids(&id).into_iter().find(|p| *p != init) {
            break pid;
        }
        assert!(Instant::now() < deadline, "the sleep child never appeared");
        std::thread::sleep(Duration::from_millis(50));
    };
    let controllers: &[&str] = if pure_v2() {
        &["unified"]
    } else {
        &["memory", "pids", "freezer", "cpu", "cpuset"]
    };
    for &controller in controllers {
        let sub = cgroup_dir(init, controller).join("sub");
        std::fs::create_dir(&sub).unwrap_or_else(|e| panic!("mkdir {}: {e}", sub.display()));
        if controller == "cpuset" {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                std::fs::write(
                    sub.join(f),
                    read_trimmed(&sub.parent().expect("parent").join(f)),
                )
                .expect("cpuset init");
            }
        }
        std::fs::write(sub.join("cgroup.procs"), sleeper.to_string()).expect("move the sleeper");
    }
    assert!(
        rt.ps_pids(&id).contains(&sleeper),
        "ps must list processes of sub-cgroups"
    );
    rt.delete_force_and_check(&id, &bundle);
    assert!(
        wait_pid_gone(sleeper),
        "the sleeper in the sub-cgroup survived delete"
    );
}

#[test]
fn delete_kills_processes_in_sub_cgroups_with_pid_namespace() {
    skip_unless_root!();
    delete_kills_processes_in_sub_cgroups(true);
}

#[test]
fn delete_kills_processes_in_sub_cgroups_without_pid_namespace() {
    skip_unless_root!();
    delete_kills_processes_in_sub_cgroups(false);
}
