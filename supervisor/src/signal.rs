//! Stop signals by name. The numbers come from libc so they are right on every
//! architecture (MIPS and SPARC number some signals differently).

/// Signals a service may ask to be stopped with, by their names without "SIG".
const STOP_SIGNALS: [(&str, i32); 9] = [
    ("TERM", libc::SIGTERM),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("HUP", libc::SIGHUP),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("PWR", libc::SIGPWR),
    ("WINCH", libc::SIGWINCH),
    ("KILL", libc::SIGKILL),
];

/// "SIGTERM", "TERM" or "term" → the signal's number; None for anything else.
pub fn stop_signal_by_name(name: &str) -> Option<i32> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    STOP_SIGNALS.iter().find(|(known, _)| *known == bare).map(|(_, number)| *number)
}

/// The names accepted by `stop_signal_by_name`, for error messages.
pub fn stop_signal_names() -> String {
    let names: Vec<String> = STOP_SIGNALS.iter().map(|(name, _)| format!("SIG{name}")).collect();
    names.join(", ")
}

/// SIGTERM: what a service is asked to stop with unless its manifest says otherwise.
pub const DEFAULT_STOP_SIGNAL: i32 = libc::SIGTERM;

/// SIGKILL: what ends a service that outlives its grace period.
pub const KILL: i32 = libc::SIGKILL;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let cases = [
            ("SIGTERM", Some(libc::SIGTERM)),
            ("term", Some(libc::SIGTERM)),
            ("SIGINT", Some(libc::SIGINT)),
            ("USR1", Some(libc::SIGUSR1)),
            ("SIGFOO", None),
            ("", None),
        ];
        for (name, want) in cases {
            assert_eq!(stop_signal_by_name(name), want, "{name:?}");
        }
    }
}
