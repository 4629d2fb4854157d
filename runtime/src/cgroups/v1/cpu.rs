//! v1 cpu controller: shares, CFS quota/period, realtime runtime/period, idle.

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::resources::{need, nonzero, write};
use crate::cgroups::{CgroupDir, CgroupError};

const NO_CFS: &str = "the kernel lacks CFS bandwidth control (CONFIG_CFS_BANDWIDTH)";
const NO_RT: &str = "the kernel lacks realtime group scheduling (CONFIG_RT_GROUP_SCHED)";

pub(super) fn apply(dir: Option<&CgroupDir>, cpu: &LinuxCpu) -> Result<(), CgroupError> {
    let wanted = [
        cpu.shares().is_some_and(|v| v != 0),
        cpu.quota().is_some_and(|v| v != 0),
        cpu.period().is_some_and(|v| v != 0),
    ];
    let rt = nonzero(cpu.realtime_period()).is_some() || nonzero(cpu.realtime_runtime()).is_some();
    if !wanted.contains(&true) && !rt && cpu.idle().is_none() {
        return Ok(());
    }
    let dir = need(dir, "cpu", "cpu")?;
    if let Some(shares) = nonzero(cpu.shares()) {
        write(
            dir,
            "cpu.shares",
            "cpu.shares",
            &shares.to_string(),
            "the kernel lacks CFS group scheduling",
        )?;
    }
    set_quota_and_period(dir, nonzero(cpu.quota()), nonzero(cpu.period()))?;
    // The period first: a runtime is checked against the period in force.
    if let Some(period) = nonzero(cpu.realtime_period()) {
        write(
            dir,
            "cpu.realtimePeriod",
            "cpu.rt_period_us",
            &period.to_string(),
            NO_RT,
        )?;
    }
    if let Some(runtime) = nonzero(cpu.realtime_runtime()) {
        write(
            dir,
            "cpu.realtimeRuntime",
            "cpu.rt_runtime_us",
            &runtime.to_string(),
            NO_RT,
        )?;
    }
    if let Some(idle) = cpu.idle() {
        write(
            dir,
            "cpu.idle",
            "cpu.idle",
            &idle.to_string(),
            "the kernel is older than 5.15 (no SCHED_IDLE groups)",
        )?;
    }
    Ok(())
}

/// The period goes first; if the kernel refuses it because the current quota does not fit the
/// new period, the quota goes first and the period is retried.
fn set_quota_and_period(
    dir: &CgroupDir,
    quota: Option<i64>,
    period: Option<u64>,
) -> Result<(), CgroupError> {
    let set_period = |p: u64| {
        write(
            dir,
            "cpu.period",
            "cpu.cfs_period_us",
            &p.to_string(),
            NO_CFS,
        )
    };
    let set_quota = |q: i64| write(dir, "cpu.quota", "cpu.cfs_quota_us", &q.to_string(), NO_CFS);
    if let Some(period) = period {
        match set_period(period) {
            Err(CgroupError::SetLimit { source, .. })
                if source.raw_os_error() == Some(libc::EINVAL) && quota.is_some() =>
            {
                if let Some(q) = quota {
                    set_quota(q)?;
                }
                return set_period(period);
            }
            other => other?,
        }
    }
    match quota {
        Some(q) => set_quota(q),
        None => Ok(()),
    }
}
