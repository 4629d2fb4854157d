//! Small readers of /proc/<pid> files.

/// Fields of /proc/<pid>/stat that the runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidStat {
    /// Process state letter: R, S, D, Z, T, X...
    pub state: char,
    /// Start time in clock ticks since boot.
    pub start_time: u64,
}

/// Parse /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses, so
/// fields are counted from the last ')'.
pub fn pid_stat(pid: i32) -> Option<PidStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<PidStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3), start time is field 22: 18 more fields on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(PidStat { state, start_time })
}

/// True while `pid` is the same live process that started at `start_time` (not a zombie).
pub fn is_same_process_alive(pid: i32, start_time: u64) -> bool {
    pid > 0 && pid_stat(pid).is_some_and(|s| s.start_time == start_time && !matches!(s.state, 'Z' | 'X'))
}

/// The kernel's random id of this boot (None if procfs does not say).
pub fn boot_id() -> Option<String> {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(text.trim().to_owned()).filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10 18446744073709551615";
        assert_eq!(parse_stat(line), Some(PidStat { state: 'S', start_time: 123456 }));
    }

    #[test]
    fn own_process_is_alive() {
        let me = std::process::id() as i32;
        let st = pid_stat(me).expect("own stat");
        assert!(is_same_process_alive(me, st.start_time));
        assert!(!is_same_process_alive(me, st.start_time + 1));
    }
}
