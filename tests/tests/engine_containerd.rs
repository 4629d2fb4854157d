//! containerd 1.6 (Debian 12) with corral as the runtime binary of the runc v2 shim
//! (`ctr run --runtime io.containerd.runc.v2 --runc-binary <corral>`), and a CRI runtime
//! handler for corral in containerd's config.toml. Each test starts a private containerd
//! (own socket, root, state, config) and stops it by pid (tests/src/engines.rs).
//!
//! Needs root and containerd (scripts/setup installs it); fails without containerd.

use corral_tests::cgroupfs::{cgroup_dir, pure_v2};
use corral_tests::engines::*;
use corral_tests::*;
use serde_json::Value;
use std::fs;

const PAUSE: &[&str] = &["/bin/probe", "pause", "--exit-on-term"];

fn read(path: std::path::PathBuf) -> String {
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// Kills (TERM; the probe exits 0), deletes the task and the container, checks leftovers.
fn stop_and_delete(ctd: &Containerd, id: &str, pid: i64, rootfs: &Bundle) {
    ctd.ctr_ok(&["task", "kill", "--signal", "SIGTERM", id]);
    ctd.wait_task_status(id, "STOPPED");
    assert!(wait_pid_gone(pid), "pid {pid} survived SIGTERM");
    ctd.ctr_ok(&["task", "delete", id]);
    ctd.ctr_ok(&["container", "delete", id]);
    ctd.assert_gone(id, rootfs);
}

#[test]
fn ctr_run_attached_uses_corral_as_the_runc_binary() {
    require_containerd!();
    let ctd = Containerd::start();
    let rootfs = rootfs();
    let id = unique_id();
    let out = ctd.run(&id, &rootfs, &["--rm"], &["/bin/probe", "report"]);
    assert!(
        out.status.success(),
        "ctr run failed\n{}\n{}",
        describe(&out),
        ctd.log()
    );
    let report = last_json_object(&stdout_of(&out));
    assert_eq!(report["pid"], 1);
    assert_eq!(report["args"], serde_json::json!(["/bin/probe", "report"]));
    // The container's cgroup is the cgroupsPath ctr asked for.
    let cgroup = report["cgroup"].to_string();
    assert!(
        cgroup.contains(&ctd.cgroup_path(&id)),
        "cgroup seen inside: {cgroup}"
    );
    // corral kept its state under the shim's --runc-root while the task lived, and removed it.
    assert!(
        ctd.corral_root().is_dir(),
        "the shim did not pass --root {}",
        ctd.corral_root().display()
    );
    ctd.assert_gone(&id, &rootfs);

    // The process's exit status is ctr run's.
    let id2 = unique_id();
    let out = ctd.run(&id2, &rootfs, &["--rm"], &["/bin/probe", "exit", "7"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "ctr run exit status\n{}",
        describe(&out)
    );
    ctd.assert_gone(&id2, &rootfs);
}

#[test]
fn ctr_run_detached_then_kill_and_delete() {
    require_containerd!();
    let ctd = Containerd::start();
    let rootfs = rootfs();
    let id = unique_id();
    let pid = ctd.run_detached(&id, &rootfs, &["--memory-limit", "67108864"], PAUSE);
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).expect("read cmdline");
    assert_eq!(
        String::from_utf8_lossy(&cmdline),
        "/bin/probe\0pause\0--exit-on-term\0"
    );
    // The memory limit is on the task's cgroup, at the cgroupsPath ctr asked for.
    let mem = cgroup_dir(pid, "memory");
    assert!(
        mem.ends_with(ctd.cgroup_path(&id).trim_start_matches('/')),
        "memory cgroup {}",
        mem.display()
    );
    let file = if pure_v2() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(read(mem.join(file)), "67108864");
    // ctr task ps goes through `corral ps --format json`.
    let ps = ctd.ctr_ok(&["task", "ps", &id]);
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().next() == Some(&pid.to_string())),
        "task ps: {ps}"
    );

    // SIGKILL: the exit status containerd records is 128 + 9.
    ctd.ctr_ok(&["task", "kill", "--signal", "SIGKILL", &id]);
    ctd.wait_task_status(&id, "STOPPED");
    assert!(wait_pid_gone(pid), "pid {pid} survived SIGKILL");
    let out = ctd.ctr(&["task", "delete", &id]);
    assert!(out.status.success(), "task delete\n{}", describe(&out));
    ctd.ctr_ok(&["container", "delete", &id]);
    ctd.assert_gone(&id, &rootfs);

    // SIGTERM to a process that handles it.
    let id2 = unique_id();
    let pid2 = ctd.run_detached(&id2, &rootfs, &[], PAUSE);
    stop_and_delete(&ctd, &id2, pid2, &rootfs);

    // delete --force of a running task.
    let id3 = unique_id();
    let pid3 = ctd.run_detached(&id3, &rootfs, &[], &["/bin/probe", "pause"]);
    ctd.ctr_ok(&["task", "delete", "--force", &id3]);
    assert!(
        wait_pid_gone(pid3),
        "pid {pid3} survived task delete --force"
    );
    ctd.ctr_ok(&["container", "delete", &id3]);
    ctd.assert_gone(&id3, &rootfs);
}

#[test]
fn ctr_task_pause_and_resume_freeze_the_task() {
    require_containerd!();
    let ctd = Containerd::start();
    let rootfs = rootfs();
    let id = unique_id();
    let pid = ctd.run_detached(&id, &rootfs, &[], PAUSE);
    let frozen = || -> String {
        if pure_v2() {
            read(cgroup_dir(pid, "").join("cgroup.freeze"))
        } else {
            read(cgroup_dir(pid, "freezer").join("freezer.state"))
        }
    };
    ctd.ctr_ok(&["task", "pause", &id]);
    ctd.wait_task_status(&id, "PAUSED");
    assert_eq!(frozen(), if pure_v2() { "1" } else { "FROZEN" });
    ctd.ctr_ok(&["task", "resume", &id]);
    ctd.wait_task_status(&id, "RUNNING");
    assert_eq!(frozen(), if pure_v2() { "0" } else { "THAWED" });
    stop_and_delete(&ctd, &id, pid, &rootfs);
}

#[test]
fn ctr_run_t_gives_the_process_a_terminal() {
    require_containerd!();
    let ctd = Containerd::start();
    let rootfs = rootfs();
    let id = unique_id();
    let mut args = vec![
        "--address".to_string(),
        ctd.socket().display().to_string(),
        "-n".into(),
        "corral-test".into(),
    ];
    args.extend(ctd.run_args(&id, &rootfs, &["--rm", "-t"], &["/bin/probe", "report"]));
    let out = with_pty(&ctd, &shell_line("ctr", &args));
    assert!(
        out.status.success(),
        "ctr run -t failed\n{}",
        describe(&out)
    );
    let report = last_json_object(&stdout_of(&out));
    for fd in ["0", "1", "2"] {
        assert_eq!(report["isatty"][fd], true, "fd {fd}: {}", report["isatty"]);
    }
    let tty = report["tty"].as_str().unwrap_or("");
    assert!(
        tty.starts_with("/dev/pts/"),
        "controlling terminal: {tty:?}"
    );
    ctd.assert_gone(&id, &rootfs);
}

#[test]
fn ctr_task_exec_runs_a_process_in_the_task() {
    require_containerd!();
    let ctd = Containerd::start();
    let rootfs = rootfs();
    let id = unique_id();
    let pid = ctd.run_detached(&id, &rootfs, &[], PAUSE);
    let fifo = ctd.dir().join("fifo").display().to_string();

    let out = ctd.ctr(&[
        "task",
        "exec",
        "--fifo-dir",
        &fifo,
        "--exec-id",
        "report1",
        &id,
        "/bin/probe",
        "report",
    ]);
    assert!(
        out.status.success(),
        "ctr task exec failed\n{}",
        describe(&out)
    );
    let report = last_json_object(&stdout_of(&out));
    assert_eq!(
        report["namespaces"]["pid"],
        pid_namespace_of(pid),
        "exec joined the task's pid namespace"
    );
    assert_ne!(report["pid"], 1, "the exec'd process is not the init");

    let out = ctd.ctr(&[
        "task",
        "exec",
        "--fifo-dir",
        &fifo,
        "--exec-id",
        "exit3",
        &id,
        "/bin/probe",
        "exit",
        "3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "ctr task exec exit status\n{}",
        describe(&out)
    );

    let mut args = vec![
        "--address".to_string(),
        ctd.socket().display().to_string(),
        "-n".into(),
        "corral-test".into(),
    ];
    for a in [
        "task",
        "exec",
        "-t",
        "--fifo-dir",
        &fifo,
        "--exec-id",
        "tty1",
        &id,
        "/bin/probe",
        "report",
    ] {
        args.push(a.to_string());
    }
    let out = with_pty(&ctd, &shell_line("ctr", &args));
    assert!(
        out.status.success(),
        "ctr task exec -t failed\n{}",
        describe(&out)
    );
    assert_eq!(
        last_json_object(&stdout_of(&out))["isatty"]["1"],
        true,
        "exec -t stdout is not a tty"
    );
    stop_and_delete(&ctd, &id, pid, &rootfs);
}

/// `ctr task metrics` comes from the shim, which reads the task's cgroup itself (it does not
/// call the runtime), so this checks that corral put the task where its cgroupsPath says.
#[test]
fn ctr_task_metrics_reports_the_task_cgroup() {
    require_containerd!();
    let unmounted = unmounted_v1_hierarchies();
    if !unmounted.is_empty() {
        eprintln!(
            "skipped: cgroup v1 hierarchy {unmounted:?} is listed in /proc/self/cgroup but mounted \
             nowhere here (left by an undone `mount -t cgroup`); containerd 1.6's shim then fails \
             to load any task's cgroup (\"cannot find cgroup mount destination\"), with runc too"
        );
        return;
    }
    let ctd = Containerd::start();
    let rootfs = rootfs();
    let id = unique_id();
    let pid = ctd.run_detached(&id, &rootfs, &["--memory-limit", "67108864"], PAUSE);
    let out = ctd.ctr(&["task", "metrics", "--format", "json", &id]);
    assert!(
        out.status.success(),
        "ctr task metrics failed\n{}\n{}",
        describe(&out),
        ctd.log()
    );
    let metrics: Value = serde_json::from_slice(&out.stdout).expect("metrics JSON");
    let text = metrics.to_string();
    assert!(
        text.contains("67108864"),
        "the memory limit is not in the metrics: {text}"
    );
    stop_and_delete(&ctd, &id, pid, &rootfs);
}

/// The CRI plugin loads a runtime handler for corral (what a Kubernetes RuntimeClass with
/// `handler: corral` selects): runtime_type io.containerd.runc.v2 with options BinaryName.
/// ctr cannot pick a CRI handler (only a CRI client such as the kubelet or crictl can); the
/// other tests run the same runtime type and binary through `ctr --runc-binary`.
#[test]
fn cri_runtime_handler_for_corral_loads() {
    require_containerd!();
    let ctd = Containerd::start();
    let plugins = ctd.ctr_ok(&["plugins", "ls"]);
    let cri = plugins
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("cri"))
        .unwrap_or_else(|| panic!("no cri plugin:\n{plugins}"));
    assert!(
        cri.trim_end().ends_with("ok"),
        "the CRI plugin refused the config: {cri}\n{}",
        ctd.log()
    );
    // containerd logs the CRI config it parsed: the handler, its type and corral as its binary.
    let log = ctd.log();
    let line = log
        .lines()
        .find(|l| l.contains("Start cri plugin with config"))
        .unwrap_or_else(|| panic!("containerd did not log the CRI config:\n{log}"));
    let handler = format!("{CRI_HANDLER}:{{Type:io.containerd.runc.v2 ");
    let at = line
        .find(&handler)
        .unwrap_or_else(|| panic!("no {CRI_HANDLER} handler in: {line}"));
    let rest = &line[at..];
    let options = rest.find("Options:map[").map_or(rest, |o| &rest[o..]);
    let options = &options[..options.find(']').map_or(options.len(), |e| e + 1)];
    assert!(
        options.contains(&format!("BinaryName:{} ", corral_bin().display())),
        "the {CRI_HANDLER} handler does not run corral: {options}"
    );
    assert!(options.contains("SystemdCgroup:false"), "{options}");
}

/// After the task's process has exited by itself, the shim still signals it on `task kill`
/// and on `task delete --force` (`kill --all ID 9`). The runtime must then answer as runc
/// does: `kill --all` of a stopped container succeeds, and `kill` of one fails with words the
/// shim maps to "not found" ("container not running"); anything else is an unknown error and
/// `delete --force` leaves the task behind.
#[test]
fn ctr_task_kill_and_delete_force_after_the_process_exited() {
    require_containerd!();
    let ctd = Containerd::start();
    let rootfs = rootfs();
    let id = unique_id();
    let out = ctd.run(&id, &rootfs, &["-d"], &["/bin/probe", "exit", "0"]);
    assert!(
        out.status.success(),
        "ctr run -d failed\n{}",
        describe(&out)
    );
    ctd.wait_task_status(&id, "STOPPED");

    let out = ctd.ctr(&["task", "kill", "--signal", "SIGTERM", &id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not found") && !stderr.contains("unknown error"),
        "task kill of an exited task: the shim should report \"process already finished: not \
         found\"\n{}",
        describe(&out)
    );
    ctd.ctr_ok(&["task", "kill", "--all", "--signal", "SIGKILL", &id]);
    ctd.ctr_ok(&["task", "delete", "--force", &id]);
    assert!(
        ctd.task(&id).is_none(),
        "task {id} still listed after delete --force"
    );
    ctd.ctr_ok(&["container", "delete", &id]);
    ctd.assert_gone(&id, &rootfs);
}
