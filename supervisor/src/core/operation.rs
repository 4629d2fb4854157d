//! An operator's start, stop or restart, followed until it has taken effect.
//!
//! `corralctl stop web` should return once web is down, as `systemctl stop` does, not
//! when the request was merely noted: a script that stops a service and then touches
//! its files must not race its last writes. The daemon applies the request, keeps the
//! `Followed` it gets back, and asks `outcome` after every reconcile; the answer goes out
//! when that is Some (or the client's wait runs out).

use super::state::{Event, ExitStatus, Observed, Phase, RunId, ServiceState};

/// What the operator asked of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Start,
    Stop,
    Restart,
}

impl Request {
    pub fn word(self) -> &'static str {
        match self {
            Request::Start => "start",
            Request::Stop => "stop",
            Request::Restart => "restart",
        }
    }
}

/// A request being followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Followed {
    pub service: String,
    pub request: Request,
    /// A start or restart is done once a container of this run or a later one runs.
    first_run: RunId,
}

/// How a followed request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The service is running (start, restart) or down (stop).
    Done,
    /// The container started for the request ended before it ran (the runtime refused
    /// it); the restart policy goes on from there.
    NotStarted(ExitStatus),
    /// Something else took over: another request, a manifest change, a shutdown.
    Overtaken(&'static str),
}

impl Observed {
    /// Records the operator's `request` for `service` (of the manifest) at `now` and
    /// returns what to follow.
    pub fn request(&mut self, service: &str, request: Request, now: super::Instant) -> Followed {
        // A service added to the manifest so recently that no reconcile has seen it yet.
        self.services.entry(service.to_owned()).or_insert_with(|| ServiceState::new(now));
        // A start of a service that already runs (or is starting) is done once that run
        // is: a hold on it is lifted by the start itself.
        let running = self.services.get(service).and_then(|state| match state.phase {
            Phase::Starting { run } | Phase::Running { run, .. } => Some(run),
            _ => None,
        });
        let first_run = match request {
            Request::Start => running.unwrap_or(self.next_run),
            Request::Stop | Request::Restart => self.next_run,
        };
        let service = service.to_owned();
        let event = match request {
            Request::Start => Event::StartRequested { service: service.clone() },
            Request::Stop => Event::StopRequested { service: service.clone() },
            Request::Restart => Event::RestartRequested { service: service.clone() },
        };
        self.apply(event, now);
        Followed { service, request, first_run }
    }
}

impl Followed {
    /// Whether the request has taken effect in `observed` (None: not yet).
    pub fn outcome(&self, observed: &Observed) -> Option<Outcome> {
        let state = observed.services.get(&self.service);
        match (self.request, state) {
            // A removed service is forgotten once it is down: stopped all the same.
            (Request::Stop, None) => Some(Outcome::Done),
            (_, None) => Some(Outcome::Overtaken("the service was removed from the manifest")),
            (Request::Stop, Some(state)) if !state.held => Some(Outcome::Overtaken("it was started again meanwhile")),
            (Request::Stop, Some(state)) => matches!(state.phase, Phase::Down { .. }).then_some(Outcome::Done),
            (_, Some(_)) if observed.shutting_down => Some(Outcome::Overtaken("corrald is shutting down")),
            (_, Some(state)) if state.held => Some(Outcome::Overtaken("it was stopped meanwhile")),
            // Done once a run of the request's ran, even if it has ended since (a short
            // job); its end is the service's state, not the request's failure.
            (_, Some(state))
                if state.last_started_run.is_some_and(|run| run >= self.first_run)
                    || matches!(state.phase, Phase::Running { run, .. } if run >= self.first_run) =>
            {
                Some(Outcome::Done)
            }
            (_, Some(state)) if state.last_exit_run.is_some_and(|run| run >= self.first_run) => {
                state.last_exit.clone().map(Outcome::NotStarted)
            }
            (_, Some(_)) => None,
        }
    }
}
