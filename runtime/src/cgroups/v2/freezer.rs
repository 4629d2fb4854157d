//! v2 freezer: cgroup.freeze is the wish, the "frozen" key of cgroup.events the outcome.

use std::time::Instant;

use crate::cgroups::fsops::{read_control, write_control};
use crate::cgroups::{CgroupDir, CgroupError};

const FREEZE: &str = "cgroup.freeze";
const EVENTS: &str = "cgroup.events";

/// Write cgroup.freeze, then wait until cgroup.events says the whole subtree got there.
pub(crate) fn set(dir: &CgroupDir, frozen: bool, deadline: Instant) -> Result<(), CgroupError> {
    let action = if frozen { "freeze" } else { "thaw" };
    let path = dir.file(FREEZE);
    write_control(&path, if frozen { "1" } else { "0" }).map_err(|source| {
        CgroupError::Freezer {
            action,
            path: path.clone(),
            source,
        }
    })?;
    let events = dir.file(EVENTS);
    let wanted = if frozen { "1" } else { "0" };
    loop {
        let text = read_control(&events).map_err(|source| CgroupError::Freezer {
            action,
            path: events.clone(),
            source,
        })?;
        // A kernel without cgroup.events "frozen" (before 5.2) has no v2 freezer at all; the write above failed then.
        if text
            .as_deref()
            .is_some_and(|t| frozen_value(t) == Some(wanted))
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CgroupError::FreezeTimeout {
                path: events,
                wanted: if frozen { "frozen" } else { "thawed" },
                millis: 0,
            });
        }
        std::thread::sleep(super::super::freezer::RETRY);
    }
}

/// true when cgroup.freeze asks for frozen (as runc reports `paused`).
pub(crate) fn is_frozen(dir: &CgroupDir) -> bool {
    read_control(&dir.file(FREEZE)).ok().flatten().as_deref() == Some("1")
}

/// The value of the "frozen" line of cgroup.events text.
pub(crate) fn frozen_value(events: &str) -> Option<&str> {
    events
        .lines()
        .find_map(|l| l.strip_prefix("frozen "))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    #[test]
    fn frozen_line() {
        assert_eq!(super::frozen_value("populated 1\nfrozen 1\n"), Some("1"));
        assert_eq!(super::frozen_value("populated 0\n"), None);
    }
}
