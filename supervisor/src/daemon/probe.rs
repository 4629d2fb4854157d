//! Health probes: `exec` runs `corral exec` as a child (its exit status is the
//! answer); `tcp` and `http` are non-blocking sockets in the loop, made in the
//! container's network namespace when it has its own. A probe still running at its
//! deadline has failed: the child is killed, the socket closed.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{SockaddrIn, connect};
use nix::unistd::Pid;

use super::actions::spawn;
use super::event_loop::{Daemon, Job};
use super::netns::tcp_socket_in;
use super::{DaemonError, say};
use crate::core::{Event, Instant, RunId};
use crate::manifest::{NetworkMode, Probe};

/// Largest HTTP answer read before giving up on finding its status line.
const MAX_STATUS_LINE: usize = 4096;

pub(super) struct RunningProbe {
    pub service: String,
    pub run: RunId,
    pub deadline: Instant,
    pub kind: ProbeKind,
}

pub(super) enum ProbeKind {
    /// A `corral exec` child.
    Exec(i32),
    Socket(SocketProbe),
}

pub(super) struct SocketProbe {
    stream: TcpStream,
    /// The HTTP request still to send once connected; None for tcp.
    request: Option<Vec<u8>>,
    reading: bool,
    response: Vec<u8>,
}

impl RunningProbe {
    /// The socket and what it waits for; None for exec probes (they end by SIGCHLD).
    pub fn poll_interest(&self) -> Option<(BorrowedFd<'_>, PollFlags)> {
        let ProbeKind::Socket(socket) = &self.kind else { return None };
        let interest = if socket.reading { PollFlags::POLLIN } else { PollFlags::POLLOUT };
        Some((socket.stream.as_fd(), interest))
    }
}

impl SocketProbe {
    /// Moves on after the socket became ready; Some(healthy) once decided.
    fn advance(&mut self) -> Option<bool> {
        if !self.reading {
            if !matches!(self.stream.take_error(), Ok(None)) || self.stream.peer_addr().is_err() {
                return Some(false); // refused or unreachable
            }
            // tcp: connected is healthy. (Not `?`: an undecided probe keeps polling for
            // POLLOUT, which a connected socket always has: a busy loop until its timeout.)
            let Some(request) = self.request.take() else { return Some(true) };
            if (&self.stream).write_all(&request).is_err() {
                return Some(false);
            }
            self.reading = true;
            return None;
        }
        let mut buffer = [0u8; 1024];
        loop {
            match (&self.stream).read(&mut buffer) {
                Ok(0) => return Some(http_status_ok(&self.response).unwrap_or(false)),
                Ok(n) => {
                    self.response.extend_from_slice(&buffer[..n]);
                    if let Some(ok) = http_status_ok(&self.response) {
                        return Some(ok);
                    }
                    if self.response.len() > MAX_STATUS_LINE {
                        return Some(false);
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => return None,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Some(false),
            }
        }
    }
}

/// From a complete status line ("HTTP/1.1 204 No Content"): whether it is 2xx or 3xx.
fn http_status_ok(response: &[u8]) -> Option<bool> {
    let end = response.iter().position(|b| *b == b'\n')?;
    let line = String::from_utf8_lossy(&response[..end]);
    let mut words = line.split_whitespace();
    let version_ok = words.next().is_some_and(|version| version.starts_with("HTTP/"));
    let code = words.next().and_then(|code| code.parse::<u16>().ok());
    Some(version_ok && code.is_some_and(|code| (200..400).contains(&code)))
}

impl Daemon {
    pub(super) fn check_health(
        &mut self,
        service: String,
        run: RunId,
        probe: Probe,
        deadline: Instant,
    ) -> Result<(), DaemonError> {
        let container = self.containers.get(&service).filter(|c| c.run == run);
        let Some((id, init, network)) = container.and_then(|c| Some((c.id.clone(), c.init?, c.network))) else {
            self.answer(service, run, false);
            return Ok(());
        };
        let kind = match probe {
            Probe::Exec(args) => spawn(self.runtime.exec(&id, &args)).map(ProbeKind::Exec),
            Probe::Tcp { port } => self.connect(init.pid, network, port, None)?.map(ProbeKind::Socket),
            Probe::Http { port, path } => {
                let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
                self.connect(init.pid, network, port, Some(request.into_bytes()))?.map(ProbeKind::Socket)
            }
        };
        match kind {
            Ok(kind) => {
                if let ProbeKind::Exec(pid) = kind {
                    self.jobs.insert(pid, Job::Probe);
                }
                let token = self.token();
                self.probes.insert(token, RunningProbe { service, run, deadline, kind });
            }
            Err(error) => {
                say(format!("service {service}: cannot run its health check: {error}"));
                self.answer(service, run, false);
            }
        }
        Ok(())
    }

    /// Starts a connection to 127.0.0.1:port as seen by the container.
    fn connect(
        &self,
        pid: i32,
        network: NetworkMode,
        port: u16,
        request: Option<Vec<u8>>,
    ) -> Result<std::io::Result<SocketProbe>, DaemonError> {
        let namespace_of = (network == NetworkMode::None).then_some(pid);
        let socket: OwnedFd = match tcp_socket_in(namespace_of, &self.own_netns).map_err(DaemonError::Netns)? {
            Ok(socket) => socket,
            Err(error) => return Ok(Err(error)),
        };
        match connect(socket.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, port)) {
            Ok(()) | Err(Errno::EINPROGRESS) => {}
            Err(errno) => return Ok(Err(errno.into())),
        }
        Ok(Ok(SocketProbe { stream: TcpStream::from(socket), request, reading: false, response: Vec::new() }))
    }

    pub(super) fn advance_probe(&mut self, token: u64, _flags: PollFlags) {
        let Some(probe) = self.probes.get_mut(&token) else { return };
        let ProbeKind::Socket(socket) = &mut probe.kind else { return };
        if let Some(healthy) = socket.advance() {
            let probe = self.probes.remove(&token).expect("just found");
            self.answer(probe.service, probe.run, healthy);
        }
    }

    pub(super) fn exec_probe_finished(&mut self, pid: i32, success: bool) {
        let token = self.probes.iter().find(|(_, probe)| matches!(probe.kind, ProbeKind::Exec(p) if p == pid));
        if let Some(token) = token.map(|(token, _)| *token) {
            let probe = self.probes.remove(&token).expect("just found");
            self.answer(probe.service, probe.run, success);
        }
    }

    /// Probes past their deadline have failed.
    pub(super) fn expire_probes(&mut self, now: Instant) {
        let overdue: Vec<u64> = self.probes.iter().filter(|(_, p)| p.deadline <= now).map(|(t, _)| *t).collect();
        for token in overdue {
            let probe = self.probes.remove(&token).expect("just listed");
            self.stop_probe(&probe.kind);
            self.answer(probe.service, probe.run, false);
        }
    }

    /// The container ended: its probes have nothing left to check.
    pub(super) fn cancel_probes(&mut self, service: &str, run: RunId) {
        let tokens: Vec<u64> =
            self.probes.iter().filter(|(_, p)| p.service == service && p.run == run).map(|(t, _)| *t).collect();
        for token in tokens {
            let probe = self.probes.remove(&token).expect("just listed");
            self.stop_probe(&probe.kind);
        }
    }

    /// Kills an exec probe's `corral exec` (still our unreaped child, so the pid is
    /// still its own); a socket probe just closes when dropped.
    fn stop_probe(&self, kind: &ProbeKind) {
        if let ProbeKind::Exec(pid) = kind
            && self.jobs.contains_key(pid)
        {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
    }

    fn answer(&mut self, service: String, run: RunId, healthy: bool) {
        self.pending.push(Event::HealthResult { service, run, healthy });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_status_lines() {
        let cases: [(&[u8], Option<bool>); 6] = [
            (b"HTTP/1.1 200 OK\r\n", Some(true)),
            (b"HTTP/1.0 302 Found\r\n", Some(true)),
            (b"HTTP/1.1 503 Unavailable\r\n", Some(false)),
            (b"HTTP/1.1 20", None),
            (b"SSH-2.0-OpenSSH\r\n", Some(false)),
            (b"HTTP/1.1 abc\n", Some(false)),
        ];
        for (response, want) in cases {
            assert_eq!(super::http_status_ok(response), want, "{:?}", String::from_utf8_lossy(response));
        }
    }
}
