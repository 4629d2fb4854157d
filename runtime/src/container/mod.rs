//! Lifecycle operations on containers, as the CLI and other callers use them.

mod create;
mod delete;
mod events;
mod exec;
mod pause;
mod query;
mod run;
mod signal;
mod start;
mod update;

use std::path::Path;

use thiserror::Error;

pub use create::{CreateOptions, Created, create};
pub use delete::delete;
pub use exec::{ExecInputError, ExecOptions, ExecOutcome, ExecProcess, ProcessOverrides, exec};
pub use events::{parse_duration, stats_event, stream as stream_events};
pub use pause::{pause, resume};
pub use query::{list, ps_pids, state};
pub use run::{RunOutcome, run};
pub use signal::{kill, parse_signal};
pub use start::start;
pub use update::update;

use crate::state::{ContainerDir, Saved, StateRoot, Status};

#[derive(Debug, Error)]
pub enum LifecycleError {
    #[error("container {id:?} is {status}; {what}")]
    WrongState { id: String, status: Status, what: &'static str },
    #[error("container {0:?} is still being created; try again, or `delete --force` it if its create was interrupted")]
    Creating(String),
    #[error("container not running: {id:?} has stopped, there is nothing to signal")]
    NotRunning { id: String },
    #[error("container {id:?}: the init process is gone; `delete` the container")]
    InitGone { id: String },
    #[error("container {id:?}: its process failed to start after `start` (startContainer hook or exec); see the container's stderr")]
    LaunchFailed { id: String },
    #[error("container {id:?}: cannot signal it: {source}")]
    Signal { id: String, source: std::io::Error },
    #[error("unknown signal {0:?}; use a name like TERM, SIGKILL or a number 1-64")]
    BadSignal(String),
    #[error("exec fifo of {id:?}: {source}")]
    Fifo { id: String, source: std::io::Error },
    #[error("--pid-file {path}: {source}")]
    PidFile { path: String, source: std::io::Error },
    #[error("--preserve-fds {count}: fd {fd} is not open in the caller")]
    PreservedFd { count: u32, fd: u32 },
    #[error("waiting for container {id:?}: {source}")]
    Wait { id: String, source: nix::Error },
    #[error("container {id:?} did not stop within {secs} s after SIGKILL")]
    StopTimeout { id: String, secs: u64 },
    #[error("ps: {0}")]
    Ps(std::io::Error),
}

/// A container's directory plus its saved state, for commands on existing containers.
pub(crate) fn open(root: &Path, id: &str) -> crate::Result<(ContainerDir, Saved)> {
    crate::id::validate(id)?;
    let dir = StateRoot::new(root).open(id)?;
    let saved = dir.load()?.ok_or_else(|| LifecycleError::Creating(id.to_string()))?;
    Ok((dir, saved))
}
