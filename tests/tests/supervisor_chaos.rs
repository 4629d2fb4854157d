//! corrald under crashes and bad input, with real containers: SIGKILLed at random
//! moments (mid-start, mid-restart, mid-probe), a torn or garbage state file, a fork
//! bomb in a service, dependency order on health, tcp health checks, and refused
//! manifests. After each, every service runs exactly once and nothing is left behind.
//! `CORRAL_CHAOS_SEED` replays the random kill delays of a failed run.

use corral_tests::supervisor::{Corrald, service, corrald_bin, lines, path_str, send_signal, unique_service};
use corral_tests::supervisor_chaos::*;
use corral_tests::tempdir::TempDir;
use corral_tests::*;
use std::collections::BTreeMap;
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Records its start in /out/<file> and waits; SIGTERM makes it exit 0 at once.
fn waiter(file: &str) -> String {
    format!("trap 'exit 0' TERM; echo start >> /out/{file}; sleep 100000 & wait")
}

fn stop_cleanly(corrald: &mut Corrald, services: &[String]) {
    let status = corrald.terminate(Duration::from_secs(30));
    assert!(status.success(), "corrald exited with {status}\n{}", corrald.stderr());
    assert!(!corrald.stderr().contains("panicked"), "corrald panicked:\n{}", corrald.stderr());
    assert_nothing_left(corrald, services);
}

/// Waits up to `timeout` for a child of corrald whose command line contains `needle`
/// (e.g. corral's " run --detach"); returns it.
fn child_matching(corrald: &Corrald, needle: &str, timeout: Duration) -> Option<(i64, String)> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(found) = children_of(corrald.pid()).into_iter().find(|(_, cmdline)| cmdline.contains(needle)) {
            return Some(found);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// Kills in the chaos test: 50, cycling through these moments.
const KILLS: usize = 50;

#[derive(Clone, Copy, Debug)]
enum Moment {
    /// 0-400 ms after the previous start of corrald.
    Random,
    /// 0-30 ms after it: while it takes over (adopts, deletes leftovers).
    TakingOver,
    /// While `corral run --detach` starts a container.
    MidStart,
    /// While `corral delete` removes a container that ended (between crash and restart).
    MidRestart,
    /// While a health check's `corral exec` runs.
    MidProbe,
}

const MOMENTS: [Moment; 5] =
    [Moment::Random, Moment::TakingOver, Moment::MidStart, Moment::MidRestart, Moment::MidProbe];

#[test]
fn corrald_sigkilled_at_random_moments_never_duplicates_loses_or_leaks_a_service() {
    skip_unless_root!();
    let began = Instant::now();
    let mut rng = Rng::from_env();
    let bundle = Bundle::new();
    let names = ["talker", "crasher", "checked", "follower"].map(unique_service);
    let [talker, crasher, checked, follower] = names.clone();
    let services = names.to_vec();
    // Small log files so that rotation happens under the kills too.
    let mut corrald = Corrald::new(&["--log-max-size", "32K", "--log-keep", "1000"]);

    // talker logs ~400 numbered lines a second and must never be restarted.
    let talk = "trap 'exit 0' TERM; echo start >> /out/talker; i=0; \
                while true; do i=$((i+1)); echo line $i; [ $((i % 20)) = 0 ] && sleep 0.05; done";
    // crasher exits with 1 after 0.1-0.4 s, restarted 50 ms later, until /out/calm exists.
    let crash = "echo start >> /out/crasher; if [ -e /out/calm ]; then echo calm >> /out/crasher; \
                 trap 'exit 0' TERM; sleep 100000 & wait; fi; sleep 0.$((RANDOM % 4 + 1)); exit 1";
    let backoff = "restart = { policy = \"always\", backoff = { initial = \"50ms\", factor = 1, jitter = 0.0 } }";
    let mut text = service(&corrald, &bundle, &talker, talk, "");
    text += &service(&corrald, &bundle, &crasher, crash, backoff);
    text += &service(
        &corrald,
        &bundle,
        &checked,
        &waiter("checked"),
        "health = { exec = [\"/bin/true\"], interval = \"100ms\" }",
    );
    text += &service(
        &corrald,
        &bundle,
        &follower,
        &waiter("follower"),
        &format!("depends_on = {{ {checked} = \"healthy\" }}"),
    );
    corrald.write_manifest(&text);
    corrald.spawn();

    let inits =
        poll_until(&corrald, "every service running", Duration::from_secs(20), || consistent(&corrald, &services));
    let talker_pid = inits[&talker];

    let mut history: Vec<String> = Vec::new();
    let mut hits: BTreeMap<&str, usize> = BTreeMap::new();
    let watch = DuplicateWatch::start(&services, &corral_bin(), Duration::from_millis(5));
    for round in 0..KILLS {
        let moment = MOMENTS[round % MOMENTS.len()];
        let when = match moment {
            Moment::Random | Moment::TakingOver => {
                let ms = rng.below(if matches!(moment, Moment::Random) { 400 } else { 30 });
                std::thread::sleep(Duration::from_millis(ms));
                format!("{moment:?} {ms} ms")
            }
            Moment::MidStart | Moment::MidRestart | Moment::MidProbe => {
                let needle = match moment {
                    Moment::MidStart => " run --detach ",
                    Moment::MidRestart => " delete --force ",
                    _ => " exec ",
                };
                // Once the command is seen, 0-3 ms more, so the kill lands anywhere in it.
                let found = child_matching(&corrald, needle, Duration::from_millis(1500));
                if found.is_some() {
                    std::thread::sleep(Duration::from_micros(rng.below(3000)));
                    *hits.entry(needle.trim()).or_default() += 1;
                }
                format!("{moment:?}: {found:?}")
            }
        };
        corrald.sigkill();
        history.push(format!("{:?} kill {round}: {when}", began.elapsed()));
        assert!(pid_alive(talker_pid), "talker's init {talker_pid} died\n{}", history.join("\n"));
        corrald.spawn();
    }
    let chaos_time = began.elapsed();

    fs::write(corrald.out_dir().join("calm"), "").expect("write calm");
    let inits = poll_until(&corrald, "every service running once, crasher calm", Duration::from_secs(30), || {
        let inits = consistent(&corrald, &services).map_err(|why| format!("{why}\n{}", dump(&corrald)))?;
        let last = lines(&corrald.out("crasher")).last().cloned();
        if last.as_deref() != Some("calm") {
            return Err(format!("crasher's last line is {last:?}"));
        }
        Ok(inits)
    });
    let summary = format!("kills:\n{}\ncorrald:\n{}", history.join("\n"), corrald.stderr());
    let watched = watch.finish();
    assert!(watched.duplicates.is_empty(), "duplicates:\n{}\n{watched:?}\n{summary}", watched.duplicates.join("\n"));
    assert_eq!(inits[&talker], talker_pid, "talker was restarted\n{summary}");
    assert_eq!(lines(&corrald.out("talker")), ["start"], "talker started once\n{summary}");
    let state = state_of(&corrald);
    assert_eq!(state["services"][&talker]["restarts"], 0, "{state}");
    let crashes = lines(&corrald.out("crasher")).iter().filter(|l| *l == "start").count();
    assert!(crashes >= 15, "crasher started only {crashes} times\n{summary}");
    for needle in ["run --detach", "delete --force", "exec"] {
        assert!(hits.get(needle).copied().unwrap_or(0) >= 3, "too few kills during `corral {needle}`: {hits:?}");
    }

    // talker's log: every line, in order, none lost while corrald was dead or dying (a
    // chunk written again after a kill is allowed). Retried: reading the files races
    // with rotation, while a lost line stays lost.
    let logged = poll_until(&corrald, "talker's log to go on, nothing lost", Duration::from_secs(10), || {
        let numbers = log_numbers(&corrald.logs_dir(), &talker, 1000);
        if numbers.len() < 2000 {
            return Err(format!("{} lines", numbers.len()));
        }
        let missing = lost(&numbers);
        if !missing.is_empty() {
            return Err(format!("talker's log lost lines: {missing:?}\n{summary}"));
        }
        Ok(numbers)
    });

    stop_cleanly(&mut corrald, &services);
    eprintln!(
        "{KILLS} kills in {chaos_time:?} ({hits:?} caught mid-command); crasher started {crashes} times; \
         talker logged {} lines ({} repeated); {} scans for duplicates, {} half-made containers seen beside a \
         running one ({:?}); whole test {:?}",
        logged.len(),
        repeats(&logged),
        watched.scans,
        watched.half_made.len(),
        watched.half_made,
        began.elapsed()
    );
}

#[test]
fn a_torn_garbage_or_earlier_boot_state_file_is_survived_without_duplicating_a_service() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let names = ["first", "second"].map(unique_service);
    let services = names.to_vec();
    let mut corrald = Corrald::new(&[]);
    let text: String = names.iter().map(|name| service(&corrald, &bundle, name, &waiter(name), "")).collect();
    corrald.write_manifest(&text);
    corrald.spawn();
    let current = corrald.state_dir().join("state.json");
    let prev = corrald.state_dir().join("state.json.prev");
    let running = |corrald: &Corrald| {
        poll_until(corrald, "each service running once", Duration::from_secs(20), || consistent(corrald, &services))
    };
    let before = running(&corrald);

    // 1. Torn mid-write: state.json cut in half. The previous copy, as corrald left it,
    //    decides: a service it records with its live init is adopted, any other one is
    //    deleted and started again, never both.
    corrald.sigkill();
    let good = fs::read(&current).expect("read state.json");
    fs::write(&current, &good[..good.len() / 2]).expect("tear state.json");
    let previous = state_body(&prev).expect("corrald left a good state.json.prev");
    corrald.spawn();
    let after = running(&corrald);
    for service in &services {
        let recorded = previous["services"][service]["container"]["init"]["pid"].as_i64();
        if recorded == Some(before[service]) {
            assert_eq!(
                after[service],
                before[service],
                "{service} is re-adopted from state.json.prev\n{}",
                corrald.stderr()
            );
        } else {
            assert_ne!(after[service], before[service], "{service} is started anew");
            assert!(wait_pid_gone(before[service]), "{service}'s unrecorded container was deleted");
        }
    }
    assert!(corrald.stderr().contains("state.json is torn or corrupt; ignored"), "{}", corrald.stderr());

    // 2. Power loss after the rename but before the data reached the disk: a state.json
    //    of zeros. A good previous copy (here: the last good state) is used, everything
    //    is re-adopted.
    corrald.sigkill();
    let good = fs::read(&current).expect("read state.json");
    fs::write(&prev, &good).expect("write state.json.prev");
    fs::write(&current, vec![0u8; good.len()]).expect("zero state.json");
    corrald.spawn();
    let again = running(&corrald);
    assert_eq!(again, after, "every service re-adopted from state.json.prev\n{}", corrald.stderr());

    // 3. Garbage everywhere (state.json, .prev, a half-written .tmp): nothing to trust, so
    //    corrald deletes what the runtime root holds and starts each service once.
    corrald.sigkill();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    fs::write(&current, [b"corrald-state 1 0123456789abcdef\n".as_slice(), &garbage].concat()).expect("garbage");
    fs::write(&prev, &garbage).expect("garbage .prev");
    fs::write(corrald.state_dir().join("state.json.tmp"), &garbage[..100]).expect("garbage .tmp");
    corrald.spawn();
    let fresh = running(&corrald);
    for service in &services {
        assert_ne!(fresh[service], again[service], "{service} started anew");
        assert!(wait_pid_gone(again[service]), "{service}'s old container was deleted");
        // Started at first, again in step 1 unless re-adopted, and again now.
        let starts = 2 + usize::from(after[service] != before[service]);
        assert_eq!(lines(&corrald.out(service)).len(), starts, "{service} started {starts} times in all");
    }

    // 4. A state file of an earlier boot (power cut, reboot): its pids may name other
    //    processes now, so nothing is adopted; every service starts once, afresh. (The
    //    old containers are this boot's here, so deleting them must end them.)
    corrald.sigkill();
    let mut body = state_body(&current).expect("a good state.json");
    assert!(body["boot_id"].as_str().is_some_and(|id| !id.is_empty()), "the boot is recorded: {body}");
    body["boot_id"] = serde_json::json!("00000000-0000-4000-8000-000000000000");
    write_state_body(&current, &body);
    corrald.spawn();
    corrald.wait_for_api(); // the old containers look consistent until corrald acts
    let rebooted = running(&corrald);
    for service in &services {
        assert_ne!(rebooted[service], fresh[service], "{service} started anew\n{}", corrald.stderr());
        assert!(wait_pid_gone(fresh[service]), "{service}'s container of the 'earlier boot' was deleted");
    }
    assert!(corrald.stderr().contains("from an earlier boot"), "{}", corrald.stderr());
    eprintln!("inits: at first {before:?}; torn {after:?}; zeroed {again:?}; garbage {fresh:?}; rebooted {rebooted:?}");
    stop_cleanly(&mut corrald, &services);
}

/// `pids.<file>` of container `id` of `service` (v1 pids hierarchy, or v2).
fn pids_file(service: &str, id: &str, file: &str) -> Option<String> {
    let dir = cgroup_dirs(service).into_iter().find(|dir| dir.ends_with(id) && dir.join("pids.max").exists())?;
    fs::read_to_string(dir.join(file)).ok()
}

/// How often the pids limit refused a fork (`max N` in pids.events).
fn pids_refusals(service: &str, id: &str) -> u64 {
    let events = pids_file(service, id, "pids.events").unwrap_or_default();
    events.lines().find_map(|line| line.strip_prefix("max ")?.trim().parse().ok()).unwrap_or(0)
}

#[test]
fn a_fork_bomb_stops_at_the_pids_limit_and_its_service_stays_supervised() {
    skip_unless_root!();
    const LIMIT: u64 = 64;
    let bundle = Bundle::new();
    let names = ["bomb", "steady"].map(unique_service);
    let [bomb, steady] = names.clone();
    let services = names.to_vec();
    let mut corrald = Corrald::new(&[]);
    // Every bomb process forks two more and waits for them; the init waits on a sleep
    // started first, so it survives its own failed forks.
    let script = "trap 'exit 0' TERM; echo start >> /out/bomb; sleep 100000 & \
                  b() { b & b & wait; }; b 2>/dev/null & wait";
    let mut text = service(
        &corrald,
        &bundle,
        &bomb,
        script,
        &format!("resources = {{ pids = {LIMIT} }}\nrestart = {{ backoff = {{ initial = \"100ms\" }} }}"),
    );
    text += &service(&corrald, &bundle, &steady, &waiter("steady"), "");
    corrald.write_manifest(&text);
    corrald.spawn();

    let bombed = |corrald: &Corrald, not: Option<i64>| {
        poll_until(corrald, "the bomb to hit its pids limit", Duration::from_secs(20), || {
            let (pid, id) = container_of(corrald, &bomb).ok_or("no bomb container yet")?;
            if Some(pid) == not {
                return Err(format!("still the old init {pid}"));
            }
            match pids_refusals(&bomb, &id) {
                0 => Err(format!("{id}: no fork refused yet")),
                _ => Ok((pid, id)),
            }
        })
    };
    let (first_pid, first_id) = bombed(&corrald, None);
    let steady_pid = poll_until(&corrald, "steady running", Duration::from_secs(20), || {
        container_of(&corrald, &steady).map(|(pid, _)| pid).ok_or_else(|| "not yet".to_string())
    });
    for _ in 0..20 {
        let current: u64 = pids_file(&bomb, &first_id, "pids.current").and_then(|t| t.trim().parse().ok()).unwrap_or(0);
        assert!(current <= LIMIT, "{current} tasks under a limit of {LIMIT}");
        let live: usize = live_containers(&bomb).values().map(|pids| pids.len()).sum();
        assert!(live as u64 <= LIMIT, "{live} live processes under a limit of {LIMIT}");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Still supervised: its init killed, corrald sees the exit, deletes the whole bomb and
    // starts it again, which again stops at the limit. The other service is untouched.
    let first_refused = pids_refusals(&bomb, &first_id);
    send_signal(first_pid, "KILL");
    let (second_pid, second_id) = bombed(&corrald, Some(first_pid));
    assert_ne!(second_id, first_id);
    poll_until(&corrald, "the first bomb's cgroups removed", Duration::from_secs(20), || {
        let left: Vec<_> = cgroup_dirs(&bomb).into_iter().filter(|dir| dir.ends_with(&first_id)).collect();
        if left.is_empty() { Ok(()) } else { Err(format!("{left:?}")) }
    });
    assert_eq!(live_containers(&bomb).keys().collect::<Vec<_>>(), [&second_id], "only the new bomb runs");
    assert_eq!(lines(&corrald.out("bomb")), ["start", "start"]);
    assert!(pid_alive(second_pid));
    assert_eq!(container_of(&corrald, &steady).map(|c| c.0), Some(steady_pid), "steady untouched");
    let refused = (first_refused, pids_refusals(&bomb, &second_id));
    stop_cleanly(&mut corrald, &services);
    eprintln!("forks refused at the limit of {LIMIT}: {refused:?} (first bomb; second bomb so far)");
}

#[test]
fn a_service_waits_for_its_dependency_to_be_healthy() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let names = ["web", "after", "later"].map(unique_service);
    let [web, after, later] = names.clone();
    let services = names.to_vec();
    let mut corrald = Corrald::new(&[]);
    // web's check fails until /out/ready exists; its start period keeps the failures from
    // making it unhealthy (and restarting it) meanwhile.
    let check = "if [ -e /out/ready ]; then echo healthy >> /out/order; else echo unhealthy >> /out/order; exit 1; fi";
    let health = format!(
        "health = {{ exec = [\"/bin/sh\", \"-c\", \"{check}\"], interval = \"100ms\", start_period = \"1m\" }}"
    );
    let order = |who: &str| format!("trap 'exit 0' TERM; echo start {who} >> /out/order; sleep 100000 & wait");
    let mut text = service(&corrald, &bundle, &web, &order("web"), &health);
    text += &service(&corrald, &bundle, &after, &order("after"), &format!("depends_on = {{ {web} = \"healthy\" }}"));
    text += &service(&corrald, &bundle, &later, &order("later"), &format!("depends_on = [\"{after}\"]"));
    corrald.write_manifest(&text);
    corrald.spawn();

    poll_until(&corrald, "three failed checks of web", Duration::from_secs(20), || {
        let seen = lines(&corrald.out("order"));
        match seen.iter().filter(|l| *l == "unhealthy").count() {
            n if n >= 3 => Ok(()),
            n => Err(format!("{n} failed checks: {seen:?}")),
        }
    });
    let seen = lines(&corrald.out("order"));
    assert!(seen.iter().all(|l| l == "start web" || l == "unhealthy"), "nothing else started: {seen:?}");
    assert!(
        container_of(&corrald, &after).is_none() && container_of(&corrald, &later).is_none(),
        "{}",
        state_of(&corrald)
    );

    fs::write(corrald.out_dir().join("ready"), "").expect("write ready");
    let seen = poll_until(&corrald, "later to start", Duration::from_secs(20), || {
        let seen = lines(&corrald.out("order"));
        if seen.iter().any(|l| l == "start later") { Ok(seen) } else { Err(format!("{seen:?}")) }
    });
    let at = |line: &str| seen.iter().position(|l| l == line).unwrap_or_else(|| panic!("no {line:?} in {seen:?}"));
    assert!(at("healthy") < at("start after") && at("start after") < at("start later"), "{seen:?}");
    assert_eq!(state_of(&corrald)["services"][&web]["restarts"], 0, "web was never restarted");
    poll_until(&corrald, "all three running", Duration::from_secs(10), || consistent(&corrald, &services));
    stop_cleanly(&mut corrald, &services);
}

/// corrald's own CPU time so far (utime + stime), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<u64> =
        stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // After the name: state (not a number) is skipped, so utime (field 14) is index 10.
    fields.get(10).copied().unwrap_or(0) + fields.get(11).copied().unwrap_or(0)
}

#[test]
fn a_tcp_health_check_passes_for_a_listening_service_without_busy_waiting() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let names = ["listener", "dependent"].map(unique_service);
    let [listener, dependent] = names.clone();
    let services = names.to_vec();
    let mut corrald = Corrald::new(&[]);
    // One failed probe makes it unhealthy (and restarted): it must pass every time.
    let health = "health = { tcp = { port = 8080 }, interval = \"100ms\", timeout = \"1s\", retries = 1 }\n\
                  stop = { signal = \"SIGKILL\" }";
    let mut text = service(&corrald, &bundle, &listener, "exec /bin/busybox httpd -f -p 127.0.0.1:8080 -h /", health);
    text += &service(
        &corrald,
        &bundle,
        &dependent,
        &waiter("dependent"),
        &format!("depends_on = {{ {listener} = \"healthy\" }}"),
    );
    corrald.write_manifest(&text);
    corrald.spawn();

    poll_until(&corrald, "the dependent to start", Duration::from_secs(10), || {
        if corrald.out("dependent").contains("start") { Ok(()) } else { Err(format!("{}", state_of(&corrald))) }
    });
    // Ten more probes: none fails, and corrald sleeps between them.
    let (ticks, began) = (cpu_ticks(corrald.pid()), Instant::now());
    while began.elapsed() < Duration::from_secs(1) {
        assert_eq!(
            state_of(&corrald)["services"][&listener]["restarts"],
            0,
            "a tcp probe failed\n{}",
            corrald.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let used = (cpu_ticks(corrald.pid()) - ticks) as f64 / 100.0 / began.elapsed().as_secs_f64();
    assert!(used < 0.2, "corrald used {:.0}% of a core for ten tcp probes", used * 100.0);
    poll_until(&corrald, "both running", Duration::from_secs(10), || consistent(&corrald, &services));
    stop_cleanly(&mut corrald, &services);
}

/// A manifest with errors in several services (and one good service): each error,
/// as (line, what its message says).
fn bad_manifest(rootfs: &str, names: &[String; 4]) -> (String, Vec<(usize, &'static str)>) {
    let [web, a, b, good] = names;
    let text = format!(
        "[services.{web}]\n\
         rootfs = \"www\"\n\
         process = {{ args = [\"/bin/sh\"] }}\n\
         resources = {{ memory = \"64Q\" }}\n\
         health = {{ exec = [\"/bin/true\"], interval = 5 }}\n\
         depends_on = [\"nosuch\"]\n\
         \n\
         [services.{a}]\n\
         rootfs = \"{rootfs}\"\n\
         process = {{ args = [\"/bin/sh\"] }}\n\
         depends_on = [\"{b}\"]\n\
         colour = \"blue\"\n\
         \n\
         [services.{b}]\n\
         rootfs = \"{rootfs}\"\n\
         process = {{ args = [\"/bin/sh\"] }}\n\
         depends_on = [\"{a}\"]\n\
         stop = {{ signal = \"SIGFOO\" }}\n\
         \n\
         [services.{good}]\n\
         rootfs = \"{rootfs}\"\n\
         process = {{ args = [\"/bin/sh\", \"-c\", \"sleep 100000\"] }}\n"
    );
    let want = vec![
        (2, "must be an absolute path"),
        (4, "64Q"),
        (5, "interval"),
        (6, "nosuch"),
        (11, " -> "),
        (12, "colour"),
        (18, "SIGFOO"),
    ];
    (text, want)
}

/// The `path:line:col: ...` lines of a refusal.
fn error_lines(stderr: &str, path: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.starts_with(&format!("{path}:")) && !l.contains("manifest refused"))
        .map(str::to_string)
        .collect()
}

fn check_refusal(stderr: &str, path: &str, want: &[(usize, &str)]) {
    let errors = error_lines(stderr, path);
    assert!(stderr.contains(&format!("manifest refused, {} error(s)", errors.len())), "{stderr}");
    for (line, text) in want {
        let prefix = format!("{path}:{line}:");
        assert!(
            errors.iter().any(|e| e.starts_with(&prefix) && e.contains(text)),
            "no error at line {line} about {text:?}:\n{stderr}"
        );
    }
    assert_eq!(errors.len(), want.len(), "exactly the expected errors:\n{stderr}");
}

#[test]
fn bad_manifests_are_refused_with_every_error_and_nothing_starts() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let names = ["web", "a", "b", "good"].map(unique_service);
    let dir = TempDir::new("bad-manifest");
    let path = dir.path().join("manifest.toml");
    let path_text = path_str(&path);
    let (text, want) = bad_manifest(&path_str(&bundle.rootfs()), &names);
    fs::write(&path, &text).expect("write manifest");

    let check = Command::new(corrald_bin()).arg("check").arg(&path).output().expect("run corrald check");
    let check_err = String::from_utf8_lossy(&check.stderr).into_owned();
    assert_eq!(check.status.code(), Some(1), "{check_err}");
    check_refusal(&check_err, &path_text, &want);

    // corrald run: the same errors, exit 1, and nothing made or started.
    let state = dir.path().join("state");
    let mut child = Command::new(corrald_bin())
        .arg("run")
        .arg("--manifest")
        .arg(&path)
        .arg("--state-dir")
        .arg(&state)
        .arg("--runtime")
        .arg(corral_bin())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn corrald run");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("corrald run with a bad manifest is still running after 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut run_err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut run_err).expect("read stderr");
    assert_eq!(status.code(), Some(1), "{run_err}");
    assert_eq!(error_lines(&run_err, &path_text), error_lines(&check_err, &path_text), "run lists what check lists");
    assert!(entries(&state.join("runtime")).is_empty(), "no container made");
    for name in &names {
        assert!(live_containers(name).is_empty() && cgroup_dirs(name).is_empty(), "{name} did not start");
    }

    // SIGHUP with a bad manifest: the running one stays, nothing new starts.
    let keep = unique_service("keep");
    let mut corrald = Corrald::new(&[]);
    let keep_block = service(&corrald, &bundle, &keep, &waiter("keep"), "");
    corrald.write_manifest(&keep_block);
    corrald.spawn();
    let services = vec![keep.clone()];
    let before = poll_until(&corrald, "keep running", Duration::from_secs(20), || consistent(&corrald, &services));
    let (bad_text, _) = bad_manifest(&path_str(&bundle.rootfs()), &names);
    corrald.write_manifest(&(bad_text + "\n" + &keep_block));
    send_signal(corrald.pid() as i64, "HUP");
    poll_until(&corrald, "the reload refused", Duration::from_secs(10), || {
        if corrald.stderr().contains("keeping the current manifest") { Ok(()) } else { Err("not yet".into()) }
    });
    for text in ["64Q", "nosuch", "colour", "SIGFOO", " -> "] {
        assert!(corrald.stderr().contains(text), "the refusal names {text:?}:\n{}", corrald.stderr());
    }
    assert_eq!(consistent(&corrald, &services), Ok(before), "keep untouched");
    for name in &names {
        assert!(live_containers(name).is_empty(), "{name} did not start");
    }
    stop_cleanly(&mut corrald, &services);
}
