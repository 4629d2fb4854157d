//! hugetlb limits on a v1 or hybrid host: the v1 hugetlb hierarchy when mounted, otherwise the
//! unified hierarchy of a hybrid host, where the controller lives when v1 does not claim it,
//! provided the host has delegated it to the container's cgroup (Corral does not switch it on in
//! the host's own cgroups: that would also stop anyone mounting hugetlb as v1).

use oci_spec::runtime::LinuxHugepageLimit;

use crate::cgroups::resources::{page_size, write};
use crate::cgroups::{Cgroup, CgroupError};

const NO_SIZE: &str = "the kernel has no huge pages of this size (see /sys/kernel/mm/hugepages)";

pub(super) fn apply(cgroup: &Cgroup, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    if let Some(dir) = cgroup.v1_dir("hugetlb") {
        for limit in limits {
            let file = format!("hugetlb.{}.limit_in_bytes", page_size(limit.page_size())?);
            write(
                dir,
                "hugepageLimits",
                &file,
                &limit.limit().to_string(),
                NO_SIZE,
            )?;
        }
        return Ok(());
    }
    let Some(unified) = cgroup.v2_dir().filter(|d| crate::cgroups::v2::offers(d, "hugetlb")) else {
        return Err(CgroupError::NoController { field: "hugepageLimits", controller: "hugetlb" });
    };
    if !crate::cgroups::v2::enabled_here(unified, "hugetlb") {
        return Err(CgroupError::NotDelegated { field: "hugepageLimits", controller: "hugetlb", mount: unified.mount_point.clone() });
    }
    crate::cgroups::v2::set_hugetlb(unified, limits)
}
