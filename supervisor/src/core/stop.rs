//! Stopping: what should no longer run gets its stop signal, and SIGKILL when its grace
//! period is over. On shutdown and removal, a service is signalled only once every
//! live service that depends on it has exited (reverse dependency order).

use super::state::{HealthStatus, Observed, Phase, StopReason};
use super::time::Instant;
use super::{Action, names, unwanted};
use crate::manifest::Manifest;

pub(crate) fn request_stops(desired: &Manifest, observed: &mut Observed, now: Instant, actions: &mut Vec<Action>) {
    for name in names(observed) {
        let Some(reason) = stop_reason(desired, observed, &name) else { continue };
        if reason.in_dependency_order() && has_live_dependents_stopping(desired, observed, &name) {
            continue;
        }
        let state = observed.services.get_mut(&name).expect("name was listed");
        let Phase::Running { run, .. } = state.phase else { continue };
        let stop = state.definition.as_ref().map(|d| d.supervision.stop).unwrap_or_default();
        if reason == StopReason::Restart {
            state.restart_requested = false;
        }
        state.phase = Phase::Stopping { run, reason, kill_at: now + stop.grace };
        actions.push(Action::Signal { service: name, run, signal: stop.signal });
    }
}

/// Why a running service should stop now, if it should.
fn stop_reason(desired: &Manifest, observed: &Observed, name: &str) -> Option<StopReason> {
    let state = &observed.services[name];
    let Phase::Running { health, .. } = &state.phase else { return None };
    if let Some(reason) = unwanted(desired, observed, name) {
        return Some(reason);
    }
    let changed = match (&state.definition, desired.services.get(name)) {
        (Some(running), Some(wanted)) => running.container != wanted.container,
        _ => false,
    };
    if changed {
        Some(StopReason::Replaced)
    } else if state.restart_requested {
        Some(StopReason::Restart)
    } else if health.status == HealthStatus::Unhealthy {
        Some(StopReason::Unhealthy)
    } else {
        None
    }
}

/// Whether a live service that depends on `name` (by the definition it runs with) is
/// itself to be stopped in dependency order: then `name` must wait for it to exit.
fn has_live_dependents_stopping(desired: &Manifest, observed: &Observed, name: &str) -> bool {
    observed.services.iter().any(|(other, state)| {
        let depends =
            state.definition.as_ref().is_some_and(|d| d.supervision.depends_on.iter().any(|dep| dep.service == name));
        let stopping = unwanted(desired, observed, other).is_some_and(StopReason::in_dependency_order);
        depends && stopping && state.live_run().is_some()
    })
}

/// SIGKILL for every service still alive at the end of its grace period.
pub(crate) fn kill_overdue(observed: &mut Observed, now: Instant, actions: &mut Vec<Action>) {
    for (name, state) in &mut observed.services {
        if let Phase::Stopping { run, reason, kill_at } = state.phase
            && kill_at <= now
        {
            state.phase = Phase::Killing { run, reason };
            actions.push(Action::Kill { service: name.clone(), run });
        }
    }
}
