//! v1 net_cls and net_prio. Like runc, a setting whose controller is not mounted is an error.

use oci_spec::runtime::LinuxNetwork;

use crate::cgroups::resources::{need, write};
use crate::cgroups::{Cgroup, CgroupError};

pub(super) fn apply(cgroup: &Cgroup, net: &LinuxNetwork) -> Result<(), CgroupError> {
    if let Some(class_id) = net.class_id() {
        let dir = need(cgroup.v1_dir("net_cls"), "network.classID", "net_cls")?;
        write(
            dir,
            "network.classID",
            "net_cls.classid",
            &class_id.to_string(),
            "the net_cls controller is not usable here",
        )?;
    }
    let priorities = net.priorities().as_deref().unwrap_or_default();
    if priorities.is_empty() {
        return Ok(());
    }
    let dir = need(cgroup.v1_dir("net_prio"), "network.priorities", "net_prio")?;
    for p in priorities {
        if p.name().is_empty() || p.name().contains(char::is_whitespace) {
            return Err(CgroupError::InvalidValue {
                field: "network.priorities.name",
                value: p.name().clone(),
                reason: "an interface name cannot be empty or contain spaces",
            });
        }
        write(
            dir,
            "network.priorities",
            "net_prio.ifpriomap",
            &format!("{} {}", p.name(), p.priority()),
            "the net_prio controller is not usable here",
        )?;
    }
    Ok(())
}
