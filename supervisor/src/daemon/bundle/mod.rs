//! A service's OCI bundle: config.json made from its `ContainerSpec`, with the root
//! pointing at the service's rootfs (so corrald copies no image).
//!
//! A `rootfs` service starts from `base::default_config()`; a `bundle` service from its
//! own config.json. The manifest's settings are then laid over it: process, mounts,
//! devices, network, resources and priority, as docs/manifest.md describes.

mod base;
mod resources;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::manifest::{ContainerSpec, Image, Mount, NetworkMode, Process, Service};

/// What the config depends on besides the manifest.
#[derive(Clone, Debug)]
pub struct HostFacts {
    /// Pure cgroup v2 (cpu.weight and io.weight are then written as they are, through
    /// linux.resources.unified, rather than converted from v1 values).
    pub pure_cgroup_v2: bool,
    /// The lowest oom_score_adj a container can surely be given: -1000 with
    /// CAP_SYS_RESOURCE in the initial user namespace, else corrald's own. (Without it
    /// the kernel refuses to go below the process's oom_score_adj_min, which procfs does
    /// not show; corrald's current value is at or above it.) A critical service gets no
    /// lower than this instead of failing to start, as when corrald runs in a container.
    pub lowest_oom_score_adj: i32,
}

/// Its bit in the capability sets of /proc/<pid>/status (linux/capability.h).
const CAP_SYS_RESOURCE: u32 = 24;

impl HostFacts {
    /// The facts of the host corrald runs on.
    pub fn detect() -> HostFacts {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let effective = status.lines().find_map(|line| line.strip_prefix("CapEff:"));
        let caps = effective.and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok()).unwrap_or(0);
        let own = std::fs::read_to_string("/proc/self/oom_score_adj").ok().and_then(|text| text.trim().parse().ok());
        // In a user namespace the capability counts only there, not for this setting.
        let uid_map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
        let initial_userns = uid_map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"];
        let capable = caps & (1 << CAP_SYS_RESOURCE) != 0 && initial_userns;
        let lowest = if capable { -1000 } else { own.unwrap_or(0) };
        HostFacts { pure_cgroup_v2: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(), lowest_oom_score_adj: lowest }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path}: line {line} is not NAME=value")]
    EnvLine { path: PathBuf, line: usize },
    #[error("device {path}: {reason}")]
    Device { path: PathBuf, reason: String },
    #[error("cannot write the bundle in {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// The cgroup (in every hierarchy) of container `id`: corrald reads OOM kills from it.
pub fn cgroup_path(id: &str) -> String {
    format!("/corral/{id}")
}

/// config.json for container `id` of `service`.
pub fn generate(service: &Service, id: &str, host: &HostFacts) -> Result<Value, BundleError> {
    let spec: &ContainerSpec = &service.container;
    let mut config = match &spec.image {
        Image::Rootfs(rootfs) => {
            let mut config = base::default_config();
            config["root"]["path"] = json!(rootfs);
            config
        }
        Image::Bundle(dir) => read_bundle(dir)?,
    };
    config["hostname"] = json!(service.name);
    if let Some(process) = &spec.process {
        apply_process(&mut config["process"], process)?;
    }
    config["process"]["terminal"] = json!(false);
    config["process"]["oomScoreAdj"] = json!(spec.priority.oom_score_adj().max(host.lowest_oom_score_adj));
    apply_mounts(&mut config, &spec.mounts);
    for device in &spec.devices {
        apply_device(&mut config["linux"], device)?;
    }
    apply_network(&mut config, spec.network);
    resources::apply(&mut config["linux"]["resources"], &spec.resources, spec.priority, host.pure_cgroup_v2);
    config["linux"]["cgroupsPath"] = json!(cgroup_path(id));
    Ok(config)
}

/// Writes `config` as `dir/config.json`, making `dir`.
pub fn write(dir: &Path, config: &Value) -> Result<(), BundleError> {
    let failed = |source| BundleError::Write { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(failed)?;
    let text = serde_json::to_vec_pretty(config).expect("a JSON value serialises");
    std::fs::write(dir.join("config.json"), text).map_err(failed)
}

/// A bundle's config.json, with its root made absolute (the generated bundle lives
/// elsewhere).
fn read_bundle(dir: &Path) -> Result<Value, BundleError> {
    let path = dir.join("config.json");
    let text = std::fs::read(&path).map_err(|source| BundleError::Read { path: path.clone(), source })?;
    let mut config: Value =
        serde_json::from_slice(&text).map_err(|source| BundleError::Json { path: path.clone(), source })?;
    let root = config["root"]["path"].as_str().unwrap_or("rootfs").to_owned();
    config["root"]["path"] = json!(dir.join(root));
    Ok(config)
}

fn apply_process(process: &mut Value, wanted: &Process) -> Result<(), BundleError> {
    if !wanted.args.is_empty() {
        process["args"] = json!(wanted.args);
    }
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let inherited = process["env"].as_array().cloned().unwrap_or_default();
    for entry in inherited.iter().filter_map(Value::as_str) {
        if let Some((name, value)) = entry.split_once('=') {
            env.insert(name.to_owned(), value.to_owned());
        }
    }
    for file in &wanted.env_files {
        env.extend(read_env_file(file)?);
    }
    env.extend(wanted.env.iter().map(|(name, value)| (name.clone(), value.clone())));
    process["env"] = json!(env.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>());
    if let Some(cwd) = &wanted.cwd {
        process["cwd"] = json!(cwd);
    }
    if let Some(user) = wanted.user {
        process["user"] = json!({"uid": user.uid, "gid": user.gid});
    }
    Ok(())
}

/// `NAME=value` lines; blank lines and `#` comments are skipped.
fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, BundleError> {
    let text = std::fs::read_to_string(path).map_err(|source| BundleError::Read { path: path.to_path_buf(), source })?;
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => pairs.push((name.trim().to_owned(), value.to_owned())),
            _ => return Err(BundleError::EnvLine { path: path.to_path_buf(), line: index + 1 }),
        }
    }
    Ok(pairs)
}

/// The manifest's mounts replace any of the base's at the same target.
fn apply_mounts(config: &mut Value, mounts: &[Mount]) {
    let list = list_at(&mut config["mounts"]);
    for mount in mounts {
        list.retain(|existing| existing["destination"] != json!(mount.target()));
        list.push(match mount {
            Mount::Bind { source, target, read_only } => {
                let mut options = vec!["rbind", "rprivate"];
                if *read_only {
                    options.push("ro");
                }
                json!({"destination": target, "type": "bind", "source": source, "options": options})
            }
            Mount::Tmpfs { target, size } => {
                let mut options = vec!["nosuid".to_owned(), "nodev".to_owned()];
                options.extend(size.map(|bytes| format!("size={bytes}")));
                json!({"destination": target, "type": "tmpfs", "source": "tmpfs", "options": options})
            }
        });
    }
}

/// The host node at the same path, and a cgroup rule allowing it.
fn apply_device(linux: &mut Value, path: &Path) -> Result<(), BundleError> {
    use nix::sys::stat::{SFlag, major, minor, stat};
    let problem = |reason: String| BundleError::Device { path: path.to_path_buf(), reason };
    let info = stat(path).map_err(|errno| problem(errno.desc().to_owned()))?;
    let kind = match SFlag::from_bits_truncate(info.st_mode) & SFlag::S_IFMT {
        SFlag::S_IFCHR => "c",
        SFlag::S_IFBLK => "b",
        _ => return Err(problem("not a character or block device".to_owned())),
    };
    let (major, minor) = (major(info.st_rdev), minor(info.st_rdev));
    list_at(&mut linux["devices"]).push(json!({
        "path": path, "type": kind, "major": major, "minor": minor,
        "fileMode": info.st_mode & 0o777, "uid": info.st_uid, "gid": info.st_gid,
    }));
    let rule = json!({"allow": true, "type": kind, "major": major, "minor": minor, "access": "rwm"});
    list_at(&mut linux["resources"]["devices"]).push(rule);
    Ok(())
}

/// host: no network namespace. none: a new one (corral brings its loopback up).
fn apply_network(config: &mut Value, network: NetworkMode) {
    let namespaces = list_at(&mut config["linux"]["namespaces"]);
    namespaces.retain(|namespace| namespace["type"] != "network");
    if network == NetworkMode::None {
        namespaces.push(json!({"type": "network"}));
    }
}

/// The array at `value`, made one if it is missing.
fn list_at(value: &mut Value) -> &mut Vec<Value> {
    if !value.is_array() {
        *value = json!([]);
    }
    value.as_array_mut().expect("just made an array")
}

#[cfg(test)]
mod tests;
