//! corrald's control API and corralctl with real containers: status, inspect and
//! metrics; stop, start and restart; apply; logs; events (a restart, an OOM kill); the
//! socket's permissions. Every corrald has its own state dir, socket and services.

use corral_tests::supervisor::{Corrald, Follower, lines, path_str, unique_service};
use corral_tests::*;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// A `[services.NAME]` block running `script` with /bin/sh in the test rootfs, with the
/// daemon's out dir bind-mounted at /out, stopped by SIGKILL (fast), plus `extra` lines.
fn service(corrald: &Corrald, bundle: &Bundle, name: &str, script: &str, extra: &str) -> String {
    let extra = format!("stop = {{ signal = \"SIGKILL\" }}\n{extra}");
    corral_tests::supervisor::service(corrald, bundle, name, script, &extra)
}

/// Records its start in /out/<file>, then waits.
fn waiter(file: &str) -> String {
    format!("echo start >> /out/{file}; sleep 100000 & wait")
}

fn all_ids(services: &[&str]) -> Vec<String> {
    services.iter().flat_map(|s| (1..=30).map(move |n| format!("{s}-{n}"))).collect()
}

fn stop_and_check(corrald: &mut Corrald, services: &[&str]) {
    let status = corrald.terminate(Duration::from_secs(30));
    assert!(status.success(), "corrald exited with {status}\n{}", corrald.stderr());
    assert!(!corrald.socket().exists(), "corrald removed its socket");
    corrald.assert_nothing_left(&all_ids(services));
}

/// Waits until `service` is in `state` (per inspect); returns the inspect JSON.
fn wait_state(corrald: &Corrald, service: &str, state: &str) -> Value {
    corrald.wait_for(&format!("{service} {state}"), WAIT, || {
        let value = corrald.inspect(service);
        (value["state"] == state).then_some(value)
    })
}

/// The init pid of `service`'s running container.
fn init_pid(corrald: &Corrald, service: &str) -> i64 {
    let value = wait_state(corrald, service, "running");
    value["container"]["init_pid"].as_i64().expect("a running container has an init pid")
}

/// The value of a metric line `NAME{service="SERVICE"} VALUE`.
fn metric(text: &str, name: &str, service: &str) -> Option<f64> {
    let prefix = format!("{name}{{service=\"{service}\"}} ");
    text.lines().find_map(|line| line.strip_prefix(&prefix)?.parse().ok())
}

#[test]
fn status_inspect_and_metrics_show_a_running_service_on_a_root_only_socket() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let name = unique_service("api-status");
    let mut corrald = Corrald::new(&[]);
    // Some CPU work first, so the cgroup has CPU time to show.
    let script = "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; echo start >> /out/s; sleep 100000 & wait";
    corrald.write_manifest(&service(&corrald, &bundle, &name, script, ""));
    corrald.spawn();
    corrald.wait_for_api();

    let meta = fs::metadata(corrald.socket()).expect("the socket exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "the socket is root-only");
    assert_eq!(meta.uid(), 0, "owned by root");

    corrald.wait_for("the service's work done", WAIT, || corrald.out("s").contains("start").then_some(()));
    let value = wait_state(&corrald, &name, "running");
    let memory = value["memory_bytes"].as_u64().expect("memory from the cgroup");
    assert!(memory > 0 && memory < 1 << 30, "plausible memory: {memory}");
    let cpu = value["cpu_seconds"].as_f64().expect("cpu from the cgroup");
    assert!(cpu > 0.0 && cpu < 60.0, "plausible cpu: {cpu}");
    assert_eq!((value["health"].as_str(), value["restarts"].as_u64()), (Some("none"), Some(0)));
    assert!(value["uptime_seconds"].as_f64().is_some(), "{value}");
    assert_eq!(value["definition"]["process"]["args"][0], "/bin/sh");
    assert!(value["container"]["id"].as_str().is_some_and(|id| id.starts_with(&name)));

    let table = corrald.ctl_ok(&["status"]);
    let row = lines(&table).into_iter().find(|line| line.starts_with(&name)).expect("a row for the service");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!((cells[1], cells[2], cells[3]), ("running", "none", "0"), "{table}");
    assert!(cells[5].ends_with("iB") && cells[6].ends_with('s'), "memory and cpu shown: {table}");

    let metrics = corrald.ctl_ok(&["metrics"]);
    assert_eq!(metric(&metrics, "corral_service_up", &name), Some(1.0), "{metrics}");
    assert!(metric(&metrics, "corral_service_memory_bytes", &name).is_some_and(|m| m > 0.0), "{metrics}");
    assert!(metric(&metrics, "corral_service_cpu_seconds_total", &name).is_some_and(|c| c > 0.0), "{metrics}");
    assert_eq!(metric(&metrics, "corral_service_restarts_total", &name), Some(0.0));
    assert_eq!(metric(&metrics, "corral_service_oom_kills_total", &name), Some(0.0));

    let missing = corrald.ctl(&["inspect", "no-such-service"]);
    assert!(!missing.status.success());
    assert_eq!(String::from_utf8_lossy(&missing.stderr).trim(), "corralctl: no such service: no-such-service");
    assert_eq!(corrald.http("GET", "/v2/services", "").0, 404);
    assert_eq!(corrald.http("DELETE", "/v1/services", "").0, 405);
    stop_and_check(&mut corrald, &[&name]);
}

#[test]
fn stop_holds_a_service_across_a_corrald_restart_and_start_and_restart_bring_it_back() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let name = unique_service("api-hold");
    let mut corrald = Corrald::new(&[]);
    corrald.write_manifest(&service(&corrald, &bundle, &name, &waiter("hold"), "restart = \"unless-stopped\""));
    corrald.spawn();
    corrald.wait_for_api();
    let first = init_pid(&corrald, &name);

    // Each answer comes once the change has happened: no waiting after it.
    assert_eq!(corrald.ctl_ok(&["stop", &name]).trim(), format!("{name}: stopped"));
    assert_eq!(corrald.state()["services"][&name]["held"], true, "the hold is saved");
    assert_eq!(corrald.inspect(&name)["state"], "stopped");
    assert!(!pid_alive(first), "the container is gone when stop returns");

    corrald.sigkill();
    corrald.spawn();
    corrald.wait_for_api();
    std::thread::sleep(Duration::from_secs(1)); // time enough to (wrongly) start it
    assert_eq!(corrald.inspect(&name)["state"], "stopped", "still held after corrald's restart");
    assert_eq!(lines(&corrald.out("hold")).len(), 1, "not started again");

    assert_eq!(corrald.ctl_ok(&["start", &name]).trim(), format!("{name}: running"));
    let second = corrald.inspect(&name)["container"]["init_pid"].as_i64().expect("running when start returns");
    assert_eq!(corrald.ctl_ok(&["start", &name]).trim(), format!("{name}: running"), "a running service: at once");
    assert_eq!(corrald.ctl_ok(&["restart", &name]).trim(), format!("{name}: running"));
    let value = corrald.inspect(&name);
    let third = value["container"]["init_pid"].as_i64().expect("running when restart returns");
    assert_eq!(value["state"], "running");
    assert!(third != second && !pid_alive(second) && pid_alive(third));
    assert_eq!(lines(&corrald.out("hold")).len(), 3, "started three times in all");
    assert_eq!(corrald.state()["services"][&name]["held"], false);
    stop_and_check(&mut corrald, &[&name]);
}

/// A failed start and a stop slower than the client's timeout are reported as such,
/// with a failure exit; the request stays in effect.
#[test]
fn start_reports_a_failed_start_and_stop_a_timeout() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let (broken, slow) = (unique_service("api-broken"), unique_service("api-slow"));
    let mut corrald = Corrald::new(&[]);
    let rootfs = path_str(&bundle.rootfs());
    let broken_block = format!(
        "[services.{broken}]\nrootfs = \"{rootfs}\"\nprocess = {{ args = [\"/no/such/program\"] }}\nrestart = \"never\"\n"
    );
    // sh as the container's init ignores SIGTERM: the stop waits out the grace period.
    let slow_block = corral_tests::supervisor::service(&corrald, &bundle, &slow, &waiter("slow"), "stop = { grace = \"4s\" }");
    let oneshot = unique_service("api-oneshot");
    let oneshot_block = service(&corrald, &bundle, &oneshot, "echo ran >> /out/oneshot", "restart = \"never\"");
    corrald.write_manifest(&(broken_block + &slow_block + &oneshot_block));
    corrald.spawn();
    corrald.wait_for_api();
    let slow_pid = init_pid(&corrald, &slow);
    wait_state(&corrald, &broken, "exited");

    let asked = std::time::Instant::now();
    let failed = corrald.ctl(&["start", &broken]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "a failed start fails");
    // Answered (and the connection closed) at once, not when the 60 s wait runs out.
    assert!(asked.elapsed() < Duration::from_secs(20), "answered after {:?}", asked.elapsed());
    let want = format!("corralctl: {broken} did not start (start failed: process.args[0] \"/no/such/program\": no such file");
    assert!(stderr.starts_with(&want) && stderr.trim_end().ends_with("check the rootfs)"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // A short job that ends at once was started all the same: a success.
    wait_state(&corrald, &oneshot, "exited");
    let ran = corrald.ctl_ok(&["start", &oneshot]);
    assert!(ran.starts_with(&format!("{oneshot}: ")), "{ran}");
    corrald.wait_for("the job's second run", WAIT, || (lines(&corrald.out("oneshot")).len() == 2).then_some(()));

    assert_eq!(corrald.http("POST", &format!("/v1/services/{slow}/stop?timeout=86401"), "").0, 400, "a day at most");

    let started = std::time::Instant::now();
    let late = corrald.ctl(&["stop", "--timeout", "1", &slow]);
    let stderr = String::from_utf8_lossy(&late.stderr);
    assert!(!late.status.success());
    assert_eq!(stderr.trim(), format!("corralctl: {slow} is still stopping; the stop goes on, see `corralctl status`"));
    assert!(started.elapsed() < Duration::from_secs(3), "answered at the timeout: {:?}", started.elapsed());
    assert!(pid_alive(slow_pid), "SIGKILL waits for the grace period");
    assert_eq!(corrald.ctl_ok(&["stop", &slow]).trim(), format!("{slow}: stopped"), "a second stop waits it out");
    assert!(!pid_alive(slow_pid));

    assert_eq!(corrald.ctl_ok(&["start", "--no-wait", &slow]).trim(), format!("{slow}: start requested"));
    init_pid(&corrald, &slow);
    assert_eq!(corrald.http("POST", &format!("/v1/services/{slow}/stop?timeout=soon"), "").0, 400);
    stop_and_check(&mut corrald, &[&broken, &slow, &oneshot]);
}

#[test]
fn apply_adds_removes_and_changes_services_touching_nothing_else() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let [keep, gone, change, added] = ["api-keep", "api-gone", "api-change", "api-added"].map(unique_service);
    let mut corrald = Corrald::new(&[]);
    let block = |corrald: &Corrald, name: &str, file: &str| service(corrald, &bundle, name, &waiter(file), "");
    corrald.write_manifest(&(block(&corrald, &keep, "keep") + &block(&corrald, &gone, "gone") + &block(&corrald, &change, "change")));
    corrald.spawn();
    corrald.wait_for_api();
    let (keep_pid, change_pid) = (init_pid(&corrald, &keep), init_pid(&corrald, &change));
    init_pid(&corrald, &gone);

    let new = block(&corrald, &keep, "keep") + &block(&corrald, &change, "change-2") + &block(&corrald, &added, "added");
    fs::write(corrald.file("new.toml"), &new).expect("write the new manifest");
    let answer = corrald.ctl_ok(&["apply", &path_str(&corrald.file("new.toml"))]);
    let want = [format!("added: {added}"), format!("removed: {gone}"), format!("replaced: {change}"), format!("unchanged: {keep}")];
    assert_eq!(lines(&answer), want);

    init_pid(&corrald, &added);
    let new_change_pid = corrald.wait_for("change replaced", WAIT, || {
        let pid = corrald.inspect(&change)["container"]["init_pid"].as_i64()?;
        (pid != change_pid).then_some(pid)
    });
    assert!(pid_alive(new_change_pid));
    corrald.wait_for("gone removed", WAIT, || {
        let status = corrald.ctl_ok(&["status"]);
        (!status.contains(&gone)).then_some(())
    });
    assert_eq!(corrald.inspect(&keep)["container"]["init_pid"].as_i64(), Some(keep_pid), "keep untouched");
    assert_eq!(lines(&corrald.out("keep")).len(), 1, "keep never restarted");
    assert_eq!(fs::read_to_string(corrald.manifest_path()).unwrap(), new, "the manifest file is replaced");
    stop_and_check(&mut corrald, &[&keep, &gone, &change, &added]);
}

#[test]
fn a_bad_manifest_is_refused_whole_with_every_error() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let [keep, other] = ["api-stay", "api-new"].map(unique_service);
    let mut corrald = Corrald::new(&[]);
    let good = service(&corrald, &bundle, &keep, &waiter("stay"), "");
    corrald.write_manifest(&good);
    corrald.spawn();
    corrald.wait_for_api();
    let pid = init_pid(&corrald, &keep);

    // A valid new service, a changed one, and three errors in two services.
    let bad = service(&corrald, &bundle, &keep, &waiter("stay-2"), "resources = { memory = \"64Q\" }")
        + &service(&corrald, &bundle, &other, &waiter("new"), "depends_on = [\"nobody\"]\nrestart = \"sometimes\"");
    fs::write(corrald.file("bad.toml"), &bad).expect("write the bad manifest");
    let output = corrald.ctl(&["apply", &path_str(&corrald.file("bad.toml"))]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|line| line.contains(": service \"")).collect();
    assert_eq!(errors.len(), 3, "every error, one per line: {stderr}");
    assert!(errors[0].contains(&format!("service \"{keep}\": resources.memory")), "{stderr}");
    assert!(stderr.trim_end().ends_with("manifest refused, 3 error(s); nothing was changed"), "{stderr}");

    let (status, body) = corrald.http("POST", "/v1/apply", &bad);
    assert_eq!(status, 422, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON errors");
    let listed = body["errors"].as_array().expect("an errors array");
    assert_eq!(listed.len(), 3, "{body}");
    assert!(listed.iter().all(|e| e["line"].as_u64() > Some(0) && e["column"].as_u64() > Some(0)), "{body}");
    assert_eq!(listed[2]["service"], other.as_str());

    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(corrald.inspect(&keep)["container"]["init_pid"].as_i64(), Some(pid), "nothing restarted");
    assert_eq!(corrald.inspect(&other), Value::Null, "nothing added");
    assert_eq!(fs::read_to_string(corrald.manifest_path()).unwrap(), good, "the manifest file is kept");
    stop_and_check(&mut corrald, &[&keep, &other]);
}

#[test]
fn logs_tail_and_follow() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let name = unique_service("api-logs");
    let mut corrald = Corrald::new(&[]);
    corrald.use_socket("ctl.sock"); // --socket, outside the state dir
    // Ten lines, then one more line each time the test drops a file in /out.
    let script = "i=1; while [ $i -le 10 ]; do echo line $i; i=$((i+1)); done; \
                  while true; do if [ -f /out/go ]; then rm /out/go; echo more $i; i=$((i+1)); fi; sleep 0.05; done";
    corrald.write_manifest(&service(&corrald, &bundle, &name, script, ""));
    corrald.spawn();
    corrald.wait_for_api();
    corrald.wait_for("ten lines logged", WAIT, || corrald.ctl_ok(&["logs", &name]).contains("line 10").then_some(()));

    assert_eq!(lines(&corrald.ctl_ok(&["logs", "--tail", "3", &name])), ["line 8", "line 9", "line 10"]);
    assert_eq!(lines(&corrald.ctl_ok(&["logs", &name])).len(), 10);

    let mut follower: Follower = corrald.follow(&["logs", "-f", "--tail", "1", &name]);
    corrald.wait_for("the tail", WAIT, || (lines(&follower.output()) == ["line 10"]).then_some(()));
    for n in 11..=12 {
        fs::write(corrald.out_dir().join("go"), "").expect("trigger a line");
        let want = format!("more {n}");
        corrald.wait_for(&want, WAIT, || follower.output().contains(&want).then_some(()));
    }
    assert_eq!(lines(&follower.output()), ["line 10", "more 11", "more 12"]);
    assert!(follower.running(), "still following");

    let missing = corrald.ctl(&["logs", "no-such-service"]);
    assert!(!missing.status.success());
    assert!(corrald.socket().ends_with("ctl.sock") && !corrald.state_dir().join("corrald.sock").exists());
    drop(follower);
    stop_and_check(&mut corrald, &[&name]);
}

#[test]
fn events_show_a_restart_and_an_oom_kill() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let [hog, steady] = ["api-hog", "api-steady"].map(unique_service);
    let mut corrald = Corrald::new(&[]);
    // The shell doubles a string until the kernel kills it at its 16 MiB limit.
    let hog_script = "echo start >> /out/hog; x=a; while true; do x=$x$x; done";
    let limits = "resources = { memory = \"16M\" }\nrestart = { policy = \"unless-stopped\", backoff = { initial = \"5s\" } }";
    let text = service(&corrald, &bundle, &hog, hog_script, limits) + &service(&corrald, &bundle, &steady, &waiter("steady"), "");
    corrald.write_manifest(&text);
    corrald.spawn();
    corrald.wait_for_api();
    let follower = corrald.follow(&["events", "-f"]);

    let oom_line = format!("{hog}  oom_kill: OOMKilled");
    corrald.wait_for("the OOM kill event", WAIT, || follower.output().contains(&oom_line).then_some(()));
    let value = corrald.wait_for("status saying OOMKilled", WAIT, || {
        let value = corrald.inspect(&hog);
        (value["last_exit"] == "OOMKilled").then_some(value)
    });
    assert!(value["oom_kills"].as_u64() >= Some(1), "{value}");
    let table = corrald.ctl_ok(&["status"]);
    assert!(lines(&table).iter().any(|row| row.starts_with(&hog) && row.ends_with("OOMKilled")), "{table}");
    let metrics = corrald.ctl_ok(&["metrics"]);
    assert!(metric(&metrics, "corral_service_oom_kills_total", &hog) >= Some(1.0), "{metrics}");

    init_pid(&corrald, &steady);
    corrald.ctl_ok(&["restart", &steady]);
    let restarted = format!("{steady}  state running -> stopping (restart requested by the operator)");
    corrald.wait_for("the restart events", WAIT, || {
        let output = follower.output();
        let after = output.split_once(&restarted)?.1;
        after.contains(&format!("{steady}  state starting -> running")).then_some(())
    });
    let history = corrald.ctl_ok(&["events"]);
    assert!(history.contains(&oom_line) && history.contains(&restarted), "events without -f replay the past:\n{history}");
    drop(follower);

    // The count of OOM kills outlives corrald (the hog is held down meanwhile).
    corrald.ctl_ok(&["stop", &hog]);
    let counted = corrald.inspect(&hog)["oom_kills"].as_u64().expect("a count");
    corrald.sigkill();
    corrald.spawn();
    corrald.wait_for_api();
    assert_eq!(corrald.inspect(&hog)["oom_kills"].as_u64(), Some(counted), "kept across corrald's restart");
    stop_and_check(&mut corrald, &[&hog, &steady]);
}

/// The OOM killer taking a child is not the container's end: a later SIGKILL from
/// corrald's own stop is reported as that, not as an OOM kill.
#[test]
fn a_stop_after_a_childs_oom_kill_is_not_reported_as_oomkilled() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let name = unique_service("api-child-oom");
    let mut corrald = Corrald::new(&[]);
    let script = "(x=a; while true; do x=$x$x; done); echo survived >> /out/child; sleep 100000 & wait";
    corrald.write_manifest(&service(&corrald, &bundle, &name, script, "resources = { memory = \"16M\" }"));
    corrald.spawn();
    corrald.wait_for("the child's OOM kill", WAIT, || (corrald.out("child") == "survived\n").then_some(()));
    assert_eq!(corrald.ctl_ok(&["stop", &name]).trim(), format!("{name}: stopped"));
    let value = corrald.inspect(&name);
    assert_eq!(value["last_exit"], "killed by signal 9", "{value}");
    assert_eq!(value["oom_kills"], 0, "{value}");
    stop_and_check(&mut corrald, &[&name]);
}
