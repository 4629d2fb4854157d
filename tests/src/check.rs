//! Assertions on a runtime command's output.

use std::process::Output;

pub fn stdout_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The exit code; a runtime killed by a signal counts as 128 + signal.
pub fn exit_code(out: &Output) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    out.status
        .code()
        .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0))
}

fn describe(out: &Output) -> String {
    format!(
        "status: {}\nstdout: {}\nstderr: {}",
        out.status,
        stdout_text(out),
        stderr_text(out)
    )
}

/// Panics (showing both streams) unless the command succeeded.
pub fn assert_ok(out: &Output, what: &str) {
    assert!(out.status.success(), "`{what}` failed\n{}", describe(out));
}

/// The command's stdout parsed as JSON; panics if it failed or is not JSON.
pub fn stdout_json(out: &Output, what: &str) -> serde_json::Value {
    assert_ok(out, what);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("`{what}` printed invalid JSON ({e})\n{}", describe(out)))
}

/// The strings of a JSON array (non-strings and non-arrays give nothing).
pub fn json_strings(value: &serde_json::Value) -> Vec<String> {
    let items = value.as_array().into_iter().flatten();
    items
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// Panics unless the command exited with `code`.
pub fn assert_exit_code(out: &Output, code: i32, what: &str) {
    assert_eq!(
        exit_code(out),
        code,
        "`{what}` exit code\n{}",
        describe(out)
    );
}

/// The non-empty lines of stderr.
pub fn stderr_lines(out: &Output) -> Vec<String> {
    stderr_text(out)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The single non-empty stderr line of a failed command, lowercased;
/// panics if the command succeeded or printed more or fewer lines.
fn single_error_line(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure\n{}",
        describe(out)
    );
    let lines = stderr_lines(out);
    assert_eq!(
        lines.len(),
        1,
        "expected one error line on stderr\n{}",
        describe(out)
    );
    lines[0].to_lowercase()
}

/// Panics unless the command failed with exactly one non-empty stderr line
/// that contains every keyword (case-insensitive).
pub fn assert_fails_with(out: &Output, keywords: &[&str]) {
    let line = single_error_line(out);
    for keyword in keywords {
        assert!(
            line.contains(&keyword.to_lowercase()),
            "error line does not mention {keyword:?}\n{}",
            describe(out)
        );
    }
}

/// Like `assert_fails_with`, but one of `alternatives` is enough; for
/// messages whose wording may vary.
pub fn assert_fails_with_any(out: &Output, alternatives: &[&str]) {
    let line = single_error_line(out);
    assert!(
        alternatives
            .iter()
            .any(|a| line.contains(&a.to_lowercase())),
        "error line mentions none of {alternatives:?}\n{}",
        describe(out)
    );
}
