//! What the API shows of each service: status (a row of `corralctl status`), inspect
//! (everything), and metrics samples.

use serde_json::{Value, json};

use super::definition::definition;
use super::describe::{Summary, exit_text, summarize};
use super::metrics::Sample;
use crate::core::{HealthStatus, Instant, Phase, ServiceState};
use crate::daemon::bundle::cgroup_path;
use crate::daemon::cgroup_stats::{self, Usage};
use crate::daemon::event_loop::Daemon;
use crate::manifest::Service;

impl Daemon {
    /// The definition a service runs with (else the manifest's).
    fn definition_of<'a>(&'a self, name: &str, state: &'a ServiceState) -> Option<&'a Service> {
        state.definition.as_ref().or_else(|| self.manifest.services.get(name))
    }

    pub(super) fn summary(&self, name: &str, state: &ServiceState, now: Instant) -> Summary {
        let has_check = self.definition_of(name, state).is_some_and(|d| d.supervision.health.is_some());
        summarize(state, has_check, now)
    }

    pub(super) fn summaries(&self, now: Instant) -> Vec<(String, Summary)> {
        self.observed.services.iter().map(|(name, state)| (name.clone(), self.summary(name, state, now))).collect()
    }

    /// The cgroup numbers of the service's live container.
    fn usage(&self, name: &str) -> Usage {
        let container = self.containers.get(name).filter(|c| c.init.is_some());
        container.map(|c| cgroup_stats::usage(&cgroup_path(&c.id))).unwrap_or_default()
    }

    fn oom_kills(&self, name: &str) -> u64 {
        self.api.events.oom_kills.get(name).copied().unwrap_or(0)
    }

    /// One service's status.
    pub(super) fn status(&self, name: &str, state: &ServiceState, now: Instant) -> Value {
        let summary = self.summary(name, state, now);
        let usage = self.usage(name);
        let uptime = match state.phase {
            Phase::Running { since, .. } => Some(now.saturating_since(since).as_secs_f64()),
            _ => None,
        };
        json!({
            "service": name,
            "state": summary.state,
            "reason": summary.reason,
            "health": summary.health,
            "restarts": state.restarts,
            "uptime_seconds": uptime.map(|secs| (secs * 10.0).round() / 10.0),
            "memory_bytes": usage.memory_bytes,
            "memory_limit_bytes": usage.memory_limit,
            "cpu_seconds": usage.cpu_seconds,
            "oom_kills": self.oom_kills(name),
            "last_exit": state.last_exit.as_ref().map(exit_text),
        })
    }

    pub(super) fn status_all(&self, now: Instant) -> Value {
        let rows: Vec<Value> = self.observed.services.iter().map(|(name, state)| self.status(name, state, now)).collect();
        json!({ "services": rows })
    }

    /// Everything about one service: its status, health details, container and definition.
    pub(super) fn inspect(&self, name: &str, now: Instant) -> Option<Value> {
        let state = self.observed.services.get(name)?;
        let mut value = self.status(name, state, now);
        let health = match &state.phase {
            Phase::Running { health, .. } => json!({
                "status": summarize(state, true, now).health,
                "failures_in_a_row": health.failures_in_a_row,
                "ever_healthy": health.ever_healthy,
                "healthy_for_seconds": health.healthy_since.filter(|_| health.status == HealthStatus::Healthy)
                    .map(|since| now.saturating_since(since).as_secs_f64()),
            }),
            _ => Value::Null,
        };
        let container = self.containers.get(name).map(|c| {
            json!({
                "id": c.id,
                "init_pid": c.init.map(|init| init.pid),
                "cgroup": cgroup_path(&c.id),
                "bundle": self.dirs.bundle(&c.id),
            })
        });
        let extra = json!({
            "held": state.held,
            "recent_restarts": state.recent_restarts,
            "health_check": health,
            "container": container,
            "log": self.dirs.logs().join(format!("{name}.log")),
            "in_manifest": self.manifest.services.contains_key(name),
            "definition": self.definition_of(name, state).map(definition),
        });
        if let (Some(into), Value::Object(from)) = (value.as_object_mut(), extra) {
            into.extend(from);
        }
        Some(value)
    }

    pub(super) fn samples(&self, now: Instant) -> Vec<Sample> {
        let sample = |(name, state): (&String, &ServiceState)| {
            let usage = self.usage(name);
            let summary = self.summary(name, state, now);
            Sample {
                service: name.clone(),
                up: matches!(state.phase, Phase::Running { .. }),
                cpu_seconds: usage.cpu_seconds,
                memory_bytes: usage.memory_bytes,
                restarts: state.restarts,
                healthy: (summary.health != "none").then_some(summary.health == "healthy"),
                oom_kills: self.oom_kills(name),
            }
        };
        self.observed.services.iter().map(sample).collect()
    }
}
