//! linux.sysctl: writes under /proc/sys of the container's namespaces.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::init::InitError;
use super::plan::Sysctl;

/// Sysctls go through the container's own /proc (mounted by us during prepare, and
/// before /proc/sys is made read-only by `finish`).
pub fn write_all(sysctls: &[Sysctl]) -> Result<(), InitError> {
    for s in sysctls {
        let path = Path::new("/proc/sys").join(&s.rel_path);
        let err = |source| InitError::Sysctl { key: s.key.clone(), source };
        let mut file = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NOFOLLOW).open(&path).map_err(err)?;
        file.write_all(&s.value).map_err(err)?;
    }
    Ok(())
}
