//! corrald's log files with real containers: a service's own size and count limits
//! (and a change of them by SIGHUP), no output lost when corrald is SIGKILLed again
//! and again while a service logs fast, and a service that logs while corrald is down
//! neither blocked nor killed.

use corral_tests::supervisor::{Corrald, lines, send_signal, service, unique_service};
use corral_tests::supervisor_chaos::{Rng, assert_nothing_left, log_numbers, lost, poll_until, repeats};
use corral_tests::*;
use std::fs;
use std::time::{Duration, Instant};

/// Records its start in /out/starts-<name>, then prints `line 1`, `line 2`… with a short
/// pause every `burst` lines; SIGTERM makes it exit 0.
fn counter(name: &str, burst: u32) -> String {
    format!(
        "trap 'exit 0' TERM; echo start >> /out/starts-{name}; i=0; \
         while true; do i=$((i+1)); echo line $i; [ $((i % {burst})) = 0 ] && sleep 0.01; done"
    )
}

/// Sizes of `<service>.log` (index 0) and `.log.1` … `.log.9` (None: no such file).
fn log_sizes(corrald: &Corrald, service: &str) -> Vec<Option<u64>> {
    let path = |n: usize| match n {
        0 => corrald.logs_dir().join(format!("{service}.log")),
        n => corrald.logs_dir().join(format!("{service}.log.{n}")),
    };
    (0..10).map(|n| fs::metadata(path(n)).ok().map(|meta| meta.len())).collect()
}

/// Checks, over a few moments of logging, that no file of `service` passes `max` bytes
/// and no rotated copy past `.keep` exists; and that rotated `.1` is nearly full (cut
/// at the last whole line that fits, lines being under 16 bytes).
fn assert_within(corrald: &Corrald, service: &str, max: u64, keep: usize) {
    for _ in 0..10 {
        let sizes = log_sizes(corrald, service);
        let shown = format!("{service}: sizes {sizes:?}, want at most {max} bytes and {keep} rotated");
        assert!(sizes.iter().flatten().all(|size| *size <= max), "{shown}");
        assert!(sizes[keep + 1..].iter().all(Option::is_none), "{shown}");
        assert!(sizes[1].is_none_or(|size| size > max - 16), "{shown}");
        std::thread::sleep(Duration::from_millis(30));
    }
}

#[test]
fn a_services_log_limits_cap_its_files_and_a_change_applies_without_a_restart() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let (small, plain) = (unique_service("small-logs"), unique_service("plain-logs"));
    let services = [small.clone(), plain.clone()];
    let mut corrald = Corrald::new(&["--log-max-size", "8K", "--log-keep", "1"]);
    let manifest = |logs: &str| {
        service(&corrald, &bundle, &small, &counter(&small, 10), logs)
            + &service(&corrald, &bundle, &plain, &counter(&plain, 10), "")
    };
    let (first, changed) =
        (manifest("logs = { max_size = \"1K\", keep = 2 }"), manifest("logs = { max_size = \"2K\", keep = 1 }"));
    corrald.write_manifest(&first);
    corrald.spawn();

    // ~10 KB/s each: the small files rotate ten times a second, the plain ones (the
    // daemon's 8K) about once.
    corrald.wait_for("rotated logs", Duration::from_secs(20), || {
        let rotated = |service: &str, n: usize| log_sizes(&corrald, service)[n].is_some();
        (rotated(&small, 2) && rotated(&plain, 1)).then_some(())
    });
    assert_within(&corrald, &small, 1024, 2);
    assert_within(&corrald, &plain, 8192, 1);
    assert!(log_sizes(&corrald, &plain)[1] > Some(1024), "the plain service got the small one's limit");

    corrald.write_manifest(&changed);
    send_signal(corrald.pid() as i64, "HUP");
    corrald.wait_for("a rotation at the new size", Duration::from_secs(20), || {
        let sizes = log_sizes(&corrald, &small);
        (sizes[1] > Some(1024) && sizes[2].is_none()).then_some(())
    });
    assert_within(&corrald, &small, 2048, 1);
    assert_eq!(lines(&corrald.out(&format!("starts-{small}"))), ["start"], "the change restarted the service");

    let status = corrald.terminate(Duration::from_secs(30));
    assert!(status.success(), "corrald exited with {status}\n{}", corrald.stderr());
    assert_nothing_left(&corrald, &services);
}

/// Rounds of: let it run 0-400 ms (or, every other round, 0-30 ms: while it takes over
/// and drains what piled up), SIGKILL, leave it dead 0-200 ms, start it again.
const KILLS: usize = 10;

#[test]
fn no_log_line_is_lost_when_corrald_is_sigkilled_again_and_again() {
    skip_unless_root!();
    let began = Instant::now();
    let mut rng = Rng::from_env();
    let bundle = Bundle::new();
    let name = unique_service("chatty");
    let mut corrald = Corrald::new(&[]);
    // Small files, all kept: rotation happens under the kills too, and nothing is dropped.
    let logs = "logs = { max_size = \"8K\", keep = 1000 }";
    corrald.write_manifest(&service(&corrald, &bundle, &name, &counter(&name, 50), logs));
    corrald.spawn();
    corrald.wait_for("the first lines", Duration::from_secs(20), || {
        (log_numbers(&corrald.logs_dir(), &name, 1000).len() > 100).then_some(())
    });

    let mut history = Vec::new();
    for round in 0..KILLS {
        let alive = rng.below(if round % 2 == 0 { 400 } else { 30 });
        std::thread::sleep(Duration::from_millis(alive));
        corrald.sigkill();
        let dead = rng.below(200);
        std::thread::sleep(Duration::from_millis(dead));
        corrald.spawn();
        history.push(format!("kill {round}: after {alive} ms, dead {dead} ms"));
    }
    let summary = format!("kills:\n{}\ncorrald:\n{}", history.join("\n"), corrald.stderr());

    // Retried: reading the files races with rotation, while a lost line stays lost.
    let last = log_numbers(&corrald.logs_dir(), &name, 1000).into_iter().max().unwrap_or(0);
    let logged = poll_until(&corrald, "every line logged", Duration::from_secs(20), || {
        let numbers = log_numbers(&corrald.logs_dir(), &name, 1000);
        let missing = lost(&numbers);
        if !missing.is_empty() {
            return Err(format!("lost lines: {missing:?}\n{summary}"));
        }
        // Well past the last kill, so what piled up in the pipe meanwhile is in too.
        let highest = numbers.iter().max().copied().unwrap_or(0);
        if highest < last + 1000 {
            return Err(format!("up to line {highest}, want {}", last + 1000));
        }
        Ok(numbers)
    });
    let starts = lines(&corrald.out(&format!("starts-{name}")));
    assert_eq!(starts, ["start"], "the service was restarted (its numbers start over)\n{summary}");

    let status = corrald.terminate(Duration::from_secs(30));
    assert!(status.success(), "corrald exited with {status}\n{}", corrald.stderr());
    assert_nothing_left(&corrald, std::slice::from_ref(&name));
    eprintln!(
        "{KILLS} kills; {} lines logged, {} of them again after a kill; {:?}",
        logged.len(),
        repeats(&logged),
        began.elapsed()
    );
}

/// While corrald is down its services go on logging: a burst of about 300 KB (more than a
/// pipe holds by default, less than the 1 MB corrald asks for) completes without
/// corrald, the service is neither killed nor blocked, and the next corrald logs it all.
#[test]
fn a_service_logging_while_corrald_is_down_is_neither_blocked_nor_killed() {
    skip_unless_root!();
    let bundle = Bundle::new();
    let name = unique_service("burst");
    let mut corrald = Corrald::new(&[]);
    let burst = "trap 'exit 0' TERM; while [ ! -e /out/go ]; do sleep 0.02; done; i=0; \
        while [ $i -lt 30000 ]; do i=$((i+1)); echo line $i; done; \
        echo done > /out/burst; sleep 100000 & wait";
    corrald.write_manifest(&service(&corrald, &bundle, &name, burst, ""));
    corrald.spawn();
    let init = corrald.wait_for("the service running", Duration::from_secs(20), || Some(corrald.container(&name)?.0));

    corrald.sigkill();
    fs::write(corrald.out_dir().join("go"), "").expect("start the burst");
    let began = Instant::now();
    while corrald.out("burst") != "done\n" {
        assert!(began.elapsed() < Duration::from_secs(20), "the burst is blocked while corrald is down");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(pid_alive(init), "the service died while corrald was down");

    corrald.spawn();
    let numbers = corrald.wait_for("the burst in the log", Duration::from_secs(20), || {
        let numbers = log_numbers(&corrald.logs_dir(), &name, 10);
        numbers.contains(&30000).then_some(numbers)
    });
    assert!(lost(&numbers).is_empty(), "lost: {:?}", lost(&numbers));
    assert_eq!(corrald.container(&name).map(|(pid, _)| pid), Some(init), "re-adopted, not restarted");
    let status = corrald.terminate(Duration::from_secs(30));
    assert!(status.success(), "corrald exited with {status}\n{}", corrald.stderr());
    assert_nothing_left(&corrald, std::slice::from_ref(&name));
}
