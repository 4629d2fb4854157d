//! The supervisor's decisions, as a pure function of the manifest, what has been
//! observed, and the time.
//!
//! The daemon's loop is: wait for an event (a pidfd readable, a probe answer, a control
//! request) or for `next_deadline`; `Observed::apply` the event; call `reconcile`; carry
//! out the returned actions; repeat. `reconcile` records each action it returns in
//! `Observed` (a start as `Starting`, a stop as `Stopping`...) so that calling it again
//! never repeats one: no double start, no second stop signal. It does no I/O, reads no
//! clock and spawns nothing, so every decision is testable with made-up times.
//!
//! Each pass is a small module: `exit` judges exits by restart policy, `health` folds
//! probe answers, `stop` stops what should not run (dependents first when the whole
//! device or a removal is concerned), `start` starts what may.

mod action;
pub mod backoff;
mod exit;
mod health;
mod operation;
mod start;
mod state;
mod stop;
mod time;

#[cfg(test)]
mod operation_tests;
#[cfg(test)]
mod tests;

pub use action::Action;
pub use operation::{Followed, Outcome, Request};
pub use state::{
    DownReason, Event, ExitRecord, ExitStatus, Health, HealthStatus, Observed, Phase, RunId, ServiceState, StopReason,
};
pub use time::Instant;

use crate::manifest::Manifest;

/// Brings `observed` toward `desired` at time `now`: returns what to do, already
/// recorded as under way.
pub fn reconcile(desired: &Manifest, observed: &mut Observed, now: Instant) -> Vec<Action> {
    let mut actions = Vec::new();
    add_new_services(desired, observed, now);
    exit::judge_exits(desired, observed, &mut actions);
    start::settle_idle(desired, observed, now, &mut actions);
    refresh_supervision(desired, observed);
    health::fold_answers(observed);
    stop::request_stops(desired, observed, now, &mut actions);
    stop::kill_overdue(observed, now, &mut actions);
    start::start_ready(desired, observed, now, &mut actions);
    health::start_due_checks(observed, now, &mut actions);
    actions
}

/// The next time `reconcile` has something to do without a new event (a backoff
/// ending, a grace period running out, a probe falling due); None if only events can
/// change anything.
pub fn next_deadline(observed: &Observed, now: Instant) -> Option<Instant> {
    let deadline = |state: &ServiceState| match &state.phase {
        Phase::Waiting { not_before } => Some(*not_before),
        Phase::Stopping { kill_at, .. } => Some(*kill_at),
        Phase::Running { health, .. } if !health.in_flight => health.next_check,
        _ => None,
    };
    // A waiting service whose time has come but whose dependencies are not up waits
    // for an event, not a timer.
    observed.services.values().filter_map(deadline).filter(|at| *at > now).min()
}

/// Why `name` should not be running now, if it should not.
pub(crate) fn unwanted(desired: &Manifest, observed: &Observed, name: &str) -> Option<StopReason> {
    if observed.shutting_down {
        Some(StopReason::Shutdown)
    } else if !desired.services.contains_key(name) {
        Some(StopReason::Removed)
    } else if observed.services.get(name).is_some_and(|state| state.held) {
        Some(StopReason::Operator)
    } else {
        None
    }
}

/// Services new to the manifest wait to be started.
fn add_new_services(desired: &Manifest, observed: &mut Observed, now: Instant) {
    for name in desired.services.keys() {
        if !observed.services.contains_key(name) {
            observed.services.insert(name.clone(), ServiceState::new(now));
        }
    }
}

/// A changed restart policy, health check, dependency list or stop setting applies to
/// the running container at once; only a changed container definition replaces it.
fn refresh_supervision(desired: &Manifest, observed: &mut Observed) {
    for (name, state) in &mut observed.services {
        if let (Some(current), Some(wanted)) = (&mut state.definition, desired.services.get(name))
            && current.supervision != wanted.supervision
        {
            current.supervision = wanted.supervision.clone();
        }
    }
}

/// The names of services, in order, so passes can mutate state one service at a time.
pub(crate) fn names(observed: &Observed) -> Vec<String> {
    observed.services.keys().cloned().collect()
}
