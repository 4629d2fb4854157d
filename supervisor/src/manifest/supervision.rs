//! Reading the supervision half of a service: restart policy and backoff, health
//! check, dependencies, how it is stopped, and its log limits.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;

use super::container::in_range;
use super::error::Errors;
use super::reader::{Field, Table};
use super::types::{Backoff, Condition, Dependency, HealthCheck, LogSettings, Probe, RestartPolicy, StopSpec};
use crate::signal;
use crate::units::{HumanDuration, Size};

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum PolicyName {
    Always,
    OnFailure,
    UnlessStopped,
    Never,
}

/// `restart = "always"`, or a `[services.NAME.restart]` table with policy, max, backoff.
pub(crate) fn read_restart(service: &mut Table, errors: &mut Errors) -> (RestartPolicy, Backoff) {
    let is_table = service.raw("restart").is_some_and(|value| value.get_ref().is_table());
    if !is_table {
        let policy = service.get::<PolicyName>(errors, "restart");
        return (policy.map_or(RestartPolicy::Always, |p| policy_without_max(p.into_inner())), Backoff::default());
    }
    let Some(mut table) = service.table(errors, "restart") else { return (RestartPolicy::Always, Backoff::default()) };
    let name = table.get::<PolicyName>(errors, "policy").map(Field::into_inner);
    let max = table.raw("max").map(|value| value.span());
    let max_value = if max.is_some() { in_range(&mut table, errors, "max", 1, u64::from(u32::MAX)) } else { None };
    let policy = match (name.unwrap_or(PolicyName::Always), max) {
        (PolicyName::OnFailure, _) => RestartPolicy::OnFailure { max: max_value.map(|max| max as u32) },
        (other, Some(span)) => {
            table.error(errors, &span, "max", "only applies to policy \"on-failure\"");
            policy_without_max(other)
        }
        (other, None) => policy_without_max(other),
    };
    let backoff = table.table(errors, "backoff").map_or_else(Backoff::default, |backoff| read_backoff(backoff, errors));
    table.finish(errors);
    (policy, backoff)
}

fn policy_without_max(name: PolicyName) -> RestartPolicy {
    match name {
        PolicyName::Always => RestartPolicy::Always,
        PolicyName::OnFailure => RestartPolicy::OnFailure { max: None },
        PolicyName::UnlessStopped => RestartPolicy::UnlessStopped,
        PolicyName::Never => RestartPolicy::Never,
    }
}

fn read_backoff(mut table: Table, errors: &mut Errors) -> Backoff {
    let default = Backoff::default();
    let initial = positive_duration(&mut table, errors, "initial");
    let cap = duration(&mut table, errors, "cap");
    let factor = fraction(&mut table, errors, "factor", 1.0, 100.0);
    let jitter = fraction(&mut table, errors, "jitter", 0.0, 1.0);
    let reset_after = positive_duration(&mut table, errors, "reset_after");
    let initial_value = initial.unwrap_or(default.initial);
    if let Some(cap) = &cap
        && *cap.get_ref() < initial_value
    {
        table.error(errors, &cap.span(), "cap", "must not be shorter than `initial`");
    }
    table.finish(errors);
    Backoff {
        initial: initial_value,
        factor: factor.unwrap_or(default.factor),
        cap: cap.map_or(default.cap, Field::into_inner).max(initial_value),
        jitter: jitter.unwrap_or(default.jitter),
        reset_after: reset_after.unwrap_or(default.reset_after),
    }
}

/// A duration at `key`.
fn duration(table: &mut Table, errors: &mut Errors, key: &'static str) -> Option<Field<Duration>> {
    table.get::<HumanDuration>(errors, key).map(|d| Field::new(d.span(), d.into_inner().0))
}

/// A duration at `key` that must be more than zero.
fn positive_duration(table: &mut Table, errors: &mut Errors, key: &'static str) -> Option<Duration> {
    let value = duration(table, errors, key)?;
    if value.get_ref().is_zero() {
        table.error(errors, &value.span(), key, "must be longer than 0s");
        return None;
    }
    Some(value.into_inner())
}

/// A number at `key` within min..=max.
fn fraction(table: &mut Table, errors: &mut Errors, key: &'static str, min: f64, max: f64) -> Option<f64> {
    let value = table.get::<f64>(errors, key)?;
    let number = *value.get_ref();
    if !(min..=max).contains(&number) {
        table.error(errors, &value.span(), key, format!("must be between {min} and {max}"));
        return None;
    }
    Some(number)
}

/// `[services.NAME.health]`: exactly one of exec, http, tcp, and its timing.
pub(crate) fn read_health(mut table: Table, errors: &mut Errors) -> Option<HealthCheck> {
    let probe = read_probe(&mut table, errors);
    let interval = positive_duration(&mut table, errors, "interval").unwrap_or(Duration::from_secs(30));
    let timeout = positive_duration(&mut table, errors, "timeout").unwrap_or(Duration::from_secs(5));
    let retries = in_range(&mut table, errors, "retries", 1, 1000).map_or(3, |n| n as u32);
    let start_period = duration(&mut table, errors, "start_period").map_or(Duration::ZERO, Field::into_inner);
    table.finish(errors);
    Some(HealthCheck { probe: probe?, interval, timeout, retries, start_period })
}

fn read_probe(table: &mut Table, errors: &mut Errors) -> Option<Probe> {
    let exec = table.get::<Vec<String>>(errors, "exec");
    let http = table.table(errors, "http");
    let tcp = table.table(errors, "tcp");
    let given = [exec.is_some(), http.is_some(), tcp.is_some()].iter().filter(|given| **given).count();
    if given != 1 {
        let message = if given == 0 {
            "needs one of `exec`, `http` or `tcp`"
        } else {
            "give only one of `exec`, `http` and `tcp`"
        };
        errors.push(&table.span().clone(), table.service(), format!("health: {message}"));
        return None;
    }
    if let Some(command) = exec {
        if command.get_ref().first().is_none_or(String::is_empty) {
            table.error(errors, &command.span(), "exec", "needs a program to run as its first element");
        }
        return Some(Probe::Exec(command.into_inner()));
    }
    if let Some(mut http) = http {
        let port = read_port(&mut http, errors);
        let path = http.get::<String>(errors, "path").map_or_else(|| "/".to_owned(), Field::into_inner);
        if !path.starts_with('/') {
            http.error(errors, &http.span().clone(), "path", format!("{path:?} must start with \"/\""));
        }
        http.finish(errors);
        return Some(Probe::Http { port: port?, path });
    }
    let mut tcp = tcp?;
    let port = read_port(&mut tcp, errors);
    tcp.finish(errors);
    Some(Probe::Tcp { port: port? })
}

fn read_port(table: &mut Table, errors: &mut Errors) -> Option<u16> {
    if table.raw("port").is_none() {
        errors.push(&table.span().clone(), table.service(), format!("missing `{}`", table.key_path("port")));
        return None;
    }
    in_range(table, errors, "port", 1, 65_535).map(|port| port as u16)
}

/// `depends_on = ["db"]` (each must be started) or `depends_on = { db = "healthy" }`.
/// Returns the dependencies with the span of each name, for the cross-service checks.
pub(crate) fn read_depends_on(service: &mut Table, errors: &mut Errors) -> Vec<(Dependency, Range<usize>)> {
    let is_list = service.raw("depends_on").is_some_and(|value| value.get_ref().is_array());
    if is_list {
        let names = service.get::<Vec<Field<String>>>(errors, "depends_on").map(Field::into_inner).unwrap_or_default();
        let started = |name: Field<String>| {
            (Dependency { service: name.get_ref().clone(), condition: Condition::Started }, name.span())
        };
        return names.into_iter().map(started).collect();
    }
    let table = service.get::<BTreeMap<Field<String>, Field<Condition>>>(errors, "depends_on");
    let entries = table.map(Field::into_inner).unwrap_or_default();
    let dependency = |(name, condition): (Field<String>, Field<Condition>)| {
        (Dependency { service: name.get_ref().clone(), condition: condition.into_inner() }, name.span())
    };
    entries.into_iter().map(dependency).collect()
}

/// `[services.NAME.stop]`: signal and grace period.
pub(crate) fn read_stop(mut table: Table, errors: &mut Errors) -> StopSpec {
    let default = StopSpec::default();
    let signal = table.get::<String>(errors, "signal").and_then(|name| {
        let number = signal::stop_signal_by_name(name.get_ref());
        if number.is_none() {
            let message = format!("unknown signal {:?}; use one of {}", name.get_ref(), signal::stop_signal_names());
            table.error(errors, &name.span(), "signal", message);
        }
        number
    });
    let grace = duration(&mut table, errors, "grace").map(Field::into_inner);
    table.finish(errors);
    StopSpec { signal: signal.unwrap_or(default.signal), grace: grace.unwrap_or(default.grace) }
}

/// Most rotated log files a service may keep: each rotation renames every one of them.
const MAX_LOG_KEEP: u64 = 1000;

/// `[services.NAME.logs]`: max_size and keep, each optional.
pub(crate) fn read_logs(mut table: Table, errors: &mut Errors) -> LogSettings {
    let max_size = table.get::<Size>(errors, "max_size").and_then(|size| {
        let bytes = size.get_ref().0;
        if bytes == 0 {
            table.error(errors, &size.span(), "max_size", "must be more than 0, e.g. \"1M\"");
        }
        (bytes > 0).then_some(bytes)
    });
    let keep = in_range(&mut table, errors, "keep", 0, MAX_LOG_KEEP).map(|keep| keep as u32);
    table.finish(errors);
    LogSettings { max_size, keep }
}
