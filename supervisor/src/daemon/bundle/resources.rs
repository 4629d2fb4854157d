//! linux.resources from the manifest's `resources` and `priority`.
//!
//! The manifest speaks cgroup v2 (cpu.weight 1..10000, io.weight 1..10000). On a pure v2
//! host those go through linux.resources.unified as they are, because the runtime's
//! conversion from v1 values (runc's formula) would not give the documented weights; on
//! v1 and hybrid hosts they become cpu.shares and blkio.weight.

use serde_json::{Value, json};

use crate::manifest::{Priority, Resources};

/// cpu.max period: 100 ms, the kernel's default.
const CPU_PERIOD_US: u64 = 100_000;

pub(crate) fn apply(resources: &mut Value, wanted: &Resources, priority: Priority, pure_v2: bool) {
    if let Some(bytes) = wanted.memory {
        resources["memory"]["limit"] = json!(bytes);
    }
    if let Some(cpus) = wanted.cpus {
        let quota = (cpus * CPU_PERIOD_US as f64).round() as u64;
        resources["cpu"]["quota"] = json!(quota);
        resources["cpu"]["period"] = json!(CPU_PERIOD_US);
    }
    if let Some(cpuset) = &wanted.cpuset {
        resources["cpu"]["cpus"] = json!(cpuset);
    }
    if let Some(pids) = wanted.pids {
        resources["pids"]["limit"] = json!(pids);
    }
    if pure_v2 {
        resources["unified"]["cpu.weight"] = json!(priority.cpu_weight().to_string());
        if let Some(weight) = wanted.io_weight {
            resources["unified"]["io.weight"] = json!(weight.to_string());
        }
    } else {
        resources["cpu"]["shares"] = json!(priority.cpu_shares());
        if let Some(weight) = wanted.io_weight {
            // blkio.weight is 10..=1000: the same proportion of its range.
            resources["blockIO"]["weight"] = json!((weight / 10).clamp(10, 1000));
        }
    }
}
