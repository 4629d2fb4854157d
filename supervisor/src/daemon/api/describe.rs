//! Words for the core's state, as status, events and metrics show it.

use std::time::Duration;

use crate::core::{DownReason, ExitStatus, HealthStatus, Instant, Phase, ServiceState, StopReason};

/// A service's state in a word, why it is so, and its health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// waiting, starting, running, stopping, stopped, exited or failed.
    pub state: &'static str,
    pub reason: Option<String>,
    /// none (no health check), starting, healthy, unhealthy, or "-" when not running.
    pub health: &'static str,
}

/// Sums up `state` at `now`; `has_check` tells whether its definition has a health check.
pub fn summarize(state: &ServiceState, has_check: bool, now: Instant) -> Summary {
    let (word, reason) = match &state.phase {
        Phase::Waiting { not_before } if *not_before > now => {
            let after = state.last_exit.as_ref().map(|exit| format!(" after {}", exit_text(exit))).unwrap_or_default();
            ("waiting", Some(format!("restarting in {}{after}", seconds(not_before.saturating_since(now)))))
        }
        Phase::Waiting { .. } => ("waiting", Some("waiting for its dependencies".to_owned())),
        Phase::Starting { .. } => ("starting", None),
        Phase::Running { .. } => ("running", None),
        Phase::Stopping { reason, .. } | Phase::Killing { reason, .. } => ("stopping", Some(stop_text(*reason).into())),
        Phase::Exited { exit } => ("exited", Some(exit_text(&exit.status))),
        Phase::Down { why: DownReason::Held } => ("stopped", Some("stopped by the operator".to_owned())),
        Phase::Down { why: DownReason::Shutdown } => ("stopped", Some("corrald is shutting down".to_owned())),
        Phase::Down { why: DownReason::Finished(status) } => ("exited", Some(exit_text(status))),
        Phase::Down { why: DownReason::GaveUp { restarts } } => {
            let last = state.last_exit.as_ref().map(|exit| format!("; last exit: {}", exit_text(exit))).unwrap_or_default();
            ("failed", Some(format!("gave up after {restarts} restarts in a row{last}")))
        }
    };
    Summary { state: word, reason, health: health_word(&state.phase, has_check) }
}

fn health_word(phase: &Phase, has_check: bool) -> &'static str {
    match phase {
        _ if !has_check => "none",
        Phase::Running { health, .. } => match health.status {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        },
        _ => "-",
    }
}

/// How a container ended, as people say it; an OOM kill is "OOMKilled".
pub fn exit_text(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Code(code) => format!("exit code {code}"),
        ExitStatus::Signal(signal) => format!("killed by signal {signal}"),
        ExitStatus::OomKilled => "OOMKilled".to_owned(),
        ExitStatus::StartFailed(why) => format!("start failed: {why}"),
        ExitStatus::Unknown => "ended while corrald was not watching (status unknown)".to_owned(),
    }
}

pub fn stop_text(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Shutdown => "corrald is shutting down",
        StopReason::Removed => "removed from the manifest",
        StopReason::Replaced => "its definition changed; replacing the container",
        StopReason::Operator => "stopped by the operator",
        StopReason::Restart => "restart requested by the operator",
        StopReason::Unhealthy => "its health check failed",
    }
}

/// "1.5s".
pub fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Health;

    fn state(phase: Phase) -> ServiceState {
        ServiceState { phase, ..ServiceState::new(Instant::from_millis(0)) }
    }

    #[test]
    fn words_for_each_phase() {
        let now = Instant::from_millis(10_000);
        let running = Phase::Running { run: 1, since: Instant::from_millis(0), health: Health::default() };
        assert_eq!(summarize(&state(running.clone()), true, now).health, "starting");
        assert_eq!(summarize(&state(running), false, now), Summary { state: "running", reason: None, health: "none" });
        let mut waiting = state(Phase::Waiting { not_before: Instant::from_millis(11_500) });
        waiting.last_exit = Some(ExitStatus::OomKilled);
        let summary = summarize(&waiting, true, now);
        assert_eq!((summary.state, summary.health), ("waiting", "-"));
        assert_eq!(summary.reason.as_deref(), Some("restarting in 1.5s after OOMKilled"));
        let held = summarize(&state(Phase::Down { why: DownReason::Held }), false, now);
        assert_eq!((held.state, held.reason.as_deref()), ("stopped", Some("stopped by the operator")));
        let gave_up = summarize(&state(Phase::Down { why: DownReason::GaveUp { restarts: 3 } }), false, now);
        assert_eq!(gave_up.state, "failed");
        let stopping = Phase::Stopping { run: 1, reason: StopReason::Operator, kill_at: now };
        assert_eq!(summarize(&state(stopping), false, now).state, "stopping");
    }
}
