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

/// A container that sleeps until it is killed.
fn pausing_bundle() -> Bundle {
    Bundle::with_probe(&["pause"])
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
    let bundle = Bundle::with_probe(&["exit", "7"]);
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
    let mut bundle = Bundle::with_probe(&["signal-self", "KILL"]);
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
    assert_eq!(state["bundle"], bundle.path_str());
    let pid = state["pid"].as_i64().unwrap_or(0);
    assert!(
        pid > 0 && pid_alive(pid),
        "created container has a live init pid: {state}"
    );
    rt.delete_force_and_check(&id, &bundle);
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
    rt.delete_force_and_check(&id, &bundle);
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
    let bundle = Bundle::with_probe(&["pause", "--exit-on-term"]);
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
    let bundle = Bundle::with_probe(&["exit", "0"]);
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
    rt.delete_force_and_check(&id, &bundle);
}

/// Polls `ps` until the container has `count` processes; returns their pids.
fn wait_for_process_count(rt: &Runtime, id: &str, count: usize) -> Vec<i64> {
    for _ in 0..250 {
        let pids = rt.ps_pids(id);
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
    rt.delete_force_and_check(&id, &bundle);
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
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn list_json_has_id_status_pid_and_bundle() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    assert_ok(&rt.create(&bundle, &id, &[]), "create");
    let pid = rt.state(&id)["pid"].clone();
    let list = stdout_json(&rt.list(&["--format", "json"]), "list --format json");
    let entries = list.as_array().cloned().unwrap_or_default();
    let entry = entries.iter().find(|e| e["id"] == id.as_str());
    let entry = entry.unwrap_or_else(|| panic!("list has no entry for {id}: {list}"));
    assert_eq!(entry["status"], "created");
    assert_eq!(entry["pid"], pid);
    assert_eq!(entry["bundle"], bundle.path_str());
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn ps_json_lists_the_init_pid() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    let pids = rt.ps_pids(&id);
    assert!(pids.contains(&pid), "ps {pids:?} lacks init pid {pid}");
    rt.delete_force_and_check(&id, &bundle);
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
        .into_iter()
        .flatten();
    list.map(|ns| ns["type"].as_str().unwrap_or("").to_string())
        .collect()
}

fn assert_has_all(list: &[String], wanted: &[&str], what: &str) {
    for item in wanted {
        assert!(
            list.iter().any(|x| x == item),
            "{what} lacks {item}: {list:?}"
        );
    }
}

#[test]
fn spec_writes_a_runnable_default_config() {
    skip_unless_root!();
    let config = generated_spec(&[]);
    let version = config["ociVersion"].as_str().unwrap_or("");
    assert!(version.starts_with("1."), "ociVersion {version:?}");
    assert_eq!(config["root"]["path"], "rootfs");
    assert!(
        !json_strings(&config["process"]["args"]).is_empty(),
        "no args"
    );
    let types = namespace_types(&config);
    assert_has_all(
        &types,
        &["pid", "mount", "ipc", "uts", "network"],
        "namespaces",
    );
}

#[test]
fn spec_rootless_adds_user_namespace_with_mappings() {
    skip_unless_root!();
    let config = generated_spec(&["--rootless"]);
    assert_has_all(&namespace_types(&config), &["user"], "namespaces");
    for key in ["uidMappings", "gidMappings"] {
        let maps = config["linux"][key].as_array().cloned().unwrap_or_default();
        assert!(!maps.is_empty(), "rootless spec has no {key}");
        let sized = maps.iter().all(|m| m["size"].as_u64().unwrap_or(0) > 0);
        assert!(sized, "{key} has an empty range: {maps:?}");
    }
}

#[test]
fn features_describes_versions_hooks_mounts_and_namespaces() {
    skip_unless_root!();
    let rt = Runtime::new();
    let features = stdout_json(&rt.cmd(&["features"]), "features");
    for key in ["ociVersionMin", "ociVersionMax"] {
        let version = features[key].as_str().unwrap_or("");
        assert!(version.starts_with("1."), "{key} {version:?}");
    }
    let hooks = json_strings(&features["hooks"]);
    assert_has_all(&hooks, &["prestart", "createRuntime", "poststop"], "hooks");
    assert_has_all(
        &json_strings(&features["mountOptions"]),
        &["bind", "ro"],
        "mountOptions",
    );
    let namespaces = json_strings(&features["linux"]["namespaces"]);
    let all = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup"];
    assert_has_all(&namespaces, &all, "linux.namespaces");
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
        "not `<name> version X`:\n{text}"
    );
    assert!(lines[1].starts_with("commit: "), "no commit line:\n{text}");
    assert!(
        lines[2].starts_with("spec: 1.2."),
        "no `spec: 1.2.x` line:\n{text}"
    );
}

#[test]
fn root_flag_keeps_state_under_that_directory() {
    skip_unless_root!();
    let (rt, other) = (Runtime::new(), Runtime::new());
    let bundle = pausing_bundle();
    let id = unique_id();
    assert_ok(&rt.create(&bundle, &id, &[]), "create");
    assert!(
        !state_entries(&id, &rt.root()).is_empty(),
        "no state under --root"
    );
    assert!(
        other.try_state(&id).is_none(),
        "another --root sees the container"
    );
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn pid_file_holds_the_init_pid() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = pausing_bundle();
    let id = unique_id();
    let pid_file = bundle.path().join("init.pid");
    let out = rt.create(&bundle, &id, &["--pid-file", pid_file.to_str().unwrap()]);
    assert_ok(&out, "create --pid-file");
    let written = fs::read_to_string(&pid_file).expect("pid file written");
    assert_eq!(
        written.trim().parse::<i64>().ok(),
        rt.state(&id)["pid"].as_i64()
    );
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn json_log_records_a_failing_command() {
    skip_unless_root!();
    let rt = Runtime::new();
    let dir = TempDir::new("log");
    let log = dir.path().join("log.json");
    let log_flags = ["--log", log.to_str().unwrap(), "--log-format", "json"];
    // A command that fails, and a usage error that stops argument parsing itself.
    for args in [&["delete", "ct-no-such"][..], &["create", "--no-such-flag", "x"][..]] {
        let out = rt.cmd(&[&log_flags[..], args].concat());
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(stderr_text(&out).trim().lines().count(), 1, "one error line: {}", stderr_text(&out));
    }
    let text = fs::read_to_string(&log).expect("log file written");
    let records: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let errors: Vec<&str> = records.iter().filter(|r| r["level"] == "error").filter_map(|r| r["msg"].as_str()).collect();
    assert!(errors.len() == 2 && errors[1].contains("--no-such-flag"), "two error records, the second naming the flag:\n{text}");
}

#[test]
fn debug_flag_is_accepted() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["/bin/true"]);
    let id = unique_id();
    let out = rt.with_global(&["--debug"], "run", &bundle, &id, &[]);
    assert_exit_code(&out, 0, "--debug run");
    rt.assert_no_leftovers(&id, &bundle);
}

/// Corral has no systemd cgroup driver here (runc: systemd not running).
#[test]
fn systemd_cgroup_path_without_systemd_fails_clearly() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = pausing_bundle();
    bundle.set("/linux/cgroupsPath", "system.slice:corral:abc".into());
    let id = unique_id();
    let out = rt.with_global(&["--systemd-cgroup"], "create", &bundle, &id, &[]);
    assert_fails_with(&out, &["systemd"]);
    rt.assert_no_leftovers(&id, &bundle);
}

/// `run <flag>` of the probe succeeds and the probe reports.
fn run_report_with_flag(flag: &str) {
    let rt = Runtime::new();
    let bundle = Bundle::with_probe(&["report"]);
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

/// Runs the probe's report with `files` at fds 3, 4, ... of the runtime and
/// `extra` run flags.
fn report_with_fds(files: &[File], extra: &[&str]) -> Report {
    report_with_fds_env(files, extra, None)
}

/// As `report_with_fds`, optionally telling the runtime (through a shell that
/// execs it, so $$ is the runtime's pid) that `listen_fds` of the fds are
/// socket-activation fds.
fn report_with_fds_env(files: &[File], extra: &[&str], listen_fds: Option<u32>) -> Report {
    let rt = Runtime::new();
    let bundle = Bundle::with_probe(&["report"]);
    let id = unique_id();
    rt.track(&id);
    let mut args = vec!["run", "--bundle", bundle.path_str()];
    args.extend_from_slice(extra);
    args.push(&id);
    let mut cmd = rt.command(&args);
    if let Some(n) = listen_fds {
        let runtime = cmd;
        cmd = std::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(format!("LISTEN_PID=$$ LISTEN_FDS={n} exec \"$0\" \"$@\""))
            .arg(runtime.get_program())
            .args(runtime.get_args());
    }
    let raw: Vec<i32> = files.iter().map(AsRawFd::as_raw_fd).collect();
    // SAFETY: the closure only calls fcntl and dup2 (async-signal-safe) and
    // does not allocate.
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
        // SAFETY: duplicates an fd we own; the copy closes at exec.
        *slot = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 100) };
        if *slot < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    for (target, fd) in (3..).zip(high.iter().take(fds.len())) {
        // SAFETY: dup2 onto a small fd of the child; the new fd has
        // close-on-exec cleared, which is what passes it to the runtime.
        if unsafe { libc::dup2(*fd, target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn two_open_files(dir: &TempDir) -> Vec<File> {
    let open = |name: &str| {
        let path = dir.path().join(name);
        fs::write(&path, name).expect("write fd file");
        File::open(&path).expect("open fd file")
    };
    vec![open("first.txt"), open("second.txt")]
}

#[test]
fn preserve_fds_passes_exactly_the_extra_fds() {
    skip_unless_root!();
    let dir = TempDir::new("fds");
    let report = report_with_fds(&two_open_files(&dir), &["--preserve-fds", "2"]);
    assert_eq!(report.fds(), vec![0, 1, 2, 3, 4]);
    let (fd3, fd4) = (report.fd_target(3).unwrap(), report.fd_target(4).unwrap());
    assert!(
        fd3.ends_with("first.txt") && fd4.ends_with("second.txt"),
        "{fd3} {fd4}"
    );
}

#[test]
fn listen_fds_are_passed_with_matching_env() {
    skip_unless_root!();
    let dir = TempDir::new("fds");
    let report = report_with_fds_env(&two_open_files(&dir), &["--preserve-fds", "1"], Some(1));
    assert_eq!(report.fds(), vec![0, 1, 2, 3, 4]);
    assert_eq!(report.env_var("LISTEN_FDS").as_deref(), Some("1"));
    assert_eq!(report.env_var("LISTEN_PID").as_deref(), Some("1"));
}

#[test]
fn without_preserve_fds_container_sees_only_stdio() {
    skip_unless_root!();
    let dir = TempDir::new("fds");
    let report = report_with_fds(&two_open_files(&dir), &[]);
    let targets = report.get("fd_targets");
    assert_eq!(report.fds(), vec![0, 1, 2], "fd targets: {targets}");
}

/// `delete --force` while a `create` is still under way (here in a slow createRuntime
/// hook) waits for the create to finish, then deletes the whole container: it must not
/// take the half-made state directory for the remains of a dead create.
#[test]
fn delete_force_during_create_waits_for_it() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["pause"]);
    bundle.add_hook("createRuntime", std::path::Path::new("/bin/sleep"), &["sleep", "1"], Some(10));
    let id = unique_id();
    let (created, deleted) = std::thread::scope(|scope| {
        let create = scope.spawn(|| rt.create(&bundle, &id, &[]));
        let claimed = rt.root().join(&id);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !claimed.exists() {
            assert!(std::time::Instant::now() < deadline, "create never claimed its directory");
            std::thread::sleep(Duration::from_millis(5));
        }
        let deleted = rt.delete(&id, true);
        (create.join().expect("create thread"), deleted)
    });
    assert_ok(&created, "create, with a delete --force arriving meanwhile");
    assert_ok(&deleted, "delete --force");
    rt.assert_no_leftovers(&id, &bundle);
}
