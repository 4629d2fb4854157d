//! The container's init, in the cloned child: small named steps, in the order the kernel
//! needs them, ending in execve.
//!
//! namespaces → rootfs → hooks → pivot → hostname/sysctl → console → masked/readonly →
//! rlimits → [seccomp without no_new_privs] → ids/caps → no_new_privs → close fds → wait for
//! start → startContainer hooks → [seccomp with no_new_privs] → execve.
//!
//! The child is a fork of a single-threaded process, so it may allocate, but it parses
//! nothing: everything comes ready-made in the `InitPlan`.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};
use thiserror::Error;

use super::plan::InitPlan;
use super::sync::{Channel, Tag};

#[derive(Debug, Error)]
pub enum InitError {
    #[error("lost contact with the runtime: {0}")]
    Channel(std::io::Error),
    #[error("unexpected message from the runtime")]
    Protocol,
    #[error(transparent)]
    Namespaces(#[from] crate::namespaces::NsError),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error("hostname {name:?}: {source}")]
    Hostname { name: String, source: std::io::Error },
    #[error("linux.sysctl {key}: {source}; check the name and that the container's namespaces own it")]
    Sysctl { key: String, source: std::io::Error },
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
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
    #[error("process.args[0] {path:?}: not found in the container's PATH or not executable; check the rootfs and process.env PATH")]
    NotFound { path: String },
    #[error("session keyring: {0}")]
    Keyring(std::io::Error),
    #[error("closing inherited fds: {0}")]
    Fds(std::io::Error),
    #[error("waiting for start: {0}")]
    StartWait(std::io::Error),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("exec {path:?}: {source}")]
    Exec { path: String, source: nix::Error },
}

/// Byte the init writes into the exec fifo when it fails after `start` released it, so
/// `start` can tell a failed launch from a program that ran and exited quickly.
pub const LAUNCH_FAILED: u8 = 1;

/// Run init; never returns. On failure the error goes to the parent and the child exits.
pub fn run(plan: &InitPlan, mut chan: Channel, mut fifo: File) -> ! {
    let err = match setup(plan, &mut chan, &mut fifo) {
        Err(e) => e,
        Ok(ready) => {
            // `start` has released us; the parent is gone, so stderr and the fifo byte
            // are the only ways to report.
            let err = launch(plan, ready);
            let _ = fifo.write_all(&[LAUNCH_FAILED]);
            let _ = writeln!(std::io::stderr(), "corral: container init: {err}");
            crate::sys::process::exit_now(1)
        }
    };
    if chan.send(Tag::Error, err.to_string().as_bytes()).is_err() {
        let _ = writeln!(std::io::stderr(), "corral: container init: {err}");
    }
    crate::sys::process::exit_now(1)
}

/// What `launch` needs once `start` releases the init.
struct Ready {
    exe: CString,
    env: Vec<CString>,
    state: Vec<u8>,
}

/// Everything up to "created", then block until `start`.
fn setup(plan: &InitPlan, chan: &mut Channel, fifo: &mut File) -> Result<Ready, InitError> {
    hide_runtime_image(plan)?;
    let state = expect(chan, Tag::Go)?;
    crate::namespaces::child_join_user(&plan.ns)?;
    become_userns_root(plan)?;
    crate::namespaces::child_unshare_cgroup(&plan.ns)?;
    nix::unistd::setsid().map_err(|source| InitError::User { step: "setsid", source })?;
    join_keyring(plan)?;
    crate::rootfs::prepare(&plan.rootfs)?;
    if plan.has_runtime_hooks {
        chan.send(Tag::RunHooks, &[]).map_err(InitError::Channel)?;
        expect(chan, Tag::Resume)?;
    }
    crate::hooks::run_all("createContainer", &plan.create_container_hooks, &state)?;
    crate::rootfs::pivot(&plan.rootfs)?;
    make_cwd(plan)?;
    set_names(plan)?;
    super::sysctl::write_all(&plan.sysctl)?;
    // The console goes in before `finish`, which may make /dev read-only.
    if let Some(console) = &plan.console {
        crate::console::setup_in_child(console)?;
    }
    crate::rootfs::finish(&plan.rootfs)?;
    set_rlimits(plan)?;
    set_oom_score_adj(plan)?;
    let exe = find_executable(plan)?;
    let env = env_with_home(plan);
    // Without no_new_privs, installing a filter takes CAP_SYS_ADMIN, so it goes in while
    // the init still has it.
    if let Some(filter) = plan.seccomp.as_ref().filter(|f| f.before_caps_drop) {
        filter.load()?;
    }
    set_ids_and_caps(plan)?;
    if plan.no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(InitError::NoNewPrivs)?;
    }
    enter_cwd(plan)?;
    seal_fds(plan)?;
    chan.send(Tag::Created, &[]).map_err(InitError::Channel)?;
    wait_for_start(fifo)?;
    Ok(Ready { exe, env, state })
}

/// After `start`: startContainer hooks, then the program. Returns only on failure.
fn launch(plan: &InitPlan, ready: Ready) -> InitError {
    if let Err(e) = crate::hooks::run_all("startContainer", &plan.start_container_hooks, &ready.state) {
        return e.into();
    }
    crate::sys::process::reset_signals();
    // Last, so the filter constrains only the container's program (and execve itself).
    if let Some(filter) = plan.seccomp.as_ref().filter(|f| !f.before_caps_drop) {
        if let Err(e) = filter.load() {
            return e.into();
        }
    }
    let Err(source) = nix::unistd::execve(&ready.exe, &plan.args, &ready.env);
    InitError::Exec { path: ready.exe.to_string_lossy().into_owned(), source }
}

fn expect(chan: &mut Channel, want: Tag) -> Result<Vec<u8>, InitError> {
    let (tag, payload) = chan.recv().map_err(InitError::Channel)?;
    if tag == want { Ok(payload) } else { Err(InitError::Protocol) }
}

/// In a user namespace the child starts with unmapped ids (it was cloned by host root,
/// which the mapping does not cover), and the kernel refuses to create files for an
/// unmapped owner. Become the namespace's root before touching the rootfs.
fn become_userns_root(plan: &InitPlan) -> Result<(), InitError> {
    if !plan.in_user_ns {
        return Ok(());
    }
    let (uid, gid) = (Uid::from_raw(0), Gid::from_raw(0));
    nix::unistd::setresgid(gid, gid, gid).map_err(user_err("setresgid(0) in the user namespace; check gidMappings maps 0"))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(user_err("setresuid(0) in the user namespace; check uidMappings maps 0"))
}

fn join_keyring(plan: &InitPlan) -> Result<(), InitError> {
    let Some(name) = &plan.new_keyring else { return Ok(()) };
    match crate::sys::process::join_session_keyring(name) {
        // Keyrings may be disabled or restricted (seccomp on the host): runc carries on too.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM | libc::EACCES)) => Ok(()),
        other => other.map_err(InitError::Keyring),
    }
}

fn set_names(plan: &InitPlan) -> Result<(), InitError> {
    if let Some(name) = &plan.hostname {
        nix::unistd::sethostname(name).map_err(|e| InitError::Hostname { name: name.clone(), source: e.into() })?;
    }
    if let Some(name) = &plan.domainname {
        crate::sys::process::set_domainname(name.as_bytes()).map_err(|source| InitError::Hostname { name: name.clone(), source })?;
    }
    Ok(())
}

/// Create the working directory if the image lacks it (as root, before ids change).
fn make_cwd(plan: &InitPlan) -> Result<(), InitError> {
    match std::fs::DirBuilder::new().recursive(true).mode(0o755).create(&plan.cwd) {
        Ok(()) => Ok(()),
        Err(source) => Err(InitError::Cwd { path: plan.cwd.clone(), source }),
    }
}

/// chdir into process.cwd, then check that the kernel can name it from the container's
/// root: a cwd reached through a leaked host fd (e.g. "/proc/self/fd/7", CVE-2024-21626)
/// lies outside the root, and getcwd then fails with ENOENT.
fn enter_cwd(plan: &InitPlan) -> Result<(), InitError> {
    let err = |source| InitError::Cwd { path: plan.cwd.clone(), source };
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

/// Until execve replaces it, this process is the runtime binary. Not dumpable, its
/// /proc/<pid>/exe (and mem, fd…) cannot be opened by other processes, so nothing in the
/// container's pid namespace can reach or overwrite the runtime through it (the
/// CVE-2019-5736 class). execve makes the container's program dumpable again. In a user
/// namespace the container's root is not the host's, so it could not write the binary
/// anyway, and /proc/self must stay writable for the mapped root.
fn hide_runtime_image(plan: &InitPlan) -> Result<(), InitError> {
    if plan.in_user_ns {
        return Ok(());
    }
    nix::sys::prctl::set_dumpable(false).map_err(|source| InitError::User { step: "PR_SET_DUMPABLE", source })
}

fn set_rlimits(plan: &InitPlan) -> Result<(), InitError> {
    for rl in &plan.rlimits {
        if let Err(source) = nix::sys::resource::setrlimit(rl.resource, rl.soft, rl.hard) {
            let hint = match nix::sys::resource::getrlimit(rl.resource) {
                Ok((_, cur_hard)) if source == nix::Error::EPERM && rl.hard > cur_hard => {
                    format!("; the hard limit is above the runtime's own hard limit {cur_hard}, and raising it needs CAP_SYS_RESOURCE")
                }
                _ => String::new(),
            };
            return Err(InitError::Rlimit { name: rl.name, soft: rl.soft, hard: rl.hard, source, hint });
        }
    }
    Ok(())
}

fn set_oom_score_adj(plan: &InitPlan) -> Result<(), InitError> {
    let Some(value) = plan.oom_score_adj else { return Ok(()) };
    let err = |source| InitError::OomScoreAdj { value, source };
    // Through the private procfs handle, like sysctls: a config mount over /proc cannot
    // redirect the write.
    let fd = super::sysctl::open_proc_file(Path::new("self/oom_score_adj"), nix::fcntl::OFlag::O_WRONLY).map_err(err)?;
    File::from(fd).write_all(value.to_string().as_bytes()).map_err(err)
}

/// Resolve args[0] inside the container now, so that a missing program fails `create`
/// with its name rather than failing silently at `start`.
fn find_executable(plan: &InitPlan) -> Result<CString, InitError> {
    let arg0 = plan.args.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
    let executable = |p: &Path| nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok() && !p.is_dir();
    let found = if arg0.contains('/') {
        let p = if Path::new(&arg0).is_absolute() { PathBuf::from(&arg0) } else { plan.cwd.join(&arg0) };
        executable(&p).then_some(p)
    } else {
        plan.search_path.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(&arg0)).find(|p| executable(p))
    };
    let path = found.ok_or(InitError::NotFound { path: arg0 })?;
    CString::new(path.into_os_string().into_encoded_bytes()).map_err(|_| InitError::Protocol)
}

/// Like runc, give the process a HOME when the config sets none: the user's entry in the
/// container's /etc/passwd, else "/".
fn env_with_home(plan: &InitPlan) -> Vec<CString> {
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

fn user_err(step: &'static str) -> impl Fn(nix::Error) -> InitError {
    move |source| InitError::User { step, source }
}

/// Bounding set first (needs CAP_SETPCAP), then groups and ids with KEEPCAPS so the
/// permitted set survives the uid change, then the remaining capability sets.
fn set_ids_and_caps(plan: &InitPlan) -> Result<(), InitError> {
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
    Ok(())
}

/// Everything above stdio and the preserved fds is closed at execve.
fn seal_fds(plan: &InitPlan) -> Result<(), InitError> {
    crate::sys::process::cloexec_from(3 + plan.preserve_fds).map_err(InitError::Fds)?;
    for fd in 3..3 + plan.preserve_fds {
        crate::sys::process::clear_cloexec(fd as i32).map_err(InitError::Fds)?;
    }
    Ok(())
}

/// Block until `start` writes a byte into the exec fifo. The fifo was opened read-write
/// by the parent, so this read blocks (it never sees EOF) until the byte arrives.
fn wait_for_start(fifo: &mut File) -> Result<(), InitError> {
    let mut byte = [0u8; 1];
    loop {
        match fifo.read(&mut byte) {
            Ok(1) => return Ok(()),
            Ok(_) => return Err(InitError::StartWait(std::io::Error::other("exec fifo closed"))),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(InitError::StartWait(e)),
        }
    }
}
