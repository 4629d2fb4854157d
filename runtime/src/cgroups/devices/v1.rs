//! cgroup v1: the folded policy written to devices.deny and devices.allow.

use std::io::Write;
use std::path::Path;

use super::DeviceError;
use super::policy::Policy;

/// Resets the cgroup to the policy's default with "a", then writes each exception.
/// The reset comes first, so the cgroup is never more permissive than the policy while
/// the exceptions are written (and the init runs no user code yet).
pub fn write_policy(dir: &Path, policy: &Policy) -> Result<(), DeviceError> {
    let (default_file, exception_file) = match policy.default_allow {
        true => ("devices.allow", "devices.deny"),
        false => ("devices.deny", "devices.allow"),
    };
    write_line(&dir.join(default_file), "a")?;
    for exception in &policy.exceptions {
        write_line(&dir.join(exception_file), &exception.to_string())?;
    }
    Ok(())
}

/// One rule per write(2): the kernel parses each write as a single rule.
fn write_line(path: &Path, line: &str) -> Result<(), DeviceError> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .map_err(|source| DeviceError::Write {
            path: path.to_path_buf(),
            line: line.to_string(),
            source,
        })
}
