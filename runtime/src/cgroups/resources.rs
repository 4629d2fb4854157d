//! linux.resources → control files. Each setting is a small function writing the v1 or v2
//! file for it; only pids is implemented so far, the other controllers follow.

use oci_spec::runtime::LinuxResources;

use super::fsops::write_control;
use super::{Cgroup, CgroupDir, CgroupError, CgroupMode, HierarchyKind};

impl Cgroup {
    /// Apply every supported setting of `resources`. Unset settings are left alone.
    pub fn apply_resources(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        if let Some(pids) = resources.pids() {
            self.set_pids_limit(pids.limit())?;
        }
        Ok(())
    }

    /// pids.max: a positive limit, or "max" for zero or negative (no limit).
    fn set_pids_limit(&self, limit: i64) -> Result<(), CgroupError> {
        let value = if limit > 0 { limit.to_string() } else { "max".to_string() };
        let dir = self.controller_dir("pids").ok_or(CgroupError::NoController { field: "pids.limit", controller: "pids" })?;
        let path = dir.file("pids.max");
        write_control(&path, &value).map_err(|source| CgroupError::SetLimit { field: "pids.limit", path, value, source })
    }

    /// Where a controller's files are: its v1 hierarchy, or the v2 directory on a pure v2 host.
    fn controller_dir(&self, controller: &str) -> Option<&CgroupDir> {
        match self.mode() {
            CgroupMode::V2 => self.v2_dir(),
            _ => self.dirs.iter().find(|d| matches!(d.kind, HierarchyKind::V1 { .. }) && d.has_controller(controller)),
        }
    }
}
