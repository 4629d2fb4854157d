//! `corrald run`: the daemon that keeps a manifest's services running.
//!
//! One thread, one `poll` over: a signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP), a
//! CLOCK_BOOTTIME timerfd armed for the core's next deadline, every log pipe, the
//! pidfds of re-adopted containers, and health-probe sockets. Each wake-up turns what
//! happened into `core::Event`s, `core::reconcile` decides, and the actions run as
//! `corral` child processes (`run --detach`, `kill`, `exec`, `delete`). corrald is a
//! child subreaper, so each container's init becomes its child once `corral run`
//! returns and its exit status arrives with SIGCHLD. See docs/DESIGN.md, Supervisor.
//!
//! Layout: `event_loop` (the loop and its descriptors), `actions` (carrying out the
//! core's actions), `exits` (reaping children), `adopt` (start-up: re-adopting or
//! cleaning up what an earlier corrald left), `probe` (health checks), `bundle`
//! (config.json), `logs`, `persist` (the state file), `runtime` (the corral CLI),
//! `netns` (sockets in a container's network namespace), `api` (the control socket),
//! `cgroup_stats` (memory and CPU of a container), `notify` (sd_notify).

mod actions;
mod adopt;
mod api;
pub mod bundle;
pub mod cgroup_stats;
mod clock;
mod event_loop;
mod exits;
pub mod logs;
pub mod netns;
mod notify;
pub mod persist;
mod probe;
pub mod runtime;

use std::io;
use std::path::PathBuf;

pub use logs::LogLimits;

use crate::manifest::LoadError;

/// What `corrald run` was given.
#[derive(Clone, Debug)]
pub struct Options {
    pub manifest: PathBuf,
    pub state_dir: PathBuf,
    /// The control API's unix socket (by default `<state_dir>/corrald.sock`).
    pub socket: PathBuf,
    /// The `corral` binary.
    pub runtime: PathBuf,
    /// For services whose manifest entry has no `logs` table (or leaves a key out).
    pub log_limits: LogLimits,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Manifest(#[from] LoadError),
    #[error("cannot read the device's memory size: {0}")]
    Device(io::Error),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("cannot return to corrald's own network namespace after a probe: {0}")]
    Netns(nix::Error),
}

impl DaemonError {
    pub(crate) fn io(what: impl Into<String>, source: impl Into<io::Error>) -> DaemonError {
        DaemonError::Io { what: what.into(), source: source.into() }
    }
}

/// Runs until SIGTERM or SIGINT has stopped every service; then every container
/// corrald made is deleted.
pub fn run(options: Options) -> Result<(), DaemonError> {
    event_loop::Daemon::start(options)?.run()
}

/// The directories under `--state-dir`.
#[derive(Clone, Debug)]
pub(crate) struct Dirs {
    pub root: PathBuf,
}

impl Dirs {
    /// The runtime's `--root`: only corrald's containers live there.
    pub fn runtime_root(&self) -> PathBuf {
        self.root.join("runtime")
    }

    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub fn bundles(&self) -> PathBuf {
        self.root.join("bundles")
    }

    /// Container `id`'s generated bundle (config.json and the init's pid file).
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.bundles().join(id)
    }

    fn create(&self) -> Result<(), DaemonError> {
        use std::os::unix::fs::DirBuilderExt;
        for dir in [self.root.clone(), self.runtime_root(), self.logs(), self.bundles()] {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true).mode(0o700);
            builder.create(&dir).map_err(|e| DaemonError::io(format!("cannot create {}", dir.display()), e))?;
        }
        Ok(())
    }
}

/// corrald's own messages, on stderr.
pub(crate) fn say(message: impl std::fmt::Display) {
    eprintln!("corrald: {message}");
}
