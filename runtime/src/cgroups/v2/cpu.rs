//! v2 cpu and cpuset: cpu.weight (converted from shares), cpu.max, cpu.idle, cpuset.cpus/mems.

use oci_spec::runtime::LinuxCpu;

use super::write;
use crate::cgroups::resources::nonzero;
use crate::cgroups::{CgroupDir, CgroupError};

pub(super) fn apply(dir: &CgroupDir, cpu: &LinuxCpu) -> Result<(), CgroupError> {
    if nonzero(cpu.realtime_period()).is_some() || nonzero(cpu.realtime_runtime()).is_some() {
        return Err(CgroupError::Unsupported {
            field: "cpu.realtimeRuntime/realtimePeriod",
            version: "v2",
            hint: "cgroup v2 has no realtime group scheduling; drop these settings",
        });
    }
    if let Some(shares) = nonzero(cpu.shares()) {
        write(
            dir,
            "cpu.shares",
            "cpu.weight",
            &shares_to_weight(shares).to_string(),
        )?;
    }
    if let Some(max) = cpu_max(nonzero(cpu.quota()), nonzero(cpu.period())) {
        write(dir, "cpu.quota", "cpu.max", &max)?;
    }
    if let Some(idle) = cpu.idle() {
        write(dir, "cpu.idle", "cpu.idle", &idle.to_string())?;
    }
    if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpu.cpus", "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpu.mems", "cpuset.mems", mems)?;
    }
    Ok(())
}

/// Map v1 shares [2, 262144] linearly onto v2 weight [1, 10000], as runc and crun do.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// cpu.max text: "$QUOTA $PERIOD", "max" when the quota is unlimited; only the quota part when
/// the period is not given (the kernel keeps the old period then).
pub(crate) fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    if quota.is_none() && period.is_none() {
        return None;
    }
    let quota = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".to_string(),
    };
    Some(match period {
        Some(p) => format!("{quota} {p}"),
        None => quota,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn max_text() {
        assert_eq!(
            cpu_max(Some(50_000), Some(100_000)).as_deref(),
            Some("50000 100000")
        );
        assert_eq!(cpu_max(Some(-1), None).as_deref(), Some("max"));
        assert_eq!(cpu_max(None, Some(200_000)).as_deref(), Some("max 200000"));
        assert_eq!(cpu_max(None, None), None);
    }
}
