//! start, stop and restart: applied at once, answered once they have taken effect.
//!
//! The connection waits (`Phase::Waiting`) while the loop goes on; after every pass
//! `settle_requests` asks the core whether each followed request is done. The client
//! picks how long to wait with `timeout=SECONDS` (0: answer 202 at once, without
//! following); the default is `DEFAULT_WAIT`, plus the stop grace period for a stop or
//! restart, which may have to wait that long for SIGKILL.

use std::time::Duration;

use serde_json::json;

use super::conn::Phase;
use super::describe::exit_text;
use super::http::{Request, Response};
use super::routes::{Reply, no_such_service};
use crate::core::{Followed, Instant, Outcome, Request as Operation};
use crate::daemon::event_loop::Daemon;

/// How long a request is followed when the client does not say.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);
/// The longest wait a client may ask for (a day): deadlines stay far from overflow.
pub const MAX_WAIT_SECS: u64 = 86_400;

impl Daemon {
    /// `POST /v1/services/NAME/{start,stop,restart}`.
    pub(super) fn operator(&mut self, name: &str, action: &str, request: &Request, now: Instant) -> Reply {
        let Some(service) = self.manifest.services.get(name) else { return no_such_service(name).into() };
        if self.observed.shutting_down {
            return Response::error(409, "corrald is shutting down").into();
        }
        let operation = match action {
            "start" => Operation::Start,
            "stop" => Operation::Stop,
            _ => Operation::Restart,
        };
        let wait = match request.param("timeout") {
            None => DEFAULT_WAIT + if operation == Operation::Start { Duration::ZERO } else { service.supervision.stop.grace },
            Some(text) => match text.parse::<u64>() {
                Ok(secs) if secs <= MAX_WAIT_SECS => Duration::from_secs(secs),
                _ => {
                    let message = format!("timeout={text}: give a number of seconds from 0 to {MAX_WAIT_SECS}");
                    return Response::error(400, message).into();
                }
            },
        };
        let followed = self.observed.request(name, operation, now);
        // The hold of a stop is on disk before anyone hears of it.
        self.persist();
        if wait.is_zero() {
            return Response::json(202, &json!({ "service": name, "requested": action })).into();
        }
        Reply::Wait { followed, until: now + wait }
    }

    /// Answers every waiting request that has taken effect, or whose wait ran out.
    pub(in crate::daemon) fn settle_requests(&mut self, now: Instant) {
        let mut answers = Vec::new();
        for (token, conn) in &self.api.conns {
            let Phase::Waiting(followed) = &conn.phase else { continue };
            let answer = match followed.outcome(&self.observed) {
                Some(outcome) => self.answer_for(followed, outcome, now),
                None if conn.deadline <= now => self.too_long(followed, now),
                None => continue,
            };
            answers.push((*token, answer));
        }
        for (token, answer) in answers {
            if let Some(conn) = self.api.conns.get_mut(&token) {
                conn.answer(&answer);
            }
        }
        // An answered connection closes now: the client reads until the end of the
        // stream, and the loop may sleep long before its next `expire`.
        self.api.conns.retain(|_, conn| conn.phase != Phase::Closed);
    }

    fn answer_for(&self, followed: &Followed, outcome: Outcome, now: Instant) -> Response {
        let (name, word) = (&followed.service, followed.request.word());
        match outcome {
            Outcome::Done => {
                let summary = self.observed.services.get(name).map(|state| self.summary(name, state, now));
                let (state, reason) = summary.map_or(("removed", None), |summary| (summary.state, summary.reason));
                Response::json(200, &json!({ "service": name, "done": word, "state": state, "reason": reason }))
            }
            Outcome::NotStarted(status) => failed("not-started", format!("{name} did not start ({})", exit_text(&status))),
            Outcome::Overtaken(why) => failed("overtaken", format!("{word} of {name} did not complete: {why}")),
        }
    }

    fn too_long(&self, followed: &Followed, now: Instant) -> Response {
        let name = &followed.service;
        let state = self.observed.services.get(name).map_or("removed", |state| self.summary(name, state, now).state);
        let message =
            format!("{name} is still {state}; the {} goes on, see `corralctl status`", followed.request.word());
        Response::json(504, &json!({ "error": message, "outcome": "timeout" }))
    }
}

fn failed(outcome: &str, message: String) -> Response {
    Response::json(409, &json!({ "error": message, "outcome": outcome }))
}
