//! linux.resources → control files. This file dispatches to the v1 or v2 per-controller files and
//! holds the small write helpers they share.
//!
//! Zero means "leave unchanged" for the numeric settings, as in runc (whose `update` sends zeros for
//! every flag not given); -1 means "no limit" where the kernel has one.

use std::io::ErrorKind;

use oci_spec::runtime::LinuxResources;

use super::fsops::write_control;
use super::{Cgroup, CgroupDir, CgroupError, CgroupMode, v1, v2};

impl Cgroup {
    /// Apply every supported setting of `resources`. Unset settings are left alone.
    /// The devices list is not handled here (see `cgroups::devices`).
    pub fn apply_resources(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        match self.mode() {
            CgroupMode::V2 => {
                let dir = self.v2_dir().ok_or(CgroupError::NoController {
                    field: "*",
                    controller: "cgroup2",
                })?;
                v2::apply(dir, resources)
            }
            CgroupMode::V1 | CgroupMode::Hybrid => {
                if resources.unified().as_ref().is_some_and(|u| !u.is_empty()) {
                    return Err(CgroupError::Unsupported {
                        field: "unified",
                        version: "v1",
                        hint: "unified key/values need a pure cgroup v2 host; drop linux.resources.unified",
                    });
                }
                v1::apply(self, resources)
            }
        }
    }
}

/// Write `value` to `dir`'s control file `file`, for the config field `field`. A missing file gets
/// `hint` (which says which kernel feature or controller provides it).
pub(crate) fn write(
    dir: &CgroupDir,
    field: &'static str,
    file: &str,
    value: &str,
    hint: &'static str,
) -> Result<(), CgroupError> {
    let path = dir.file(file);
    write_control(&path, value).map_err(|source| match source.kind() {
        ErrorKind::NotFound => CgroupError::MissingFile { field, path, hint },
        _ => CgroupError::SetLimit {
            field,
            path,
            value: value.to_string(),
            source,
        },
    })
}

/// The directory of a required controller, or a clear error naming it.
pub(crate) fn need<'a>(
    dir: Option<&'a CgroupDir>,
    field: &'static str,
    controller: &'static str,
) -> Result<&'a CgroupDir, CgroupError> {
    dir.ok_or(CgroupError::NoController { field, controller })
}

/// Some(v) for a set, non-zero value (zero = unchanged, as runc's update sends it).
pub(crate) fn nonzero<T: Default + PartialEq>(value: Option<T>) -> Option<T> {
    value.filter(|v| *v != T::default())
}

/// "maj:min" of a device entry; negative numbers are refused.
pub(crate) fn device_key(
    field: &'static str,
    major: i64,
    minor: i64,
) -> Result<String, CgroupError> {
    if major < 0 || minor < 0 {
        return Err(CgroupError::InvalidValue {
            field,
            value: format!("{major}:{minor}"),
            reason: "device numbers cannot be negative",
        });
    }
    Ok(format!("{major}:{minor}"))
}

/// Check a hugepage size as written in the config ("2MB", "1GB", "64KB") and return it.
pub(crate) fn page_size(text: &str) -> Result<&str, CgroupError> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !matches!(unit, "KB" | "MB" | "GB")
    {
        return Err(CgroupError::InvalidValue {
            field: "hugepageLimits.pageSize",
            value: text.to_string(),
            reason: "use the kernel's spelling, e.g. 2MB or 1GB",
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes() {
        assert_eq!(page_size("2MB").ok(), Some("2MB"));
        assert_eq!(page_size("1GB").ok(), Some("1GB"));
        for bad in ["", "MB", "2mb", "2M", "2 MB", "../x", "2MB/"] {
            assert!(page_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zero_is_unset() {
        assert_eq!(nonzero(Some(0u64)), None);
        assert_eq!(nonzero(Some(-1i64)), Some(-1));
        assert_eq!(nonzero::<i64>(None), None);
    }
}
