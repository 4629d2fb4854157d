//! Starting: a waiting service starts once its backoff is over and each dependency
//! meets its condition (running, or healthy). Waiting services that should not run are
//! set down or forgotten here.

use super::state::{DownReason, HealthStatus, Observed, Phase, StopReason};
use super::time::Instant;
use super::{Action, names, unwanted};
use crate::manifest::{Condition, Manifest};

/// Waiting and down services: apply the operator's and the manifest's wishes.
pub(crate) fn settle_idle(desired: &Manifest, observed: &mut Observed, now: Instant, actions: &mut Vec<Action>) {
    for name in names(observed) {
        let reason = unwanted(desired, observed, &name);
        let state = observed.services.get_mut(&name).expect("name was listed");
        let idle = matches!(state.phase, Phase::Waiting { .. } | Phase::Down { .. });
        if !idle {
            continue;
        }
        match reason {
            Some(StopReason::Removed) => {
                observed.services.remove(&name);
                actions.push(Action::Forget { service: name });
            }
            Some(StopReason::Shutdown) => state.phase = Phase::Down { why: DownReason::Shutdown },
            Some(_) => state.phase = Phase::Down { why: DownReason::Held },
            None if state.restart_requested || state.phase == (Phase::Down { why: DownReason::Held }) => {
                // Started or restarted by the operator, or released from a hold.
                state.restart_requested = false;
                state.recent_restarts = 0;
                state.phase = Phase::Waiting { not_before: now };
            }
            None => {}
        }
    }
}

/// Starts every waiting service whose time has come and whose dependencies are up.
pub(crate) fn start_ready(desired: &Manifest, observed: &mut Observed, now: Instant, actions: &mut Vec<Action>) {
    for name in names(observed) {
        let Phase::Waiting { not_before } = observed.services[&name].phase else { continue };
        if not_before > now
            || unwanted(desired, observed, &name).is_some()
            || !dependencies_up(desired, observed, &name)
        {
            continue;
        }
        let run = observed.next_run;
        observed.next_run += 1;
        let state = observed.services.get_mut(&name).expect("name was listed");
        state.definition = desired.services.get(&name).cloned();
        state.phase = Phase::Starting { run };
        actions.push(Action::Start { service: name, run });
    }
}

/// Whether every dependency of `name` meets its condition now.
fn dependencies_up(desired: &Manifest, observed: &Observed, name: &str) -> bool {
    let Some(service) = desired.services.get(name) else { return false };
    service.supervision.depends_on.iter().all(|dependency| {
        let Some(state) = observed.services.get(&dependency.service) else { return false };
        match (&state.phase, dependency.condition) {
            (Phase::Running { .. }, Condition::Started) => true,
            (Phase::Running { health, .. }, Condition::Healthy) => health.status == HealthStatus::Healthy,
            _ => false,
        }
    })
}
