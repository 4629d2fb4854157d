//! The devices controller: v1 allow/deny lists, v2 eBPF device programs.
//!
//! `rules.rs` builds the ordered rule list from the config (deny all first, so that no
//! rules means no devices beyond the standard ones), `policy.rs` folds it into a default
//! plus exceptions, and `v1.rs` writes that to devices.deny/devices.allow while `v2.rs`
//! compiles it (`program.rs`) into an eBPF program attached to the cgroup. A v1 devices
//! hierarchy is used when the host has one (v1 and hybrid hosts); otherwise the v2 one.

mod policy;
mod program;
mod rules;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;

use oci_spec::runtime::Linux;

use super::Cgroup;

pub use policy::Policy;
pub use rules::{Access, DevKind, DeviceSet, Rule, STANDARD_DEVICES, effective_rules};

/// Why the device rules could not be put in place.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "linux.resources.devices[{index}]: access {access:?} is invalid; use one or more of r, w and m"
    )]
    BadAccess { index: usize, access: String },

    #[error(
        "linux.resources.devices[{index}]: {what} {value} is not a device number; use 0 to 2147483647, or leave it out (or -1) for any"
    )]
    BadRuleNumber {
        index: usize,
        what: &'static str,
        value: i64,
    },

    #[error("linux.devices {path}: {what} {value} is not a device number; use 0 to 2147483647")]
    BadDeviceNumber {
        path: String,
        what: &'static str,
        value: i64,
    },

    #[error(
        "linux.resources.devices: the rule {verdict} {rule} would cut a hole in the broader exception {broader}, which the kernel cannot hold; list the devices of the broader rule one by one instead"
    )]
    Unrepresentable {
        rule: String,
        broader: String,
        verdict: &'static str,
    },

    #[error(
        "the container's cgroup has no devices controller (no v1 devices hierarchy and no cgroup v2 directory), so device access cannot be restricted; mount the devices controller"
    )]
    NoController,

    #[error("cannot write device rule {line:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        line: String,
        source: io::Error,
    },

    #[error(
        "cannot load the eBPF device program ({instructions} instructions): {source}; the kernel needs CONFIG_CGROUP_BPF (Linux 4.15+){}",
        log_suffix(verifier_log)
    )]
    LoadProgram {
        instructions: usize,
        source: io::Error,
        verifier_log: String,
    },

    #[error("cannot open cgroup directory {path} to attach the device program: {source}")]
    OpenCgroup { path: PathBuf, source: io::Error },

    #[error("cannot attach the eBPF device program to {path}: {source}")]
    Attach { path: PathBuf, source: io::Error },
}

fn log_suffix(log: &str) -> String {
    match log.trim() {
        "" => String::new(),
        log => format!("; verifier said: {log}"),
    }
}

impl DeviceError {
    /// Puts the index of the offending linux.resources.devices entry into the error.
    fn at(self, entry: usize) -> DeviceError {
        match self {
            DeviceError::BadAccess { access, .. } => DeviceError::BadAccess {
                index: entry,
                access,
            },
            DeviceError::BadRuleNumber { what, value, .. } => DeviceError::BadRuleNumber {
                index: entry,
                what,
                value,
            },
            other => other,
        }
    }
}

/// Restricts the container's devices to the standard ones plus what `linux` allows
/// (linux.resources.devices, then linux.devices), on v1 or v2.
pub fn apply(cgroup: &Cgroup, linux: Option<&Linux>) -> Result<(), DeviceError> {
    let configured = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().as_deref())
        .unwrap_or(&[]);
    let devices = linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[]);
    let policy = Policy::fold(&effective_rules(configured, devices)?)?;
    if let Some(dir) = cgroup.v1_dir("devices") {
        return v1::write_policy(&dir.host_dir(), &policy);
    }
    // No v1 devices hierarchy: a pure v2 host, or a hybrid one without the v1 controller,
    // where a program on the unified directory is enforced all the same.
    match cgroup.v2_dir() {
        Some(dir) => v2::attach_policy(&dir.host_dir(), &policy),
        None => Err(DeviceError::NoController),
    }
}
