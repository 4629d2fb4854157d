//! The core driven through whole scenarios with made-up times: each test applies
//! events, reconciles, and checks the actions and phases.

use std::time::Duration;

use super::*;
use crate::device::Device;
use crate::manifest::{self, Manifest};

pub(super) const SEED: u64 = 0x5eed;

pub(super) fn manifest(text: &str) -> Manifest {
    manifest::parse(text, &Device { mem_total: 1 << 40 }).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// A service block with a rootfs and args, plus `extra` lines.
pub(super) fn service(name: &str, extra: &str) -> String {
    format!("[services.{name}]\nrootfs = \"/r/{name}\"\nprocess = {{ args = [\"/bin/{name}\"] }}\n{extra}\n")
}

fn started_runs(actions: &[Action]) -> Vec<(String, RunId)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Start { service, run } => Some((service.clone(), *run)),
            _ => None,
        })
        .collect()
}

fn started(actions: &[Action]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Start { service, .. } => Some(service.as_str()),
            _ => None,
        })
        .collect()
}

fn signalled(actions: &[Action]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Signal { service, .. } => Some(service.as_str()),
            _ => None,
        })
        .collect()
}

/// Reconciles, then reports every Start as having succeeded at the same time.
pub(super) fn start_all(desired: &Manifest, observed: &mut Observed, now: Instant) -> Vec<Action> {
    let actions = reconcile(desired, observed, now);
    for (service, run) in started_runs(&actions) {
        observed.apply(Event::Started { service, run }, now);
    }
    actions
}

fn run_of(observed: &Observed, name: &str) -> RunId {
    observed.services[name].live_run().expect("service is live")
}

pub(super) fn exit(observed: &mut Observed, name: &str, status: ExitStatus, now: Instant) {
    let run = run_of(observed, name);
    observed.apply(Event::Exited { service: name.into(), run, status }, now);
}

fn answer(observed: &mut Observed, name: &str, healthy: bool, now: Instant) {
    let run = run_of(observed, name);
    observed.apply(Event::HealthResult { service: name.into(), run, healthy }, now);
}

#[test]
fn starts_in_dependency_order_without_double_starts() {
    let text = [
        service("app", "depends_on = { api = \"started\" }"),
        service("api", "depends_on = { db = \"healthy\" }"),
        service("db", "[services.db.health]\ntcp = { port = 5432 }\ninterval = \"1s\""),
    ]
    .concat();
    let desired = manifest(&text);
    let mut observed = Observed::new(SEED);
    let first = reconcile(&desired, &mut observed, at(0));
    assert_eq!(started(&first), ["db"]);
    assert_eq!(reconcile(&desired, &mut observed, at(1)), [], "no second start while starting");
    let db = run_of(&observed, "db");
    observed.apply(Event::Started { service: "db".into(), run: db }, at(10));
    assert_eq!(reconcile(&desired, &mut observed, at(10)), [], "api waits for db to be healthy");
    assert_eq!(next_deadline(&observed, at(10)), Some(at(1_010)), "first probe one interval after start");
    let probe = reconcile(&desired, &mut observed, at(1_010));
    assert!(matches!(&probe[..], [Action::CheckHealth { service, .. }] if service == "db"), "{probe:?}");
    assert_eq!(reconcile(&desired, &mut observed, at(1_020)), [], "one probe in flight at a time");
    answer(&mut observed, "db", true, at(1_030));
    assert_eq!(started(&start_all(&desired, &mut observed, at(1_030))), ["api"]);
    assert_eq!(started(&start_all(&desired, &mut observed, at(1_031))), ["app"]);
    assert_eq!(started(&reconcile(&desired, &mut observed, at(1_032))), Vec::<&str>::new());
}

#[test]
fn backoff_delays_grow_within_jitter_and_cap() {
    let backoff = "[services.a.restart]\npolicy = \"always\"\nbackoff = { initial = \"1s\", factor = 2, cap = \"8s\", jitter = 0.1, reset_after = \"1h\" }";
    let desired = manifest(&service("a", backoff));
    for seed in 0..20 {
        let mut observed = Observed::new(seed);
        let mut now = 0;
        start_all(&desired, &mut observed, at(now));
        for expected_ms in [1_000.0, 2_000.0, 4_000.0, 8_000.0, 8_000.0, 8_000.0] {
            now += 100;
            exit(&mut observed, "a", ExitStatus::Code(1), at(now));
            assert_eq!(reconcile(&desired, &mut observed, at(now)), [], "no restart before the delay");
            let Phase::Waiting { not_before } = observed.services["a"].phase else { panic!("not waiting") };
            let delay = not_before.saturating_since(at(now)).as_secs_f64() * 1_000.0;
            assert!(
                (expected_ms * 0.9..=expected_ms * 1.1).contains(&delay),
                "seed {seed}: {delay} ms, want {expected_ms} ±10%"
            );
            assert_eq!(next_deadline(&observed, at(now)), Some(not_before));
            assert_eq!(reconcile(&desired, &mut observed, not_before + Duration::from_millis(0)).len(), 1);
            now = not_before.since_origin().as_millis() as u64;
            observed.apply(Event::Started { service: "a".into(), run: run_of(&observed, "a") }, at(now));
        }
    }
}

/// (policy lines, exit statuses in a row, phase expected after the last one)
#[test]
fn restart_policies() {
    let gave_up = Phase::Down { why: DownReason::GaveUp { restarts: 2 } };
    let finished = |code| Phase::Down { why: DownReason::Finished(ExitStatus::Code(code)) };
    let cases: Vec<(&str, Vec<ExitStatus>, Option<Phase>)> = vec![
        ("restart = \"never\"", vec![ExitStatus::Code(3)], Some(finished(3))),
        ("restart = \"on-failure\"", vec![ExitStatus::Code(0)], Some(finished(0))),
        ("restart = \"on-failure\"", vec![ExitStatus::OomKilled], None),
        ("restart = \"always\"", vec![ExitStatus::Code(0)], None),
        ("restart = \"unless-stopped\"", vec![ExitStatus::Signal(9)], None),
        ("restart = { policy = \"on-failure\", max = 2 }", vec![ExitStatus::Code(1), ExitStatus::Code(1)], None),
        ("restart = { policy = \"on-failure\", max = 2 }", vec![ExitStatus::Code(1); 3], Some(gave_up.clone())),
        (
            "restart = { policy = \"on-failure\", max = 2 }",
            vec![ExitStatus::StartFailed("no rootfs".into()); 3],
            Some(gave_up),
        ),
    ];
    for (policy, exits, want) in cases {
        let desired = manifest(&service("a", policy));
        let mut observed = Observed::new(SEED);
        let mut now = 0;
        start_all(&desired, &mut observed, at(now));
        for status in exits {
            now += 10;
            exit(&mut observed, "a", status, at(now));
            now += 120_000; // past any backoff
            start_all(&desired, &mut observed, at(now));
        }
        let phase = &observed.services["a"].phase;
        match &want {
            Some(want) => assert_eq!(phase, want, "{policy}"),
            None => assert!(matches!(phase, Phase::Running { .. }), "{policy}: restarted, got {phase:?}"),
        }
    }
}

#[test]
fn a_long_enough_run_resets_the_backoff() {
    let text = service("a", "[services.a.restart]\nbackoff = { initial = \"1s\", jitter = 0.0, reset_after = \"1m\" }");
    let desired = manifest(&text);
    // (how long the run lasted, delay expected after its failure)
    let cases = [(10, 1_000), (10, 2_000), (10, 4_000), (60_000, 1_000), (59_999, 2_000)];
    let mut observed = Observed::new(SEED);
    let mut now = 0;
    start_all(&desired, &mut observed, at(now));
    for (ran_ms, want_delay) in cases {
        now += ran_ms;
        exit(&mut observed, "a", ExitStatus::Code(1), at(now));
        reconcile(&desired, &mut observed, at(now));
        let Phase::Waiting { not_before } = observed.services["a"].phase else { panic!() };
        assert_eq!(not_before.saturating_since(at(now)), Duration::from_millis(want_delay), "after {ran_ms} ms");
        now = not_before.since_origin().as_millis() as u64;
        start_all(&desired, &mut observed, at(now));
    }
}

#[test]
fn failing_health_checks_restart_the_service_after_the_start_period() {
    let health = "[services.a.health]\nexec = [\"/bin/check\"]\ninterval = \"1s\"\nretries = 2\nstart_period = \"5s\"";
    let desired = manifest(&service("a", &format!("{health}\n[services.a.stop]\ngrace = \"2s\"")));
    let mut observed = Observed::new(SEED);
    start_all(&desired, &mut observed, at(0));
    // (time of a failed answer, whether the service is then being stopped)
    let cases = [(1_000, false), (2_000, false), (3_000, false), (4_000, false), (5_000, false), (6_000, true)];
    for (time, stopping) in cases {
        let probe = reconcile(&desired, &mut observed, at(time));
        assert!(matches!(&probe[..], [Action::CheckHealth { .. }]), "probe due at {time}: {probe:?}");
        answer(&mut observed, "a", false, at(time));
        let actions = reconcile(&desired, &mut observed, at(time));
        assert_eq!(signalled(&actions) == ["a"], stopping, "at {time}: {actions:?}");
    }
    let kill = reconcile(&desired, &mut observed, at(8_000));
    assert!(matches!(&kill[..], [Action::Kill { .. }]), "{kill:?}");
    exit(&mut observed, "a", ExitStatus::Signal(9), at(8_010));
    reconcile(&desired, &mut observed, at(8_010));
    assert_eq!(observed.services["a"].recent_restarts, 1, "an unhealthy stop counts as a failure");
    assert!(matches!(observed.services["a"].phase, Phase::Waiting { .. }));
}

#[test]
fn a_success_ends_the_start_period_early() {
    let health = "[services.a.health]\nexec = [\"/bin/check\"]\ninterval = \"1s\"\nretries = 1\nstart_period = \"1m\"";
    let desired = manifest(&service("a", health));
    let mut observed = Observed::new(SEED);
    start_all(&desired, &mut observed, at(0));
    reconcile(&desired, &mut observed, at(1_000));
    answer(&mut observed, "a", true, at(1_000));
    reconcile(&desired, &mut observed, at(1_000));
    reconcile(&desired, &mut observed, at(2_000));
    answer(&mut observed, "a", false, at(2_000));
    assert_eq!(signalled(&reconcile(&desired, &mut observed, at(2_000))), ["a"]);
}

#[test]
fn shutdown_stops_in_reverse_dependency_order_then_kills() {
    let text = [
        service("app", "depends_on = [\"api\"]\n[services.app.stop]\ngrace = \"1s\""),
        service("api", "depends_on = [\"db\"]"),
        service("db", "[services.db.stop]\nsignal = \"SIGINT\""),
        service("solo", ""),
    ]
    .concat();
    let desired = manifest(&text);
    let mut observed = Observed::new(SEED);
    for now in 0..3 {
        start_all(&desired, &mut observed, at(now));
    }
    assert!(observed.services.values().all(|s| matches!(s.phase, Phase::Running { .. })));
    observed.apply(Event::ShutdownRequested, at(100));
    assert_eq!(signalled(&reconcile(&desired, &mut observed, at(100))), ["app", "solo"]);
    let kill = reconcile(&desired, &mut observed, at(1_100));
    assert!(matches!(&kill[..], [Action::Kill { service, .. }] if service == "app"), "{kill:?}");
    exit(&mut observed, "app", ExitStatus::Signal(9), at(1_150));
    exit(&mut observed, "solo", ExitStatus::Code(0), at(1_150));
    assert_eq!(signalled(&reconcile(&desired, &mut observed, at(1_150))), ["api"]);
    exit(&mut observed, "api", ExitStatus::Code(0), at(1_200));
    let last = reconcile(&desired, &mut observed, at(1_200));
    assert!(
        matches!(&last[..], [Action::Signal { service, signal, .. }] if service == "db" && *signal == libc::SIGINT),
        "{last:?}"
    );
    exit(&mut observed, "db", ExitStatus::Code(0), at(1_300));
    assert_eq!(reconcile(&desired, &mut observed, at(1_300)), []);
    assert!(observed.services.values().all(|s| s.phase == Phase::Down { why: DownReason::Shutdown }));
    assert_eq!(next_deadline(&observed, at(1_300)), None);
}

#[test]
fn applying_a_new_manifest_touches_only_changed_services() {
    let old =
        manifest(&[service("keep", ""), service("tune", ""), service("change", ""), service("drop", "")].concat());
    let mut observed = Observed::new(SEED);
    start_all(&old, &mut observed, at(0));
    let runs: Vec<RunId> = ["keep", "tune", "change"].iter().map(|n| run_of(&observed, n)).collect();
    let new = manifest(
        &[
            service("keep", ""),
            service("tune", "restart = \"never\"\n[services.tune.health]\ntcp = { port = 80 }"),
            service("change", "network = \"host\""),
            service("added", ""),
        ]
        .concat(),
    );
    let actions = reconcile(&new, &mut observed, at(10));
    assert_eq!(started(&actions), ["added"]);
    assert_eq!(signalled(&actions), ["change", "drop"]);
    assert_eq!([run_of(&observed, "keep"), run_of(&observed, "tune")], [runs[0], runs[1]]);
    let tuned = observed.services["tune"].definition.as_ref().unwrap();
    assert!(tuned.supervision.health.is_some(), "supervision applies in place");
    exit(&mut observed, "change", ExitStatus::Code(0), at(20));
    exit(&mut observed, "drop", ExitStatus::Code(0), at(20));
    let after = reconcile(&new, &mut observed, at(20));
    assert!(after.contains(&Action::Forget { service: "drop".into() }), "{after:?}");
    assert_eq!(started(&after), ["change"], "replaced at once, no backoff");
    assert!(!observed.services.contains_key("drop"));
    assert_eq!(observed.services["change"].recent_restarts, 0);
}

#[test]
fn removal_stops_dependents_first() {
    let old = manifest(&[service("a", "depends_on = [\"b\"]"), service("b", ""), service("c", "")].concat());
    let mut observed = Observed::new(SEED);
    start_all(&old, &mut observed, at(0));
    start_all(&old, &mut observed, at(1));
    let new = manifest(&service("c", ""));
    assert_eq!(signalled(&reconcile(&new, &mut observed, at(10))), ["a"]);
    exit(&mut observed, "a", ExitStatus::Code(0), at(20));
    let actions = reconcile(&new, &mut observed, at(20));
    assert_eq!(signalled(&actions), ["b"]);
    assert!(actions.contains(&Action::Forget { service: "a".into() }));
}

#[test]
fn events_about_an_earlier_run_are_ignored() {
    let desired = manifest(&service("a", "[services.a.restart]\nbackoff = { initial = \"1s\", jitter = 0.0 }"));
    let mut observed = Observed::new(SEED);
    start_all(&desired, &mut observed, at(0));
    let first = run_of(&observed, "a");
    exit(&mut observed, "a", ExitStatus::Code(1), at(10));
    reconcile(&desired, &mut observed, at(10));
    start_all(&desired, &mut observed, at(1_010));
    let second = run_of(&observed, "a");
    assert_ne!(first, second);
    let events = [
        Event::Exited { service: "a".into(), run: first, status: ExitStatus::Code(1) },
        Event::Started { service: "a".into(), run: first },
        Event::HealthResult { service: "a".into(), run: first, healthy: false },
        Event::Exited { service: "ghost".into(), run: second, status: ExitStatus::Code(1) },
    ];
    for event in events {
        let before = observed.services["a"].clone();
        observed.apply(event.clone(), at(1_020));
        assert_eq!(observed.services["a"], before, "{event:?}");
    }
}

#[test]
fn operator_stop_start_and_restart() {
    let desired = manifest(&service("a", "restart = { policy = \"on-failure\", max = 1 }"));
    let mut observed = Observed::new(SEED);
    start_all(&desired, &mut observed, at(0));
    observed.apply(Event::StopRequested { service: "a".into() }, at(5));
    assert_eq!(signalled(&reconcile(&desired, &mut observed, at(5))), ["a"]);
    exit(&mut observed, "a", ExitStatus::Signal(15), at(6));
    reconcile(&desired, &mut observed, at(6));
    assert_eq!(observed.services["a"].phase, Phase::Down { why: DownReason::Held });
    assert_eq!(reconcile(&desired, &mut observed, at(60_000)), [], "a held service stays down");
    observed.apply(Event::StartRequested { service: "a".into() }, at(60_001));
    assert_eq!(started(&start_all(&desired, &mut observed, at(60_001))), ["a"]);
    observed.apply(Event::RestartRequested { service: "a".into() }, at(60_002));
    assert_eq!(signalled(&reconcile(&desired, &mut observed, at(60_002))), ["a"]);
    exit(&mut observed, "a", ExitStatus::Signal(15), at(60_003));
    assert_eq!(started(&reconcile(&desired, &mut observed, at(60_003))), ["a"], "restart is immediate");
}

#[test]
fn an_adopted_container_is_running_and_its_unknown_exit_is_a_failure() {
    let text = service("a", "restart = { policy = \"on-failure\", backoff = { initial = \"1s\", jitter = 0.0 } }")
        + &service("b", "depends_on = [\"a\"]");
    let desired = manifest(&text);
    let mut observed = Observed::new(SEED);
    for name in ["a", "b"] {
        observed.services.insert(name.into(), ServiceState::new(at(0)));
    }
    let run = observed.adopt("a", desired.services["a"].clone(), at(0)).expect("a is adopted");
    assert_eq!(observed.adopt("a", desired.services["a"].clone(), at(0)), None, "no second adoption");
    assert_eq!(started(&start_all(&desired, &mut observed, at(0))), ["b"], "a is not started again");
    observed.apply(Event::Exited { service: "a".into(), run, status: ExitStatus::Unknown }, at(10));
    reconcile(&desired, &mut observed, at(10));
    assert_eq!(observed.services["a"].phase, Phase::Waiting { not_before: at(1_010) });
}
