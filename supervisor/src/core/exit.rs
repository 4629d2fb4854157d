//! Judging an exit: restart (after a backoff delay), stay down, or forget the service.

use super::backoff::{jitter_unit, jittered_delay};
use super::state::{DownReason, ExitRecord, Observed, Phase, ServiceState, StopReason};
use super::{Action, names, unwanted};
use crate::manifest::{Manifest, RestartPolicy, Service};

pub(crate) fn judge_exits(desired: &Manifest, observed: &mut Observed, actions: &mut Vec<Action>) {
    for name in names(observed) {
        let Phase::Exited { exit } = &observed.services[&name].phase else { continue };
        let exit = exit.clone();
        let reason = unwanted(desired, observed, &name).or(exit.reason);
        let seed = observed.jitter_seed;
        let state = observed.services.get_mut(&name).expect("name was listed");
        let next = match reason {
            Some(StopReason::Removed) => {
                observed.services.remove(&name);
                actions.push(Action::Forget { service: name });
                continue;
            }
            Some(StopReason::Shutdown) => Phase::Down { why: DownReason::Shutdown },
            Some(StopReason::Operator) => Phase::Down { why: DownReason::Held },
            Some(StopReason::Replaced | StopReason::Restart) => {
                state.recent_restarts = 0;
                Phase::Waiting { not_before: exit.at }
            }
            Some(StopReason::Unhealthy) | None => by_policy(&desired.services[&name], state, &exit, seed),
        };
        state.phase = next;
    }
}

/// What the restart policy makes of an exit corrald did not ask for (or of an
/// unhealthy service it stopped, which counts as a failure).
fn by_policy(service: &Service, state: &mut ServiceState, exit: &ExitRecord, seed: u64) -> Phase {
    let supervision = &service.supervision;
    let failed = exit.reason == Some(StopReason::Unhealthy) || !exit.status.success();
    // "Good" means healthy when there is a health check, alive when there is none.
    let good_since = if supervision.health.is_some() { exit.healthy_since } else { exit.since };
    if good_since.is_some_and(|since| exit.at.saturating_since(since) >= supervision.backoff.reset_after) {
        state.recent_restarts = 0;
    }
    let restart = match supervision.restart {
        RestartPolicy::Never => false,
        RestartPolicy::OnFailure { .. } => failed,
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
    };
    if !restart {
        return Phase::Down { why: DownReason::Finished(exit.status.clone()) };
    }
    if let RestartPolicy::OnFailure { max: Some(max) } = supervision.restart
        && state.recent_restarts >= max
    {
        return Phase::Down { why: DownReason::GaveUp { restarts: state.recent_restarts } };
    }
    let unit = jitter_unit(seed, &service.name, state.restarts);
    let delay = jittered_delay(&supervision.backoff, state.recent_restarts, unit);
    state.recent_restarts += 1;
    state.restarts += 1;
    Phase::Waiting { not_before: exit.at + delay }
}
