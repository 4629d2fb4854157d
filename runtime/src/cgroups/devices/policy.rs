//! The rule list folded into what the kernel can hold: a default (allow or deny) plus
//! exceptions of the opposite verdict, as the v1 devices controller stores it.
//!
//! Writing the rules one by one to devices.allow/devices.deny is not the same thing: the
//! kernel removes only exceptions that match a deny exactly, so "allow c 1:*" then
//! "deny c 1:3" would leave 1:3 allowed. Folding first makes that case visible: it is
//! refused rather than silently more permissive than asked.

use super::DeviceError;
use super::rules::{Access, DeviceSet, Rule};

/// The folded rules. An access is granted when `default_allow` holds and no exception
/// denies any of its bits, or when it does not hold and one exception allows all of its
/// bits (the kernel's own v1 check, which the eBPF program repeats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub default_allow: bool,
    /// Exceptions to the default; each has a non-empty access.
    pub exceptions: Vec<DeviceSet>,
}

impl Policy {
    /// Applies `rules` in order, starting from "deny everything".
    pub fn fold(rules: &[Rule]) -> Result<Policy, DeviceError> {
        let mut policy = Policy {
            default_allow: false,
            exceptions: Vec::new(),
        };
        for rule in rules {
            policy.apply(rule)?;
        }
        Ok(policy)
    }

    fn apply(&mut self, rule: &Rule) -> Result<(), DeviceError> {
        match *rule {
            Rule::All { allow } => {
                self.default_allow = allow;
                self.exceptions.clear();
                Ok(())
            }
            Rule::Some { allow, set } if allow != self.default_allow => {
                self.add_exception(set);
                Ok(())
            }
            Rule::Some { set, .. } => self.remove_exception(&set),
        }
    }

    /// A rule against the default adds (or widens) an exception.
    fn add_exception(&mut self, set: DeviceSet) {
        if set.access.is_empty() {
            return;
        }
        match self.exceptions.iter_mut().find(|e| e.same_devices(&set)) {
            Some(existing) => existing.access = Access(existing.access.0 | set.access.0),
            None => self.exceptions.push(set),
        }
    }

    /// A rule agreeing with the default takes its accesses away from the exceptions it
    /// covers. An exception broader than the rule cannot be split, so that is an error.
    fn remove_exception(&mut self, set: &DeviceSet) -> Result<(), DeviceError> {
        for exception in &mut self.exceptions {
            if !exception.overlaps(set) || exception.access.0 & set.access.0 == 0 {
                continue;
            }
            if !set.covers(exception) {
                return Err(DeviceError::Unrepresentable {
                    rule: set.to_string(),
                    broader: exception.to_string(),
                    verdict: if self.default_allow {
                        "allowing"
                    } else {
                        "denying"
                    },
                });
            }
            exception.access = Access(exception.access.0 & !set.access.0);
        }
        self.exceptions.retain(|e| !e.access.is_empty());
        Ok(())
    }

    /// Whether the policy grants `access` to device `kind major:minor` (for tests and
    /// for checking the eBPF program against).
    #[cfg(test)]
    pub fn allows(
        &self,
        kind: super::rules::DevKind,
        major: u32,
        minor: u32,
        access: Access,
    ) -> bool {
        let device = DeviceSet {
            kind,
            major: Some(major),
            minor: Some(minor),
            access,
        };
        let hit = |e: &&DeviceSet| e.covers(&device);
        if self.default_allow {
            !self
                .exceptions
                .iter()
                .filter(hit)
                .any(|e| e.access.0 & access.0 != 0)
        } else {
            self.exceptions
                .iter()
                .filter(hit)
                .any(|e| access.0 & !e.access.0 == 0)
        }
    }
}
