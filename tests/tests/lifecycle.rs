//! Container lifecycle and the runtime's command-line surface (runc 1.1.5
//! compatible): run/create/start/state/kill/delete/list/ps/spec/features and
//! the global and per-command flags.
//!
//! Expected to fail on runc: `version_prints_name_commit_and_spec_lines`
//! (runc prints five lines and spec 1.0.2-dev).

// The --preserve-fds tests place fds 3 and 4 in the runtime with dup2.
#![allow(unsafe_code)]

use corral_tests::check::{stderr_text, stdout_text};
use corral_tests::leaks::state_entries;
use corral_tests::tempdir::TempDir;
use corral_tests::*;
use serde_json::Value;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::time::Duration;

const STOP_TIMEOUT: Duration = Duration::from_secs(10);

fn probe_bundle(args: &[&str]) -> Bundle {
    let mut bundle = Bundle::new();
    bundle.set_probe_args(args);
    bundle
}

/// A container that sleeps until it is killed.
fn pausing_bundle() -> Bundle {
    probe_bundle(&["pause"])
}

fn parse_json(out: &std::process::Output, what: &str) -> Value {
    assert_ok(out, what);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("`{what}` printed invalid JSON ({e}): {}", stdout_text(out)))
}

/// Waits up to a few seconds for `pid` to disappear.
fn wait_pid_gone(pid: i64) -> bool {
    for _ in 0..250 {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Force-deletes `id` and checks nothing of it is left.
fn remove_and_check(rt: &Runtime, id: &str, bundle: &Bundle) {
    assert_ok(&rt.delete(id, true), &format!("delete --force {id}"));
    rt.assert_no_leftovers(id, bundle);
}

#[test]
fn run_true_exits_zero() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["/bin/true"]);
    let id = unique_id();
    assert_exit_code(&rt.run(&bundle, &id, &[]), 0, "run /bin/true");
    rt.assert_no_leftovers(&id, &bundle);
}

#[test]
fn run_exits_with_the_container_exit_status() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = probe_bundle(&["exit", "7"]);
    let id = unique_id();
    assert_exit_code(&rt.run(&bundle, &id, &[]), 7, "run probe exit 7");
    rt.assert_no_leftovers(&id, &bundle);
}

/// A pid-namespace init ignores even SIGKILL sent from inside, so the
/// signal comes from `kill` while `run` waits in another thread.
#[test]
fn run_reports_death_by_signal_as_128_plus_signal() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    let out = std::thread::scope(|scope| {
        let run = scope.spawn(|| rt.run(&bundle, &id, &[]));
        rt.wait_for_status(&id, "running", STOP_TIMEOUT);
        assert_ok(&rt.kill(&id, "KILL"), "kill KILL");
        run.join().expect("run thread")
    });
    assert_exit_code(&out, 128 + 9, "run killed by SIGKILL");
    rt.assert_no_leftovers(&id, &bundle);
}

#[test]
fn run_without_pid_namespace_reports_self_signal_as_128_plus_signal() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = probe_bundle(&["signal-self", "KILL"]);
    bundle.remove_namespace("pid");
    let id = unique_id();
    assert_exit_code(
        &rt.run(&bundle, &id, &[]),
        128 + 9,
        "run probe signal-self KILL",
    );
    rt.assert_no_leftovers(&id, &bundle);
}

#[test]
fn create_reports_created_state_with_oci_fields() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    assert_ok(&rt.create(&bundle, &id, &[]), "create");
    let state = rt.state(&id);
    assert!(
        state["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "ociVersion: {state}"
    );
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["status"], "created");
    assert_eq!(state["bundle"], bundle.path().to_str().unwrap());
    let pid = state["pid"].as_i64().unwrap_or(0);
    assert!(
        pid > 0 && pid_alive(pid),
        "created container has a live init pid: {state}"
    );
    remove_and_check(&rt, &id, &bundle);
}

#[test]
fn start_moves_created_container_to_running() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    assert_ok(&rt.create(&bundle, &id, &[]), "create");
    let created_pid = rt.state(&id)["pid"].as_i64();
    assert_ok(&rt.start(&id), "start");
    let state = rt.state(&id);
    assert_eq!(state["status"], "running");
    assert_eq!(
        state["pid"].as_i64(),
        created_pid,
        "start keeps the init pid"
    );
    remove_and_check(&rt, &id, &bundle);
}

/// Starts a pausing container, kills it with `signal`, expects "stopped".
fn kill_stops_running_container(signal: &str) {
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    assert_ok(&rt.kill(&id, signal), &format!("kill {signal}"));
    rt.wait_for_status(&id, "stopped", STOP_TIMEOUT);
    assert!(
        wait_pid_gone(pid),
        "init pid {pid} still alive after kill {signal}"
    );
    assert_ok(&rt.delete(&id, false), "delete");
    rt.assert_no_leftovers(&id, &bundle);
}

#[test]
fn kill_by_short_name_stops_container() {
    skip_unless_root!();
    kill_stops_running_container("KILL");
}

#[test]
fn kill_by_sig_name_stops_container() {
    skip_unless_root!();
    kill_stops_running_container("SIGKILL");
}

#[test]
fn kill_by_number_stops_container() {
    skip_unless_root!();
    kill_stops_running_container("9");
}

#[test]
fn kill_term_stops_container_that_handles_it() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = probe_bundle(&["pause", "--exit-on-term"]);
    let id = unique_id();
    rt.create_and_start(&bundle, &id);
    assert_ok(&rt.kill(&id, "TERM"), "kill TERM");
    rt.wait_for_status(&id, "stopped", STOP_TIMEOUT);
    assert_ok(&rt.delete(&id, false), "delete");
    rt.assert_no_leftovers(&id, &bundle);
}

#[test]
fn delete_removes_stopped_container() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = probe_bundle(&["exit", "0"]);
    let id = unique_id();
    rt.create_and_start(&bundle, &id);
    rt.wait_for_status(&id, "stopped", STOP_TIMEOUT);
    assert_ok(&rt.delete(&id, false), "delete");
    assert!(
        rt.try_state(&id).is_none(),
        "state still works after delete"
    );
    rt.assert_no_leftovers(&id, &bundle);
}

#[test]
fn delete_force_removes_running_container() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    assert_ok(&rt.delete(&id, true), "delete --force");
    assert!(
        rt.try_state(&id).is_none(),
        "state still works after delete --force"
    );
    assert!(wait_pid_gone(pid), "init pid {pid} survived delete --force");
    rt.assert_no_leftovers(&id, &bundle);
}

#[test]
fn kill_all_signals_every_process_of_the_container() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["/bin/sh", "-c", "sleep 100 & sleep 100 & wait"]);
    let id = unique_id();
    rt.create_and_start(&bundle, &id);
    let pids = wait_for_process_count(&rt, &id, 3);
    assert_ok(&rt.kill_all(&id, "KILL"), "kill --all KILL");
    rt.wait_for_status(&id, "stopped", STOP_TIMEOUT);
    for pid in pids {
        assert!(wait_pid_gone(pid), "process {pid} survived kill --all");
    }
    remove_and_check(&rt, &id, &bundle);
}

/// Polls `ps --format json` until the container has `count` processes.
fn wait_for_process_count(rt: &Runtime, id: &str, count: usize) -> Vec<i64> {
    for _ in 0..250 {
        let pids = parse_json(&rt.ps(id, &["--format", "json"]), "ps --format json");
        let pids: Vec<i64> = pids
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
            .collect();
        if pids.len() >= count {
            return pids;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("container {id} never had {count} processes");
}

#[test]
fn run_detach_leaves_container_running() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    assert_ok(&rt.run(&bundle, &id, &["--detach"]), "run --detach");
    let state = rt.state(&id);
    assert_eq!(state["status"], "running");
    assert!(
        pid_alive(state["pid"].as_i64().unwrap_or(0)),
        "detached init is alive: {state}"
    );
    remove_and_check(&rt, &id, &bundle);
}

#[test]
fn list_table_shows_the_container() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    assert_ok(&rt.create(&bundle, &id, &[]), "create");
    let out = rt.list(&[]);
    assert_ok(&out, "list");
    let table = stdout_text(&out);
    let row = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id.as_str()));
    let row = row.unwrap_or_else(|| panic!("list has no row for {id}:\n{table}"));
    assert!(row.contains("created"), "row shows the status: {row}");
    remove_and_check(&rt, &id, &bundle);
}

#[test]
fn list_json_has_id_status_pid_and_bundle() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    assert_ok(&rt.create(&bundle, &id, &[]), "create");
    let pid = rt.state(&id)["pid"].clone();
    let list = parse_json(&rt.list(&["--format", "json"]), "list --format json");
    let entries = list.as_array().cloned().unwrap_or_default();
    let entry = entries.iter().find(|e| e["id"] == id.as_str());
    let entry = entry.unwrap_or_else(|| panic!("list has no entry for {id}: {list}"));
    assert_eq!(entry["status"], "created");
    assert_eq!(entry["pid"], pid);
    assert_eq!(entry["bundle"], bundle.path().to_str().unwrap());
    remove_and_check(&rt, &id, &bundle);
}

#[test]
fn ps_json_lists_the_init_pid() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    let pids = parse_json(&rt.ps(&id, &["--format", "json"]), "ps --format json");
    let pids: Vec<i64> = pids
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .collect();
    assert!(pids.contains(&pid), "ps {pids:?} lacks init pid {pid}");
    remove_and_check(&rt, &id, &bundle);
}

/// Runs `spec <extra> --bundle <dir>` and parses the config.json it wrote.
fn generated_spec(extra: &[&str]) -> Value {
    let rt = Runtime::new();
    let dir = TempDir::new("spec");
    let mut args = vec!["spec"];
    args.extend_from_slice(extra);
    args.extend(["--bundle", dir.path().to_str().unwrap()]);
    assert_ok(&rt.cmd(&args), "spec");
    let text = fs::read_to_string(dir.path().join("config.json")).expect("spec wrote config.json");
    serde_json::from_str(&text).expect("config.json is JSON")
}

fn namespace_types(config: &Value) -> Vec<String> {
    let list = config["linux"]["namespaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    list.iter()
        .filter_map(|ns| ns["type"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn spec_writes_a_runnable_default_config() {
    skip_unless_root!();
    let config = generated_spec(&[]);
    assert!(
        config["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{config}"
    );
    assert_eq!(config["root"]["path"], "rootfs");
    assert!(
        config["process"]["args"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    let types = namespace_types(&config);
    for ns in ["pid", "mount", "ipc", "uts", "network"] {
        assert!(
            types.iter().any(|t| t == ns),
            "default spec lacks a {ns} namespace: {types:?}"
        );
    }
}

#[test]
fn spec_rootless_adds_user_namespace_with_mappings() {
    skip_unless_root!();
    let config = generated_spec(&["--rootless"]);
    assert!(
        namespace_types(&config).iter().any(|t| t == "user"),
        "no user namespace"
    );
    for key in ["uidMappings", "gidMappings"] {
        let maps = config["linux"][key].as_array().cloned().unwrap_or_default();
        assert!(!maps.is_empty(), "rootless spec has no {key}");
        assert!(
            maps.iter().all(|m| m["size"].as_u64().unwrap_or(0) > 0),
            "{key}: {maps:?}"
        );
    }
}

#[test]
fn features_describes_versions_hooks_mounts_and_namespaces() {
    skip_unless_root!();
    let rt = Runtime::new();
    let features = parse_json(&rt.cmd(&["features"]), "features");
    for key in ["ociVersionMin", "ociVersionMax"] {
        assert!(
            features[key].as_str().is_some_and(|v| v.starts_with("1.")),
            "{key}: {features}"
        );
    }
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let hooks = strings(&features["hooks"]);
    assert!(
        hooks.iter().any(|h| h == "createRuntime"),
        "hooks: {hooks:?}"
    );
    assert!(
        strings(&features["mountOptions"])
            .iter()
            .any(|o| o == "bind"),
        "mountOptions"
    );
    let namespaces = strings(&features["linux"]["namespaces"]);
    for ns in ["pid", "network", "mount", "ipc", "uts", "user", "cgroup"] {
        assert!(
            namespaces.iter().any(|n| n == ns),
            "features lacks namespace {ns}"
        );
    }
}

/// Expected to fail on runc (five lines, spec 1.0.2-dev).
#[test]
fn version_prints_name_commit_and_spec_lines() {
    skip_unless_root!();
    let rt = Runtime::new();
    let out = rt.cmd(&["--version"]);
    assert_ok(&out, "--version");
    let text = stdout_text(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "expected three lines:\n{text}");
    let first: Vec<&str> = lines[0].split_whitespace().collect();
    assert!(
        first.len() == 3 && first[1] == "version",
        "`<name> version X`: {}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("commit: "),
        "commit line: {}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("spec: 1.2."),
        "spec line: {}",
        lines[2]
    );
}

#[test]
fn root_flag_keeps_state_under_that_directory() {
    skip_unless_root!();
    let rt = Runtime::new();
    let other = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    assert_ok(&rt.create(&bundle, &id, &[]), "create");
    assert!(
        !state_entries(&id, &rt.root()).is_empty(),
        "no state for {id} under --root"
    );
    assert!(
        other.try_state(&id).is_none(),
        "a different --root sees the container"
    );
    remove_and_check(&rt, &id, &bundle);
}

#[test]
fn pid_file_holds_the_init_pid() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    let pid_file = bundle.path().join("init.pid");
    assert_ok(
        &rt.create(&bundle, &id, &["--pid-file", pid_file.to_str().unwrap()]),
        "create",
    );
    let written = fs::read_to_string(&pid_file).expect("pid file written");
    assert_eq!(
        written.trim().parse::<i64>().ok(),
        rt.state(&id)["pid"].as_i64()
    );
    remove_and_check(&rt, &id, &bundle);
}

#[test]
fn json_log_records_a_failing_command() {
    skip_unless_root!();
    let rt = Runtime::new();
    let dir = TempDir::new("log");
    let log = dir.path().join("log.json");
    let args = [
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "delete",
        "ct-no-such",
    ];
    let out = rt.cmd(&args);
    assert!(
        !out.status.success(),
        "deleting a missing container succeeded"
    );
    let text = fs::read_to_string(&log).expect("log file written");
    let records: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!records.is_empty(), "no JSON records in log:\n{text}");
    let error = records.iter().find(|r| r["level"] == "error");
    let error = error.unwrap_or_else(|| panic!("no level=error record:\n{text}"));
    assert!(
        error["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "record lacks msg: {error}"
    );
}

#[test]
fn debug_flag_is_accepted() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["/bin/true"]);
    let id = unique_id();
    rt.track(&id);
    let args = [
        "--debug",
        "run",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ];
    assert_exit_code(&rt.cmd(&args), 0, "--debug run");
    rt.assert_no_leftovers(&id, &bundle);
}

#[test]
fn systemd_cgroup_path_without_systemd_fails_clearly() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = pausing_bundle();
    bundle.set("/linux/cgroupsPath", "system.slice:corral:abc".into());
    let id = unique_id();
    rt.track(&id);
    let args = [
        "--systemd-cgroup",
        "create",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ];
    let out = rt.cmd(&args);
    assert_fails_with(&out, &["systemd"]);
    rt.assert_no_leftovers(&id, &bundle);
}

/// `run <flag>` of the probe succeeds and the probe reports.
fn run_report_with_flag(flag: &str) {
    let rt = Runtime::new();
    let bundle = probe_bundle(&["report"]);
    let id = unique_id();
    let out = rt.run(&bundle, &id, &[flag]);
    assert_ok(&out, &format!("run {flag}"));
    assert!(Report::parse(&out).int("pid") > 0);
    rt.assert_no_leftovers(&id, &bundle);
}

#[test]
fn no_pivot_flag_still_runs_the_container() {
    skip_unless_root!();
    run_report_with_flag("--no-pivot");
}

#[test]
fn no_new_keyring_flag_still_runs_the_container() {
    skip_unless_root!();
    run_report_with_flag("--no-new-keyring");
}

/// Runs the probe's report with `files` placed at fds 3, 4, ... of the
/// runtime and `extra` run flags; returns the container's fd list.
fn report_fds(files: &[File], extra: &[&str]) -> Report {
    let rt = Runtime::new();
    let bundle = probe_bundle(&["report"]);
    let id = unique_id();
    rt.track(&id);
    let mut args = vec!["run", "--bundle", bundle.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(&id);
    let mut cmd = rt.command(&args);
    let raw: Vec<i32> = files.iter().map(AsRawFd::as_raw_fd).collect();
    // SAFETY: the closure only calls fcntl and dup2, which are
    // async-signal-safe, and allocates nothing.
    unsafe { cmd.pre_exec(move || place_fds_from_3(&raw)) };
    let out = rt.output_of(cmd);
    assert_ok(&out, "run (probe report)");
    rt.assert_no_leftovers(&id, &bundle);
    Report::parse(&out)
}

/// In the forked child: dup `fds` onto 3, 4, ... without close-on-exec.
/// Copies go above 100 first so a source fd is never overwritten early.
fn place_fds_from_3(fds: &[i32]) -> std::io::Result<()> {
    let mut high = [0i32; 8];
    for (slot, fd) in high.iter_mut().zip(fds) {
        // SAFETY: F_DUPFD_CLOEXEC duplicates an fd we own; the copy closes at exec.
        *slot = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 100) };
        if *slot < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    for (i, fd) in high.iter().take(fds.len()).enumerate() {
        // SAFETY: dup2 onto a small fd number of the child; the new fd has
        // close-on-exec cleared, which is what passes it to the runtime.
        if unsafe { libc::dup2(*fd, 3 + i as i32) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn two_open_files(dir: &TempDir) -> Vec<File> {
    ["first.txt", "second.txt"]
        .iter()
        .map(|name| {
            let path = dir.path().join(name);
            fs::write(&path, name).expect("write fd file");
            File::open(&path).expect("open fd file")
        })
        .collect()
}

#[test]
fn preserve_fds_passes_exactly_the_extra_fds() {
    skip_unless_root!();
    let dir = TempDir::new("fds");
    let report = report_fds(&two_open_files(&dir), &["--preserve-fds", "2"]);
    assert_eq!(report.fds(), vec![0, 1, 2, 3, 4]);
    assert!(
        report
            .fd_target(3)
            .is_some_and(|t| t.ends_with("first.txt")),
        "fd 3: {:?}",
        report.fd_target(3)
    );
    assert!(
        report
            .fd_target(4)
            .is_some_and(|t| t.ends_with("second.txt")),
        "fd 4: {:?}",
        report.fd_target(4)
    );
}

#[test]
fn without_preserve_fds_container_sees_only_stdio() {
    skip_unless_root!();
    let dir = TempDir::new("fds");
    let report = report_fds(&two_open_files(&dir), &[]);
    assert_eq!(
        report.fds(),
        vec![0, 1, 2],
        "fd targets: {}",
        report.get("fd_targets")
    );
}

#[test]
fn stderr_of_a_successful_run_is_empty() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["/bin/true"]);
    let out = rt.run(&bundle, &unique_id(), &[]);
    assert_ok(&out, "run /bin/true");
    assert!(
        stderr_text(&out).trim().is_empty(),
        "stderr: {}",
        stderr_text(&out)
    );
}
