//! Checks across services: dependencies (unknown, self, duplicate, healthy without a
//! health check, cycles) and the memory budget of the device.

use std::collections::BTreeMap;

use super::error::Errors;
use super::service::ServiceSpans;
use super::types::{Condition, Service};
use crate::device::Device;
use crate::graph::{self, Graph};
use crate::units::format_size;

/// The services read so far, with where each came from.
pub(crate) type Read = BTreeMap<String, (Service, ServiceSpans)>;

pub(crate) fn check_dependencies(services: &Read, errors: &mut Errors) {
    for (name, (service, spans)) in services {
        let mut seen: Vec<&str> = Vec::new();
        for (dependency, span) in service.supervision.depends_on.iter().zip(&spans.dependencies) {
            let target = dependency.service.as_str();
            let problem = if target == name {
                Some("a service cannot depend on itself".to_owned())
            } else if seen.contains(&target) {
                Some(format!("depends on {target:?} twice"))
            } else if !services.contains_key(target) {
                Some(format!("depends on unknown service {target:?}"))
            } else if dependency.condition == Condition::Healthy && services[target].0.supervision.health.is_none() {
                Some(format!("waits for {target:?} to be healthy, but {target:?} has no health check"))
            } else {
                None
            };
            if let Some(problem) = problem {
                errors.push(span, Some(name), format!("depends_on: {problem}"));
            }
            seen.push(target);
        }
    }
    check_cycles(services, errors);
}

/// Reports each dependency cycle at the first edge of it, naming every service on it.
fn check_cycles(services: &Read, errors: &mut Errors) {
    let graph: Graph = services
        .iter()
        .map(|(name, (service, _))| {
            let edges = service.supervision.depends_on.iter().map(|d| d.service.as_str());
            (name.as_str(), edges.filter(|to| *to != name && services.contains_key(*to)).collect())
        })
        .collect();
    for cycle in graph::cycles(&graph) {
        let (first, second) = (&cycle[0], &cycle[1]);
        let (service, spans) = &services[first];
        let index = service.supervision.depends_on.iter().position(|d| &d.service == second);
        let span = index.map_or(spans.name.clone(), |i| spans.dependencies[i].clone());
        errors.push(&span, Some(first), format!("depends_on: dependency cycle {}", cycle.join(" -> ")));
    }
}

/// Refuses limits that add up to more memory than the device has. The error sits at the
/// limit that crosses the total and lists every limit.
pub(crate) fn check_memory_budget(services: &Read, device: &Device, errors: &mut Errors) {
    let limited: Vec<(&String, u64, &ServiceSpans)> = services
        .iter()
        .filter_map(|(name, (service, spans))| service.container.resources.memory.map(|memory| (name, memory, spans)))
        .collect();
    let total: u64 = limited.iter().map(|(_, memory, _)| memory).sum();
    if total <= device.mem_total {
        return;
    }
    let mut running = 0u64;
    let crossing = limited.iter().find(|(_, memory, _)| {
        running += memory;
        running > device.mem_total
    });
    let Some((name, _, spans)) = crossing else { return };
    let parts: Vec<String> =
        limited.iter().map(|(name, memory, _)| format!("{name} {}", format_size(*memory))).collect();
    let message = format!(
        "memory limits add up to {} ({total} bytes: {}), more than the device's {} ({} bytes, MemTotal)",
        format_size(total),
        parts.join(" + "),
        format_size(device.mem_total),
        device.mem_total,
    );
    let span = spans.memory.clone().unwrap_or_else(|| spans.name.clone());
    errors.push(&span, Some(name), message);
}
