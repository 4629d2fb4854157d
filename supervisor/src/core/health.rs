//! Health-check bookkeeping: folding probe answers into a status, and issuing probes
//! when they fall due. Turning "unhealthy" into a restart is `stop`'s and `exit`'s job.

use super::state::{Health, HealthStatus, Observed, Phase};
use super::time::Instant;
use super::{Action, names};
use crate::manifest::HealthCheck;

/// Applies each probe answer that arrived since the last pass.
pub(crate) fn fold_answers(observed: &mut Observed) {
    for state in observed.services.values_mut() {
        let Some(check) = state.definition.as_ref().and_then(|d| d.supervision.health.clone()) else { continue };
        if let Phase::Running { since, health, .. } = &mut state.phase {
            if health.next_check.is_none() {
                // The first probe runs one interval after start (the process needs a moment).
                health.next_check = Some(*since + check.interval);
            }
            if let Some((healthy, at)) = health.answer.take() {
                fold_one(health, &check, *since, healthy, at);
            }
        }
    }
}

fn fold_one(health: &mut Health, check: &HealthCheck, since: Instant, healthy: bool, at: Instant) {
    health.next_check = Some(at + check.interval);
    if healthy {
        health.status = HealthStatus::Healthy;
        health.failures_in_a_row = 0;
        health.ever_healthy = true;
        health.healthy_since.get_or_insert(at);
        return;
    }
    // Failures in the start period do not count, until a first success ends it.
    let in_start_period = !health.ever_healthy && at < since + check.start_period;
    if in_start_period {
        return;
    }
    health.failures_in_a_row += 1;
    health.healthy_since = None;
    if health.failures_in_a_row >= check.retries {
        health.status = HealthStatus::Unhealthy;
    }
}

/// Issues a probe for each running service whose next check is due and has none in flight.
pub(crate) fn start_due_checks(observed: &mut Observed, now: Instant, actions: &mut Vec<Action>) {
    for name in names(observed) {
        let state = observed.services.get_mut(&name).expect("name was listed");
        let Some(check) = state.definition.as_ref().and_then(|d| d.supervision.health.as_ref()) else { continue };
        let Phase::Running { run, health, .. } = &mut state.phase else { continue };
        if health.in_flight || health.status == HealthStatus::Unhealthy || health.next_check.is_none_or(|due| due > now)
        {
            continue;
        }
        health.in_flight = true;
        actions.push(Action::CheckHealth {
            service: name,
            run: *run,
            probe: check.probe.clone(),
            timeout: check.timeout,
        });
    }
}
