//! One client connection on the control socket: non-blocking, one request, then an
//! answer (or a stream that lasts until the client goes away).

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use nix::poll::PollFlags;

use super::http::{self, MAX_BODY, MAX_HEAD, Parsed, Request, Response};
use crate::core::{Followed, Instant};

/// A follower that has not read this much of its stream is dropped, so a stuck client
/// cannot make corrald hold an ever-growing buffer.
const MAX_BACKLOG: usize = 4 << 20;

/// What a streaming connection follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Follow {
    /// New output of a service's containers.
    Logs(String),
    Events,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Phase {
    /// Receiving the request.
    Reading,
    /// Sending the answer; closed once it is all written.
    Answering,
    /// Sending a stream until the client closes.
    Following(Follow),
    /// An operator's request, answered once it has taken effect (or at the deadline).
    Waiting(Followed),
    /// Done (answered, gone, or failed): to be dropped.
    Closed,
}

pub struct Conn {
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    pub phase: Phase,
    /// The client shut down its writing half: nothing more to read, but it may still
    /// be reading our stream (`socat` does this when its stdin ends).
    input_closed: bool,
    /// A connection still reading or answering at this time is dropped.
    pub deadline: Instant,
}

impl Conn {
    pub fn new(stream: UnixStream, deadline: Instant) -> std::io::Result<Conn> {
        stream.set_nonblocking(true)?;
        Ok(Conn { stream, input: Vec::new(), output: Vec::new(), phase: Phase::Reading, input_closed: false, deadline })
    }

    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// What to poll for, or None once closed.
    pub fn poll_interest(&self) -> Option<(BorrowedFd<'_>, PollFlags)> {
        let write = if self.output.is_empty() { PollFlags::empty() } else { PollFlags::POLLOUT };
        let interest = match self.phase {
            Phase::Reading => PollFlags::POLLIN,
            Phase::Answering => PollFlags::POLLOUT,
            // Readable means the client shut down its half (or sent something we ignore);
            // POLLHUP, reported without asking, that it is gone entirely.
            Phase::Following(_) if self.input_closed => write,
            Phase::Following(_) => PollFlags::POLLIN | write,
            // Read only to learn that the client gave up waiting.
            Phase::Waiting(_) if self.input_closed => PollFlags::empty(),
            Phase::Waiting(_) => PollFlags::POLLIN,
            Phase::Closed => return None,
        };
        Some((self.stream.as_fd(), interest))
    }

    /// Reads what has arrived; Some once a whole request is in (or it was refused,
    /// in which case the refusal is already queued).
    pub fn read_request(&mut self) -> Option<Request> {
        let mut buffer = [0u8; 16 * 1024];
        // A client may shut down its writing half after the request: that is fine.
        let mut ended = false;
        loop {
            match self.stream.read(&mut buffer) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(n) => self.input.extend_from_slice(&buffer[..n]),
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.phase = Phase::Closed;
                    return None;
                }
            }
            if self.input.len() > MAX_HEAD + MAX_BODY {
                break; // parse refuses it below
            }
        }
        match http::parse(&self.input) {
            Parsed::Incomplete => {
                if ended {
                    self.phase = Phase::Closed; // gone before asking anything whole
                }
                None
            }
            Parsed::Done(request) => {
                self.input = Vec::new();
                Some(request)
            }
            Parsed::Refused(response) => {
                self.answer(&response);
                None
            }
        }
    }

    /// Queues a whole answer; the connection closes once it is sent.
    pub fn answer(&mut self, response: &Response) {
        self.output.extend_from_slice(&response.to_bytes());
        self.phase = Phase::Answering;
        self.flush();
    }

    /// Starts a stream with `head` and `first` bytes, then `follow`.
    pub fn start_stream(&mut self, head: Vec<u8>, first: &[u8], follow: Follow) {
        self.output = head;
        self.output.extend_from_slice(first);
        self.phase = Phase::Following(follow);
        self.flush();
    }

    /// Holds the answer until `settle_requests` gives it, at `until` at the latest.
    pub fn wait(&mut self, followed: Followed, until: Instant) {
        self.phase = Phase::Waiting(followed);
        self.deadline = until;
    }

    /// Adds bytes to a stream; a client too far behind is dropped.
    pub fn send(&mut self, bytes: &[u8]) {
        if self.output.len() + bytes.len() > MAX_BACKLOG {
            self.phase = Phase::Closed;
            return;
        }
        self.output.extend_from_slice(bytes);
        self.flush();
    }

    /// The socket is ready: read (a follower's or waiter's input is ignored) or write
    /// what is pending. A waiter that hangs up is dropped; its request stays in effect.
    pub fn ready(&mut self, flags: PollFlags) {
        let following = matches!(self.phase, Phase::Following(_) | Phase::Waiting(_));
        if flags.intersects(PollFlags::POLLERR | PollFlags::POLLNVAL) || (following && flags.contains(PollFlags::POLLHUP))
        {
            self.phase = Phase::Closed;
            return;
        }
        if following && flags.contains(PollFlags::POLLIN) {
            self.discard_input();
        }
        if flags.intersects(PollFlags::POLLOUT | PollFlags::POLLHUP) {
            self.flush();
        }
    }

    fn discard_input(&mut self) {
        let mut buffer = [0u8; 1024];
        loop {
            match self.stream.read(&mut buffer) {
                Ok(0) => return self.input_closed = true,
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(_) => return self.phase = Phase::Closed,
            }
        }
    }

    /// Writes as much as the socket takes now.
    fn flush(&mut self) {
        while !self.output.is_empty() {
            match self.stream.write(&self.output) {
                Ok(0) => return self.phase = Phase::Closed,
                Ok(n) => {
                    self.output.drain(..n);
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(_) => return self.phase = Phase::Closed,
            }
        }
        if self.phase == Phase::Answering {
            self.phase = Phase::Closed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Conn, UnixStream) {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        (Conn::new(ours, Instant::from_millis(0)).expect("conn"), theirs)
    }

    #[test]
    fn reads_a_request_in_pieces_and_answers_it() {
        let (mut conn, mut client) = pair();
        client.write_all(b"GET /v1/services HT").unwrap();
        assert_eq!(conn.read_request(), None);
        client.write_all(b"TP/1.1\r\n\r\n").unwrap();
        let request = conn.read_request().expect("a whole request");
        assert_eq!(request.path, "/v1/services");
        conn.answer(&Response::error(404, "nope"));
        assert_eq!(conn.phase, Phase::Closed, "a small answer is written at once");
        drop(conn);
        let mut text = String::new();
        client.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 "), "{text}");
    }

    /// Polls `conn` as the loop does and hands it what happened.
    fn poll_once(conn: &mut Conn) {
        let (fd, interest) = conn.poll_interest().expect("open");
        let mut fds = [nix::poll::PollFd::new(fd, interest)];
        nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).expect("poll");
        let flags = fds[0].revents().unwrap_or(PollFlags::empty());
        conn.ready(flags);
    }

    #[test]
    fn a_follower_is_closed_when_it_hangs_up_not_when_it_only_stops_writing() {
        let (mut conn, client) = pair();
        conn.start_stream(http::stream_head(http::TEXT), b"first\n", Follow::Events);
        assert_eq!(conn.phase, Phase::Following(Follow::Events));
        client.shutdown(std::net::Shutdown::Write).unwrap();
        poll_once(&mut conn);
        assert_eq!(conn.phase, Phase::Following(Follow::Events), "still reading our stream");
        conn.send(b"second\n");
        drop(client);
        poll_once(&mut conn);
        assert_eq!(conn.phase, Phase::Closed);
    }

    #[test]
    fn a_follower_too_far_behind_is_dropped() {
        let (mut conn, _client) = pair();
        conn.start_stream(Vec::new(), b"", Follow::Events);
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..(MAX_BACKLOG / chunk.len() + 64) {
            conn.send(&chunk);
        }
        assert_eq!(conn.phase, Phase::Closed);
    }
}
