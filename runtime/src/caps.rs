//! Capability sets from config.json, applied with the caps crate.
//!
//! Order matters: the bounding set is cut while the process still has CAP_SETPCAP (before
//! the uid changes); the other sets are set after the uid change, which keeps the
//! permitted set only because of PR_SET_KEEPCAPS. The inheritable set is exactly what the
//! config names, never more (an inherited non-empty set let later execs regain caps).

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CapsError {
    #[error("process.capabilities: {0:?} is not a capability this runtime knows")]
    Unknown(String),
    #[error("capabilities: cannot set the {set} set: {source}")]
    Apply { set: &'static str, source: caps::errors::CapsError },
}

/// The five sets, resolved before clone.
#[derive(Debug, Default, Clone)]
pub struct CapsPlan {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

/// The caps of one set, without those the running kernel lacks (named in `skipped`).
fn convert(set: &Option<Capabilities>, supported: &CapsHashSet, skipped: &mut Vec<String>) -> Result<CapsHashSet, CapsError> {
    let mut out = CapsHashSet::new();
    for cap in set.iter().flatten() {
        let name = format!("CAP_{cap}");
        let parsed: Capability = name.parse().map_err(|_| CapsError::Unknown(name.clone()))?;
        if supported.contains(&parsed) {
            out.insert(parsed);
        } else if !skipped.contains(&name) {
            skipped.push(name);
        }
    }
    Ok(out)
}

impl CapsPlan {
    /// No capabilities section means no capabilities at all, as in runc. A capability the
    /// running kernel does not have (a newer one on an older kernel) is left out with a
    /// warning, as runc does; a name no kernel knows was refused when config.json was read.
    pub fn from_spec(caps: Option<&LinuxCapabilities>) -> Result<CapsPlan, CapsError> {
        let (plan, skipped) = CapsPlan::for_kernel(caps, &caps::runtime::thread_all_supported())?;
        if !skipped.is_empty() {
            eprintln!("corral: warning: this kernel lacks {}; left out of process.capabilities", skipped.join(", "));
        }
        Ok(plan)
    }

    fn for_kernel(caps: Option<&LinuxCapabilities>, supported: &CapsHashSet) -> Result<(CapsPlan, Vec<String>), CapsError> {
        let mut skipped = Vec::new();
        let Some(c) = caps else { return Ok((CapsPlan::default(), skipped)) };
        let mut set = |s| convert(s, supported, &mut skipped);
        let plan = CapsPlan {
            bounding: set(c.bounding())?,
            effective: set(c.effective())?,
            permitted: set(c.permitted())?,
            inheritable: set(c.inheritable())?,
            ambient: set(c.ambient())?,
        };
        Ok((plan, skipped))
    }

    /// Drop from the bounding set everything the config does not name. Needs CAP_SETPCAP,
    /// so it runs before the uid changes.
    pub fn apply_bounding(&self) -> Result<(), CapsError> {
        let err = |source| CapsError::Apply { set: "bounding", source };
        for cap in caps::runtime::thread_all_supported() {
            if !self.bounding.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(err)?;
            }
        }
        Ok(())
    }

    /// Set inheritable, effective, permitted and ambient, in an order the kernel accepts:
    /// inheritable while permitted is still full, then effective down, then permitted down.
    pub fn apply_sets(&self) -> Result<(), CapsError> {
        let set = |which, name, caps: &CapsHashSet| caps::set(None, which, caps).map_err(|source| CapsError::Apply { set: name, source });
        set(CapSet::Inheritable, "inheritable", &self.inheritable)?;
        set(CapSet::Effective, "effective", &self.effective)?;
        set(CapSet::Permitted, "permitted", &self.permitted)?;
        caps::clear(None, CapSet::Ambient).map_err(|source| CapsError::Apply { set: "ambient", source })?;
        // The kernel allows an ambient cap only if it is both permitted and inheritable;
        // runc's default config lists ambient caps without inheritable ones, so those are
        // skipped rather than failing the container.
        for cap in self.ambient.iter().filter(|c| self.permitted.contains(c) && self.inheritable.contains(c)) {
            caps::raise(None, CapSet::Ambient, *cap).map_err(|source| CapsError::Apply { set: "ambient", source })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Capability as OciCap, LinuxCapabilitiesBuilder};

    /// A kernel that lacks a capability the config names: that one is left out and named,
    /// the others are kept.
    #[test]
    fn capabilities_the_kernel_lacks_are_skipped_and_named() {
        let set: Capabilities = [OciCap::Kill, OciCap::CheckpointRestore].into_iter().collect();
        let none = Capabilities::new();
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(set.clone())
            .effective(set)
            .permitted(none.clone())
            .inheritable(none.clone())
            .ambient(none)
            .build()
            .unwrap();
        let old_kernel: CapsHashSet = [Capability::CAP_KILL, Capability::CAP_CHOWN].into_iter().collect();
        let (plan, skipped) = CapsPlan::for_kernel(Some(&caps), &old_kernel).unwrap();
        assert_eq!(skipped, ["CAP_CHECKPOINT_RESTORE"]);
        let kill_only: CapsHashSet = [Capability::CAP_KILL].into_iter().collect();
        assert_eq!((plan.bounding, plan.effective), (kill_only.clone(), kill_only));
    }
}
