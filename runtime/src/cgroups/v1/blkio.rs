//! v1 blkio controller: weights (CFQ's blkio.weight or BFQ's blkio.bfq.weight) and throttles.

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use crate::cgroups::resources::{device_key, need, write};
use crate::cgroups::{CgroupDir, CgroupError};

const NO_WEIGHT: &str = "the host's block I/O schedulers offer no weights (neither CFQ's blkio.weight nor BFQ's blkio.bfq.weight); drop the weight setting";
const NO_LEAF_WEIGHT: &str = "leaf weights exist only under the CFQ scheduler, which kernels since 5.0 no longer have; drop leafWeight";
const NO_THROTTLE: &str = "the kernel lacks block I/O throttling (CONFIG_BLK_DEV_THROTTLING)";

pub(super) fn apply(dir: Option<&CgroupDir>, io: &LinuxBlockIo) -> Result<(), CgroupError> {
    let dir = need(dir, "blockIO", "blkio")?;
    if let Some(weight) = io.weight() {
        write(
            dir,
            "blockIO.weight",
            &weight_file(dir, "weight"),
            &weight.to_string(),
            NO_WEIGHT,
        )?;
    }
    if let Some(leaf) = io.leaf_weight() {
        write(
            dir,
            "blockIO.leafWeight",
            "blkio.leaf_weight",
            &leaf.to_string(),
            NO_LEAF_WEIGHT,
        )?;
    }
    for device in io.weight_device().as_deref().unwrap_or_default() {
        let key = device_key("blockIO.weightDevice", device.major(), device.minor())?;
        if let Some(weight) = device.weight() {
            write(
                dir,
                "blockIO.weightDevice",
                &weight_file(dir, "weight_device"),
                &format!("{key} {weight}"),
                NO_WEIGHT,
            )?;
        }
        if let Some(leaf) = device.leaf_weight() {
            write(
                dir,
                "blockIO.weightDevice.leafWeight",
                "blkio.leaf_weight_device",
                &format!("{key} {leaf}"),
                NO_LEAF_WEIGHT,
            )?;
        }
    }
    let throttles: [(&'static str, &str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
        (
            "blockIO.throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            io.throttle_read_bps_device(),
        ),
        (
            "blockIO.throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            io.throttle_write_bps_device(),
        ),
        (
            "blockIO.throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            io.throttle_read_iops_device(),
        ),
        (
            "blockIO.throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            io.throttle_write_iops_device(),
        ),
    ];
    for (field, file, devices) in throttles {
        for device in devices.as_deref().unwrap_or_default() {
            let key = device_key(field, device.major(), device.minor())?;
            write(
                dir,
                field,
                file,
                &format!("{key} {}", device.rate()),
                NO_THROTTLE,
            )?;
        }
    }
    Ok(())
}

/// "blkio.<name>" under CFQ, "blkio.bfq.<name>" under BFQ (newer kernels have only BFQ).
fn weight_file(dir: &CgroupDir, name: &str) -> String {
    let cfq = format!("blkio.{name}");
    let bfq = format!("blkio.bfq.{name}");
    if !dir.file(&cfq).exists() && dir.file(&bfq).exists() {
        bfq
    } else {
        cfq
    }
}
