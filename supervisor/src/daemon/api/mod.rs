//! The control API: HTTP/1.1 + JSON on a unix socket (mode 0600, and only clients
//! running as root or as corrald's own user are answered), versioned under /v1;
//! reference in docs/api.md.
//!
//! It is served by the daemon's one loop like everything else: the listener and every
//! connection are non-blocking descriptors in the same `poll`. A connection carries one
//! request; its answer is written as the socket takes it. `follow=1` streams (logs,
//! events) are fed by the loop as lines arrive, never by polling a file.
//!
//! Layout: `http` (parsing and writing), `conn` (one connection), `routes` (what each
//! endpoint does), `views` (status, inspect, metrics), `describe` (state in words),
//! `events` (the event log), `operator` (start, stop, restart), `apply`, `tail`,
//! `definition`, `metrics`.

mod apply;
mod conn;
mod definition;
pub mod describe;
pub mod events;
pub mod http;
mod metrics;
mod operator;
mod routes;
mod tail;
mod views;

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::PollFlags;
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::sys::stat::{Mode, umask};

use super::event_loop::Daemon;
use super::{DaemonError, say};
use crate::core::{ExitStatus, Instant};
use conn::{Conn, Follow, Phase};
use events::{Event, EventLog};
use http::Response;
use routes::Reply;

/// Connections served at once; more are refused with 503.
const MAX_CONNECTIONS: usize = 64;
/// A client must send its request, and take its answer, within this time.
const REQUEST_TIME: Duration = Duration::from_secs(30);

pub(super) struct Api {
    listener: UnixListener,
    path: PathBuf,
    /// Our effective uid (the socket's owner), allowed besides root.
    owner: u32,
    conns: BTreeMap<u64, Conn>,
    next_token: u64,
    pub events: EventLog,
}

impl Api {
    /// Listens on `path`, mode 0600. A live socket there means another corrald runs on
    /// it: refused, before anything of its is touched. A dead one is replaced.
    pub fn bind(path: &Path) -> Result<Api, DaemonError> {
        remove_stale_socket(path)?;
        // The socket must never exist with looser permissions, not even briefly.
        let old_mask = umask(Mode::from_bits_truncate(0o177));
        let bound = UnixListener::bind(path);
        umask(old_mask);
        let listener = bound.map_err(|e| DaemonError::io(format!("cannot listen on {}", path.display()), e))?;
        let secured = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| listener.set_nonblocking(true))
            .and_then(|()| std::fs::metadata(path));
        let meta = secured.map_err(|e| DaemonError::io(format!("cannot set up {}", path.display()), e))?;
        let (path, owner) = (path.to_owned(), meta.uid());
        Ok(Api { listener, path, owner, conns: BTreeMap::new(), next_token: 0, events: EventLog::default() })
    }

    /// The descriptors to poll: the listener (token None) and each connection.
    pub fn poll_interest(&self) -> Vec<(Option<u64>, BorrowedFd<'_>, PollFlags)> {
        let mut interest = vec![(None, self.listener.as_fd(), PollFlags::POLLIN)];
        for (token, conn) in &self.conns {
            if let Some((fd, flags)) = conn.poll_interest() {
                interest.push((Some(*token), fd, flags));
            }
        }
        interest
    }

    /// The earliest time a connection must be done by.
    pub fn deadline(&self) -> Option<Instant> {
        self.conns.values().filter(|conn| !matches!(conn.phase, Phase::Following(_))).map(|conn| conn.deadline).min()
    }

    /// Drops connections past their deadline, and closed ones.
    pub fn expire(&mut self, now: Instant) {
        self.conns.retain(|_, conn| {
            // A waiting request's deadline is `settle_requests`' to answer.
            let late = conn.deadline <= now && matches!(conn.phase, Phase::Reading | Phase::Answering);
            !late && conn.phase != Phase::Closed
        });
    }

    /// New output of `service`'s container, for its log followers.
    pub fn feed_logs(&mut self, service: &str, bytes: &[u8]) {
        for conn in self.conns.values_mut() {
            if matches!(&conn.phase, Phase::Following(Follow::Logs(name)) if name == service) {
                conn.send(bytes);
            }
        }
    }

    /// New events, for the event followers.
    fn publish(&mut self, events: &[Event]) {
        let lines: Vec<u8> = events.iter().flat_map(Event::to_line).collect();
        if lines.is_empty() {
            return;
        }
        for conn in self.conns.values_mut() {
            if conn.phase == Phase::Following(Follow::Events) {
                conn.send(&lines);
            }
        }
    }

    fn accept(&mut self, now: Instant) -> Vec<u64> {
        let mut accepted = Vec::new();
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) => {
                    say(format!("control socket: accept failed: {error}"));
                    break;
                }
            };
            if let Some(token) = self.admit(stream, now) {
                accepted.push(token);
            }
        }
        accepted
    }

    /// Registers a new client, or answers it with a refusal at once.
    fn admit(&mut self, stream: UnixStream, now: Instant) -> Option<u64> {
        let mut conn = Conn::new(stream, now + REQUEST_TIME).ok()?;
        if self.conns.len() >= MAX_CONNECTIONS {
            conn.answer(&Response::error(503, "too many connections to corrald"));
            return None;
        }
        if !peer_allowed(conn.stream(), self.owner) {
            conn.answer(&Response::error(403, "only root may use corrald's control socket"));
            return None;
        }
        self.next_token += 1;
        self.conns.insert(self.next_token, conn);
        Some(self.next_token)
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn remove_stale_socket(path: &Path) -> Result<(), DaemonError> {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(()) };
    let shown = path.display();
    if !meta.file_type().is_socket() {
        return Err(DaemonError::io(format!("{shown} exists and is not a socket"), ErrorKind::AlreadyExists));
    }
    if UnixStream::connect(path).is_ok() {
        let error = std::io::Error::new(ErrorKind::AddrInUse, "another corrald is serving it");
        return Err(DaemonError::io(format!("cannot listen on {shown}"), error));
    }
    std::fs::remove_file(path).map_err(|e| DaemonError::io(format!("cannot remove the stale socket {shown}"), e))
}

/// Root, or the user corrald runs as; the socket's mode already keeps others out.
fn peer_allowed(stream: &UnixStream, ours: u32) -> bool {
    getsockopt(stream, PeerCredentials).is_ok_and(|peer| peer.uid() == 0 || peer.uid() == ours)
}

impl Daemon {
    /// The listener is readable: take every waiting client and serve what it sent.
    pub(super) fn accept_clients(&mut self, now: Instant) {
        for token in self.api.accept(now) {
            self.serve_client(token, PollFlags::POLLIN, now);
        }
    }

    /// A client's socket is ready.
    pub(super) fn serve_client(&mut self, token: u64, flags: PollFlags, now: Instant) {
        let Some(conn) = self.api.conns.get_mut(&token) else { return };
        if conn.phase != Phase::Reading {
            conn.ready(flags);
            return;
        }
        let Some(request) = conn.read_request() else { return };
        let reply = self.route(request, now);
        let Some(conn) = self.api.conns.get_mut(&token) else { return };
        match reply {
            Reply::Answer(response) => conn.answer(&response),
            Reply::Stream { content_type, first, follow } => {
                conn.start_stream(http::stream_head(content_type), &first, follow)
            }
            Reply::Wait { followed, until } => conn.wait(followed, until),
        }
    }

    /// After a reconcile: turns what changed into events, for the log and followers.
    pub(super) fn note_changes(&mut self, now: Instant) {
        let events = self.api.events.observe(self.summaries(now));
        self.api.publish(&events);
    }

    /// A container of `service` ended (or never started) with `status`.
    pub(super) fn note_exit(&mut self, service: &str, status: &ExitStatus) {
        let event = self.api.events.exited(service, status);
        self.api.publish(&[event]);
    }
}
