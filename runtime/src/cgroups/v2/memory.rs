//! v2 memory controller: memory.max, memory.low (reservation) and memory.swap.max.
//!
//! OCI's swap is memory+swap (the v1 meaning); v2's memory.swap.max is swap alone, so the
//! value is converted the way runc and crun do.

use oci_spec::runtime::LinuxMemory;

use super::{max_or, write};
use crate::cgroups::resources::nonzero;
use crate::cgroups::{CgroupDir, CgroupError};

pub(super) fn apply(dir: &CgroupDir, m: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = nonzero(m.limit());
    if let Some(swap) = swap_value(limit, m.swap())? {
        let value = max_or(swap);
        match write(dir, "memory.swap", "memory.swap.max", &value) {
            // Without swap support there is nothing to limit; "unlimited" or "none" are then no-ops.
            Err(CgroupError::MissingFile { .. }) if value == "max" || value == "0" => {}
            other => other?,
        }
    }
    if let Some(limit) = limit {
        write(dir, "memory.limit", "memory.max", &max_or(limit))?;
    }
    if let Some(reservation) = nonzero(m.reservation()) {
        write(
            dir,
            "memory.reservation",
            "memory.low",
            &max_or(reservation),
        )?;
    }
    // swappiness, disableOOMKiller and the kernel limits have no v2 file; ignored as runc does.
    Ok(())
}

/// The memory.swap.max value for OCI (limit, swap): None = leave unchanged, -1 = max.
pub(crate) fn swap_value(
    limit: Option<i64>,
    swap: Option<i64>,
) -> Result<Option<i64>, CgroupError> {
    let invalid = |reason| CgroupError::InvalidValue {
        field: "memory.swap",
        value: format!("{swap:?}"),
        reason,
    };
    match (limit, swap.filter(|s| *s != 0)) {
        // Unlimited memory with no word on swap: unlimited swap too (the v1 behaviour).
        (Some(-1), None) => Ok(Some(-1)),
        (_, None) => Ok(None),
        (_, Some(-1)) => Ok(Some(-1)),
        (None | Some(-1), Some(_)) => Err(invalid("a swap limit needs a memory limit")),
        (Some(l), Some(s)) if s < l => {
            Err(invalid("memory+swap must be at least the memory limit"))
        }
        (Some(l), Some(s)) => Ok(Some(s - l)),
    }
}

#[cfg(test)]
mod tests {
    use super::swap_value;

    #[test]
    fn swap_conversion() {
        assert_eq!(swap_value(Some(-1), None).ok(), Some(Some(-1)));
        assert_eq!(swap_value(Some(100), None).ok(), Some(None));
        assert_eq!(swap_value(Some(100), Some(300)).ok(), Some(Some(200)));
        assert_eq!(swap_value(Some(100), Some(100)).ok(), Some(Some(0)));
        assert_eq!(swap_value(Some(100), Some(-1)).ok(), Some(Some(-1)));
        assert!(swap_value(None, Some(300)).is_err());
        assert!(swap_value(Some(300), Some(100)).is_err());
    }
}
