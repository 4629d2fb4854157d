//! Following an operator's request to its outcome, as scenarios: each applies the
//! request, then events and reconciles, and checks when (and how) it is answered.

use super::tests::{SEED, at, exit, manifest, service, start_all};
use super::*;
use crate::manifest::Manifest;

/// Where service `a` is when the request comes.
#[derive(Clone, Copy)]
enum Before {
    Running,
    /// Stopped by the operator.
    Down,
    /// Its start issued, not yet reported.
    Starting,
    /// Stopped by the operator while its start was under way (`stop --no-wait`).
    StartingHeld,
    /// Crashed, waiting out its backoff.
    Backoff,
}

/// What happens after the request, one step at a time.
#[derive(Clone, Copy)]
enum Step {
    /// `reconcile`, reporting every start as having succeeded.
    StartsSucceed,
    /// `reconcile`, with every start failing in the runtime.
    StartsFail,
    /// `reconcile`, every start succeeding and its process ending at once (a short job).
    StartsAndEnds,
    /// The start under way is reported, then `reconcile`.
    RunStarted,
    /// The live container exits.
    Exits,
    Operator(Request),
    Shutdown,
    /// The manifest loses the service.
    Removed,
}

const POLICY: &str = "restart = { policy = \"always\", backoff = { initial = \"10s\", jitter = 0.0 } }";

/// (scenario, where `a` is, request, steps, outcome after the request and each step)
type Case = (&'static str, Before, Request, Vec<Step>, Vec<Option<Outcome>>);

fn set_up(desired: &Manifest, observed: &mut Observed, before: Before) {
    if matches!(before, Before::Starting | Before::StartingHeld) {
        reconcile(desired, observed, at(0));
    } else {
        start_all(desired, observed, at(0));
    }
    match before {
        Before::Down => {
            observed.request("a", Request::Stop, at(1));
            reconcile(desired, observed, at(1));
            exit(observed, "a", ExitStatus::Signal(15), at(2));
            reconcile(desired, observed, at(2));
        }
        Before::StartingHeld => drop(observed.request("a", Request::Stop, at(1))),
        Before::Backoff => {
            exit(observed, "a", ExitStatus::Code(1), at(1));
            reconcile(desired, observed, at(1));
        }
        Before::Running | Before::Starting => {}
    }
}

/// Each start in `actions` reported as `Started`, and as `Exited` with `ended` if given.
fn report_starts(observed: &mut Observed, actions: Vec<Action>, ended: Option<ExitStatus>, now: Instant) {
    for action in actions {
        if let Action::Start { service, run } = action {
            if !matches!(ended, Some(ExitStatus::StartFailed(_))) {
                observed.apply(Event::Started { service: service.clone(), run }, now);
            }
            if let Some(status) = ended.clone() {
                observed.apply(Event::Exited { service, run, status }, now);
            }
        }
    }
}

/// Puts service `a` where `before` says, sends `request`, runs `steps`, and returns the
/// outcome after the request and after each step (None while pending).
fn follow(before: Before, request: Request, steps: &[Step]) -> Vec<Option<Outcome>> {
    let mut desired = manifest(&service("a", POLICY));
    let mut observed = Observed::new(SEED);
    set_up(&desired, &mut observed, before);
    let followed = observed.request("a", request, at(10));
    let mut outcomes = vec![followed.outcome(&observed)];
    for (i, step) in steps.iter().enumerate() {
        let now = at(20 + i as u64);
        match step {
            Step::StartsSucceed => drop(start_all(&desired, &mut observed, now)),
            Step::StartsFail | Step::StartsAndEnds => {
                let ended = match step {
                    Step::StartsFail => ExitStatus::StartFailed("no such rootfs".into()),
                    _ => ExitStatus::Code(0),
                };
                let actions = reconcile(&desired, &mut observed, now);
                report_starts(&mut observed, actions, Some(ended), now);
                reconcile(&desired, &mut observed, now);
            }
            Step::RunStarted => {
                let run = observed.services["a"].live_run().expect("a start under way");
                observed.apply(Event::Started { service: "a".into(), run }, now);
                reconcile(&desired, &mut observed, now);
            }
            Step::Exits => exit(&mut observed, "a", ExitStatus::Signal(15), now),
            Step::Operator(other) => drop(observed.request("a", *other, now)),
            Step::Shutdown => observed.apply(Event::ShutdownRequested, now),
            Step::Removed => desired = manifest("version = 1"),
        }
        outcomes.push(followed.outcome(&observed));
    }
    outcomes
}

#[test]
fn requests_are_answered_once_they_took_effect() {
    use Before::*;
    use Step::*;
    let done = Some(Outcome::Done);
    let failed = Some(Outcome::NotStarted(ExitStatus::StartFailed("no such rootfs".into())));
    let overtaken = |why| Some(Outcome::Overtaken(why));
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("stop: done once the container is gone", Running, Request::Stop,
            vec![StartsSucceed, Exits, StartsSucceed], vec![None, None, None, done.clone()]),
        ("stop of a stopped service: done at once", Down, Request::Stop, vec![], vec![done.clone()]),
        ("stop while starting: done once it started and ended", Starting, Request::Stop,
            vec![RunStarted, Exits, StartsSucceed], vec![None, None, None, done.clone()]),
        ("start of a running service: done at once", Running, Request::Start, vec![], vec![done.clone()]),
        ("start: done once running", Down, Request::Start, vec![StartsSucceed], vec![None, done.clone()]),
        ("start of a short job: done though it ended", Down, Request::Start, vec![StartsAndEnds], vec![None, done.clone()]),
        ("start that fails: not started, and why", Down, Request::Start, vec![StartsFail], vec![None, failed.clone()]),
        ("start after a stop while starting: the same run counts", StartingHeld, Request::Start,
            vec![RunStarted], vec![None, done.clone()]),
        ("start during a backoff: starts now", Backoff, Request::Start, vec![StartsSucceed], vec![None, done.clone()]),
        ("restart: not done by the old run", Running, Request::Restart,
            vec![StartsSucceed, Exits, StartsSucceed], vec![None, None, None, done.clone()]),
        ("restart of a stopped service", Down, Request::Restart, vec![StartsSucceed], vec![None, done.clone()]),
        ("restart that fails to start again", Running, Request::Restart,
            vec![StartsSucceed, Exits, StartsFail], vec![None, None, None, failed]),
        ("start, then stopped by another request", Down, Request::Start,
            vec![Operator(Request::Stop)], vec![None, overtaken("it was stopped meanwhile")]),
        ("stop, then started by another request", Running, Request::Stop,
            vec![Operator(Request::Start)], vec![None, overtaken("it was started again meanwhile")]),
        ("start, then corrald shuts down", Down, Request::Start,
            vec![Shutdown], vec![None, overtaken("corrald is shutting down")]),
        ("restart of a service removed meanwhile", Running, Request::Restart,
            vec![Removed, StartsSucceed, Exits, StartsSucceed],
            vec![None, None, None, None, overtaken("the service was removed from the manifest")]),
        ("stop of a service removed meanwhile", Running, Request::Stop,
            vec![Removed, StartsSucceed, Exits, StartsSucceed], vec![None, None, None, None, done]),
    ];
    for (name, before, request, steps, expected) in cases {
        assert_eq!(follow(before, request, &steps), expected, "{name}");
    }
}

#[test]
fn a_request_for_a_service_not_yet_reconciled_is_followed() {
    let desired = manifest(&service("a", POLICY));
    let mut observed = Observed::new(SEED);
    let followed = observed.request("a", Request::Stop, at(0));
    assert_eq!(followed.outcome(&observed), None, "not answered as if it were gone");
    reconcile(&desired, &mut observed, at(1));
    assert_eq!(followed.outcome(&observed), Some(Outcome::Done), "held down before it ever started");
}
