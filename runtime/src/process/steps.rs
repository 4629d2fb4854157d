//! The setup steps a container process goes through on its way to execve, shared by the
//! init (`init.rs`) and by a process `exec` puts into a running container (`exec.rs`).
//! Each works from the ready-made `ProcessPlan`.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};
use thiserror::Error;

use super::plan::ProcessPlan;

#[derive(Debug, Error)]
pub enum StepError {
    #[error("process.rlimits {name}: cannot set soft {soft} / hard {hard}: {source}{hint}")]
    Rlimit { name: &'static str, soft: u64, hard: u64, source: nix::Error, hint: String },
    #[error("process.oomScoreAdj {value}: {source}")]
    OomScoreAdj { value: i32, source: std::io::Error },
    #[error("noNewPrivileges: {0}")]
    NoNewPrivs(nix::Error),
    #[error("process.user: {step}: {source}")]
    User { step: &'static str, source: nix::Error },
    #[error(transparent)]
    Caps(#[from] crate::caps::CapsError),
    #[error("process.cwd {path}: {source}")]
    Cwd { path: PathBuf, source: std::io::Error },
    // The wording matters: podman and containerd pick exit codes 127 and 126 from "no such
    // file or directory", "executable file not found in" and "permission denied".
    #[error("process.args[0] {path:?}: no such file or directory in the container; check the rootfs")]
    NotFound { path: String },
    #[error("process.args[0] {name:?}: executable file not found in $PATH ({search_path}); check the rootfs and process.env PATH")]
    NotInPath { name: String, search_path: String },
    #[error("process.args[0] {path:?}: permission denied: not an executable file")]
    NotExecutable { path: String },
    #[error("closing inherited fds: {0}")]
    Fds(std::io::Error),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("exec {path:?}: {source}")]
    Exec { path: String, source: nix::Error },
}

/// Everything from rlimits to closing fds, in the order the kernel needs, once the
/// process is in its namespaces and root: returns the program to execve and its
/// environment. Shared by the init (before it waits for `start`) and `exec`.
pub fn prepare(plan: &ProcessPlan) -> Result<(CString, Vec<CString>), StepError> {
    set_rlimits(plan)?;
    set_oom_score_adj(plan)?;
    let exe = find_executable(plan)?;
    let env = env_with_home(plan);
    load_seccomp(plan, true)?;
    set_ids_and_caps(plan)?;
    enter_cwd(plan)?;
    seal_fds(plan)?;
    Ok((exe, env))
}

pub(crate) fn user_err(step: &'static str) -> impl Fn(nix::Error) -> StepError {
    move |source| StepError::User { step, source }
}

/// Until execve replaces it, this process is the runtime binary. Not dumpable, its
/// /proc/<pid>/exe (and mem, fd…) cannot be opened by other processes without
/// CAP_SYS_PTRACE (the image itself is write-proof anyway: see `self_image`). execve
/// makes the container's program dumpable again. In a user namespace /proc/self must stay
/// writable for the mapped root, and that root is not the host's.
pub fn hide_runtime_image(in_user_ns: bool) -> Result<(), StepError> {
    if in_user_ns {
        return Ok(());
    }
    nix::sys::prctl::set_dumpable(false).map_err(user_err("PR_SET_DUMPABLE"))
}

pub fn set_rlimits(plan: &ProcessPlan) -> Result<(), StepError> {
    for rl in &plan.rlimits {
        if let Err(source) = nix::sys::resource::setrlimit(rl.resource, rl.soft, rl.hard) {
            let hint = match nix::sys::resource::getrlimit(rl.resource) {
                Ok((_, cur_hard)) if source == nix::Error::EPERM && rl.hard > cur_hard => {
                    format!("; the hard limit is above the runtime's own hard limit {cur_hard}, and raising it needs CAP_SYS_RESOURCE")
                }
                _ => String::new(),
            };
            return Err(StepError::Rlimit { name: rl.name, soft: rl.soft, hard: rl.hard, source, hint });
        }
    }
    Ok(())
}

pub fn set_oom_score_adj(plan: &ProcessPlan) -> Result<(), StepError> {
    let Some(value) = plan.oom_score_adj else { return Ok(()) };
    let err = |source| StepError::OomScoreAdj { value, source };
    // Through the private procfs handle, like sysctls: a config mount over /proc cannot
    // redirect the write.
    let fd = super::sysctl::open_proc_file(Path::new("self/oom_score_adj"), nix::fcntl::OFlag::O_WRONLY).map_err(err)?;
    File::from(fd).write_all(value.to_string().as_bytes()).map_err(err)
}

/// Resolve args[0] inside the container now, so that a missing program fails with its
/// name rather than after the caller has moved on.
pub fn find_executable(plan: &ProcessPlan) -> Result<CString, StepError> {
    let arg0 = plan.args.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
    let path = if arg0.contains('/') {
        let path = if Path::new(&arg0).is_absolute() { PathBuf::from(&arg0) } else { plan.cwd.join(&arg0) };
        match executable(&path) {
            Some(true) => path,
            Some(false) => return Err(StepError::NotExecutable { path: arg0 }),
            None => return Err(StepError::NotFound { path: arg0 }),
        }
    } else {
        let candidates = plan.search_path.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(&arg0));
        let mut found_unusable = None;
        let mut found = None;
        for candidate in candidates {
            match executable(&candidate) {
                Some(true) => {
                    found = Some(candidate);
                    break;
                }
                Some(false) => found_unusable = found_unusable.or(Some(candidate)),
                None => {}
            }
        }
        match (found, found_unusable) {
            (Some(path), _) => path,
            (None, Some(path)) => return Err(StepError::NotExecutable { path: path.display().to_string() }),
            (None, None) => return Err(StepError::NotInPath { name: arg0, search_path: plan.search_path.clone() }),
        }
    };
    CString::new(path.into_os_string().into_encoded_bytes()).map_err(|_| StepError::NotFound { path: arg0 })
}

/// Some(true): an executable file; Some(false): there, but a directory or without
/// execute permission; None: nothing there.
fn executable(path: &Path) -> Option<bool> {
    let meta = std::fs::metadata(path).ok()?;
    Some(!meta.is_dir() && nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok())
}

/// Like runc, give the process a HOME when the config sets none: the user's entry in the
/// container's /etc/passwd, else "/".
pub fn env_with_home(plan: &ProcessPlan) -> Vec<CString> {
    let mut env = plan.env.clone();
    if env.iter().any(|e| e.as_bytes().starts_with(b"HOME=")) {
        return env;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let home = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse::<u32>() == Ok(plan.uid))
        .map(|f| f[5].to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into());
    if let Ok(var) = CString::new(format!("HOME={home}")) {
        env.push(var);
    }
    env
}

/// A filter installed without no_new_privs needs CAP_SYS_ADMIN, so it goes in before the
/// capabilities are dropped; with no_new_privs it goes in last, just before execve.
pub fn load_seccomp(plan: &ProcessPlan, before_caps_drop: bool) -> Result<(), StepError> {
    match plan.seccomp.as_ref().filter(|f| f.before_caps_drop == before_caps_drop) {
        Some(filter) => Ok(filter.load()?),
        None => Ok(()),
    }
}

/// Bounding set first (needs CAP_SETPCAP), then groups and ids with KEEPCAPS so the
/// permitted set survives the uid change, then the remaining capability sets, then
/// no_new_privs.
pub fn set_ids_and_caps(plan: &ProcessPlan) -> Result<(), StepError> {
    plan.caps.apply_bounding()?;
    nix::sys::prctl::set_keepcaps(true).map_err(user_err("keepcaps"))?;
    let groups: Vec<Gid> = plan.additional_gids.iter().map(|g| Gid::from_raw(*g)).collect();
    nix::unistd::setgroups(&groups).map_err(user_err("setgroups (additionalGids)"))?;
    let (uid, gid) = (Uid::from_raw(plan.uid), Gid::from_raw(plan.gid));
    nix::unistd::setresgid(gid, gid, gid).map_err(user_err("setresgid (gid)"))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(user_err("setresuid (uid)"))?;
    nix::sys::prctl::set_keepcaps(false).map_err(user_err("keepcaps"))?;
    plan.caps.apply_sets()?;
    if let Some(mask) = plan.umask {
        nix::sys::stat::umask(Mode::from_bits_truncate(mask));
    }
    if plan.no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(StepError::NoNewPrivs)?;
    }
    Ok(())
}

/// chdir into process.cwd, then check that the kernel can name it from the container's
/// root: a cwd reached through a leaked host fd (e.g. "/proc/self/fd/7", CVE-2024-21626)
/// lies outside the root, and getcwd then fails with ENOENT.
pub fn enter_cwd(plan: &ProcessPlan) -> Result<(), StepError> {
    let err = |source| StepError::Cwd { path: plan.cwd.clone(), source };
    std::env::set_current_dir(&plan.cwd).map_err(err)?;
    match nix::unistd::getcwd() {
        Ok(cwd) if cwd.is_absolute() => Ok(()),
        Ok(_) => Err(err(std::io::Error::other("it is outside the container's root"))),
        // An unreachable cwd gives ENOENT. A filter already installed (no noNewPrivileges)
        // may deny getcwd itself, which says nothing about the cwd: runc carries on too.
        Err(e) if e != nix::Error::ENOENT && plan.seccomp.as_ref().is_some_and(|f| f.before_caps_drop) => Ok(()),
        Err(e) => Err(err(std::io::Error::other(format!("it is outside the container's root ({e})")))),
    }
}

/// Everything above stdio and the preserved fds is closed at execve.
pub fn seal_fds(plan: &ProcessPlan) -> Result<(), StepError> {
    crate::sys::process::cloexec_from(3 + plan.preserve_fds).map_err(StepError::Fds)?;
    for fd in 3..3 + plan.preserve_fds {
        crate::sys::process::clear_cloexec(fd as i32).map_err(StepError::Fds)?;
    }
    Ok(())
}

/// The last step: default signal dispositions, the late seccomp filter, execve. Returns
/// only on failure.
pub fn exec(plan: &ProcessPlan, exe: &CString, env: &[CString]) -> StepError {
    crate::sys::process::reset_signals();
    // Last, so the filter constrains only the container's program (and execve itself).
    if let Err(e) = load_seccomp(plan, false) {
        return e;
    }
    let Err(source) = nix::unistd::execve(exe, &plan.args, env);
    StepError::Exec { path: exe.to_string_lossy().into_owned(), source }
}
