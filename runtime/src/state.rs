//! Container state on disk: `<root>/<id>/state.json` plus the exec fifo.
//!
//! The directory is claimed with mkdir, which is atomic, so two `create`s racing for the
//! same id cannot both win. state.json is replaced with write-temp + rename, so a reader
//! sees the old or the new file, never half of one. Commands that change a container hold
//! an flock on its directory.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::cgroups::Cgroup;

pub const DEFAULT_ROOT: &str = "/run/corral";
const STATE_FILE: &str = "state.json";
const FIFO: &str = "exec.fifo";
/// The validated config the container was created from, for `exec` (the bundle's copy
/// may change or go away while the container runs).
const CONFIG_FILE: &str = "config.json";

#[derive(Debug, Error)]
pub enum StateError {
    #[error("container {0:?} already exists; pick another id or delete it first")]
    Exists(String),
    #[error("container {0:?} does not exist (see `corral list`)")]
    NotFound(String),
    #[error("state root {path}: {source}; check --root")]
    Root { path: PathBuf, source: std::io::Error },
    #[error("state of container {id:?} ({path}): {source}")]
    Io { id: String, path: PathBuf, source: std::io::Error },
    #[error("state of container {id:?} is corrupt: {msg}; remove {path} by hand")]
    Corrupt { id: String, path: PathBuf, msg: String },
}

/// OCI status of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the runtime remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    /// Start time of the init process (clock ticks since boot, /proc/<pid>/stat field 22):
    /// with the pid it names the process even after the pid number is reused.
    pub init_start_time: u64,
    /// The kernel's boot id when the container was created. A root directory on
    /// persistent storage outlives a reboot, and a device that boots the same way each
    /// time can give a new process the same pid and start time: a container of another
    /// boot is stopped whatever its pid names now. Empty in state from before it was kept.
    #[serde(default)]
    pub boot_id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroup: Cgroup,
    /// Whether init is pid 1 of its own pid namespace (then killing it ends every process).
    pub own_pid_ns: bool,
    /// The container shares the runtime's mount namespace, so its mounts live under
    /// `rootfs` on the host until `delete` detaches them.
    #[serde(default)]
    pub host_mountns: bool,
    #[serde(default)]
    pub poststart: Vec<oci_spec::runtime::Hook>,
    #[serde(default)]
    pub poststop: Vec<oci_spec::runtime::Hook>,
}

impl Saved {
    /// Whether the container's init still runs: the same process, in this boot.
    pub fn init_alive(&self) -> bool {
        let same_boot = self.boot_id.is_empty() || crate::procfs::boot_id().is_none_or(|now| now == self.boot_id);
        same_boot && crate::procfs::is_same_process_alive(self.pid, self.init_start_time)
    }
}

/// The directory that holds all containers' state.
pub struct StateRoot {
    root: PathBuf,
}

/// One container's state directory.
#[derive(Debug, Clone)]
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
}

impl StateRoot {
    pub fn new(root: &Path) -> Self {
        StateRoot { root: root.to_path_buf() }
    }

    /// Claim `id`: create its directory, failing if it exists. The id must be validated.
    pub fn claim(&self, id: &str) -> Result<ContainerDir, StateError> {
        let root_err = |source| StateError::Root { path: self.root.clone(), source };
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.root).map_err(root_err)?;
        let path = self.root.join(id);
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => Ok(ContainerDir { id: id.to_string(), path }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(StateError::Exists(id.to_string())),
            Err(e) => Err(root_err(e)),
        }
    }

    /// An existing container's directory. The id must be validated.
    pub fn open(&self, id: &str) -> Result<ContainerDir, StateError> {
        let path = self.root.join(id);
        if path.is_dir() { Ok(ContainerDir { id: id.to_string(), path }) } else { Err(StateError::NotFound(id.to_string())) }
    }

    /// Ids of every container under the root, sorted.
    pub fn ids(&self) -> Result<Vec<String>, StateError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StateError::Root { path: self.root.clone(), source }),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| crate::id::validate(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

impl ContainerDir {
    fn io_err(&self, path: &Path, source: std::io::Error) -> StateError {
        StateError::Io { id: self.id.clone(), path: path.to_path_buf(), source }
    }

    /// Hold an exclusive lock on the directory until the guard drops.
    pub fn lock(&self) -> Result<Flock<File>, StateError> {
        let dir = File::open(&self.path).map_err(|e| self.io_err(&self.path, e))?;
        Flock::lock(dir, FlockArg::LockExclusive).map_err(|(_, e)| self.io_err(&self.path, e.into()))
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(FIFO)
    }

    /// Write state.json atomically.
    pub fn save(&self, saved: &Saved) -> Result<(), StateError> {
        let tmp = self.path.join(".state.json.tmp");
        let body = serde_json::to_vec(saved).map_err(|e| self.io_err(&tmp, e.into()))?;
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(&body)?;
            file.sync_all()?;
            std::fs::rename(&tmp, self.path.join(STATE_FILE))
        };
        write().map_err(|e| self.io_err(&tmp, e))
    }

    /// Keep the container's config; written before state.json, so a container that
    /// has a state always has its config.
    pub fn save_config(&self, spec: &oci_spec::runtime::Spec) -> Result<(), StateError> {
        let path = self.path.join(CONFIG_FILE);
        let body = serde_json::to_vec(spec).map_err(|e| self.io_err(&path, e.into()))?;
        std::fs::write(&path, body).map_err(|e| self.io_err(&path, e))
    }

    pub fn load_config(&self) -> Result<oci_spec::runtime::Spec, StateError> {
        let path = self.path.join(CONFIG_FILE);
        let text = std::fs::read(&path).map_err(|e| self.io_err(&path, e))?;
        serde_json::from_slice(&text).map_err(|e| StateError::Corrupt { id: self.id.clone(), path, msg: e.to_string() })
    }

    /// Read state.json; None while the container is still being created.
    pub fn load(&self) -> Result<Option<Saved>, StateError> {
        let path = self.path.join(STATE_FILE);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_err(&path, e)),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| StateError::Corrupt { id: self.id.clone(), path: self.path.clone(), msg: e.to_string() })
    }

    /// The container's status right now.
    pub fn status(&self, saved: &Saved) -> Status {
        if !saved.init_alive() {
            Status::Stopped
        } else if saved.cgroup.is_frozen() {
            // A frozen cgroup is paused whether it was created or running before.
            Status::Paused
        } else if self.fifo_path().exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// Remove the directory and everything in it.
    pub fn remove(&self) -> Result<(), StateError> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_err(&self.path, e)),
        }
    }
}

/// The OCI state JSON of a container, as `state` prints it and hooks receive it.
pub fn oci_state_json(saved: &Saved, status: Status) -> serde_json::Value {
    let pid = if status == Status::Stopped { 0 } else { saved.pid };
    serde_json::json!({
        "ociVersion": saved.oci_version,
        "id": saved.id,
        "status": status.as_str(),
        "pid": pid,
        "bundle": saved.bundle,
        "rootfs": saved.rootfs,
        "created": saved.created,
        "owner": "",
        "annotations": saved.annotations,
    })
}

/// RFC 3339 UTC time with nanoseconds, without a date crate.
pub fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z", rem / 3600, rem / 60 % 60, rem % 60, now.subsec_nanos())
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_786), (2026, 11, 29));
    }
}
