//! v1 memory controller: limit, memory+swap, soft limit, swappiness, OOM killer, kernel TCP.

use oci_spec::runtime::LinuxMemory;

use crate::cgroups::fsops::read_control;
use crate::cgroups::resources::{need, nonzero, write};
use crate::cgroups::{CgroupDir, CgroupError};

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";
const NO_SWAP_ACCOUNTING: &str =
    "the kernel does not account swap (boot with swapaccount=1) or has no swap support";

pub(super) fn apply(dir: Option<&CgroupDir>, m: &LinuxMemory) -> Result<(), CgroupError> {
    let dir = need(dir, "memory", "memory")?;
    set_limit_and_swap(dir, nonzero(m.limit()), nonzero(m.swap()))?;
    if let Some(reservation) = nonzero(m.reservation()) {
        write(
            dir,
            "memory.reservation",
            "memory.soft_limit_in_bytes",
            &reservation.to_string(),
            "no soft limit support",
        )?;
    }
    // Kernel memory limits are deprecated by the kernel and ignored, as runc 1.1 does;
    // the TCP buffer limit still exists and is set.
    if let Some(tcp) = nonzero(m.kernel_tcp()) {
        write(
            dir,
            "memory.kernelTCP",
            "memory.kmem.tcp.limit_in_bytes",
            &tcp.to_string(),
            "the kernel has no kmem TCP accounting",
        )?;
    }
    if let Some(swappiness) = m.swappiness() {
        if swappiness > 100 {
            return Err(CgroupError::InvalidValue {
                field: "memory.swappiness",
                value: swappiness.to_string(),
                reason: "it must be between 0 and 100",
            });
        }
        write(
            dir,
            "memory.swappiness",
            "memory.swappiness",
            &swappiness.to_string(),
            "no swappiness support",
        )?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(
            dir,
            "memory.disableOOMKiller",
            "memory.oom_control",
            "1",
            "no OOM control support",
        )?;
    }
    Ok(())
}

/// The kernel requires memory.limit <= memory+swap at every moment, so the order of the two writes
/// depends on whether the limits grow or shrink. -1 memory without a swap value lifts both.
fn set_limit_and_swap(
    dir: &CgroupDir,
    limit: Option<i64>,
    swap: Option<i64>,
) -> Result<(), CgroupError> {
    let swap = match (limit, swap) {
        (Some(-1), None) if dir.file(MEMSW).exists() => Some(-1),
        _ => swap,
    };
    let set_limit = |v: i64| {
        write(
            dir,
            "memory.limit",
            LIMIT,
            &v.to_string(),
            "the memory controller lacks limits",
        )
    };
    let set_swap = |v: i64| {
        write(
            dir,
            "memory.swap",
            MEMSW,
            &v.to_string(),
            NO_SWAP_ACCOUNTING,
        )
    };
    match (limit, swap) {
        (Some(l), Some(s)) => {
            let current = read_control(&dir.file(LIMIT))
                .ok()
                .flatten()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(u64::MAX);
            let growing = s == -1 || u64::try_from(s).is_ok_and(|s| current < s);
            if growing {
                set_swap(s)?;
                set_limit(l)
            } else {
                set_limit(l)?;
                set_swap(s)
            }
        }
        (Some(l), None) => set_limit(l),
        (None, Some(s)) => set_swap(s),
        (None, None) => Ok(()),
    }
}
