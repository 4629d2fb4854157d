//! Parsers for /proc/self/mountinfo and /proc/self/cgroup, kept free of IO so tests can feed strings.

use std::path::PathBuf;

/// One cgroup or cgroup2 mount from mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupMount {
    /// The directory inside the hierarchy that is visible at `mount_point` (field 4).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// true for cgroup2, false for cgroup (v1).
    pub unified: bool,
    /// The per-superblock options (last field), e.g. ["rw", "cpu", "cpuacct"].
    pub super_options: Vec<String>,
}

/// One line of /proc/self/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnCgroup {
    /// The hierarchy's controllers as the kernel prints them, e.g. "cpu,cpuacct" or "name=systemd"; empty for v2.
    pub controllers: String,
    /// Our cgroup in that hierarchy, as seen from our cgroup namespace.
    pub path: PathBuf,
}

/// Why a line could not be parsed; the caller adds file name and line number.
pub(crate) type LineError = (usize, &'static str, String);

/// The cgroup and cgroup2 mounts in mountinfo text; other filesystems are skipped.
pub(crate) fn parse_mountinfo(text: &str) -> Result<Vec<CgroupMount>, LineError> {
    let mut mounts = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fail = |reason| (index + 1, reason, line.to_string());
        let fields: Vec<&str> = line.split(' ').collect();
        // Optional fields (shared:N, master:N, ...) come after the 6 fixed ones and end at "-".
        let dash = fields
            .iter()
            .skip(6)
            .position(|f| *f == "-")
            .map(|p| p + 6)
            .ok_or_else(|| fail("no \"-\" separator after the optional fields"))?;
        let (Some(fstype), Some(super_opts)) = (fields.get(dash + 1), fields.get(dash + 3)) else {
            return Err(fail("missing filesystem type, source or super options"));
        };
        let unified = match *fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        mounts.push(CgroupMount {
            root: PathBuf::from(unescape(fields[3])),
            mount_point: PathBuf::from(unescape(fields[4])),
            unified,
            super_options: super_opts.split(',').map(str::to_string).collect(),
        });
    }
    Ok(mounts)
}

/// Undo the kernel's octal escaping of space, tab, newline and backslash ("\040" and friends).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(value) = octal_escape(&bytes[i..]) {
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The byte encoded by a leading "\ooo" escape, if `bytes` starts with one.
fn octal_escape(bytes: &[u8]) -> Option<u8> {
    let [b'\\', digits @ ..] = bytes.get(..4)? else {
        return None;
    };
    let mut value: u32 = 0;
    for d in digits {
        if !(b'0'..=b'7').contains(d) {
            return None;
        }
        value = value * 8 + u32::from(d - b'0');
    }
    u8::try_from(value).ok()
}

/// The lines of /proc/self/cgroup: "hierarchy-id:controllers:path".
pub(crate) fn parse_proc_cgroup(text: &str) -> Result<Vec<OwnCgroup>, LineError> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        // The path may itself contain ':', so split off only the first two fields.
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err((index + 1, "expected id:controllers:path", line.to_string()));
        };
        out.push(OwnCgroup {
            controllers: controllers.to_string(),
            path: PathBuf::from(path),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_skips_other_filesystems_and_handles_optional_fields() {
        let text = "\
22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/root rw
31 23 0:28 / /sys/fs/cgroup rw,relatime shared:9 master:2 - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
";
        let mounts = parse_mountinfo(text).expect("parse");
        assert_eq!(mounts.len(), 2);
        assert_eq!(
            mounts[0].mount_point,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(mounts[0].super_options, ["rw", "cpu", "cpuacct"]);
        assert!(!mounts[0].unified);
        assert_eq!(mounts[1].super_options, ["rw", "xattr", "name=systemd"]);
    }

    #[test]
    fn mountinfo_unescapes_spaces_and_backslashes() {
        let text = "41 31 0:38 /a\\040b /mnt/my\\040cg\\134x rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let mounts = parse_mountinfo(text).expect("parse");
        assert_eq!(mounts[0].root, PathBuf::from("/a b"));
        assert_eq!(mounts[0].mount_point, PathBuf::from("/mnt/my cg\\x"));
        assert!(mounts[0].unified);
    }

    #[test]
    fn mountinfo_rejects_line_without_separator() {
        let err =
            parse_mountinfo("41 31 0:38 / /x rw cgroup2 cgroup2 rw\n").expect_err("must fail");
        assert_eq!(err.0, 1);
    }

    #[test]
    fn proc_cgroup_keeps_colons_in_paths() {
        let own = parse_proc_cgroup("4:memory:/a:b\n0::/\n").expect("parse");
        assert_eq!(own[0].controllers, "memory");
        assert_eq!(own[0].path, PathBuf::from("/a:b"));
        assert_eq!(own[1].controllers, "");
        assert!(parse_proc_cgroup("garbage\n").is_err());
    }
}
