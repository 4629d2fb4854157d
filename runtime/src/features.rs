//! `corral features`: what this build implements, in the runtime-spec features format.
//! Every list here is derived from the code that implements it, so it cannot drift.

use serde_json::{Value, json};

const HOOKS: [&str; 6] = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];
const NAMESPACES: [&str; 7] = ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"];

/// Known flags include WAIT_KILLABLE_RECV, which corral recognises only to refuse it
/// (it needs SCMP_ACT_NOTIFY); supported are those it passes to seccomp(2).
fn seccomp() -> Value {
    use crate::seccomp::{OPERATORS, SUPPORTED_ACTIONS, SUPPORTED_FLAGS};
    let mut known = SUPPORTED_FLAGS.to_vec();
    known.push("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
    json!({
        "enabled": true,
        "actions": SUPPORTED_ACTIONS,
        "operators": OPERATORS,
        "archs": crate::seccomp::supported_architectures(),
        "knownFlags": known,
        "supportedFlags": SUPPORTED_FLAGS
    })
}

pub fn features() -> Value {
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    json!({
        "ociVersionMin": crate::spec::OCI_VERSION_MIN,
        "ociVersionMax": crate::spec::OCI_VERSION_MAX,
        "hooks": HOOKS,
        "mountOptions": crate::rootfs::MOUNT_OPTIONS,
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": seccomp(),
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features.version": crate::spec::OCI_VERSION_MAX,
            "io.github.corral.version": env!("CARGO_PKG_VERSION")
        }
    })
}
