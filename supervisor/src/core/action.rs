//! What `reconcile` asks the daemon to do.

use std::time::Duration;

use super::state::RunId;
use crate::manifest::Probe;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create and start the service's container from the manifest's definition, as
    /// container run `run`; report `Started` (or `Exited` with `StartFailed`).
    Start { service: String, run: RunId },
    /// Send the service's stop signal to its container.
    Signal { service: String, run: RunId, signal: i32 },
    /// The grace period is over: SIGKILL every process of the container.
    Kill { service: String, run: RunId },
    /// Run one health probe, giving up after `timeout`; report `HealthResult`.
    CheckHealth { service: String, run: RunId, probe: Probe, timeout: Duration },
    /// The service left the manifest and its container is gone: drop its state and logs.
    Forget { service: String },
}
