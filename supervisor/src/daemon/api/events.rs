//! The event log: state changes, health changes and container exits (OOM kills among
//! them), numbered, time-stamped and kept in a bounded ring for `GET /v1/events`.
//!
//! State and health changes are found by comparing each service's summary after every
//! reconcile with the one before, so every path through the core is covered without
//! the core knowing about events. Exits are recorded where they are learned (their
//! status is gone from the core's state by the time it is summed up).

use std::collections::{BTreeMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::describe::{Summary, exit_text};
use crate::core::ExitStatus;

/// Events kept for clients that ask for the past.
const KEPT: usize = 1000;

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub seq: u64,
    /// Seconds since the Unix epoch.
    pub time: f64,
    pub service: String,
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `from` is None for a service seen for the first time; `to` "removed" for one
    /// that left the manifest.
    State { from: Option<String>, to: String, reason: Option<String> },
    Health { from: String, to: String },
    /// A container ended; `oom` when the kernel killed it at its memory limit.
    Exit { reason: String, oom: bool },
}

impl Event {
    pub fn to_json(&self) -> Value {
        let mut value = json!({ "seq": self.seq, "time": self.time, "service": self.service });
        let fields = match &self.kind {
            Kind::State { from, to, reason } => json!({ "type": "state", "from": from, "to": to, "reason": reason }),
            Kind::Health { from, to } => json!({ "type": "health", "from": from, "to": to }),
            Kind::Exit { reason, oom: true } => json!({ "type": "oom_kill", "reason": reason }),
            Kind::Exit { reason, oom: false } => json!({ "type": "exit", "reason": reason }),
        };
        if let (Some(into), Value::Object(from)) = (value.as_object_mut(), fields) {
            into.extend(from);
        }
        value
    }

    /// One JSON line, as streamed.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(&self.to_json()).expect("an event serialises");
        line.push(b'\n');
        line
    }
}

#[derive(Default)]
pub struct EventLog {
    kept: VecDeque<Event>,
    next_seq: u64,
    /// Each service's (state, health) as last seen.
    seen: BTreeMap<String, (&'static str, &'static str)>,
    /// OOM kills per service, ever (kept in the state file).
    pub oom_kills: BTreeMap<String, u64>,
}

impl EventLog {
    /// Compares `summaries` (every service now) with what was seen; returns the changes
    /// as new events.
    pub fn observe(&mut self, summaries: Vec<(String, Summary)>) -> Vec<Event> {
        let mut new = Vec::new();
        let mut gone: Vec<String> = self.seen.keys().cloned().collect();
        gone.retain(|name| !summaries.iter().any(|(service, _)| service == name));
        // Health first: within one pass a health change is what lets dependents start.
        for (service, summary) in &summaries {
            // A verdict changing; not a container coming or going ("-" to "starting").
            if let Some((_, health)) = self.seen.get(service)
                && *health != summary.health
                && ![*health, summary.health].contains(&"-")
            {
                let kind = Kind::Health { from: health.to_string(), to: summary.health.to_owned() };
                new.push(self.record(service, kind));
            }
        }
        for (service, summary) in summaries {
            let before = self.seen.insert(service.clone(), (summary.state, summary.health));
            if before.map(|(state, _)| state) != Some(summary.state) {
                let from = before.map(|(state, _)| state.to_owned());
                let to = summary.state.to_owned();
                new.push(self.record(&service, Kind::State { from, to, reason: summary.reason }));
            }
        }
        for service in gone {
            let (state, _) = self.seen.remove(&service).expect("listed from seen");
            let kind = Kind::State { from: Some(state.to_owned()), to: "removed".into(), reason: None };
            new.push(self.record(&service, kind));
        }
        new
    }

    /// Records that a container of `service` ended with `status`.
    pub fn exited(&mut self, service: &str, status: &ExitStatus) -> Event {
        let oom = *status == ExitStatus::OomKilled;
        if oom {
            *self.oom_kills.entry(service.to_owned()).or_default() += 1;
        }
        self.record(service, Kind::Exit { reason: exit_text(status), oom })
    }

    /// The last `tail` events kept (all of them for None).
    pub fn recent(&self, tail: Option<usize>) -> impl Iterator<Item = &Event> {
        let skip = tail.map_or(0, |tail| self.kept.len().saturating_sub(tail));
        self.kept.iter().skip(skip)
    }

    fn record(&mut self, service: &str, kind: Kind) -> Event {
        self.next_seq += 1;
        let time = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |since| since.as_secs_f64());
        let event = Event { seq: self.next_seq, time: (time * 1000.0).round() / 1000.0, service: service.into(), kind };
        if self.kept.len() == KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back(event.clone());
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(state: &'static str, health: &'static str) -> Summary {
        Summary { state, reason: None, health }
    }

    fn kinds(events: &[Event]) -> Vec<Kind> {
        events.iter().map(|event| event.kind.clone()).collect()
    }

    #[test]
    fn reports_state_and_health_changes_once() {
        let mut log = EventLog::default();
        let first = log.observe(vec![("web".into(), summary("starting", "-"))]);
        assert_eq!(kinds(&first), [Kind::State { from: None, to: "starting".into(), reason: None }]);
        assert!(log.observe(vec![("web".into(), summary("starting", "-"))]).is_empty());
        let running = log.observe(vec![("web".into(), summary("running", "starting"))]);
        assert_eq!(running.len(), 1, "a new container's health starting is no news: {running:?}");
        let healthy = log.observe(vec![("web".into(), summary("running", "healthy"))]);
        assert_eq!(kinds(&healthy), [Kind::Health { from: "starting".into(), to: "healthy".into() }]);
        let removed = log.observe(vec![]);
        assert_eq!(kinds(&removed), [Kind::State { from: Some("running".into()), to: "removed".into(), reason: None }]);
        assert_eq!(log.recent(None).count(), 4);
        assert_eq!(log.recent(Some(2)).map(|event| event.seq).collect::<Vec<_>>(), [3, 4]);
    }

    #[test]
    fn oom_kills_are_counted_and_named() {
        let mut log = EventLog::default();
        let event = log.exited("web", &ExitStatus::OomKilled);
        assert_eq!(event.to_json()["type"], "oom_kill");
        assert_eq!(event.to_json()["reason"], "OOMKilled");
        assert_eq!(log.exited("web", &ExitStatus::Code(1)).to_json()["type"], "exit");
        assert_eq!(log.oom_kills["web"], 1);
    }
}
