//! fstab-style mount options ("ro", "nosuid", "rbind", "rslave", "rro", "size=64m", ...)
//! turned into mount(2) flags, propagation calls, mount_setattr attributes and a data string.

use nix::mount::MsFlags;

use crate::sys::mount::{
    MOUNT_ATTR__ATIME, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME,
    MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY,
    MOUNT_ATTR_RELATIME, MOUNT_ATTR_STRICTATIME, MS_NOSYMFOLLOW, MountAttr,
};

/// What one option does.
#[derive(Debug, Clone, Copy)]
enum Effect {
    /// Sets mount(2) flags (later options win over earlier ones).
    Set(MsFlags),
    /// Clears mount(2) flags.
    Clear(MsFlags),
    /// Sets or clears an atime-related flag; remembered so a bind remount knows the
    /// caller chose the atime mode.
    AtimeSet(MsFlags),
    AtimeClear(MsFlags),
    Bind {
        recursive: bool,
    },
    /// A propagation change, applied by a separate mount(2) after the mount.
    Propagation(MsFlags),
    /// Recursive attributes for mount_setattr(AT_RECURSIVE).
    AttrSet(u64),
    AttrClear(u64),
    /// One of the atime modes, recursively.
    AttrAtime(u64),
    TmpCopyUp,
    /// Accepted and meaningless here.
    Nothing,
    Unsupported(&'static str),
}

const fn set(f: MsFlags) -> Effect {
    Effect::Set(f)
}
const fn clear(f: MsFlags) -> Effect {
    Effect::Clear(f)
}

/// Every option name with a meaning of its own; anything else becomes mount data.
const TABLE: &[(&str, Effect)] = &[
    ("defaults", Effect::Nothing),
    ("ro", set(MsFlags::MS_RDONLY)),
    ("rw", clear(MsFlags::MS_RDONLY)),
    ("nosuid", set(MsFlags::MS_NOSUID)),
    ("suid", clear(MsFlags::MS_NOSUID)),
    ("nodev", set(MsFlags::MS_NODEV)),
    ("dev", clear(MsFlags::MS_NODEV)),
    ("noexec", set(MsFlags::MS_NOEXEC)),
    ("exec", clear(MsFlags::MS_NOEXEC)),
    ("sync", set(MsFlags::MS_SYNCHRONOUS)),
    ("async", clear(MsFlags::MS_SYNCHRONOUS)),
    ("dirsync", set(MsFlags::MS_DIRSYNC)),
    ("remount", set(MsFlags::MS_REMOUNT)),
    ("mand", set(MsFlags::MS_MANDLOCK)),
    ("nomand", clear(MsFlags::MS_MANDLOCK)),
    ("silent", set(MsFlags::MS_SILENT)),
    ("loud", clear(MsFlags::MS_SILENT)),
    ("lazytime", set(MsFlags::MS_LAZYTIME)),
    ("nolazytime", clear(MsFlags::MS_LAZYTIME)),
    ("nosymfollow", set(MS_NOSYMFOLLOW)),
    ("symfollow", clear(MS_NOSYMFOLLOW)),
    ("atime", Effect::AtimeClear(MsFlags::MS_NOATIME)),
    ("noatime", Effect::AtimeSet(MsFlags::MS_NOATIME)),
    ("diratime", Effect::AtimeClear(MsFlags::MS_NODIRATIME)),
    ("nodiratime", Effect::AtimeSet(MsFlags::MS_NODIRATIME)),
    ("relatime", Effect::AtimeSet(MsFlags::MS_RELATIME)),
    ("norelatime", Effect::AtimeClear(MsFlags::MS_RELATIME)),
    ("strictatime", Effect::AtimeSet(MsFlags::MS_STRICTATIME)),
    ("nostrictatime", Effect::AtimeClear(MsFlags::MS_STRICTATIME)),
    ("bind", Effect::Bind { recursive: false }),
    ("rbind", Effect::Bind { recursive: true }),
    ("private", Effect::Propagation(MsFlags::MS_PRIVATE)),
    (
        "rprivate",
        Effect::Propagation(MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ),
    ("shared", Effect::Propagation(MsFlags::MS_SHARED)),
    (
        "rshared",
        Effect::Propagation(MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ),
    ("slave", Effect::Propagation(MsFlags::MS_SLAVE)),
    (
        "rslave",
        Effect::Propagation(MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ),
    ("unbindable", Effect::Propagation(MsFlags::MS_UNBINDABLE)),
    (
        "runbindable",
        Effect::Propagation(MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
    ),
    ("rro", Effect::AttrSet(MOUNT_ATTR_RDONLY)),
    ("rrw", Effect::AttrClear(MOUNT_ATTR_RDONLY)),
    ("rnosuid", Effect::AttrSet(MOUNT_ATTR_NOSUID)),
    ("rsuid", Effect::AttrClear(MOUNT_ATTR_NOSUID)),
    ("rnodev", Effect::AttrSet(MOUNT_ATTR_NODEV)),
    ("rdev", Effect::AttrClear(MOUNT_ATTR_NODEV)),
    ("rnoexec", Effect::AttrSet(MOUNT_ATTR_NOEXEC)),
    ("rexec", Effect::AttrClear(MOUNT_ATTR_NOEXEC)),
    ("rnodiratime", Effect::AttrSet(MOUNT_ATTR_NODIRATIME)),
    ("rdiratime", Effect::AttrClear(MOUNT_ATTR_NODIRATIME)),
    ("rnosymfollow", Effect::AttrSet(MOUNT_ATTR_NOSYMFOLLOW)),
    ("rsymfollow", Effect::AttrClear(MOUNT_ATTR_NOSYMFOLLOW)),
    // Only one atime mode can hold; "not noatime" and "not strictatime" mean the
    // kernel's default, relatime, and "not relatime" means strictatime.
    ("rnoatime", Effect::AttrAtime(MOUNT_ATTR_NOATIME)),
    ("ratime", Effect::AttrAtime(MOUNT_ATTR_RELATIME)),
    ("rrelatime", Effect::AttrAtime(MOUNT_ATTR_RELATIME)),
    ("rnorelatime", Effect::AttrAtime(MOUNT_ATTR_STRICTATIME)),
    ("rstrictatime", Effect::AttrAtime(MOUNT_ATTR_STRICTATIME)),
    ("rnostrictatime", Effect::AttrAtime(MOUNT_ATTR_RELATIME)),
    ("tmpcopyup", Effect::TmpCopyUp),
    (
        "idmap",
        Effect::Unsupported("idmapped mounts are not supported by corral"),
    ),
    (
        "ridmap",
        Effect::Unsupported("idmapped mounts are not supported by corral"),
    ),
];

/// The options of one mount, sorted by how they are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedOptions {
    /// mount(2) flags, without MS_BIND/MS_REC and without propagation.
    pub flags: MsFlags,
    /// Some when "bind" or "rbind" was given.
    pub bind: Option<bool>,
    /// Propagation changes, in the order given.
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes, when any r* option was given.
    pub attr: Option<MountAttr>,
    /// Whether an atime option (atime, noatime, relatime, ...) was given.
    pub atime_given: bool,
    /// "tmpcopyup" was given: the tmpfs starts with a copy of the directory it covers.
    pub tmpcopyup: bool,
    /// Every other option, comma-joined, for mount(2)'s data argument.
    pub data: String,
}

impl Default for ParsedOptions {
    fn default() -> Self {
        ParsedOptions {
            flags: MsFlags::empty(),
            bind: None,
            propagation: Vec::new(),
            attr: None,
            atime_given: false,
            tmpcopyup: false,
            data: String::new(),
        }
    }
}

const fn is_supported(effect: &Effect) -> bool {
    !matches!(effect, Effect::Unsupported(_))
}

const fn count_supported() -> usize {
    let (mut i, mut n) = (0, 0);
    while i < TABLE.len() {
        if is_supported(&TABLE[i].1) {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn supported_names() -> [&'static str; count_supported()] {
    let mut out = [""; count_supported()];
    let (mut i, mut n) = (0, 0);
    while i < TABLE.len() {
        if is_supported(&TABLE[i].1) {
            out[n] = TABLE[i].0;
            n += 1;
        }
        i += 1;
    }
    out
}

/// Every mount option name corral gives a meaning to (for `corral features`); any other
/// option is passed to the filesystem as mount data.
pub const MOUNT_OPTIONS: &[&str] = &supported_names();

/// Parses `options`. Err carries a sentence about the first unsupported option.
pub(crate) fn parse_options<S: AsRef<str>>(options: &[S]) -> Result<ParsedOptions, String> {
    let mut parsed = ParsedOptions::default();
    let mut attr = MountAttr::default();
    let mut any_attr = false;
    for option in options {
        let option = option.as_ref();
        let Some(effect) = lookup(option) else {
            if !option.is_empty() {
                if !parsed.data.is_empty() {
                    parsed.data.push(',');
                }
                parsed.data.push_str(option);
            }
            continue;
        };
        any_attr |= matches!(
            effect,
            Effect::AttrSet(_) | Effect::AttrClear(_) | Effect::AttrAtime(_)
        );
        apply(&mut parsed, &mut attr, option, effect)?;
    }
    if any_attr {
        parsed.attr = Some(attr);
    }
    Ok(parsed)
}

fn lookup(option: &str) -> Option<Effect> {
    TABLE
        .iter()
        .find(|(name, _)| *name == option)
        .map(|(_, effect)| *effect)
}

fn apply(
    parsed: &mut ParsedOptions,
    attr: &mut MountAttr,
    option: &str,
    effect: Effect,
) -> Result<(), String> {
    match effect {
        Effect::Set(f) => parsed.flags |= f,
        Effect::Clear(f) => parsed.flags &= !f,
        Effect::AtimeSet(f) => {
            parsed.flags |= f;
            parsed.atime_given = true;
        }
        Effect::AtimeClear(f) => {
            parsed.flags &= !f;
            parsed.atime_given = true;
        }
        Effect::Bind { recursive } => {
            parsed.bind = Some(parsed.bind.unwrap_or(false) || recursive);
        }
        Effect::Propagation(f) => parsed.propagation.push(f),
        Effect::AttrSet(a) => {
            attr.attr_set |= a;
            attr.attr_clr &= !a;
        }
        Effect::AttrClear(a) => {
            attr.attr_clr |= a;
            attr.attr_set &= !a;
        }
        Effect::AttrAtime(mode) => {
            attr.attr_clr |= MOUNT_ATTR__ATIME;
            attr.attr_set = (attr.attr_set & !MOUNT_ATTR__ATIME) | mode;
        }
        Effect::TmpCopyUp => parsed.tmpcopyup = true,
        Effect::Nothing => {}
        Effect::Unsupported(why) => return Err(format!("option {option:?}: {why}")),
    }
    Ok(())
}

/// Parses linux.rootfsPropagation; None for an unknown value.
pub(crate) fn parse_propagation(value: &str) -> Option<MsFlags> {
    match lookup(value) {
        Some(Effect::Propagation(flags)) => Some(flags),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_set_and_clear_in_order() {
        let p = parse_options(&["ro", "nosuid", "rw", "nodev", "noexec", "dev"]).unwrap();
        assert_eq!(p.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
        assert!(p.bind.is_none() && p.propagation.is_empty() && p.attr.is_none());
        assert_eq!(p.data, "");
        assert!(!p.atime_given);
    }

    #[test]
    fn unknown_options_become_data() {
        let p = parse_options(&[
            "nosuid",
            "mode=755",
            "size=65536k",
            "newinstance",
            "ptmxmode=0666",
            "gid=5",
        ])
        .unwrap();
        assert_eq!(p.flags, MsFlags::MS_NOSUID);
        assert_eq!(
            p.data,
            "mode=755,size=65536k,newinstance,ptmxmode=0666,gid=5"
        );
    }

    #[test]
    fn bind_and_propagation() {
        let p = parse_options(&["bind", "rprivate", "ro"]).unwrap();
        assert_eq!(p.bind, Some(false));
        assert_eq!(p.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        let p = parse_options(&["rbind", "bind", "slave", "unbindable"]).unwrap();
        assert_eq!(p.bind, Some(true));
        assert_eq!(
            p.propagation,
            vec![MsFlags::MS_SLAVE, MsFlags::MS_UNBINDABLE]
        );
    }

    #[test]
    fn recursive_attributes() {
        let p = parse_options(&["rro", "rnosuid", "rnoatime", "rnodev", "rdev"]).unwrap();
        let a = p.attr.unwrap();
        assert_eq!(
            a.attr_set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
        );
        assert_eq!(a.attr_clr, MOUNT_ATTR__ATIME | MOUNT_ATTR_NODEV);
        assert_eq!(p.flags, MsFlags::empty());
        let p = parse_options(&["rnoatime", "rstrictatime"]).unwrap();
        assert_eq!(p.attr.unwrap().attr_set, MOUNT_ATTR_STRICTATIME);
    }

    #[test]
    fn atime_options_are_noticed() {
        let p = parse_options(&["noatime", "nodiratime"]).unwrap();
        assert!(p.atime_given);
        assert_eq!(p.flags, MsFlags::MS_NOATIME | MsFlags::MS_NODIRATIME);
        let p = parse_options(&[
            "strictatime",
            "nosymfollow",
            "lazytime",
            "dirsync",
            "sync",
            "mand",
        ])
        .unwrap();
        assert!(
            p.flags
                .contains(MsFlags::MS_STRICTATIME | MS_NOSYMFOLLOW | MsFlags::MS_LAZYTIME)
        );
        assert!(
            p.flags
                .contains(MsFlags::MS_DIRSYNC | MsFlags::MS_SYNCHRONOUS | MsFlags::MS_MANDLOCK)
        );
    }

    #[test]
    fn unsupported_and_accepted_oddities() {
        let err = parse_options(&["bind", "idmap"]).unwrap_err();
        assert!(err.contains("idmap"), "{err}");
        let p = parse_options(&["tmpcopyup", "defaults", ""]).unwrap();
        assert!(p.tmpcopyup);
        assert_eq!(p.data, "");
    }

    #[test]
    fn features_list_has_supported_options_only() {
        assert!(MOUNT_OPTIONS.contains(&"rro") && MOUNT_OPTIONS.contains(&"rbind"));
        assert!(!MOUNT_OPTIONS.contains(&"idmap"));
        assert_eq!(MOUNT_OPTIONS.len(), TABLE.len() - 2);
    }

    #[test]
    fn rootfs_propagation_values() {
        assert_eq!(
            parse_propagation("rslave"),
            Some(MsFlags::MS_SLAVE | MsFlags::MS_REC)
        );
        assert_eq!(parse_propagation("private"), Some(MsFlags::MS_PRIVATE));
        assert_eq!(parse_propagation("ro"), None);
        assert_eq!(parse_propagation("bogus"), None);
    }
}
