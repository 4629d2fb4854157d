//! What each endpoint does (the reference is docs/api.md).

use super::apply::{Changes, errors_json, save_manifest};
use super::conn::Follow;
use super::http::{JSON_LINES, PROMETHEUS, Request, Response, TEXT};
use super::{metrics, tail};
use crate::core::{Followed, Instant};
use crate::daemon::event_loop::Daemon;
use crate::device::Device;
use crate::manifest;

/// How a request is answered.
pub(super) enum Reply {
    Answer(Response),
    /// A 200 whose body goes on until the client closes: `first`, then what `follow` brings.
    Stream { content_type: &'static str, first: Vec<u8>, follow: Follow },
    /// An operator's request, answered once it has taken effect or at `until`.
    Wait { followed: Followed, until: Instant },
}

impl From<Response> for Reply {
    fn from(response: Response) -> Reply {
        Reply::Answer(response)
    }
}

/// The method each path takes, for a 405 that says which.
fn method_for(segments: &[&str]) -> Option<&'static str> {
    match segments {
        ["v1", "services"] | ["v1", "services", _] | ["v1", "services", _, "logs"] | ["v1", "events"] | ["metrics"] => {
            Some("GET")
        }
        ["v1", "services", _, "start" | "stop" | "restart"] | ["v1", "apply"] => Some("POST"),
        _ => None,
    }
}

impl Daemon {
    pub(super) fn route(&mut self, request: Request, now: Instant) -> Reply {
        let path = request.path.clone();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let Some(method) = method_for(&segments) else {
            return Response::error(404, format!("no such endpoint: {path} (the API is under /v1)")).into();
        };
        if request.method != method {
            return Response::error(405, format!("{path} takes {method}, not {}", request.method)).into();
        }
        match segments.as_slice() {
            ["v1", "services"] => Response::json(200, &self.status_all(now)).into(),
            ["v1", "services", name] => match self.inspect(name, now) {
                Some(value) => Response::json(200, &value).into(),
                None => no_such_service(name).into(),
            },
            ["v1", "services", name, "logs"] => self.logs(name, &request),
            ["v1", "services", name, action] => self.operator(name, action, &request, now),
            ["v1", "apply"] => self.apply(&request.body).into(),
            ["v1", "events"] => self.events(&request),
            _ => Response::text(PROMETHEUS, metrics::render(&self.samples(now)).into_bytes()).into(),
        }
    }

    /// A new manifest: validated whole; if accepted, saved over the manifest file and
    /// reconciled to from the next pass on.
    fn apply(&mut self, body: &[u8]) -> Response {
        if self.observed.shutting_down {
            return Response::error(409, "corrald is shutting down");
        }
        let Ok(text) = std::str::from_utf8(body) else { return Response::error(400, "the manifest is not UTF-8") };
        if text.trim().is_empty() {
            return Response::error(400, "empty manifest (to remove every service, send `version = 1`)");
        }
        let device = match Device::from_host() {
            Ok(device) => device,
            Err(error) => return Response::error(500, format!("cannot read the device's memory size: {error}")),
        };
        let new = match manifest::parse(text, &device) {
            Ok(new) => new,
            Err(errors) => return Response::json(422, &errors_json(&errors)),
        };
        if let Err(error) = save_manifest(&self.options.manifest, body) {
            let shown = self.options.manifest.display();
            return Response::error(500, format!("cannot save the manifest to {shown}: {error}"));
        }
        let changes = Changes::between(&self.manifest, &new);
        self.manifest = new;
        crate::daemon::say(format!("applied a new manifest: {}", changes.to_json()));
        Response::json(200, &changes.to_json())
    }

    fn logs(&mut self, name: &str, request: &Request) -> Reply {
        if !self.observed.services.contains_key(name) && !self.manifest.services.contains_key(name) {
            return no_such_service(name).into();
        }
        let tail = match tail_param(request) {
            Ok(tail) => tail,
            Err(response) => return response.into(),
        };
        self.drain_logs_of(name); // what is still in the pipe belongs before the tail's end
        let text = tail::tail(&self.dirs.logs(), name, self.log_limits_of(name).keep, tail);
        if request.flag("follow") {
            Reply::Stream { content_type: TEXT, first: text, follow: Follow::Logs(name.to_owned()) }
        } else {
            Response::text(TEXT, text).into()
        }
    }

    fn events(&self, request: &Request) -> Reply {
        let tail = match tail_param(request) {
            Ok(tail) => tail,
            Err(response) => return response.into(),
        };
        let lines: Vec<u8> = self.api.events.recent(tail).flat_map(|event| event.to_line()).collect();
        if request.flag("follow") {
            Reply::Stream { content_type: JSON_LINES, first: lines, follow: Follow::Events }
        } else {
            Response::text(JSON_LINES, lines).into()
        }
    }
}

/// `tail=N` (or `tail=all`, the default).
fn tail_param(request: &Request) -> Result<Option<usize>, Response> {
    match request.param("tail") {
        None | Some("all") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| Response::error(400, format!("tail={text}: not a number"))),
    }
}

pub(super) fn no_such_service(name: &str) -> Response {
    Response::error(404, format!("no such service: {name}"))
}

#[cfg(test)]
mod tests {
    use super::method_for;

    #[test]
    fn methods_by_path() {
        assert_eq!(method_for(&["v1", "services"]), Some("GET"));
        assert_eq!(method_for(&["v1", "services", "web", "stop"]), Some("POST"));
        assert_eq!(method_for(&["v1", "services", "web", "logs"]), Some("GET"));
        assert_eq!(method_for(&["v1", "services", "web", "frobnicate"]), None);
        assert_eq!(method_for(&["v2", "services"]), None);
        assert_eq!(method_for(&["metrics"]), Some("GET"));
    }
}
