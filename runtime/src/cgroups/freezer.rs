//! pause/resume: the v1 freezer hierarchy when mounted, otherwise cgroup.freeze of the
//! unified hierarchy (pure v2 hosts, and hybrid hosts without a v1 freezer).

use std::time::{Duration, Instant};

use super::{Cgroup, CgroupDir, CgroupError, HierarchyKind, v1, v2};

/// How long a freeze or thaw may take before it is reported as stuck.
const PATIENCE: Duration = Duration::from_secs(5);
/// Pause between checks of the freezer's progress.
pub(crate) const RETRY: Duration = Duration::from_millis(2);

impl Cgroup {
    /// Freeze every process of the container and wait until they are all frozen.
    /// A freeze that does not complete is undone, so the container is not left half-frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        let dir = self.freezer_dir().ok_or(CgroupError::NoFreezer)?;
        let started = Instant::now();
        match set(dir, true, started + PATIENCE) {
            Err(CgroupError::FreezeTimeout { path, wanted, .. }) => {
                let _ = set(dir, false, Instant::now() + PATIENCE);
                Err(CgroupError::FreezeTimeout {
                    path,
                    wanted,
                    millis: started.elapsed().as_millis(),
                })
            }
            other => other,
        }
    }

    /// Thaw the container's processes.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        let dir = self.freezer_dir().ok_or(CgroupError::NoFreezer)?;
        set(dir, false, Instant::now() + PATIENCE)
    }

    /// true when the container's cgroup is frozen (its processes are paused).
    pub fn is_frozen(&self) -> bool {
        match self.freezer_dir() {
            Some(dir) if dir.kind == HierarchyKind::V2 => v2::freezer::is_frozen(dir),
            Some(dir) => v1::freezer::is_frozen(dir),
            None => false,
        }
    }

    fn freezer_dir(&self) -> Option<&CgroupDir> {
        self.v1_dir("freezer").or_else(|| self.v2_dir())
    }
}

fn set(dir: &CgroupDir, frozen: bool, deadline: Instant) -> Result<(), CgroupError> {
    match dir.kind {
        HierarchyKind::V2 => v2::freezer::set(dir, frozen, deadline),
        HierarchyKind::V1 { .. } => v1::freezer::set(dir, frozen, deadline),
    }
}
