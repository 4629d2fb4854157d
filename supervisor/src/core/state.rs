//! What the supervisor knows about each service, and the events that change it.
//!
//! `Observed::apply` only records facts (a process started, exited, a probe answered,
//! the operator asked for something). Judging them against the manifest (restart or
//! not, healthy or not) is `reconcile`'s job, so every policy lives in one place.

use std::collections::BTreeMap;

use super::time::Instant;
use crate::manifest::Service;

/// Numbers each container corrald starts, so that a late event about an earlier one
/// (an exit, a probe answer) is never taken for the current one.
pub type RunId = u64;

/// The supervisor's view of the world.
#[derive(Clone, Debug)]
pub struct Observed {
    pub services: BTreeMap<String, ServiceState>,
    /// corrald is stopping everything (SIGTERM).
    pub shutting_down: bool,
    pub(crate) jitter_seed: u64,
    pub(crate) next_run: RunId,
}

/// One service as observed.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceState {
    pub phase: Phase,
    /// The definition the current (or last) container was started from; its supervision
    /// half is kept in step with the manifest, its container half is what changed-ness
    /// is judged against.
    pub definition: Option<Service>,
    /// Stopped by the operator; stays down until started again.
    pub held: bool,
    /// The operator asked for a restart not yet begun.
    pub restart_requested: bool,
    /// Restarts in a row since the last reset (a long enough healthy run, or the
    /// operator): picks the backoff delay and counts toward on-failure's max.
    pub recent_restarts: u32,
    /// Restarts ever, for status and metrics.
    pub restarts: u64,
    pub last_exit: Option<ExitStatus>,
    /// The run `last_exit` ended.
    pub last_exit_run: Option<RunId>,
    /// The latest run that reached Running (its process was exec'd), even if briefly.
    pub last_started_run: Option<RunId>,
}

/// Where a service is in its life.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Should run: starts at `not_before` (now, or after a backoff delay) once its
    /// dependencies are up.
    Waiting {
        not_before: Instant,
    },
    /// Start was issued; waiting for `Started`.
    Starting {
        run: RunId,
    },
    Running {
        run: RunId,
        since: Instant,
        health: Health,
    },
    /// The stop signal was sent; SIGKILL follows at `kill_at`.
    Stopping {
        run: RunId,
        reason: StopReason,
        kill_at: Instant,
    },
    Killing {
        run: RunId,
        reason: StopReason,
    },
    /// Exited and not judged yet (`reconcile` decides what comes next).
    Exited {
        exit: ExitRecord,
    },
    /// Not running and not to be started by itself.
    Down {
        why: DownReason,
    },
}

/// Why corrald stopped a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// corrald is shutting down.
    Shutdown,
    /// Gone from the manifest.
    Removed,
    /// Its container definition changed; the new one starts right after.
    Replaced,
    /// The operator stopped it.
    Operator,
    /// The operator asked for a restart.
    Restart,
    /// Its health check failed `retries` times.
    Unhealthy,
}

impl StopReason {
    /// Whether dependents must be stopped first (whole-device or removal stops);
    /// a single service being replaced or restarted leaves its dependents running.
    pub fn in_dependency_order(self) -> bool {
        matches!(self, StopReason::Shutdown | StopReason::Removed)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// Stopped by the operator.
    Held,
    /// Stopped because corrald is shutting down.
    Shutdown,
    /// Exited and its policy does not restart it (never, or on-failure after success).
    Finished(ExitStatus),
    /// on-failure reached its max.
    GaveUp { restarts: u32 },
}

/// How a container ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
    /// Killed by the kernel for reaching its memory limit.
    OomKilled,
    /// The runtime could not create or start the container.
    StartFailed(String),
    /// It ended while no corrald was its parent (a container re-adopted after corrald
    /// restarted is watched by pidfd, which tells that it exited but not how). Counts
    /// as a failure.
    Unknown,
}

impl ExitStatus {
    pub fn success(&self) -> bool {
        *self == ExitStatus::Code(0)
    }
}

/// An exit, with what `reconcile` needs to judge it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExitRecord {
    pub run: RunId,
    pub at: Instant,
    pub status: ExitStatus,
    /// Set when corrald stopped it.
    pub reason: Option<StopReason>,
    /// When it started running (None if it never did).
    pub since: Option<Instant>,
    /// When its current healthy stretch began.
    pub healthy_since: Option<Instant>,
}

/// Health-check bookkeeping for a running service.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Health {
    pub status: HealthStatus,
    pub failures_in_a_row: u32,
    /// When the current healthy stretch began.
    pub healthy_since: Option<Instant>,
    pub ever_healthy: bool,
    /// When the next probe is due; set by reconcile from the check's interval.
    pub next_check: Option<Instant>,
    pub in_flight: bool,
    /// A probe answer not yet folded in by reconcile: (healthy, when).
    pub(crate) answer: Option<(bool, Instant)>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

/// Something that happened, reported by the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The container of `run` is running (its process was exec'd).
    Started { service: String, run: RunId },
    /// The container of `run` ended (learned from its pidfd, never by polling).
    Exited { service: String, run: RunId, status: ExitStatus },
    /// A health probe of `run` answered (a probe that timed out is unhealthy).
    HealthResult { service: String, run: RunId, healthy: bool },
    /// The operator's `corralctl stop`.
    StopRequested { service: String },
    /// The operator's `corralctl start`; also clears a given-up service.
    StartRequested { service: String },
    /// The operator's `corralctl restart`.
    RestartRequested { service: String },
    /// SIGTERM to corrald: stop everything in reverse dependency order.
    ShutdownRequested,
}

impl ServiceState {
    pub fn new(now: Instant) -> ServiceState {
        ServiceState {
            phase: Phase::Waiting { not_before: now },
            definition: None,
            held: false,
            restart_requested: false,
            recent_restarts: 0,
            restarts: 0,
            last_exit: None,
            last_exit_run: None,
            last_started_run: None,
        }
    }

    /// The run of a live container (started or being started or stopped).
    pub fn live_run(&self) -> Option<RunId> {
        match self.phase {
            Phase::Starting { run }
            | Phase::Running { run, .. }
            | Phase::Stopping { run, .. }
            | Phase::Killing { run, .. } => Some(run),
            _ => None,
        }
    }
}

impl Observed {
    /// An empty view; `jitter_seed` spreads restart delays (see `backoff`).
    pub fn new(jitter_seed: u64) -> Observed {
        Observed { services: BTreeMap::new(), shutting_down: false, jitter_seed, next_run: 1 }
    }

    /// Records an event that happened at `now`. Events about an unknown service or an
    /// earlier run are ignored.
    pub fn apply(&mut self, event: Event, now: Instant) {
        match event {
            Event::ShutdownRequested => self.shutting_down = true,
            Event::Started { service, run } => self.with(&service, |state| state.started(run, now)),
            Event::Exited { service, run, status } => self.with(&service, |state| state.exited(run, status, now)),
            Event::HealthResult { service, run, healthy } => {
                self.with(&service, |state| state.answered(run, healthy, now))
            }
            Event::StopRequested { service } => self.with(&service, |state| state.held = true),
            Event::StartRequested { service } => self.with(&service, |state| state.operator_start(now)),
            Event::RestartRequested { service } => self.with(&service, |state| {
                state.held = false;
                state.restart_requested = true;
            }),
        }
    }

    /// Takes over a container that was already running when corrald started (left by
    /// an earlier corrald): the service is `Running` from `now` under a fresh run, with
    /// `definition` as what it runs. Returns that run, or None for an unknown service
    /// or one already live.
    pub fn adopt(&mut self, service: &str, definition: Service, now: Instant) -> Option<RunId> {
        let run = self.next_run;
        let state = self.services.get_mut(service).filter(|state| state.live_run().is_none())?;
        state.definition = Some(definition);
        state.phase = Phase::Running { run, since: now, health: Health::default() };
        state.last_started_run = Some(run);
        self.next_run += 1;
        Some(run)
    }

    fn with(&mut self, service: &str, change: impl FnOnce(&mut ServiceState)) {
        if let Some(state) = self.services.get_mut(service) {
            change(state);
        }
    }
}

impl ServiceState {
    fn started(&mut self, run: RunId, now: Instant) {
        if self.phase == (Phase::Starting { run }) {
            self.phase = Phase::Running { run, since: now, health: Health::default() };
            self.last_started_run = Some(run);
        }
    }

    fn exited(&mut self, run: RunId, status: ExitStatus, now: Instant) {
        if self.live_run() != Some(run) {
            return;
        }
        let (since, healthy_since, reason) = match &self.phase {
            Phase::Running { since, health, .. } => (Some(*since), health.healthy_since, None),
            Phase::Stopping { reason, .. } | Phase::Killing { reason, .. } => (None, None, Some(*reason)),
            _ => (None, None, None),
        };
        self.last_exit = Some(status.clone());
        self.last_exit_run = Some(run);
        self.phase = Phase::Exited { exit: ExitRecord { run, at: now, status, reason, since, healthy_since } };
    }

    fn answered(&mut self, run: RunId, healthy: bool, now: Instant) {
        if let Phase::Running { run: current, health, .. } = &mut self.phase
            && *current == run
            && health.in_flight
        {
            health.in_flight = false;
            health.answer = Some((healthy, now));
        }
    }

    /// Lifts a hold; a service that is down, or waiting out a restart backoff, starts
    /// now with its count of restarts in a row reset (the operator is the backoff's
    /// judge now).
    fn operator_start(&mut self, now: Instant) {
        self.held = false;
        if matches!(self.phase, Phase::Down { .. } | Phase::Waiting { .. }) {
            self.recent_restarts = 0;
            self.phase = Phase::Waiting { not_before: now };
        }
    }
}
