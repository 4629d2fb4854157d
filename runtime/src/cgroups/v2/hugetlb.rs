//! v2 hugetlb: hugetlb.<size>.max (also used on hybrid hosts, where the unified hierarchy holds hugetlb).

use oci_spec::runtime::LinuxHugepageLimit;

use super::max_or;
use crate::cgroups::resources::{page_size, write};
use crate::cgroups::{CgroupDir, CgroupError};

const MISSING: &str =
    "no huge pages of this size, or the hugetlb controller is not enabled for this cgroup";

pub(crate) fn apply(dir: &CgroupDir, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    for limit in limits {
        let file = format!("hugetlb.{}.max", page_size(limit.page_size())?);
        write(
            dir,
            "hugepageLimits",
            &file,
            &max_or(limit.limit()),
            MISSING,
        )?;
    }
    Ok(())
}
