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

pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    /// Half the watchdog timeout, when systemd asked for pings.
    ping_every: Option<Duration>,
    next_ping: Option<Instant>,
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
        Notifier { target, ping_every: usec.map(|usec| Duration::from_micros(usec / 2)), next_ping: None }
    }

    /// READY=1, and the watchdog's first ping.
    pub fn ready(&mut self, now: Instant) {
        self.send("READY=1\nSTATUS=running");
        self.ping(now);
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping every service");
    }

    /// Pings the watchdog if it is due (the loop calls this on every wake-up).
    pub fn tick(&mut self, now: Instant) {
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
            self.send("WATCHDOG=1");
            self.next_ping = Some(now + every);
        }
    }

    fn send(&self, message: &str) {
        if let Some((socket, address)) = &self.target
            && let Err(error) = socket.send_to_addr(message.as_bytes(), address)
        {
            say(format!("cannot notify systemd: {error}"));
        }
    }
}

fn connect(path: &str) -> std::io::Result<(UnixDatagram, SocketAddr)> {
    let address = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None => SocketAddr::from_pathname(path)?,
    };
    Ok((UnixDatagram::unbound()?, address))
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
        let mut notifier = Notifier { target, ping_every: Some(Duration::from_secs(5)), next_ping: None };
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
}
