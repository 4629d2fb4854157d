//! config.json → a validated spec.
//!
//! oci-spec parses the JSON but checks almost nothing (it accepts ociVersion "9.9.9" and
//! relative paths), so every rule the runtime relies on is checked here, before any side
//! effect, with an error that names the field and says how to fix it.

pub mod default;

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SpecError {
    #[error("bundle {0}: no config.json there; create one with `corral spec` or pass the right --bundle")]
    Missing(PathBuf),
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: invalid config: {msg}")]
    Parse { path: PathBuf, msg: String },
    #[error("config.json: {field}: {msg}")]
    Invalid { field: String, msg: String },
    #[error("exec: process {field}: {msg}")]
    ExecProcess { field: &'static str, msg: String },
}

fn invalid(field: impl Into<String>, msg: impl Into<String>) -> SpecError {
    SpecError::Invalid { field: field.into(), msg: msg.into() }
}

/// A config.json that passed validation, with its rootfs resolved to an absolute path.
#[derive(Debug)]
pub struct ValidSpec {
    pub spec: Spec,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
}

impl ValidSpec {
    /// True when the config asks for a new namespace of this type (no path given).
    pub fn creates_ns(&self, typ: LinuxNamespaceType) -> bool {
        namespaces(&self.spec).iter().any(|ns| ns.typ() == typ && ns.path().is_none())
    }

    /// True when the config asks for a namespace of this type, new or joined.
    pub fn has_ns(&self, typ: LinuxNamespaceType) -> bool {
        namespaces(&self.spec).iter().any(|ns| ns.typ() == typ)
    }
}

fn namespaces(spec: &Spec) -> &[oci_spec::runtime::LinuxNamespace] {
    spec.linux().as_ref().and_then(|l| l.namespaces().as_deref()).unwrap_or(&[])
}

/// serde's message, except for the one mistake worth a better word: a capability name no
/// kernel knows (oci-spec reports it as an unknown enum variant).
fn parse_error(path: &Path, e: &serde_json::Error) -> SpecError {
    let msg = e.to_string();
    match msg.strip_prefix("no variant for ").and_then(|rest| rest.split_whitespace().next()) {
        Some(cap) if cap.starts_with("CAP_") => invalid(
            "process.capabilities",
            format!("{cap} is not a Linux capability; check the spelling (e.g. CAP_NET_ADMIN)"),
        ),
        _ => SpecError::Parse { path: path.to_path_buf(), msg },
    }
}

/// Read `<bundle>/config.json` and validate it.
pub fn load(bundle: &Path) -> Result<ValidSpec, SpecError> {
    let bundle = std::path::absolute(bundle).map_err(|source| SpecError::Read { path: bundle.into(), source })?;
    let path = bundle.join("config.json");
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SpecError::Missing(bundle)),
        Err(source) => return Err(SpecError::Read { path, source }),
    };
    let spec: Spec = serde_json::from_slice(&text).map_err(|e| parse_error(&path, &e))?;
    validate(spec, bundle)
}

fn validate(spec: Spec, bundle: PathBuf) -> Result<ValidSpec, SpecError> {
    check_version(spec.version())?;
    let rootfs = check_root(&spec, &bundle)?;
    check_process(&spec)?;
    check_linux(&spec)?;
    check_hooks(&spec)?;
    Ok(ValidSpec { spec, bundle, rootfs })
}

/// Versions this runtime implements: 1.0.0 up to 1.2.x (pre-release suffixes allowed).
pub const OCI_VERSION_MIN: &str = "1.0.0";
pub const OCI_VERSION_MAX: &str = "1.2.1";

fn check_version(version: &str) -> Result<(), SpecError> {
    let core = version.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<Option<u32>> = core.split('.').map(|p| p.parse().ok()).collect();
    let ok = matches!(parts.as_slice(), [Some(1), Some(minor), Some(_)] if *minor <= 2);
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "ociVersion",
            format!("{version:?} is not supported; this runtime implements {OCI_VERSION_MIN} to {OCI_VERSION_MAX} (set \"ociVersion\": \"1.2.0\")"),
        ))
    }
}

fn check_root(spec: &Spec, bundle: &Path) -> Result<PathBuf, SpecError> {
    let root = spec.root().as_ref().ok_or_else(|| invalid("root", "missing; set root.path to the rootfs directory"))?;
    let rootfs = bundle.join(root.path());
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => Ok(rootfs),
        Ok(_) => Err(invalid("root.path", format!("{} is not a directory; point it at the container's root filesystem", rootfs.display()))),
        Err(e) => Err(invalid("root.path", format!("{}: {e}; create the rootfs or fix root.path", rootfs.display()))),
    }
}

fn check_process(spec: &Spec) -> Result<(), SpecError> {
    let Some(process) = spec.process() else {
        return Err(invalid("process", "missing; a container needs a process to run"));
    };
    match process_problem(process) {
        Some((field, msg)) => Err(invalid(format!("process.{field}"), msg)),
        None => Ok(()),
    }
}

/// Validates the process an `exec` runs (from --process, or the container's with flags).
pub fn check_exec_process(process: &Process) -> Result<(), SpecError> {
    match process_problem(process) {
        Some((field, msg)) => Err(SpecError::ExecProcess { field, msg }),
        None => Ok(()),
    }
}

/// The first field of a process object that the runtime cannot run, and why.
fn process_problem(process: &Process) -> Option<(&'static str, String)> {
    if process.args().as_ref().is_none_or(|a| a.is_empty() || a[0].is_empty()) {
        return Some(("args", "empty; give the program to run, e.g. [\"/bin/sh\"]".into()));
    }
    if !process.cwd().is_absolute() {
        return Some(("cwd", format!("{:?} is not absolute; use a path starting with /", process.cwd())));
    }
    for var in process.env().as_deref().unwrap_or(&[]) {
        if !var.contains('=') || var.contains('\0') {
            return Some(("env", format!("{var:?} is not of the form KEY=VALUE")));
        }
    }
    if process.args().iter().flatten().any(|a| a.contains('\0')) {
        return Some(("args", "an argument contains a NUL byte".into()));
    }
    None
}

fn check_linux(spec: &Spec) -> Result<(), SpecError> {
    let mut seen = Vec::new();
    for ns in namespaces(spec) {
        if seen.contains(&ns.typ()) {
            return Err(invalid("linux.namespaces", format!("{} is listed twice; keep one entry", ns.typ())));
        }
        seen.push(ns.typ());
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                return Err(invalid("linux.namespaces", format!("{} path {path:?} is not absolute", ns.typ())));
            }
        }
    }
    let linux = spec.linux().as_ref();
    let has_maps = linux.is_some_and(|l| l.uid_mappings().is_some() || l.gid_mappings().is_some());
    let new_user = namespaces(spec).iter().any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    if has_maps && !new_user {
        return Err(invalid("linux.uidMappings", "mappings need a new user namespace; add {\"type\": \"user\"} to linux.namespaces"));
    }
    if new_user && !has_maps {
        return Err(invalid("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings"));
    }
    for key in linux.and_then(|l| l.sysctl().as_ref()).into_iter().flatten().map(|(k, _)| k) {
        if key.split(['.', '/']).any(|part| part.is_empty() || part == "..") {
            return Err(invalid("linux.sysctl", format!("{key:?} is not a sysctl name like net.ipv4.ip_forward")));
        }
    }
    Ok(())
}

fn check_hooks(spec: &Spec) -> Result<(), SpecError> {
    let Some(hooks) = spec.hooks() else { return Ok(()) };
    let lists = [
        ("hooks.prestart", hooks.prestart()),
        ("hooks.createRuntime", hooks.create_runtime()),
        ("hooks.createContainer", hooks.create_container()),
        ("hooks.startContainer", hooks.start_container()),
        ("hooks.poststart", hooks.poststart()),
        ("hooks.poststop", hooks.poststop()),
    ];
    for (field, list) in lists {
        for hook in list.iter().flatten() {
            if !hook.path().is_absolute() {
                return Err(invalid(field, format!("path {:?} is not absolute", hook.path())));
            }
            if hook.timeout().is_some_and(|t| t <= 0) {
                return Err(invalid(field, format!("{}: timeout must be greater than zero", hook.path().display())));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for ok in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.2.1", "1.2.0+dev"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in ["9.9.9", "2.0.0", "1.3.0", "", "1", "1.x.0", "0.9.0"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }
}
