//! corrald with real containers: restart backoff, health checks, re-adoption after a
//! crash of corrald, shutdown order, logs, and nothing left behind.

use corral_tests::supervisor::{Corrald, lines, send_signal, service, unique_service};
use corral_tests::*;
use std::fs;
use std::time::Duration;

/// Records its start in /out/<file> and waits; SIGTERM makes it record its stop and
/// exit 0. (A shell as pid 1 ignores signals it has no trap for.)
fn waiter(name: &str, file: &str) -> String {
    format!("trap 'echo stop {name} >> /out/{file}; exit 0' TERM; echo start {name} >> /out/{file}; sleep 100000 & wait")
}

/// Every id a service could have had in a test: `<service>-1` … `<service>-20`.
fn all_ids(services: &[&str]) -> Vec<String> {
    services.iter().flat_map(|s| (1..=20).map(move |n| format!("{s}-{n}"))).collect()
}

fn stop_and_check(corrald: &mut Corrald, services: &[&str]) {
    let status = corrald.terminate(Duration::from_secs(30));
    assert!(status.success(), "corrald exited with {status}\n{}", corrald.stderr());
    corrald.assert_nothing_left(&all_ids(services));
}

/// Seconds since boot (from /proc/uptime, 10 ms steps) at each line of `text`.
fn uptimes(text: &str) -> Vec<f64> {
    lines(text).iter().map(|line| line.split(' ').next().and_then(|t| t.parse().ok()).expect("an uptime")).collect()
}

#[test]
fn a_crashing_service_restarts_with_its_backoff() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let name = unique_service("crash");
    let mut corrald = Corrald::new(&[]);
    let backoff = "restart = { policy = \"always\", backoff = { initial = \"1s\", factor = 2, cap = \"10s\", jitter = 0.0 } }";
    corrald.write_manifest(&service(&corrald, &bundle, &name, "cat /proc/uptime >> /out/starts; exit 1", backoff));
    corrald.spawn();

    let starts = corrald.wait_for("four starts", Duration::from_secs(30), || {
        let starts = uptimes(&corrald.out("starts"));
        (starts.len() >= 4).then_some(starts)
    });
    let delays: Vec<f64> = starts.windows(2).map(|pair| pair[1] - pair[0]).collect();
    for (delay, want) in delays.iter().zip([1.0, 2.0, 4.0]) {
        assert!((delay - want).abs() <= want * 0.1, "delays {delays:?}, want 1, 2, 4 s ±10%\n{}", corrald.stderr());
    }
    assert!(corrald.state()["services"][&name]["restarts"].as_u64() >= Some(3), "{}", corrald.state());
    stop_and_check(&mut corrald, &[&name]);
}

#[test]
fn a_failing_exec_health_check_restarts_the_service_after_its_retries() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let name = unique_service("unhealthy");
    let mut corrald = Corrald::new(&[]);
    let extra = "health = { exec = [\"/bin/sh\", \"-c\", \"echo check >> /out/events; exit 1\"], interval = \"200ms\", retries = 2 }\n\
                 restart = { backoff = { initial = \"100ms\", jitter = 0.0 } }\nstop = { grace = \"5s\" }";
    corrald.write_manifest(&service(&corrald, &bundle, &name, &waiter("svc", "events"), extra));
    corrald.spawn();

    let events = corrald.wait_for("a restart", Duration::from_secs(20), || {
        let events = lines(&corrald.out("events"));
        (events.iter().filter(|e| e.starts_with("start")).count() >= 2).then_some(events)
    });
    let second_start = events.iter().rposition(|e| e.starts_with("start")).expect("two starts");
    assert_eq!(events[..=second_start], ["start svc", "check", "check", "stop svc", "start svc"], "{events:?}");
    stop_and_check(&mut corrald, &[&name]);
}

#[test]
fn a_restarted_corrald_readopts_running_services_and_restarts_dead_ones() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let (keep, dies) = (unique_service("keep"), unique_service("dies"));
    let mut corrald = Corrald::new(&[]);
    let talker = "echo start >> /out/keep; i=0; while true; do i=$((i+1)); echo line $i; sleep 0.02; done";
    let text = service(&corrald, &bundle, &keep, talker, "") + &service(&corrald, &bundle, &dies, &waiter("dies", "dies"), "");
    corrald.write_manifest(&text);
    corrald.spawn();
    let running = |corrald: &Corrald| Some((corrald.container(&keep)?, corrald.container(&dies)?));
    let ((keep_pid, keep_id), (dies_pid, dies_id)) = corrald.wait_for("both running", Duration::from_secs(20), || running(&corrald));

    corrald.sigkill();
    send_signal(dies_pid, "KILL");
    assert!(wait_pid_gone(dies_pid), "the init of {dies_id} died");
    std::thread::sleep(Duration::from_millis(300)); // keep logs into its pipe meanwhile
    corrald.spawn();

    let (new_pid, new_id) = corrald.wait_for("dies restarted", Duration::from_secs(20), || {
        corrald.container(&dies).filter(|(pid, _)| *pid != dies_pid)
    });
    assert_ne!(new_id, dies_id, "a new container id");
    assert!(pid_alive(new_pid));
    assert_eq!(corrald.container(&keep), Some((keep_pid, keep_id.clone())), "keep was re-adopted");
    assert!(pid_alive(keep_pid), "keep's init runs on");
    assert_eq!(lines(&corrald.out("keep")), ["start"], "keep was never restarted");
    // The new init runs, but its shell may not have written its line yet (slow in a VM).
    let starts = || lines(&corrald.out("dies")).iter().filter(|l| l.starts_with("start")).count();
    corrald.wait_for("dies's second start line", Duration::from_secs(10), || (starts() >= 2).then_some(()));
    assert_eq!(starts(), 2, "dies started twice");
    let runtime_root = corrald.state_dir().join("runtime");
    corrald.wait_for("the dead container deleted", Duration::from_secs(10), || {
        (!runtime_root.join(&dies_id).exists()).then_some(())
    });

    // keep's log goes on where it was, nothing lost while corrald was down.
    let log = corrald.logs_dir().join(format!("{keep}.log"));
    let numbers = corrald.wait_for("keep's log growing", Duration::from_secs(10), || {
        let numbers: Vec<u64> = lines(&fs::read_to_string(&log).unwrap_or_default())
            .iter()
            .filter_map(|l| l.strip_prefix("line ").and_then(|n| n.parse().ok()))
            .collect();
        (numbers.len() > 50).then_some(numbers)
    });
    let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "keep's log lines are complete and in order");
    stop_and_check(&mut corrald, &[&keep, &dies]);
}

#[test]
fn sigterm_stops_services_in_reverse_dependency_order_then_kills_after_the_grace_period() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let names = [unique_service("base"), unique_service("middle"), unique_service("top")];
    let mut corrald = Corrald::new(&[]);
    let mut text = service(&corrald, &bundle, &names[0], &waiter("base", "order"), "");
    text += &service(&corrald, &bundle, &names[1], &waiter("middle", "order"), &format!("depends_on = [\"{}\"]", names[0]));
    text += &service(&corrald, &bundle, &names[2], &waiter("top", "order"), &format!("depends_on = [\"{}\"]", names[1]));
    // One that ignores SIGTERM: SIGKILL ends it after its grace period.
    let stubborn = unique_service("stubborn");
    let ignores_term = "trap '' TERM; echo start >> /out/stubborn; sleep 100000 & wait";
    text += &service(&corrald, &bundle, &stubborn, ignores_term, "stop = { grace = \"1500ms\" }");
    corrald.write_manifest(&text);
    corrald.spawn();

    corrald.wait_for("four starts", Duration::from_secs(20), || {
        (lines(&corrald.out("order")).len() == 3 && corrald.out("stubborn") == "start\n").then_some(())
    });
    let began = std::time::Instant::now();
    let status = corrald.terminate(Duration::from_secs(30));
    let took = began.elapsed();
    assert!(status.success(), "corrald exited with {status}\n{}", corrald.stderr());
    let order = lines(&corrald.out("order"));
    let want = ["start base", "start middle", "start top", "stop top", "stop middle", "stop base"];
    assert_eq!(order, want, "{}", corrald.stderr());
    let stderr = corrald.stderr();
    let killed = stderr.lines().any(|l| l.starts_with(&format!("corrald: service {stubborn}: ")) && l.ends_with("ended: Signal(9)"));
    assert!(killed, "{stubborn} was SIGKILLed:\n{stderr}");
    assert!(took >= Duration::from_millis(1500), "SIGKILL came before the grace period ended: {took:?}");
    let names: Vec<&str> = names.iter().map(String::as_str).chain([stubborn.as_str()]).collect();
    corrald.assert_nothing_left(&all_ids(&names));
}

#[test]
fn logs_are_written_and_rotated() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let name = unique_service("logs");
    let mut corrald = Corrald::new(&["--log-max-size", "4K", "--log-keep", "2"]);
    let script = "i=0; while [ $i -lt 400 ]; do echo line $i 0123456789abcdefghijklmnopqrstuvwxyz; i=$((i+1)); done; \
                  echo done >&2; sleep 100000 & wait";
    corrald.write_manifest(&service(&corrald, &bundle, &name, script, "stop = { signal = \"SIGKILL\" }"));
    corrald.spawn();

    let log = |suffix: &str| corrald.logs_dir().join(format!("{name}.log{suffix}"));
    corrald.wait_for("the last line logged", Duration::from_secs(20), || {
        fs::read_to_string(log("")).unwrap_or_default().contains("done").then_some(())
    });
    assert!(!log(".3").exists(), "only two rotated files are kept");
    let mut text = String::new();
    for suffix in [".2", ".1", ""] {
        let part = fs::read_to_string(log(suffix)).unwrap_or_else(|e| panic!("{name}.log{suffix}: {e}"));
        assert!(part.len() <= 4096, "{name}.log{suffix} is {} bytes", part.len());
        assert!(part.ends_with('\n') || part.is_empty(), "files are cut at line ends");
        text += &part;
    }
    let lines = lines(&text);
    assert_eq!(lines.last().map(String::as_str), Some("done"), "stderr is logged too");
    let numbers: Vec<u64> = lines.iter().filter_map(|l| l.split(' ').nth(1)?.parse().ok()).collect();
    assert_eq!(numbers.last(), Some(&399));
    assert!(numbers.windows(2).all(|pair| pair[1] == pair[0] + 1), "the newest lines, in order");
    stop_and_check(&mut corrald, &[&name]);
}

#[test]
fn an_http_health_check_reaches_a_service_in_its_own_network_namespace() {
    skip_unless_root!();
    let bundle = Bundle::new();
    fs::create_dir(bundle.rootfs().join("www")).expect("mkdir www");
    fs::write(bundle.rootfs().join("www/ok.html"), "ok\n").expect("write page");
    let (web, after) = (unique_service("web"), unique_service("after"));
    let mut corrald = Corrald::new(&[]);
    // network = "none" (the default): 127.0.0.1 is the container's own loopback.
    let health = "health = { http = { port = 8080, path = \"/ok.html\" }, interval = \"200ms\" }\nstop = { signal = \"SIGKILL\" }";
    let mut text = service(&corrald, &bundle, &web, "exec /bin/busybox httpd -f -p 127.0.0.1:8080 -h /www", health);
    text += &service(&corrald, &bundle, &after, &waiter("after", "after"), &format!("depends_on = {{ {web} = \"healthy\" }}"));
    corrald.write_manifest(&text);
    corrald.spawn();

    corrald.wait_for("the dependent service started", Duration::from_secs(20), || {
        corrald.out("after").contains("start after").then_some(())
    });
    assert_eq!(corrald.state()["services"][&web]["restarts"], 0, "web stayed healthy");
    stop_and_check(&mut corrald, &[&web, &after]);
}

/// Under systemd (Type=notify, WatchdogSec): READY=1 once the API answers and the
/// services are being started, WATCHDOG=1 at half the watchdog period, STOPPING=1 on
/// SIGTERM; the runtime corrald runs (and so nothing it starts) never sees systemd's
/// variables, which would let it speak to systemd in corrald's name.
#[test]
fn corrald_tells_systemd_it_is_ready_feeds_its_watchdog_and_keeps_its_variables_from_the_runtime() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let name = unique_service("notified");
    let mut corrald = Corrald::new(&[]);
    let systemd = std::os::unix::net::UnixDatagram::bind(corrald.file("notify.sock")).expect("bind the notify socket");
    systemd.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    corrald.set_env("NOTIFY_SOCKET", corrald.file("notify.sock").to_str().expect("UTF-8"));
    corrald.set_env("WATCHDOG_USEC", "400000");
    // The runtime, wrapped: each run records its environment, then is corral.
    let wrapper = corrald.file("corral-wrapper");
    let envs = corrald.file("runtime-envs");
    fs::create_dir(&envs).expect("mkdir runtime-envs");
    let script = format!("#!/bin/sh\nenv > {}/$$\nexec {} \"$@\"\n", envs.display(), corral_bin().display());
    fs::write(&wrapper, script).expect("write the wrapper");
    fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod the wrapper");
    corrald.set_runtime(&wrapper);
    let script = "echo start >> /out/starts; sleep 100000 & wait";
    corrald.write_manifest(&service(&corrald, &bundle, &name, script, "stop = { signal = \"SIGKILL\" }"));
    corrald.spawn();

    let mut receive = || {
        let mut buffer = [0u8; 512];
        let n = systemd.recv(&mut buffer).expect("a datagram from corrald");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    assert_eq!(receive(), "READY=1\nSTATUS=running");
    let ready = std::time::Instant::now();
    let status = corrald.ctl(&["status"]);
    assert!(status.status.success(), "the API answers once READY is sent");
    assert!(String::from_utf8_lossy(&status.stdout).contains(&name), "and knows the service");
    let pings: Vec<String> = (0..4).map(|_| receive()).collect();
    assert!(pings.iter().all(|ping| ping == "WATCHDOG=1"), "{pings:?}");
    // The first ping comes with READY, the next three every 200 ms (half of 400 ms):
    // 600 ms after corrald sent READY, a little less after it arrived here.
    let took = ready.elapsed();
    assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(3), "4 pings in {took:?}");

    corrald.wait_for("the service running", Duration::from_secs(10), || corrald.container(&name));
    let runs = fs::read_dir(&envs).expect("read runtime-envs").count();
    assert!(runs >= 1, "corrald ran the runtime through the wrapper");
    for entry in fs::read_dir(&envs).expect("read runtime-envs") {
        let env = fs::read_to_string(entry.expect("entry").path()).expect("read an env");
        assert!(!env.contains("NOTIFY_SOCKET") && !env.contains("WATCHDOG_"), "the runtime saw systemd's variables:\n{env}");
    }
    // A receiver that stops reading (its queue holds 10 datagrams, 15 pings come in 3 s)
    // must not stall corrald: it still answers at once.
    std::thread::sleep(Duration::from_secs(3));
    let asked = std::time::Instant::now();
    assert!(corrald.ctl(&["status"]).status.success(), "corrald answers while systemd does not read");
    assert!(asked.elapsed() < Duration::from_secs(2), "answered after {:?}", asked.elapsed());
    send_signal(i64::from(corrald.pid()), "TERM");
    // Pings may still come first; the socket's read timeout bounds the wait.
    let stopping = std::iter::repeat_with(&mut receive).find(|message| message != "WATCHDOG=1").expect("a message");
    assert!(stopping.starts_with("STOPPING=1"), "{stopping}");
    stop_and_check(&mut corrald, &[&name]);
}
