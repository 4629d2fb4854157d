//! Sockets in a container's network namespace: a service with `network = "none"` has
//! its own, where 127.0.0.1 is its own loopback.
//!
//! corrald is single-threaded, so it can enter the namespace, make the socket and come
//! back: a socket stays in the namespace it was made in.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

/// A non-blocking TCP socket, made in the network namespace of process `pid` (or in
/// ours for None); `own` is our namespace, entered again afterwards.
pub(crate) fn tcp_socket_in(pid: Option<i32>, own: &OwnedFd) -> Result<io::Result<OwnedFd>, nix::Error> {
    let Some(pid) = pid else { return Ok(new_tcp_socket()) };
    let namespace = match File::open(format!("/proc/{pid}/ns/net")) {
        Ok(namespace) => namespace,
        Err(error) => return Ok(Err(error)),
    };
    if let Err(errno) = setns(namespace.as_fd(), CloneFlags::CLONE_NEWNET) {
        return Ok(Err(errno.into()));
    }
    let made = new_tcp_socket();
    // Failing to come back would leave every later socket in the wrong place: fatal.
    setns(own.as_fd(), CloneFlags::CLONE_NEWNET)?;
    Ok(made)
}

fn new_tcp_socket() -> io::Result<OwnedFd> {
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    Ok(socket(AddressFamily::Inet, SockType::Stream, flags, None)?)
}
