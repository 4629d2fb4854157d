//! v1 freezer: freezer.state moves through FREEZING to FROZEN, and back to THAWED.

use std::time::Instant;

use crate::cgroups::fsops::{read_control, write_control};
use crate::cgroups::{CgroupDir, CgroupError};

const STATE: &str = "freezer.state";

/// Write the wanted state until the kernel reports it (a freeze can stall on a process that is
/// busy in the kernel, and rewriting FROZEN retries it); give up at `deadline`.
pub(crate) fn set(dir: &CgroupDir, frozen: bool, deadline: Instant) -> Result<(), CgroupError> {
    let wanted = if frozen { "FROZEN" } else { "THAWED" };
    let path = dir.file(STATE);
    let fail = |source| CgroupError::Freezer {
        action: if frozen { "freeze" } else { "thaw" },
        path: path.clone(),
        source,
    };
    loop {
        write_control(&path, wanted).map_err(fail)?;
        if read_control(&path).map_err(fail)?.as_deref() == Some(wanted) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CgroupError::FreezeTimeout {
                path,
                wanted,
                millis: 0,
            });
        }
        std::thread::sleep(super::super::freezer::RETRY);
    }
}

/// true when the cgroup is FROZEN (a FREEZING one still has running processes).
pub(crate) fn is_frozen(dir: &CgroupDir) -> bool {
    read_control(&dir.file(STATE)).ok().flatten().as_deref() == Some("FROZEN")
}
