//! Reading the container half of a service: process, mounts, devices, network,
//! resources, priority.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::error::Errors;
use super::reader::{Field, Table};
use super::types::{Mount, Process, Resources, User};
use crate::units::Size;

/// Reads `[services.NAME.process]`; `args` must be given unless the service has a bundle.
pub(crate) fn read_process(mut table: Table, errors: &mut Errors, args_required: bool) -> Process {
    let args: Option<Field<Vec<String>>> =
        if args_required { table.required(errors, "args") } else { table.get(errors, "args") };
    let args = args.map_or_else(Vec::new, |args| {
        let empty = args.get_ref().first().is_none_or(|first| first.is_empty());
        if empty && (args_required || !args.get_ref().is_empty()) {
            table.error(errors, &args.span(), "args", "needs a program to run as its first element");
        }
        args.into_inner()
    });
    let env = read_env(&mut table, errors);
    let env_files = read_paths(&mut table, errors, "env_files", PathRule::Absolute);
    let cwd = table
        .get::<String>(errors, "cwd")
        .and_then(|cwd| checked_path(&table, errors, "cwd", &cwd, PathRule::Absolute));
    let user = table.get::<UserSpec>(errors, "user").and_then(|user| parse_user(&table, errors, user));
    table.finish(errors);
    Process { args, env, env_files, cwd, user }
}

fn read_env(table: &mut Table, errors: &mut Errors) -> BTreeMap<String, String> {
    let Some(env) = table.get::<BTreeMap<String, String>>(errors, "env") else { return BTreeMap::new() };
    for name in env.get_ref().keys() {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            table.error(errors, &env.span(), "env", format!("invalid variable name {name:?}"));
        }
    }
    env.into_inner()
}

/// What a path in the manifest must look like.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathRule {
    /// Absolute, without "..".
    Absolute,
    /// Absolute, without "..", and not "/" itself (a mount target).
    MountTarget,
    /// Absolute, below /dev.
    Device,
}

/// The path in `value` if it follows `rule`; otherwise the problem is reported.
pub(crate) fn checked_path(
    table: &Table,
    errors: &mut Errors,
    key: &str,
    value: &Field<String>,
    rule: PathRule,
) -> Option<PathBuf> {
    let path = Path::new(value.get_ref());
    let problem = if !path.is_absolute() {
        Some("must be an absolute path")
    } else if path.components().any(|part| part == Component::ParentDir) {
        Some("must not contain \"..\"")
    } else if rule == PathRule::MountTarget && path == Path::new("/") {
        Some("cannot be \"/\"")
    } else if rule == PathRule::Device && (!path.starts_with("/dev") || path == Path::new("/dev")) {
        Some("must be a device node below /dev")
    } else {
        None
    };
    match problem {
        Some(problem) => {
            table.error(errors, &value.span(), key, format!("{:?} {problem}", value.get_ref()));
            None
        }
        None => Some(path.to_path_buf()),
    }
}

/// A list of paths at `key`, each checked with `rule`.
pub(crate) fn read_paths(table: &mut Table, errors: &mut Errors, key: &'static str, rule: PathRule) -> Vec<PathBuf> {
    let Some(list) = table.get::<Vec<String>>(errors, key) else { return Vec::new() };
    let span = list.span();
    let each = list.into_inner().into_iter().map(|text| Field::new(span.clone(), text));
    each.filter_map(|text| checked_path(table, errors, key, &text, rule)).collect()
}

/// `user = 1000`, `user = "1000"` or `user = "1000:1000"`.
#[derive(Debug)]
enum UserSpec {
    Id(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for UserSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UserVisitor;
        impl serde::de::Visitor<'_> for UserVisitor {
            type Value = UserSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a numeric uid or \"uid:gid\"")
            }
            fn visit_i64<E: serde::de::Error>(self, id: i64) -> Result<UserSpec, E> {
                Ok(UserSpec::Id(id))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<UserSpec, E> {
                Ok(UserSpec::Text(text.to_owned()))
            }
        }
        deserializer.deserialize_any(UserVisitor)
    }
}

fn parse_user(table: &Table, errors: &mut Errors, spec: Field<UserSpec>) -> Option<User> {
    let id = |text: &str| text.trim().parse::<u32>().ok();
    let user = match spec.get_ref() {
        UserSpec::Id(uid) => u32::try_from(*uid).ok().map(|uid| User { uid, gid: uid }),
        UserSpec::Text(text) => match text.split_once(':') {
            Some((uid, gid)) => id(uid).zip(id(gid)).map(|(uid, gid)| User { uid, gid }),
            None => id(text).map(|uid| User { uid, gid: uid }),
        },
    };
    if user.is_none() {
        // Names would need the image's /etc/passwd, which validation does not read.
        table.error(errors, &spec.span(), "user", "must be a numeric uid or \"uid:gid\" (names are not supported)");
    }
    user
}

/// `[[services.NAME.mounts]]`: bind or tmpfs, each target at most once.
pub(crate) fn read_mounts(table: &mut Table, errors: &mut Errors) -> Vec<Mount> {
    let mut mounts: Vec<Mount> = Vec::new();
    for mut entry in table.tables(errors, "mounts") {
        let Some(mount) = read_mount(&mut entry, errors) else {
            entry.finish(errors);
            continue;
        };
        if mounts.iter().any(|earlier| earlier.target() == mount.target()) {
            let message = format!("{} is mounted twice", mount.target().display());
            entry.error(errors, &entry.span().clone(), "target", message);
        }
        entry.finish(errors);
        mounts.push(mount);
    }
    mounts
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum MountType {
    Bind,
    Tmpfs,
}

fn read_mount(entry: &mut Table, errors: &mut Errors) -> Option<Mount> {
    let kind = entry.required::<MountType>(errors, "type");
    let target = entry.required::<String>(errors, "target");
    let target = target.and_then(|target| checked_path(entry, errors, "target", &target, PathRule::MountTarget));
    match kind?.into_inner() {
        MountType::Bind => {
            let source = entry.required::<String>(errors, "source");
            let source = source.and_then(|source| checked_path(entry, errors, "source", &source, PathRule::Absolute));
            let read_only = entry.get::<bool>(errors, "read_only").is_some_and(|flag| flag.into_inner());
            Some(Mount::Bind { source: source?, target: target?, read_only })
        }
        MountType::Tmpfs => {
            let size = entry.get::<Size>(errors, "size").map(|size| size.into_inner().0);
            Some(Mount::Tmpfs { target: target?, size })
        }
    }
}

/// `[services.NAME.resources]`.
pub(crate) fn read_resources(mut table: Table, errors: &mut Errors) -> (Resources, Option<Field<u64>>) {
    let memory = table.get::<Size>(errors, "memory").map(|size| Field::new(size.span(), size.into_inner().0));
    if let Some(memory) = &memory
        && *memory.get_ref() < MIN_MEMORY
    {
        table.error(errors, &memory.span(), "memory", "must be at least 1M");
    }
    let cpus = table.get::<f64>(errors, "cpus").and_then(|cpus| {
        let ok = cpus.get_ref().is_finite() && *cpus.get_ref() >= 0.01;
        if !ok {
            table.error(errors, &cpus.span(), "cpus", "must be at least 0.01 (a hundredth of a core)");
        }
        ok.then(|| cpus.into_inner())
    });
    let cpuset = table.get::<String>(errors, "cpuset").and_then(|set| {
        let ok = valid_cpuset(set.get_ref());
        if !ok {
            table.error(errors, &set.span(), "cpuset", format!("{:?} is not a CPU list like \"0-1,3\"", set.get_ref()));
        }
        ok.then(|| set.into_inner())
    });
    let pids = in_range(&mut table, errors, "pids", 1, u64::MAX);
    let io_weight = in_range(&mut table, errors, "io_weight", 1, 10_000).map(|weight| weight as u16);
    table.finish(errors);
    let resources = Resources { memory: memory.as_ref().map(|m| *m.get_ref()), cpus, cpuset, pids, io_weight };
    (resources, memory)
}

/// Smaller limits leave a process no room to start at all.
const MIN_MEMORY: u64 = 1 << 20;

/// An integer at `key` within min..=max.
pub(crate) fn in_range(table: &mut Table, errors: &mut Errors, key: &'static str, min: u64, max: u64) -> Option<u64> {
    let value = table.get::<i64>(errors, key)?;
    let number = u64::try_from(*value.get_ref()).ok().filter(|n| (min..=max).contains(n));
    if number.is_none() {
        let bounds = if max == u64::MAX { format!("at least {min}") } else { format!("between {min} and {max}") };
        table.error(errors, &value.span(), key, format!("must be {bounds}"));
    }
    number
}

/// "0", "0-3", "0-1,4,6-7".
fn valid_cpuset(text: &str) -> bool {
    let number = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    text.split(',').all(|range| match range.split_once('-') {
        Some((low, high)) => number(low) && number(high) && low.parse::<u32>().ok() <= high.parse::<u32>().ok(),
        None => number(range),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpusets() {
        for (text, ok) in
            [("0", true), ("0-3", true), ("0-1,4,6-7", true), ("", false), ("3-1", false), ("a", false), ("1,", false)]
        {
            assert_eq!(super::valid_cpuset(text), ok, "{text:?}");
        }
    }
}
