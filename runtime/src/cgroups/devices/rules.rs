//! Device rules: the OCI config's entries turned into one ordered list.
//!
//! The list always starts by denying everything, so an empty or allow-only config can
//! never mean "allow all" (runc 1.0-rc read such a list as a deny-list). Then come the
//! config's linux.resources.devices in order, then the standard devices every container
//! needs, then each linux.devices entry: the config asked for those nodes to exist and
//! to be usable (the runtime also has to mknod them), so they are always allowed.
//!
//! Unlike runc and crun there is no blanket `c *:* m` / `b *:* m`: without a rule,
//! mknod of a device outside the list fails with EPERM too.

use std::fmt;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

use super::DeviceError;

/// The device kinds the controller governs (fifos are not devices to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevKind {
    Char,
    Block,
}

/// Access bits, valued as the kernel's BPF_DEVCG_ACC_* (mknod 1, read 2, write 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access(pub u8);

impl Access {
    pub const MKNOD: Access = Access(1);
    pub const READ: Access = Access(2);
    pub const WRITE: Access = Access(4);
    pub const ALL: Access = Access(7);

    /// Parses "rwm" and any subset of it; a missing access means all three.
    fn parse(text: Option<&str>) -> Result<Access, DeviceError> {
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            return Ok(Access::ALL);
        };
        text.chars().try_fold(Access(0), |acc, c| match c {
            'r' => Ok(Access(acc.0 | Access::READ.0)),
            'w' => Ok(Access(acc.0 | Access::WRITE.0)),
            'm' => Ok(Access(acc.0 | Access::MKNOD.0)),
            _ => Err(DeviceError::BadAccess {
                index: 0,
                access: text.to_string(),
            }),
        })
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, letter) in [
            (Access::READ, 'r'),
            (Access::WRITE, 'w'),
            (Access::MKNOD, 'm'),
        ] {
            if self.0 & bit.0 != 0 {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

/// A set of devices and accesses: one kind, a major and a minor (None = any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceSet {
    pub kind: DevKind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: Access,
}

impl DeviceSet {
    pub const fn char(major: u32, minor: Option<u32>) -> DeviceSet {
        DeviceSet {
            kind: DevKind::Char,
            major: Some(major),
            minor,
            access: Access::ALL,
        }
    }

    /// Same kind and numbers (accesses may differ).
    pub fn same_devices(&self, other: &DeviceSet) -> bool {
        (self.kind, self.major, self.minor) == (other.kind, other.major, other.minor)
    }

    /// Every device of `other` is one of ours.
    pub fn covers(&self, other: &DeviceSet) -> bool {
        let within = |mine: Option<u32>, theirs: Option<u32>| mine.is_none() || mine == theirs;
        self.kind == other.kind
            && within(self.major, other.major)
            && within(self.minor, other.minor)
    }

    /// Some device belongs to both sets.
    pub fn overlaps(&self, other: &DeviceSet) -> bool {
        let meet = |a: Option<u32>, b: Option<u32>| a.is_none() || b.is_none() || a == b;
        self.kind == other.kind && meet(self.major, other.major) && meet(self.minor, other.minor)
    }
}

impl fmt::Display for DeviceSet {
    /// The v1 devices.allow/devices.deny line, e.g. "c 136:* rwm".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            DevKind::Char => 'c',
            DevKind::Block => 'b',
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        write!(
            f,
            "{kind} {}:{} {}",
            num(self.major),
            num(self.minor),
            self.access
        )
    }
}

/// One step of the rule list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Every device, every access: the new default.
    All { allow: bool },
    /// These devices and accesses.
    Some { allow: bool, set: DeviceSet },
}

/// Devices every container may use: null, zero, full, random, urandom, tty, ptmx and
/// the pty slaves (136:*). /dev/console (5:1) is not among them: the container's
/// console is a pty bind-mounted there, and 5:1 would be the host's console.
pub const STANDARD_DEVICES: [DeviceSet; 8] = [
    DeviceSet::char(1, Some(3)),
    DeviceSet::char(1, Some(5)),
    DeviceSet::char(1, Some(7)),
    DeviceSet::char(1, Some(8)),
    DeviceSet::char(1, Some(9)),
    DeviceSet::char(5, Some(0)),
    DeviceSet::char(5, Some(2)),
    DeviceSet::char(136, None),
];

/// The whole ordered list for a container (see the module comment for the order).
pub fn effective_rules(
    configured: &[LinuxDeviceCgroup],
    devices: &[LinuxDevice],
) -> Result<Vec<Rule>, DeviceError> {
    let mut rules = vec![Rule::All { allow: false }];
    for (index, entry) in configured.iter().enumerate() {
        rules.extend(from_config_rule(entry).map_err(|e| e.at(index))?);
    }
    rules.extend(
        STANDARD_DEVICES
            .iter()
            .map(|&set| Rule::Some { allow: true, set }),
    );
    for device in devices {
        rules.extend(from_config_device(device)?);
    }
    Ok(rules)
}

/// One linux.resources.devices entry. A type of "a" (or none) with numbers or a partial
/// access stands for the same rule on char and on block devices.
fn from_config_rule(entry: &LinuxDeviceCgroup) -> Result<Vec<Rule>, DeviceError> {
    let allow = entry.allow();
    let major = device_number(entry.major(), "major")?;
    let minor = device_number(entry.minor(), "minor")?;
    let access = Access::parse(entry.access().as_deref())?;
    let rule = |kind| Rule::Some {
        allow,
        set: DeviceSet {
            kind,
            major,
            minor,
            access,
        },
    };
    Ok(match entry.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A if major.is_none() && minor.is_none() && access == Access::ALL => {
            vec![Rule::All { allow }]
        }
        LinuxDeviceType::A => vec![rule(DevKind::Char), rule(DevKind::Block)],
        LinuxDeviceType::C | LinuxDeviceType::U => vec![rule(DevKind::Char)],
        LinuxDeviceType::B => vec![rule(DevKind::Block)],
        // The devices controller does not look at fifos, so a fifo rule changes nothing.
        LinuxDeviceType::P => vec![],
    })
}

/// The allow rule for one linux.devices entry (none for a fifo).
fn from_config_device(device: &LinuxDevice) -> Result<Option<Rule>, DeviceError> {
    let path = device.path().display().to_string();
    let number = |n: i64, what| {
        u32::try_from(n)
            .ok()
            .filter(|&n| n <= i32::MAX as u32)
            .ok_or_else(|| DeviceError::BadDeviceNumber {
                path: path.clone(),
                what,
                value: n,
            })
    };
    let kind = match device.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => DevKind::Char,
        LinuxDeviceType::B => DevKind::Block,
        LinuxDeviceType::P | LinuxDeviceType::A => return Ok(None),
    };
    let set = DeviceSet {
        kind,
        major: Some(number(device.major(), "major")?),
        minor: Some(number(device.minor(), "minor")?),
        access: Access::ALL,
    };
    Ok(Some(Rule::Some { allow: true, set }))
}

/// A rule's major or minor: absent or -1 means any; otherwise 0..=i32::MAX (the kernel's
/// numbers are far smaller; the bound keeps them exact as eBPF immediates).
fn device_number(value: Option<i64>, what: &'static str) -> Result<Option<u32>, DeviceError> {
    match value {
        None | Some(-1) => Ok(None),
        Some(n) if (0..=i64::from(i32::MAX)).contains(&n) => Ok(Some(n as u32)),
        Some(n) => Err(DeviceError::BadRuleNumber {
            index: 0,
            what,
            value: n,
        }),
    }
}
