//! The last lines of a service's log: `<service>.log` and its rotated copies, oldest
//! first.

use std::fs;
use std::path::Path;

/// The last `lines` lines (everything kept for None) of `service`'s log in `dir`,
/// reading from `<service>.log` back through `.1` … `.keep` only as far as needed.
pub fn tail(dir: &Path, service: &str, keep: u32, lines: Option<usize>) -> Vec<u8> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut found = 0;
    for n in 0..=keep {
        let name = if n == 0 { format!("{service}.log") } else { format!("{service}.log.{n}") };
        let Ok(bytes) = fs::read(dir.join(name)) else { break };
        found += count_lines(&bytes);
        parts.push(bytes);
        if lines.is_some_and(|wanted| found >= wanted) {
            break;
        }
    }
    let all: Vec<u8> = parts.into_iter().rev().flatten().collect();
    match lines {
        Some(wanted) => last_lines(&all, wanted).to_vec(),
        None => all,
    }
}

fn count_lines(bytes: &[u8]) -> usize {
    let newlines = bytes.iter().filter(|b| **b == b'\n').count();
    newlines + usize::from(bytes.last().is_some_and(|b| *b != b'\n'))
}

/// The last `wanted` lines of `bytes` (a last line without its newline counts).
fn last_lines(bytes: &[u8], wanted: usize) -> &[u8] {
    if wanted == 0 {
        return &[];
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let starts = body.iter().enumerate().rev().filter(|(_, b)| **b == b'\n').map(|(at, _)| at + 1);
    match starts.take(wanted).nth(wanted - 1) {
        Some(start) => &bytes[start..],
        None => bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_of_a_buffer() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(last_lines(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(last_lines(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(last_lines(b"a\nb\n", 0), b"");
    }

    #[test]
    fn reads_back_through_rotated_files() {
        let dir = std::env::temp_dir().join(format!("corrald-tail-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("svc.log.2"), "1\n2\n").unwrap();
        fs::write(dir.join("svc.log.1"), "3\n4\n").unwrap();
        fs::write(dir.join("svc.log"), "5\n").unwrap();
        assert_eq!(tail(&dir, "svc", 3, Some(2)), b"4\n5\n");
        assert_eq!(tail(&dir, "svc", 3, Some(4)), b"2\n3\n4\n5\n");
        assert_eq!(tail(&dir, "svc", 3, None), b"1\n2\n3\n4\n5\n");
        assert_eq!(tail(&dir, "none", 3, Some(4)), b"");
        fs::remove_dir_all(&dir).unwrap();
    }
}
