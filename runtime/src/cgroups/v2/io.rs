//! v2 io controller: io.bfq.weight when BFQ is in use (taking blkio weights as they are), otherwise
//! io.weight with the blkio range [10, 1000] mapped onto [1, 10000]; throttles go to io.max.

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use super::write;
use crate::cgroups::resources::device_key;
use crate::cgroups::{CgroupDir, CgroupError};

pub(super) fn apply(dir: &CgroupDir, io: &LinuxBlockIo) -> Result<(), CgroupError> {
    let bfq = dir.file("io.bfq.weight").exists();
    let (file, convert): (&str, fn(u16) -> u64) = if bfq {
        ("io.bfq.weight", u64::from)
    } else {
        ("io.weight", blkio_to_io_weight)
    };
    if let Some(weight) = io.weight().filter(|w| *w != 0) {
        write(dir, "blockIO.weight", file, &convert(weight).to_string())?;
    }
    if io.leaf_weight().is_some() {
        return Err(CgroupError::Unsupported {
            field: "blockIO.leafWeight",
            version: "v2",
            hint: "cgroup v2 has no leaf weights; drop the setting",
        });
    }
    for device in io.weight_device().as_deref().unwrap_or_default() {
        let key = device_key("blockIO.weightDevice", device.major(), device.minor())?;
        if let Some(weight) = device.weight() {
            write(
                dir,
                "blockIO.weightDevice",
                file,
                &format!("{key} {}", convert(weight)),
            )?;
        }
    }
    let throttles: [(&'static str, &str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
        (
            "blockIO.throttleReadBpsDevice",
            "rbps",
            io.throttle_read_bps_device(),
        ),
        (
            "blockIO.throttleWriteBpsDevice",
            "wbps",
            io.throttle_write_bps_device(),
        ),
        (
            "blockIO.throttleReadIOPSDevice",
            "riops",
            io.throttle_read_iops_device(),
        ),
        (
            "blockIO.throttleWriteIOPSDevice",
            "wiops",
            io.throttle_write_iops_device(),
        ),
    ];
    for (field, key_name, devices) in throttles {
        for device in devices.as_deref().unwrap_or_default() {
            let key = device_key(field, device.major(), device.minor())?;
            write(
                dir,
                field,
                "io.max",
                &io_max_line(&key, key_name, device.rate()),
            )?;
        }
    }
    Ok(())
}

/// Map a blkio weight [10, 1000] onto io.weight [1, 10000], as runc does.
pub(crate) fn blkio_to_io_weight(weight: u16) -> u64 {
    let weight = u64::from(weight.clamp(10, 1000));
    1 + (weight - 10) * 9999 / 990
}

/// One io.max line; rate 0 lifts the limit, as writing 0 does on v1.
pub(crate) fn io_max_line(device: &str, key: &str, rate: u64) -> String {
    if rate == 0 {
        format!("{device} {key}=max")
    } else {
        format!("{device} {key}={rate}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(io_max_line("8:0", "rbps", 1024), "8:0 rbps=1024");
        assert_eq!(io_max_line("8:0", "wiops", 0), "8:0 wiops=max");
    }
}
