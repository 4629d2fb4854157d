//! Reading one `[services.NAME]` table into a `Service`.
//!
//! A field that fails leaves a default in its place: the error is already recorded and
//! the manifest will be refused, but the rest is still read so every error is found.

use std::ops::Range;
use std::path::PathBuf;

use super::container::{PathRule, checked_path, read_mounts, read_paths, read_process, read_resources};
use super::error::Errors;
use super::reader::Table;
use super::supervision::{read_depends_on, read_health, read_logs, read_restart, read_stop};
use super::types::{
    ContainerSpec, Image, LogSettings, NetworkMode, Priority, Resources, Service, StopSpec, Supervision,
};

/// What the cross-service checks need to point at.
pub(crate) struct ServiceSpans {
    pub name: Range<usize>,
    /// The span of each `supervision.depends_on` entry's name, in the same order.
    pub dependencies: Vec<Range<usize>>,
    pub memory: Option<Range<usize>>,
}

/// Longest service name; it becomes part of container ids and cgroup paths.
const MAX_NAME_LEN: usize = 64;

pub(crate) fn read_service(
    name: &str,
    name_span: Range<usize>,
    mut table: Table,
    errors: &mut Errors,
) -> (Service, ServiceSpans) {
    check_name(name, &name_span, errors);
    let image = read_image(&mut table, errors);
    let is_bundle = matches!(image, Some(Image::Bundle(_)));
    let process = match table.table(errors, "process") {
        Some(process) => Some(read_process(process, errors, !is_bundle)),
        None if is_bundle => None,
        None => {
            errors.push(&table.span().clone(), Some(name), "missing `process` (a rootfs needs args to run)");
            None
        }
    };
    let mounts = read_mounts(&mut table, errors);
    let devices = read_paths(&mut table, errors, "devices", PathRule::Device);
    let network = table.get::<NetworkMode>(errors, "network").map(|n| n.into_inner()).unwrap_or_default();
    let priority = table.get::<Priority>(errors, "priority").map(|p| p.into_inner()).unwrap_or_default();
    let (resources, memory) = match table.table(errors, "resources") {
        Some(resources) => read_resources(resources, errors),
        None => (Resources::default(), None),
    };
    let (restart, backoff) = read_restart(&mut table, errors);
    let health = table.table(errors, "health").and_then(|health| read_health(health, errors));
    let dependencies = read_depends_on(&mut table, errors);
    let stop = table.table(errors, "stop").map_or_else(StopSpec::default, |stop| read_stop(stop, errors));
    let logs = table.table(errors, "logs").map_or_else(LogSettings::default, |logs| read_logs(logs, errors));
    table.finish(errors);

    let image = image.unwrap_or_else(|| Image::Rootfs(PathBuf::new()));
    let container = ContainerSpec { image, process, mounts, devices, network, resources, priority };
    let (depends_on, dependency_spans) = dependencies.into_iter().unzip();
    let supervision = Supervision { restart, backoff, health, depends_on, stop, logs };
    let spans = ServiceSpans { name: name_span, dependencies: dependency_spans, memory: memory.map(|m| m.span()) };
    (Service { name: name.to_owned(), container, supervision }, spans)
}

/// Names become container ids: lowercase letters, digits, '-', '_' and '.', starting
/// with a letter or digit.
fn check_name(name: &str, span: &Range<usize>, errors: &mut Errors) {
    let first_ok = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if !first_ok || !rest_ok || name.len() > MAX_NAME_LEN {
        let message = format!(
            "invalid service name {name:?}: use up to {MAX_NAME_LEN} lowercase letters, digits, '-', '_' and '.', starting with a letter or digit"
        );
        errors.push(span, Some(name), message);
    }
}

/// Exactly one of `rootfs = DIR` and `bundle = DIR`.
fn read_image(table: &mut Table, errors: &mut Errors) -> Option<Image> {
    let given = table.raw("rootfs").is_some() || table.raw("bundle").is_some();
    let rootfs = table.get::<String>(errors, "rootfs");
    let bundle = table.get::<String>(errors, "bundle");
    match (rootfs, bundle) {
        (Some(rootfs), None) => checked_path(table, errors, "rootfs", &rootfs, PathRule::Absolute).map(Image::Rootfs),
        (None, Some(bundle)) => checked_path(table, errors, "bundle", &bundle, PathRule::Absolute).map(Image::Bundle),
        (Some(_), Some(bundle)) => {
            table.error(errors, &bundle.span(), "bundle", "give either `rootfs` or `bundle`, not both");
            None
        }
        (None, None) => {
            if given {
                return None; // present but not a string: already reported
            }
            errors.push(
                &table.span().clone(),
                table.service(),
                "missing `rootfs` (a root filesystem directory) or `bundle` (an OCI bundle directory)",
            );
            None
        }
    }
}
