//! sd_notify(3) without libsystemd: one datagram per message to $NOTIFY_SOCKET (a path,
//! or `@name` in the abstract namespace). READY=1 once the first reconcile is done,
//! WATCHDOG=1 every half of $WATCHDOG_USEC, STOPPING=1 on shutdown. Without
//! NOTIFY_SOCKET (not started by systemd) every call does nothing.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use super::say;
use crate::core::Instant;

/// Variables that concern corrald alone: its children (corral, and through it the
/// containers) must not see them, or they could speak to systemd in corrald's name.
pub const VARIABLES: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

const PING: &str = "WATCHDOG=1";

pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    /// Half the watchdog timeout, when systemd asked for pings.
    ping_every: Option<Duration>,
    next_ping: Option<Instant>,
    /// A state message (READY, STOPPING) the receiver had no room for: sent again on
    /// the next tick. A missed ping is not kept: the next one replaces it.
    unsent: Option<&'static str>,
}

impl Notifier {
    /// From the environment systemd gave us.
    pub fn from_env() -> Notifier {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let target = var("NOTIFY_SOCKET").and_then(|path| match connect(&path) {
            Ok(target) => Some(target),
            Err(error) => {
                say(format!("NOTIFY_SOCKET={path}: {error}; not notifying systemd"));
                None
            }
        });
        let ours = var("WATCHDOG_PID").is_none_or(|pid| pid == std::process::id().to_string());
        let usec = var("WATCHDOG_USEC").and_then(|usec| usec.parse::<u64>().ok()).filter(|usec| *usec > 0 && ours);
        let ping_every = usec.map(|usec| Duration::from_micros(usec / 2));
        Notifier { target, ping_every, next_ping: None, unsent: None }
    }

    /// READY=1, and the watchdog's first ping.
    pub fn ready(&mut self, now: Instant) {
        self.send("READY=1\nSTATUS=running");
        self.ping(now);
    }

    pub fn stopping(&mut self) {
        self.send("STOPPING=1\nSTATUS=stopping every service");
    }

    /// Pings the watchdog if it is due, and retries a state message that found no
    /// room (the loop calls this on every wake-up).
    pub fn tick(&mut self, now: Instant) {
        if let Some(message) = self.unsent.take() {
            self.send(message);
        }
        if self.next_ping.is_some_and(|due| due <= now) {
            self.ping(now);
        }
    }

    /// When the loop must wake up next for the watchdog.
    pub fn deadline(&self) -> Option<Instant> {
        self.next_ping
    }

    fn ping(&mut self, now: Instant) {
        if let Some(every) = self.ping_every {
            self.send(PING);
            self.next_ping = Some(now + every);
        }
    }

    fn send(&mut self, message: &'static str) {
        let Some((socket, address)) = &self.target else { return };
        match socket.send_to_addr(message.as_bytes(), address) {
            Ok(_) => {}
            // The receiver's queue is full: never block the loop for it.
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                if message != PING {
                    self.unsent = Some(message);
                }
            }
            Err(error) => say(format!("cannot notify systemd: {error}")),
        }
    }
}

fn connect(path: &str) -> std::io::Result<(UnixDatagram, SocketAddr)> {
    let address = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None => SocketAddr::from_pathname(path)?,
    };
    // Non-blocking: a receiver that stops reading must never stall the daemon's loop.
    let socket = UnixDatagram::unbound()?;
    socket.set_nonblocking(true)?;
    Ok((socket, address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_datagrams_to_a_path_socket() {
        let path = std::env::temp_dir().join(format!("corrald-notify-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let systemd = UnixDatagram::bind(&path).expect("bind");
        let target = Some(connect(path.to_str().unwrap()).expect("address"));
        let mut notifier = Notifier { target, ping_every: Some(Duration::from_secs(5)), next_ping: None, unsent: None };
        notifier.ready(Instant::from_millis(1000));
        assert_eq!(notifier.deadline(), Some(Instant::from_millis(6000)));
        notifier.tick(Instant::from_millis(5999));
        notifier.tick(Instant::from_millis(6000));
        notifier.stopping();
        let mut buffer = [0u8; 256];
        let mut received = Vec::new();
        for _ in 0..4 {
            let n = systemd.recv(&mut buffer).expect("a datagram");
            received.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
        }
        assert_eq!(received[0], "READY=1\nSTATUS=running");
        assert_eq!(received[1..3], ["WATCHDOG=1", "WATCHDOG=1"]);
        assert!(received[3].starts_with("STOPPING=1"));
        std::fs::remove_file(&path).unwrap();
    }

    /// A receiver that stops reading fills its queue: sends then fail at once instead
    /// of blocking, pings are dropped, and a state message goes out on a later tick.
    #[test]
    fn a_full_queue_never_blocks_and_state_messages_are_sent_again() {
        let path = std::env::temp_dir().join(format!("corrald-notify-full-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let systemd = UnixDatagram::bind(&path).expect("bind");
        let target = Some(connect(path.to_str().unwrap()).expect("address"));
        let mut notifier = Notifier { target, ping_every: Some(Duration::from_millis(1)), next_ping: None, unsent: None };
        for ms in 0..1000 {
            notifier.tick(Instant::from_millis(ms)); // far more than any queue holds
            notifier.ping(Instant::from_millis(ms));
        }
        notifier.stopping();
        assert_eq!(notifier.unsent, Some("STOPPING=1\nSTATUS=stopping every service"), "no room: kept");
        systemd.set_nonblocking(true).expect("nonblocking");
        let mut buffer = [0u8; 256];
        while systemd.recv(&mut buffer).is_ok() {}
        notifier.tick(Instant::from_millis(1000));
        let n = systemd.recv(&mut buffer).expect("the state message, sent again");
        assert!(buffer[..n].starts_with(b"STOPPING=1"));
        std::fs::remove_file(&path).unwrap();
    }
}
