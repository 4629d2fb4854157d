//! Following an operator's request to its outcome, as scenarios: each applies the
//! request, then events and reconciles, and checks when (and how) it is answered.

use super::tests::{SEED, at, exit, manifest, service, start_all};
use super::*;

/// What happens after the request, one step at a time.
#[derive(Clone, Copy)]
enum Step {
    /// `reconcile`, reporting every start as having succeeded.
    StartsSucceed,
    /// `reconcile`, with every start failing in the runtime.
    StartsFail,
    /// The live container exits.
    Exits,
    Operator(Request),
    Shutdown,
    /// The manifest loses the service.
    Removed,
}

const ALWAYS: &str = "restart = \"always\"";

/// (scenario, held down first, request, steps, outcome after the request and each step)
type Case = (&'static str, bool, Request, Vec<Step>, Vec<Option<Outcome>>);

/// Starts service `a` (held down first if `down`), sends `request`, runs `steps`, and
/// returns the outcome after each step (None while pending).
fn follow(down: bool, request: Request, steps: &[Step]) -> Vec<Option<Outcome>> {
    let mut desired = manifest(&service("a", ALWAYS));
    let mut observed = Observed::new(SEED);
    start_all(&desired, &mut observed, at(0));
    if down {
        observed.request("a", Request::Stop, at(1));
        reconcile(&desired, &mut observed, at(1));
        exit(&mut observed, "a", ExitStatus::Signal(15), at(2));
        reconcile(&desired, &mut observed, at(2));
    }
    let followed = observed.request("a", request, at(10));
    let mut outcomes = vec![followed.outcome(&observed)];
    for (i, step) in steps.iter().enumerate() {
        let now = at(20 + i as u64);
        match step {
            Step::StartsSucceed => drop(start_all(&desired, &mut observed, now)),
            Step::StartsFail => {
                for action in reconcile(&desired, &mut observed, now) {
                    if let Action::Start { service, run } = action {
                        let status = ExitStatus::StartFailed("no such rootfs".into());
                        observed.apply(Event::Exited { service, run, status }, now);
                    }
                }
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
    use Step::*;
    let done = Some(Outcome::Done);
    let failed = Some(Outcome::Exited(ExitStatus::StartFailed("no such rootfs".into())));
    let overtaken = |why| Some(Outcome::Overtaken(why));
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("stop: done once the container is gone", false, Request::Stop,
            vec![StartsSucceed, Exits, StartsSucceed], vec![None, None, None, done.clone()]),
        ("stop of a stopped service: done at once", true, Request::Stop, vec![], vec![done.clone()]),
        ("start of a running service: done at once", false, Request::Start, vec![], vec![done.clone()]),
        ("start: done once running", true, Request::Start, vec![StartsSucceed], vec![None, done.clone()]),
        ("start that fails: its exit", true, Request::Start, vec![StartsFail], vec![None, failed.clone()]),
        ("restart: not done by the old run", false, Request::Restart,
            vec![StartsSucceed, Exits, StartsSucceed], vec![None, None, None, done.clone()]),
        ("restart that fails to start again", false, Request::Restart,
            vec![StartsSucceed, Exits, StartsFail], vec![None, None, None, failed]),
        ("start, then stopped by another request", true, Request::Start,
            vec![Operator(Request::Stop)], vec![None, overtaken("it was stopped meanwhile")]),
        ("stop, then started by another request", false, Request::Stop,
            vec![Operator(Request::Start)], vec![None, overtaken("it was started again meanwhile")]),
        ("start, then corrald shuts down", true, Request::Start,
            vec![Shutdown], vec![None, overtaken("corrald is shutting down")]),
        ("restart of a service removed meanwhile", false, Request::Restart,
            vec![Removed, StartsSucceed, Exits, StartsSucceed],
            vec![None, None, None, None, overtaken("the service was removed from the manifest")]),
        ("stop of a service removed meanwhile", false, Request::Stop,
            vec![Removed, StartsSucceed, Exits, StartsSucceed], vec![None, None, None, None, done]),
    ];
    for (name, down, request, steps, expected) in cases {
        assert_eq!(follow(down, request, &steps), expected, "{name}");
    }
}
