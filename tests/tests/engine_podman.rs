//! podman 4.3 (Debian 12) with corral as its OCI runtime: `--runtime <path>` and a
//! containers.conf `[engine.runtimes]` entry. Each test has private podman storage and a
//! cgroup parent of its own (tests/src/engines.rs), and checks from inside the container
//! (the probe) or from the container's cgroup what the engine asked for.
//!
//! Needs root and podman (scripts/setup installs it); fails without podman.

use corral_tests::cgroupfs::{cgroup_dir, pure_v2};
use corral_tests::engines::*;
use corral_tests::*;
use serde_json::Value;
use std::fs;

const PAUSE: &[&str] = &["/bin/probe", "pause", "--exit-on-term"];

fn report_of(text: &str) -> Value {
    last_json_object(text)
}

fn read(path: std::path::PathBuf) -> String {
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

#[test]
fn podman_run_attached_runs_the_process_under_corral() {
    require_podman!();
    let pm = Podman::new();
    let rootfs = rootfs();
    let name = unique_id();
    let out = pm.run(&name, &rootfs, &[], &["/bin/probe", "report"]);
    assert!(
        out.status.success(),
        "podman run failed\n{}",
        describe(&out)
    );
    let report = report_of(&stdout_of(&out));
    assert_eq!(report["pid"], 1, "the process is its pid namespace's init");
    assert_eq!(report["args"], serde_json::json!(["/bin/probe", "report"]));
    // --ulimit reached the process.
    assert_eq!(
        report["rlimits"]["RLIMIT_NOFILE"],
        serde_json::json!([1024, 1024])
    );
    assert_eq!(
        report["rlimits"]["RLIMIT_NPROC"],
        serde_json::json!([1024, 1024])
    );
    // podman's hostname (the short id) and its /etc/hosts bind mount are in place.
    let id = pm.id(&name);
    assert_eq!(
        report["hostname"],
        id[..12],
        "hostname is the short container id"
    );
    let mounts = json_strings(&report["mountinfo"]);
    assert!(
        mounts
            .iter()
            .any(|m| m.split(' ').nth(4) == Some("/etc/hosts")),
        "no /etc/hosts mount inside: {mounts:?}"
    );
    assert_eq!(
        pm.inspect(&name, "{{.OCIRuntime}}"),
        corral_bin().display().to_string()
    );
    assert_eq!(pm.inspect(&name, "{{.State.ExitCode}}"), "0");

    // The exit status of the process is podman run's.
    let name2 = unique_id();
    let out = pm.run(&name2, &rootfs, &[], &["/bin/probe", "exit", "7"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "podman run exit status\n{}",
        describe(&out)
    );
    let id2 = pm.id(&name2);
    pm.ok(&["rm", &name, &name2]);
    pm.assert_gone(&id, &rootfs);
    pm.assert_gone(&id2, &rootfs);
}

#[test]
fn podman_run_detached_ps_inspect_logs_stop_rm() {
    require_podman!();
    let pm = Podman::new();
    let rootfs = rootfs();
    let name = unique_id();
    let script = "echo to-stdout; echo to-stderr >&2; exec /bin/probe pause --exit-on-term";
    let pid = pm.run_detached(&name, &rootfs, &[], &["/bin/sh", "-c", script]);
    let id = pm.id(&name);

    // The pid podman reports is the container's process, in our cgroup parent.
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).expect("read cmdline");
    assert_eq!(
        String::from_utf8_lossy(&cmdline),
        "/bin/probe\0pause\0--exit-on-term\0"
    );
    let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read cgroup");
    assert!(
        cgroup.contains(&format!("{}/libpod-{id}", pm.cgroup_parent())),
        "{cgroup}"
    );
    assert_eq!(pm.inspect(&name, "{{.State.Status}}"), "running");
    assert_eq!(pm.inspect(&name, "{{.State.Running}}"), "true");

    let ps = pm.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    let line = ps
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{name} not in ps: {ps}"));
    assert!(line.contains("Up"), "ps line: {line}");

    let logs = wait_until(std::time::Duration::from_secs(5), || {
        let out = pm.cmd(&["logs", &name]);
        let all = format!(
            "{}{}",
            stdout_of(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        (all.contains("to-stdout") && all.contains("to-stderr")).then_some(all)
    });
    assert!(
        logs.is_some(),
        "podman logs lacks the output: {}",
        describe(&pm.cmd(&["logs", &name]))
    );

    // stop sends SIGTERM; the probe exits 0 on it.
    pm.ok(&["stop", "--time", "10", &name]);
    assert_eq!(pm.inspect(&name, "{{.State.Status}}"), "exited");
    assert_eq!(
        pm.inspect(&name, "{{.State.ExitCode}}"),
        "0",
        "exit code after stop"
    );
    assert!(wait_pid_gone(pid), "pid {pid} survived podman stop");

    pm.ok(&["rm", &name]);
    let all = pm.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        !all.lines().any(|l| l == name),
        "{name} still listed after rm: {all}"
    );
    pm.assert_gone(&id, &rootfs);
}

#[test]
fn podman_kill_delivers_the_signal() {
    require_podman!();
    let pm = Podman::new();
    let rootfs = rootfs();
    let name = unique_id();
    let pid = pm.run_detached(&name, &rootfs, &[], &["/bin/probe", "pause"]);
    let id = pm.id(&name);
    pm.ok(&["kill", "--signal", "KILL", &name]);
    pm.wait_status(&name, "exited");
    assert_eq!(
        pm.inspect(&name, "{{.State.ExitCode}}"),
        "137",
        "128 + SIGKILL"
    );
    assert!(wait_pid_gone(pid), "pid {pid} survived podman kill");

    // TERM reaches a process that handles it (exit 0), and rm --force of a running one works.
    let name2 = unique_id();
    let pid2 = pm.run_detached(&name2, &rootfs, &[], PAUSE);
    pm.ok(&["kill", "--signal", "TERM", &name2]);
    pm.wait_status(&name2, "exited");
    assert_eq!(pm.inspect(&name2, "{{.State.ExitCode}}"), "0");
    assert!(wait_pid_gone(pid2));
    let id2 = pm.id(&name2);

    let name3 = unique_id();
    let pid3 = pm.run_detached(&name3, &rootfs, &[], &["/bin/probe", "pause"]);
    let id3 = pm.id(&name3);
    pm.ok(&["rm", "--force", "--time", "0", &name3]);
    assert!(wait_pid_gone(pid3), "pid {pid3} survived podman rm --force");

    pm.ok(&["rm", &name, &name2]);
    for id in [id, id2, id3] {
        pm.assert_gone(&id, &rootfs);
    }
}

#[test]
fn podman_run_t_gives_the_process_a_terminal() {
    require_podman!();
    let pm = Podman::new();
    let rootfs = rootfs();
    let name = unique_id();
    let out = pm.run(&name, &rootfs, &["-t"], &["/bin/probe", "report"]);
    assert!(
        out.status.success(),
        "podman run -t failed\n{}",
        describe(&out)
    );
    let report = report_of(&stdout_of(&out));
    for fd in ["0", "1", "2"] {
        assert_eq!(
            report["isatty"][fd], true,
            "fd {fd} is not a tty: {}",
            report["isatty"]
        );
    }
    let tty = report["tty"].as_str().unwrap_or("");
    assert!(
        tty.starts_with("/dev/pts/"),
        "controlling terminal: {tty:?}"
    );
    assert_eq!(report["sid"], 1, "the process leads its session");

    // Detached with -t: the terminal output lands in podman logs.
    let name2 = unique_id();
    let script = "/bin/probe report; exec /bin/probe pause --exit-on-term";
    pm.run_detached(&name2, &rootfs, &["-t"], &["/bin/sh", "-c", script]);
    let logs = wait_until(std::time::Duration::from_secs(5), || {
        let text = pm.ok(&["logs", &name2]);
        text.contains('{').then_some(text)
    })
    .expect("no report in podman logs of a -d -t container");
    assert_eq!(report_of(&logs)["isatty"]["1"], true);
    let (id, id2) = (pm.id(&name), pm.id(&name2));
    pm.ok(&["rm", "--force", "--time", "0", &name, &name2]);
    pm.assert_gone(&id, &rootfs);
    pm.assert_gone(&id2, &rootfs);
}

#[test]
fn podman_exec_runs_a_process_in_the_container() {
    require_podman!();
    let pm = Podman::new();
    let rootfs = rootfs();
    let name = unique_id();
    let pid = pm.run_detached(&name, &rootfs, &[], PAUSE);
    let id = pm.id(&name);

    let out = pm.cmd(&[
        "exec",
        "--env",
        "FROM_EXEC=yes",
        &name,
        "/bin/probe",
        "report",
    ]);
    assert!(
        out.status.success(),
        "podman exec failed\n{}",
        describe(&out)
    );
    let report = report_of(&stdout_of(&out));
    assert_eq!(
        report["namespaces"]["pid"],
        pid_namespace_of(pid),
        "exec joined the pid namespace"
    );
    assert_ne!(report["pid"], 1, "the exec'd process is not the init");
    assert!(
        json_strings(&report["env"]).contains(&"FROM_EXEC=yes".to_string()),
        "{}",
        report["env"]
    );
    assert_eq!(
        report["rlimits"]["RLIMIT_NOFILE"],
        serde_json::json!([1024, 1024])
    );

    // Its exit status is podman exec's.
    let out = pm.cmd(&["exec", &name, "/bin/probe", "exit", "3"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "podman exec exit status\n{}",
        describe(&out)
    );

    // -t: a terminal for the exec'd process.
    let out = pm.cmd(&["exec", "-t", &name, "/bin/probe", "report"]);
    assert!(
        out.status.success(),
        "podman exec -t failed\n{}",
        describe(&out)
    );
    let report = report_of(&stdout_of(&out));
    assert_eq!(report["isatty"]["1"], true, "exec -t stdout is not a tty");

    // A detached exec keeps running next to the init.
    pm.ok(&["exec", "-d", &name, "/bin/probe", "pause"]);
    let top = wait_until(std::time::Duration::from_secs(5), || {
        let text = pm.ok(&["top", &name, "pid", "args"]);
        (text.matches("/bin/probe pause").count() >= 2).then_some(text)
    });
    assert!(top.is_some(), "detached exec not listed by podman top");

    pm.stop_remove_and_check(&name, pid, &id, &rootfs);
}

#[test]
fn podman_memory_cpus_and_pids_limits_are_in_the_container_cgroup() {
    require_podman!();
    let pm = Podman::new();
    let rootfs = rootfs();
    let name = unique_id();
    // The container reads its own cgroup files (podman mounts its cgroup at /sys/fs/cgroup).
    let inside = if pure_v2() {
        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max"
    } else {
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us \
         /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/pids/pids.max"
    };
    let script = format!("{inside}; echo limits-read; exec /bin/probe pause --exit-on-term");
    let flags = ["--memory", "64m", "--cpus", "0.5", "--pids-limit", "50"];
    let pid = pm.run_detached(&name, &rootfs, &flags, &["/bin/sh", "-c", &script]);
    let id = pm.id(&name);

    // On the host: the files of the container's own cgroup.
    let mem = cgroup_dir(pid, "memory");
    let cpu = cgroup_dir(pid, "cpu");
    let pids = cgroup_dir(pid, "pids");
    assert!(
        mem.to_string_lossy().contains(&id),
        "memory cgroup {} is not the container's",
        mem.display()
    );
    let expected: Vec<String> = if pure_v2() {
        assert_eq!(read(mem.join("memory.max")), "67108864");
        assert_eq!(read(cpu.join("cpu.max")), "50000 100000");
        assert_eq!(read(pids.join("pids.max")), "50");
        vec!["67108864".into(), "50000 100000".into(), "50".into()]
    } else {
        assert_eq!(read(mem.join("memory.limit_in_bytes")), "67108864");
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(pids.join("pids.max")), "50");
        vec![
            "67108864".into(),
            "50000".into(),
            "100000".into(),
            "50".into(),
        ]
    };
    // Inside: the process sees the same limits on its own cgroup.
    let logs = wait_until(std::time::Duration::from_secs(5), || {
        let text = pm.ok(&["logs", &name]);
        text.contains("limits-read").then_some(text)
    })
    .expect("the container did not print its limits");
    let seen: Vec<String> = logs
        .lines()
        .take_while(|l| *l != "limits-read")
        .map(str::to_string)
        .collect();
    assert_eq!(seen, expected, "limits seen inside the container");
    assert_eq!(pm.inspect(&name, "{{.HostConfig.Memory}}"), "67108864");

    pm.ok(&["stop", "--time", "10", &name]);
    pm.ok(&["rm", &name]);
    pm.assert_gone(&id, &rootfs);
}

#[test]
fn podman_pause_and_unpause_freeze_the_container() {
    require_podman!();
    let pm = Podman::new();
    let rootfs = rootfs();
    let name = unique_id();
    let pid = pm.run_detached(&name, &rootfs, &[], PAUSE);
    let id = pm.id(&name);
    let frozen = || -> String {
        if pure_v2() {
            read(cgroup_dir(pid, "").join("cgroup.freeze"))
        } else {
            read(cgroup_dir(pid, "freezer").join("freezer.state"))
        }
    };
    pm.ok(&["pause", &name]);
    assert_eq!(pm.inspect(&name, "{{.State.Status}}"), "paused");
    assert_eq!(frozen(), if pure_v2() { "1" } else { "FROZEN" });
    pm.ok(&["unpause", &name]);
    assert_eq!(pm.inspect(&name, "{{.State.Status}}"), "running");
    assert_eq!(frozen(), if pure_v2() { "0" } else { "THAWED" });
    // Thawed for real: it still answers SIGTERM.
    pm.ok(&["stop", "--time", "10", &name]);
    assert_eq!(pm.inspect(&name, "{{.State.ExitCode}}"), "0");
    assert!(wait_pid_gone(pid));
    pm.ok(&["rm", &name]);
    pm.assert_gone(&id, &rootfs);
}

#[test]
fn podman_top_and_stats_see_the_container() {
    require_podman!();
    let pm = Podman::new();
    let rootfs = rootfs();
    let name = unique_id();
    let pid = pm.run_detached(
        &name,
        &rootfs,
        &["--memory", "64m", "--pids-limit", "50"],
        PAUSE,
    );
    let id = pm.id(&name);

    let top = pm.ok(&["top", &name, "pid", "ppid", "args"]);
    let row = top
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() >= 3 && f[2..].join(" ") == "/bin/probe pause --exit-on-term")
        .unwrap_or_else(|| panic!("podman top does not list the process:\n{top}"));
    assert_eq!(
        row[0], "1",
        "pid inside the container's pid namespace:\n{top}"
    );

    let stats = pm.ok(&["stats", "--no-stream", "--format", "json", &name]);
    let stats: Value =
        serde_json::from_str(&stats).unwrap_or_else(|e| panic!("stats JSON ({e}): {stats}"));
    let entry = &stats[0];
    assert_eq!(entry["name"], name.as_str());
    assert_eq!(entry["pids"], "1", "stats: {entry}");
    let mem = entry["mem_usage"].as_str().unwrap_or("");
    assert!(mem.ends_with("/ 67.11MB"), "memory limit in stats: {mem:?}");

    pm.stop_remove_and_check(&name, pid, &id, &rootfs);
}

/// The health command runs inside the container (through `corral exec`): it fails until a
/// file appears in the container's /tmp.
#[test]
fn podman_healthcheck_runs_the_command_in_the_container() {
    require_podman!();
    let pm = Podman::new();
    let rootfs = rootfs();
    let name = unique_id();
    // No interval: podman would ask systemd for a timer, and there is no systemd here.
    let flags = [
        "--health-cmd",
        "/bin/probe read /tmp/healthy",
        "--health-interval",
        "disable",
        "--health-retries",
        "1",
    ];
    let pid = pm.run_detached(&name, &rootfs, &flags, PAUSE);
    let id = pm.id(&name);
    assert_eq!(pm.inspect(&name, "{{.State.Health.Status}}"), "starting");

    let out = pm.cmd(&["healthcheck", "run", &name]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "healthcheck before the file exists\n{}",
        describe(&out)
    );
    assert_eq!(pm.inspect(&name, "{{.State.Health.Status}}"), "unhealthy");
    // The probe ran in the container and said why: the file is not there yet.
    let log = pm.inspect(
        &name,
        "{{range .State.Health.Log}}{{.ExitCode}}:{{.Output}};{{end}}",
    );
    assert!(log.contains("1:ENOENT"), "health log: {log}");

    // The file is created in the container's rootfs, where the check looks.
    fs::write(rootfs.rootfs().join("tmp/healthy"), "").expect("create /tmp/healthy");
    let out = pm.cmd(&["healthcheck", "run", &name]);
    assert!(
        out.status.success(),
        "healthcheck after the file exists\n{}",
        describe(&out)
    );
    assert_eq!(pm.inspect(&name, "{{.State.Health.Status}}"), "healthy");
    let log = pm.inspect(
        &name,
        "{{range .State.Health.Log}}{{.ExitCode}}:{{.Output}};{{end}}",
    );
    assert!(log.contains("0:"), "health log: {log}");

    pm.stop_remove_and_check(&name, pid, &id, &rootfs);
}

/// containers.conf `[engine.runtimes] corral = [path]` with corral in runtime_supports_json,
/// then `podman --runtime corral`: the way docs/engines.md sets it up.
#[test]
fn podman_finds_corral_through_containers_conf() {
    require_podman!();
    let pm = Podman::with_conf_runtime();
    let info = pm.ok(&[
        "info",
        "--format",
        "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}",
    ]);
    assert_eq!(info.trim(), format!("corral {}", corral_bin().display()));
    let rootfs = rootfs();
    let name = unique_id();
    let out = pm.run(&name, &rootfs, &[], &["/bin/probe", "report"]);
    assert!(
        out.status.success(),
        "podman run failed\n{}",
        describe(&out)
    );
    assert_eq!(report_of(&stdout_of(&out))["pid"], 1);
    assert_eq!(pm.inspect(&name, "{{.OCIRuntime}}"), "corral");
    let id = pm.id(&name);
    pm.ok(&["rm", &name]);
    pm.assert_gone(&id, &rootfs);
}

/// podman turns the runtime's create error into its exit status by the message: 127 for a
/// missing program ("no such file or directory" / "executable file not found in"), 126 for
/// one that cannot be executed ("permission denied"), as with runc and crun. After the failed
/// create it runs `delete --force`, which must succeed quietly (runc's `delete --force` of an
/// unknown container exits 0).
#[test]
fn podman_reports_126_and_127_for_unrunnable_commands_without_noise() {
    require_podman!();
    let pm = Podman::with_conf_runtime();
    let rootfs = rootfs();
    for (command, code) in [("/no/such/program", 127), ("/etc/passwd", 126)] {
        let name = unique_id();
        let out = pm.run(&name, &rootfs, &["--rm"], &[command]);
        assert_eq!(
            out.status.code(),
            Some(code),
            "podman run {command}\n{}",
            describe(&out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("does not exist") && !stderr.contains("level=error"),
            "podman's cleanup after the failed create complained (delete --force of an \
             unknown container must succeed):\n{stderr}"
        );
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one error line expected:\n{stderr}");
        assert!(
            lines[0].contains(command),
            "the error names the program: {}",
            lines[0]
        );
    }
    let left = pm.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(left.trim().is_empty(), "containers left after --rm: {left}");
}
