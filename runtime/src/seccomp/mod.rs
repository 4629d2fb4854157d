//! linux.seccomp: the OCI seccomp object compiled and loaded last before execve.
//!
//! libseccomp compiles the config into classic BPF in the runtime, before clone, and the
//! program is exported as plain instructions. The container's init then installs it with a
//! single seccomp(2) call: it parses nothing and calls no library after the filter is in.
//!
//! When is the filter installed: seccomp(2) needs no_new_privs or CAP_SYS_ADMIN. With
//! noNewPrivileges the init installs it right before execve, so the steps before it run
//! unfiltered; without, it must be in before the capabilities are dropped (as in runc).

mod rules;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{LinuxSeccomp, LinuxSyscall};
use thiserror::Error;

pub use rules::{OPERATORS, SUPPORTED_ACTIONS, SUPPORTED_FLAGS};

/// Size of one classic BPF instruction (struct sock_filter).
const INSN_SIZE: usize = 8;

/// The kernel's limit on one classic BPF program (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

#[derive(Debug, Error)]
pub enum SeccompError {
    #[error("config.json: {field}: {msg}")]
    Invalid { field: String, msg: String },
    #[error("config.json: {field}: libseccomp refused it: {source}")]
    Library { field: String, source: libseccomp::error::SeccompError },
    #[error("linux.seccomp: exporting the compiled filter: {0}")]
    Export(String),
    #[error("linux.seccomp: installing the filter: {source}{hint}")]
    Load { source: std::io::Error, hint: &'static str },
}

fn invalid(field: &str, msg: impl Into<String>) -> SeccompError {
    SeccompError::Invalid { field: field.to_string(), msg: msg.into() }
}

fn library(field: &str) -> impl Fn(libseccomp::error::SeccompError) -> SeccompError + '_ {
    move |source| SeccompError::Library { field: field.to_string(), source }
}

/// A filter ready to install: kernel BPF instructions and seccomp(2) flags.
pub struct SeccompPlan {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    /// Install before ids and capabilities change (no no_new_privs: CAP_SYS_ADMIN needed).
    pub before_caps_drop: bool,
}

impl std::fmt::Debug for SeccompPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeccompPlan")
            .field("instructions", &self.program.len())
            .field("flags", &self.flags)
            .field("before_caps_drop", &self.before_caps_drop)
            .finish()
    }
}

impl SeccompPlan {
    /// Validate and compile linux.seccomp. `no_new_privs` is process.noNewPrivileges.
    pub fn compile(cfg: &LinuxSeccomp, no_new_privs: bool) -> Result<SeccompPlan, SeccompError> {
        if cfg.listener_path().is_some() {
            return Err(rules::notify_unsupported("linux.seccomp.listenerPath"));
        }
        let default =
            rules::action(cfg.default_action(), cfg.default_errno_ret(), "linux.seccomp.defaultAction", "linux.seccomp.defaultErrnoRet")?;
        let flags = rules::flags(cfg.flags().as_deref().unwrap_or(&[]))?;
        let mut ctx = ScmpFilterContext::new(default).map_err(library("linux.seccomp.defaultAction"))?;
        add_architectures(&mut ctx, cfg)?;
        for (i, syscall) in cfg.syscalls().as_deref().unwrap_or(&[]).iter().enumerate() {
            add_syscall(&mut ctx, default, syscall, &format!("linux.seccomp.syscalls[{i}]"))?;
        }
        Ok(SeccompPlan { program: export(&ctx)?, flags, before_caps_drop: !no_new_privs })
    }

    /// Install the filter on the calling process. Runs in the container's init.
    pub fn load(&self) -> Result<(), SeccompError> {
        crate::sys::seccomp::set_filter(&self.program, self.flags).map_err(|source| {
            let hint = match source.raw_os_error() {
                Some(libc::EACCES) => "; without process.noNewPrivileges the init needs CAP_SYS_ADMIN to install it",
                Some(libc::EINVAL) => "; this kernel may not support a flag in linux.seccomp.flags",
                _ => "",
            };
            SeccompError::Load { source, hint }
        })
    }
}

fn add_architectures(ctx: &mut ScmpFilterContext, cfg: &LinuxSeccomp) -> Result<(), SeccompError> {
    for (i, arch) in cfg.architectures().as_deref().unwrap_or(&[]).iter().enumerate() {
        let field = format!("linux.seccomp.architectures[{i}]");
        let arch = rules::arch(*arch);
        if !ctx.is_arch_present(arch).map_err(library(&field))? {
            ctx.add_arch(arch).map_err(library(&field))?;
        }
    }
    Ok(())
}

fn add_syscall(ctx: &mut ScmpFilterContext, default: ScmpAction, syscall: &LinuxSyscall, field: &str) -> Result<(), SeccompError> {
    if syscall.names().is_empty() {
        return Err(invalid(&format!("{field}.names"), "is empty; list at least one syscall name"));
    }
    let action = rules::action(syscall.action(), syscall.errno_ret(), &format!("{field}.action"), &format!("{field}.errnoRet"))?;
    let condition_sets = rules::condition_sets(syscall.args().as_deref().unwrap_or(&[]), field)?;
    for (i, name) in syscall.names().iter().enumerate() {
        let name_field = format!("{field}.names[{i}]");
        if name.is_empty() {
            return Err(invalid(&name_field, "is an empty string"));
        }
        // libseccomp refuses a rule that repeats the default action, and it would change
        // nothing anyway.
        if action == default {
            continue;
        }
        // A name this libseccomp does not know (a newer syscall, another arch's) is skipped,
        // as runc does, so one profile serves several kernels and architectures.
        let Ok(nr) = ScmpSyscall::from_name(name) else { continue };
        for conditions in &condition_sets {
            ctx.add_rule_conditional(action, nr, conditions).map_err(library(&name_field))?;
        }
    }
    Ok(())
}

/// Compile to BPF through a memfd (libseccomp 2.5 exports only to a file descriptor) and
/// decode the instructions.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    use nix::sys::memfd::{MFdFlags, memfd_create};
    let fd = memfd_create(c"corral-seccomp", MFdFlags::MFD_CLOEXEC).map_err(|e| SeccompError::Export(format!("memfd_create: {e}")))?;
    ctx.export_bpf(&fd).map_err(|e| SeccompError::Export(e.to_string()))?;
    let mut file = File::from(fd);
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).and_then(|_| file.read_to_end(&mut bytes)).map_err(|e| SeccompError::Export(e.to_string()))?;
    decode(&bytes)
}

fn decode(bytes: &[u8]) -> Result<Vec<libc::sock_filter>, SeccompError> {
    if bytes.is_empty() || bytes.len() % INSN_SIZE != 0 {
        return Err(SeccompError::Export(format!("libseccomp produced {} bytes, not whole instructions", bytes.len())));
    }
    let count = bytes.len() / INSN_SIZE;
    if count > MAX_INSNS {
        return Err(invalid(
            "linux.seccomp",
            format!("compiles to {count} instructions, over the kernel's limit of {MAX_INSNS}; use fewer rules"),
        ));
    }
    Ok(bytes
        .chunks_exact(INSN_SIZE)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// The OCI architecture names the linked libseccomp can put in a filter beside the native
/// one (a filter cannot mix byte orders, so the other-endian ones are left out).
pub fn supported_architectures() -> Vec<String> {
    let Ok(mut ctx) = ScmpFilterContext::new(ScmpAction::Allow) else { return Vec::new() };
    rules::ARCHES
        .iter()
        .filter(|a| **a != oci_spec::runtime::Arch::ScmpArchNative)
        .filter(|a| {
            let arch = rules::arch(**a);
            ctx.is_arch_present(arch).unwrap_or(false) || ctx.add_arch(arch).is_ok()
        })
        .map(|a| a.to_string())
        .collect()
}

#[cfg(test)]
mod tests;
