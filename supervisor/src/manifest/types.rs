//! The validated manifest: what corrald is asked to keep running.
//!
//! Every value here has passed validation; defaults are filled in. A service is split
//! into what shapes its container (`ContainerSpec`: a change means a new container) and
//! how corrald watches over it (`Supervision`: a change applies to the running one).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// A whole manifest: the services a device should run, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifest {
    pub services: BTreeMap<String, Service>,
}

/// One declared service.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub name: String,
    pub container: ContainerSpec,
    pub supervision: Supervision,
}

/// Everything that goes into creating the service's container.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerSpec {
    pub image: Image,
    /// None only with `Image::Bundle`, whose config.json then supplies the process.
    pub process: Option<Process>,
    pub mounts: Vec<Mount>,
    /// Host device nodes passed through at the same path, e.g. /dev/ttyUSB0.
    pub devices: Vec<PathBuf>,
    pub network: NetworkMode,
    pub resources: Resources,
    pub priority: Priority,
}

/// Where the service's files come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Image {
    /// A root filesystem directory; corrald writes the OCI config itself.
    Rootfs(PathBuf),
    /// An OCI bundle directory (config.json + rootfs); the manifest's settings are laid over it.
    Bundle(PathBuf),
}

/// The service's main process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    /// argv; empty only with a bundle (keep the bundle's args).
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Host files of KEY=VALUE lines, read at each start; `env` wins over them.
    pub env_files: Vec<PathBuf>,
    pub cwd: Option<PathBuf>,
    pub user: Option<User>,
}

/// A numeric user (and group) for the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    /// Defaults to the uid when not given.
    pub gid: u32,
}

/// A mount added to the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mount {
    Bind { source: PathBuf, target: PathBuf, read_only: bool },
    Tmpfs { target: PathBuf, size: Option<u64> },
}

impl Mount {
    pub fn target(&self) -> &PathBuf {
        match self {
            Mount::Bind { target, .. } | Mount::Tmpfs { target, .. } => target,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkMode {
    /// Share the host's network namespace.
    Host,
    /// A private network namespace with only loopback.
    #[default]
    None,
}

/// cgroup limits. None means unlimited.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    /// Hard memory limit in bytes (memory.max).
    pub memory: Option<u64>,
    /// CPU bandwidth in cores, e.g. 0.5 (cpu.max).
    pub cpus: Option<f64>,
    /// CPUs the service may run on, in cpuset list syntax ("0-1,3").
    pub cpuset: Option<String>,
    /// Maximum number of tasks (pids.max).
    pub pids: Option<u64>,
    /// Relative IO weight, 1..=10000 (io.weight).
    pub io_weight: Option<u16>,
}

/// How much the device favours a service when memory or CPU runs short.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    Critical,
    #[default]
    Normal,
    BestEffort,
}

impl Priority {
    /// /proc/<pid>/oom_score_adj for the service's processes. A critical service is the
    /// last the OOM killer picks but stays killable (-1000 would exempt it entirely and
    /// could leave the kernel nothing to kill); best-effort ones go first.
    pub fn oom_score_adj(self) -> i32 {
        match self {
            Priority::Critical => -900,
            Priority::Normal => 0,
            Priority::BestEffort => 800,
        }
    }

    /// cgroup v2 cpu.weight (default 100). Under contention a critical service gets ten
    /// times a normal one's share, a best-effort one a tenth.
    pub fn cpu_weight(self) -> u64 {
        match self {
            Priority::Critical => 1000,
            Priority::Normal => 100,
            Priority::BestEffort => 10,
        }
    }

    /// cgroup v1 cpu.shares with the same ratios (1024 is the default share).
    pub fn cpu_shares(self) -> u64 {
        self.cpu_weight() * 1024 / 100
    }
}

/// How corrald watches over a service.
#[derive(Clone, Debug, PartialEq)]
pub struct Supervision {
    pub restart: RestartPolicy,
    pub backoff: Backoff,
    pub health: Option<HealthCheck>,
    pub depends_on: Vec<Dependency>,
    pub stop: StopSpec,
    pub logs: LogSettings,
}

/// A service's own log limits; None keeps corrald's (`--log-max-size`, `--log-keep`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogSettings {
    /// The log file is rotated when a write would take it past this many bytes.
    pub max_size: Option<u64>,
    /// Rotated files kept (`.1` … `.keep`).
    pub keep: Option<u32>,
}

/// When an exited service is started again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Whatever the exit status; a service stopped by the operator stays stopped until
    /// corrald restarts.
    Always,
    /// Only after a failure (non-zero status, signal, OOM kill, unhealthy), at most
    /// `max` times in a row when given.
    OnFailure {
        max: Option<u32>,
    },
    /// Like always, but a service stopped by the operator stays stopped across corrald
    /// restarts too.
    UnlessStopped,
    Never,
}

impl RestartPolicy {
    /// Whether an operator's stop survives a restart of corrald (only unless-stopped:
    /// with always, a restarted corrald starts the service again).
    pub fn hold_survives_daemon_restart(self) -> bool {
        self == RestartPolicy::UnlessStopped
    }
}

/// Delay before restart number n (counting from 0): min(cap, initial × factorⁿ),
/// then spread by ±jitter of itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub factor: f64,
    pub cap: Duration,
    /// Fraction in 0..=1.
    pub jitter: f64,
    /// A run healthy (or, without a health check, alive) this long forgets past failures.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_millis(500),
            factor: 2.0,
            cap: Duration::from_secs(60),
            jitter: 0.1,
            reset_after: Duration::from_secs(60),
        }
    }
}

/// A periodic probe of the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures (after the start period) that make the service unhealthy.
    pub retries: u32,
    /// Failures in this time after start do not count; a success ends it early.
    pub start_period: Duration,
}

/// What a health check does. http and tcp connect to 127.0.0.1 in the service's
/// network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Run a command inside the container; exit status 0 is healthy.
    Exec(Vec<String>),
    /// GET http://127.0.0.1:port/path; a 2xx or 3xx status is healthy.
    Http { port: u16, path: String },
    /// A TCP connection to 127.0.0.1:port is accepted.
    Tcp { port: u16 },
}

/// Another service that must be up before this one starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub service: String,
    pub condition: Condition,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// Its process is running.
    Started,
    /// Its health check has passed.
    Healthy,
}

/// How a service is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopSpec {
    pub signal: i32,
    /// Time between the stop signal and SIGKILL.
    pub grace: Duration,
}

impl Default for StopSpec {
    fn default() -> StopSpec {
        StopSpec { signal: crate::signal::DEFAULT_STOP_SIGNAL, grace: Duration::from_secs(10) }
    }
}
