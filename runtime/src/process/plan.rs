//! The launch plan: everything init needs, computed from the validated spec before clone,
//! so the cloned child does no parsing and little allocation.

use std::ffi::CString;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use nix::sys::resource::Resource;
use oci_spec::runtime::{Hook, LinuxNamespaceType, LinuxSeccomp, PosixRlimit, Process};
use thiserror::Error;

use crate::caps::CapsPlan;
use crate::namespaces::NsPlan;
use crate::rootfs::RootfsPlan;
use crate::seccomp::SeccompPlan;
use crate::spec::ValidSpec;

#[derive(Debug, Error)]
pub enum PlanError {
    #[error("config.json: {field}: {msg}")]
    Invalid { field: &'static str, msg: String },
    #[error(transparent)]
    Caps(#[from] crate::caps::CapsError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
}

fn invalid(field: &'static str, msg: impl Into<String>) -> PlanError {
    PlanError::Invalid { field, msg: msg.into() }
}

#[derive(Debug, Clone, Copy)]
pub struct Rlimit {
    pub name: &'static str,
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

/// A sysctl write: the file under /proc/sys and the value.
#[derive(Debug)]
pub struct Sysctl {
    pub key: String,
    pub rel_path: PathBuf,
    pub value: Vec<u8>,
}

pub struct InitPlan {
    pub ns: NsPlan,
    /// The init runs in a user namespace (new or joined).
    pub in_user_ns: bool,
    pub rootfs: RootfsPlan,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub sysctl: Vec<Sysctl>,
    pub process: ProcessPlan,
    pub new_keyring: Option<CString>,
    /// See `LaunchOptions::state_lock`.
    pub state_lock: Option<std::os::fd::RawFd>,
    pub create_container_hooks: Vec<Hook>,
    pub start_container_hooks: Vec<Hook>,
    /// True when the parent must run prestart/createRuntime hooks mid-setup.
    pub has_runtime_hooks: bool,
}

/// The process to run and its security settings: what the init and an `exec`'d process
/// have in common.
pub struct ProcessPlan {
    pub rlimits: Vec<Rlimit>,
    pub oom_score_adj: Option<i32>,
    pub no_new_privs: bool,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    pub caps: CapsPlan,
    /// linux.seccomp compiled to BPF, installed as late as it may be.
    pub seccomp: Option<SeccompPlan>,
    pub cwd: PathBuf,
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    /// PATH used to find args[0] when it has no slash.
    pub search_path: String,
    pub terminal: bool,
    pub console: Option<UnixStream>,
    pub preserve_fds: u32,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn rlimit_resource(name: &str) -> Option<Resource> {
    Some(match name {
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        _ => return None,
    })
}

fn plan_rlimits(list: &[PosixRlimit]) -> Result<Vec<Rlimit>, PlanError> {
    let mut out = Vec::new();
    for rl in list {
        let name_value = serde_json::to_value(rl.typ()).unwrap_or_default();
        let name = name_value.as_str().unwrap_or_default();
        let resource = rlimit_resource(name).ok_or_else(|| invalid("process.rlimits", format!("{name:?} is not a Linux rlimit")))?;
        let name = leak_name(name);
        if rl.soft() > rl.hard() {
            return Err(invalid("process.rlimits", format!("{name}: soft limit {} is above hard limit {}", rl.soft(), rl.hard())));
        }
        if out.iter().any(|r: &Rlimit| r.name == name) {
            return Err(invalid("process.rlimits", format!("{name} is listed twice")));
        }
        out.push(Rlimit { name, resource, soft: rl.soft(), hard: rl.hard() });
    }
    Ok(out)
}

/// Rlimit names are a fixed set: map to the static string so the plan holds no allocation for it.
fn leak_name(name: &str) -> &'static str {
    const NAMES: [&str; 16] = [
        "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS", "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
    ];
    NAMES.into_iter().find(|n| *n == name).unwrap_or("RLIMIT_?")
}

fn cstrings(field: &'static str, list: &[String]) -> Result<Vec<CString>, PlanError> {
    list.iter().map(|s| CString::new(s.as_str()).map_err(|_| invalid(field, format!("{s:?} contains a NUL byte")))).collect()
}

fn plan_sysctl(spec: &ValidSpec) -> Vec<Sysctl> {
    let Some(map) = spec.spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else { return Vec::new() };
    let mut list: Vec<Sysctl> = map
        .iter()
        .map(|(k, v)| Sysctl { key: k.clone(), rel_path: PathBuf::from(k.replace('.', "/")), value: v.as_bytes().to_vec() })
        .collect();
    list.sort_by(|a, b| a.key.cmp(&b.key));
    list
}

/// What the CLI adds to the config.
pub struct LaunchOptions {
    pub console: Option<UnixStream>,
    pub preserve_fds: u32,
    /// Name of the session keyring to join, unless --no-new-keyring.
    pub new_keyring: Option<CString>,
    /// Variables added to process.env (KEY=VALUE).
    pub extra_env: Vec<String>,
    /// The runtime's lock on the container's state directory: the cloned init shares
    /// the descriptor, and closes it first so the lock ends with `create`.
    pub state_lock: Option<std::os::fd::RawFd>,
}

impl InitPlan {
    pub fn new(spec: &ValidSpec, ns: NsPlan, rootfs: RootfsPlan, opts: LaunchOptions) -> Result<InitPlan, PlanError> {
        let s = &spec.spec;
        let process = s.process().as_ref().ok_or_else(|| invalid("process", "missing"))?;
        let hooks = s.hooks().as_ref();
        let hook_list = |f: fn(&oci_spec::runtime::Hooks) -> &Option<Vec<Hook>>| hooks.and_then(|h| f(h).clone()).unwrap_or_default();
        let has_runtime_hooks = !hook_list(|h| h.prestart()).is_empty() || !hook_list(|h| h.create_runtime()).is_empty();
        let uts = spec.has_ns(LinuxNamespaceType::Uts);
        if (s.hostname().is_some() || s.domainname().is_some()) && !uts {
            return Err(invalid("hostname", "setting a hostname or domainname needs a uts namespace; add {\"type\": \"uts\"}"));
        }
        let seccomp = s.linux().as_ref().and_then(|l| l.seccomp().as_ref());
        Ok(InitPlan {
            in_user_ns: spec.has_ns(LinuxNamespaceType::User),
            ns,
            rootfs,
            hostname: s.hostname().clone(),
            domainname: s.domainname().clone(),
            sysctl: plan_sysctl(spec),
            process: ProcessPlan::new(process, seccomp, opts.extra_env, opts.console, opts.preserve_fds)?,
            new_keyring: opts.new_keyring,
            state_lock: opts.state_lock,
            create_container_hooks: hook_list(|h| h.create_container()),
            start_container_hooks: hook_list(|h| h.start_container()),
            has_runtime_hooks,
        })
    }
}

impl ProcessPlan {
    /// From an OCI process object (config.json's, or `exec`'s) and the container's
    /// seccomp profile.
    pub fn new(
        process: &Process,
        seccomp: Option<&LinuxSeccomp>,
        extra_env: Vec<String>,
        console: Option<UnixStream>,
        preserve_fds: u32,
    ) -> Result<ProcessPlan, PlanError> {
        let mut env: Vec<String> = process.env().clone().unwrap_or_default();
        env.extend(extra_env);
        let search_path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH).to_string();
        if process.terminal().unwrap_or(false) && console.is_none() {
            return Err(invalid("process.terminal", "true but no --console-socket was given; pass one, or set terminal to false"));
        }
        let no_new_privs = process.no_new_privileges().unwrap_or(false);
        Ok(ProcessPlan {
            rlimits: plan_rlimits(process.rlimits().as_deref().unwrap_or(&[]))?,
            oom_score_adj: process.oom_score_adj(),
            no_new_privs,
            uid: process.user().uid(),
            gid: process.user().gid(),
            additional_gids: process.user().additional_gids().clone().unwrap_or_default(),
            umask: process.user().umask(),
            caps: CapsPlan::from_spec(process.capabilities().as_ref())?,
            seccomp: seccomp.map(|c| SeccompPlan::compile(c, no_new_privs)).transpose()?,
            cwd: process.cwd().clone(),
            args: cstrings("process.args", process.args().as_deref().unwrap_or(&[]))?,
            env: cstrings("process.env", &env)?,
            search_path,
            terminal: process.terminal().unwrap_or(false),
            console,
            preserve_fds,
        })
    }
}
