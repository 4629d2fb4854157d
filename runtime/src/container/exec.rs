//! `exec`: run another process in a running container, with the container's namespaces,
//! cgroup and security settings (capabilities, seccomp, no_new_privs, rlimits, user)
//! unless the caller changes them.

use std::fs::File;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Capabilities, Capability, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, Process, Spec};
use thiserror::Error;

use super::run::wait_forwarding;
use super::{LifecycleError, open};
use crate::namespaces::NsPlan;
use crate::process::exec::{ExecPlan, spawn};
use crate::process::plan::ProcessPlan;
use crate::state::{Saved, Status};

#[derive(Debug, Error)]
pub enum ExecInputError {
    #[error("--process {path}: {msg}")]
    ProcessFile { path: String, msg: String },
    #[error("--user {0:?}: expected uid[:gid], numeric")]
    User(String),
    #[error("--cap {0:?}: not a capability name (e.g. CAP_NET_ADMIN)")]
    Cap(String),
    #[error("--env {0:?}: expected KEY=VALUE")]
    Env(String),
    #[error("--tty needs --console-socket to hand the terminal to (a terminal proxied by corral itself is not supported yet)")]
    TtyNeedsSocket,
    #[error("container {id:?} is paused; resume it first, or pass --ignore-paused")]
    Paused { id: String },
    #[error("container {id:?}: cannot reach its init's {what}: {source}")]
    Init { id: String, what: String, source: std::io::Error },
}

/// Where the process comes from.
pub enum ExecProcess {
    /// An OCI process object (runc's --process), used as it is.
    File(PathBuf),
    /// The container's own process, changed as the flags say.
    Overrides(ProcessOverrides),
}

/// runc's exec flags that change the container's process.
#[derive(Default)]
pub struct ProcessOverrides {
    pub args: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// KEY=VALUE, replacing a variable of the same name.
    pub env: Vec<String>,
    /// "uid[:gid]".
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    /// Added to the bounding, effective and permitted sets.
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub tty: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
}

pub struct ExecOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub process: ExecProcess,
    pub console_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    pub detach: bool,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
}

pub enum ExecOutcome {
    /// Detached: the process runs on; its pid.
    Detached(i32),
    /// The process ended; the exit code a shell would report (128+N for signal N).
    Exited(i32),
}

pub fn exec(opts: &ExecOptions) -> crate::Result<ExecOutcome> {
    let (dir, saved) = open(opts.root, opts.id)?;
    let status = dir.status(&saved);
    match status {
        Status::Paused if !opts.ignore_paused => return Err(ExecInputError::Paused { id: opts.id.to_string() }.into()),
        Status::Stopped => {
            let what = "exec needs a running container";
            return Err(LifecycleError::WrongState { id: opts.id.to_string(), status: Status::Stopped, what }.into());
        }
        _ => {}
    }
    let config = dir.load_config()?;
    let process = exec_process(&config, &opts.process)?;
    crate::spec::check_exec_process(&process)?;
    super::create::check_preserved_fds(opts.preserve_fds)?;
    if process.terminal().unwrap_or(false) && opts.console_socket.is_none() {
        return Err(ExecInputError::TtyNeedsSocket.into());
    }
    let console = match opts.console_socket {
        Some(path) if process.terminal().unwrap_or(false) => Some(crate::console::connect(path)?),
        _ => None,
    };
    let seccomp = config.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let plan = ExecPlan {
        ns: container_namespaces(&config, &saved)?,
        in_user_ns: has_ns(&config, LinuxNamespaceType::User),
        root: init_root(&saved)?,
        process: ProcessPlan::new(&process, seccomp, Vec::new(), console, opts.preserve_fds)?,
    };
    let spawned = spawn(&plan, &saved.cgroup, status == Status::Paused)?;
    if let Some(path) = opts.pid_file {
        super::create::write_pid_file(path, spawned.pid)?;
    }
    if opts.detach {
        return Ok(ExecOutcome::Detached(spawned.pid));
    }
    drop(plan);
    let mut mask = nix::sys::signal::SigSet::empty();
    super::run::FORWARDED.iter().for_each(|s| mask.add(*s));
    let _ = mask.thread_block();
    let code = wait_forwarding(opts.id, spawned.pid, spawned.pidfd, &mask);
    let _ = mask.thread_unblock();
    Ok(ExecOutcome::Exited(code?))
}

/// The process to run: the --process file, or the container's process with the flags'
/// changes (as runc builds it).
fn exec_process(config: &Spec, source: &ExecProcess) -> crate::Result<Process> {
    let o = match source {
        ExecProcess::File(path) => return Ok(read_process_file(path)?),
        ExecProcess::Overrides(o) => o,
    };
    let mut p = config.process().clone().unwrap_or_default();
    p.set_args(Some(o.args.clone()));
    if let Some(cwd) = &o.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for var in &o.env {
        let Some((key, _)) = var.split_once('=') else { return Err(ExecInputError::Env(var.clone()).into()) };
        env.retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key));
        env.push(var.clone());
    }
    p.set_env(Some(env));
    if let Some(user) = &o.user {
        let (uid, gid) = parse_user(user)?;
        p.user_mut().set_uid(uid);
        if let Some(gid) = gid {
            p.user_mut().set_gid(gid);
        }
    }
    if !o.additional_gids.is_empty() {
        p.user_mut().set_additional_gids(Some(o.additional_gids.clone()));
    }
    add_caps(&mut p, &o.caps)?;
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    p.set_terminal(Some(o.tty));
    if o.apparmor.is_some() {
        p.set_apparmor_profile(o.apparmor.clone());
    }
    if o.process_label.is_some() {
        p.set_selinux_label(o.process_label.clone());
    }
    Ok(p)
}

fn read_process_file(path: &Path) -> Result<Process, ExecInputError> {
    let err = |msg: String| ExecInputError::ProcessFile { path: path.display().to_string(), msg };
    let file = File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
    serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| err(format!("not a valid OCI process object: {e}")))
}

fn parse_user(text: &str) -> Result<(u32, Option<u32>), ExecInputError> {
    let bad = || ExecInputError::User(text.to_string());
    let (uid, gid) = match text.split_once(':') {
        Some((uid, gid)) => (uid, Some(gid)),
        None => (text, None),
    };
    let uid = uid.parse().map_err(|_| bad())?;
    let gid = gid.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

fn add_caps(p: &mut Process, names: &[String]) -> Result<(), ExecInputError> {
    if names.is_empty() {
        return Ok(());
    }
    let mut caps = p.capabilities().clone().unwrap_or_default();
    for name in names {
        let cap: Capability = serde_json::from_value(serde_json::Value::String(name.to_ascii_uppercase()))
            .map_err(|_| ExecInputError::Cap(name.clone()))?;
        let with = |set: &Option<Capabilities>| {
            let mut set = set.clone().unwrap_or_default();
            set.insert(cap);
            Some(set)
        };
        let (bounding, effective, permitted) = (with(caps.bounding()), with(caps.effective()), with(caps.permitted()));
        caps.set_bounding(bounding).set_effective(effective).set_permitted(permitted);
    }
    p.set_capabilities(Some(caps));
    Ok(())
}

fn has_ns(config: &Spec, typ: LinuxNamespaceType) -> bool {
    config.linux().as_ref().and_then(|l| l.namespaces().as_ref()).is_some_and(|list| list.iter().any(|ns| ns.typ() == typ))
}

/// Every namespace the config gave the container, joined through the init's
/// /proc/<pid>/ns links. Opened and then checked against the init's start time, so the
/// links cannot belong to a process that took over a recycled pid.
fn container_namespaces(config: &Spec, saved: &Saved) -> crate::Result<NsPlan> {
    let list = config.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
    let joins: Vec<LinuxNamespace> = list
        .iter()
        .filter_map(|ns| {
            let name = proc_ns_name(ns.typ());
            let path = PathBuf::from(format!("/proc/{}/ns/{name}", saved.pid));
            LinuxNamespaceBuilder::default().typ(ns.typ()).path(path).build().ok()
        })
        .collect();
    let plan = NsPlan::from_spec(&joins)?;
    check_init_alive(saved)?;
    Ok(plan)
}

fn proc_ns_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

fn init_root(saved: &Saved) -> crate::Result<std::os::fd::OwnedFd> {
    let path = format!("/proc/{}/root", saved.pid);
    let root = nix::fcntl::open(path.as_str(), nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(|e| ExecInputError::Init { id: saved.id.clone(), what: "root".into(), source: e.into() })?;
    check_init_alive(saved)?;
    Ok(root)
}

fn check_init_alive(saved: &Saved) -> Result<(), LifecycleError> {
    if saved.init_alive() {
        Ok(())
    } else {
        Err(LifecycleError::InitGone { id: saved.id.clone() })
    }
}
