//! linux.resources.unified: raw v2 control files, written after everything else.

use std::collections::HashMap;

use super::write;
use crate::cgroups::{CgroupDir, CgroupError};

pub(super) fn apply(dir: &CgroupDir, unified: &HashMap<String, String>) -> Result<(), CgroupError> {
    // Sorted, so the order of writes does not depend on hash order.
    let mut keys: Vec<&String> = unified.keys().collect();
    keys.sort();
    for key in keys {
        check_key(key)?;
        write(dir, "unified", key, &unified[key])?;
    }
    Ok(())
}

/// A key names one control file of the container's cgroup: "controller.setting", nothing that
/// could reach another directory or the interface files that move processes around.
pub(crate) fn check_key(key: &str) -> Result<(), CgroupError> {
    let bad = |reason| {
        Err(CgroupError::InvalidValue {
            field: "unified",
            value: key.to_string(),
            reason,
        })
    };
    if key.is_empty() || key.contains('/') || key.contains('\0') || key.starts_with('.') {
        return bad("a key must be a control file name such as memory.high");
    }
    if !key.contains('.') {
        return bad("a key must be \"controller.file\", e.g. memory.high");
    }
    if matches!(
        key,
        "cgroup.procs"
            | "cgroup.threads"
            | "cgroup.subtree_control"
            | "cgroup.type"
            | "cgroup.kill"
    ) {
        return bad("this file manages processes or the hierarchy, not a limit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_key;

    #[test]
    fn keys() {
        assert!(check_key("memory.high").is_ok());
        assert!(check_key("cpu.max").is_ok());
        for bad in ["", "../x.y", "a/b.c", ".x", "nodot", "cgroup.procs"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
