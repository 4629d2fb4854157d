//! `create`: from a bundle to an init process waiting for `start`.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxNamespaceType;

use super::LifecycleError;
use crate::cgroups::{Cgroup, Hierarchies};
use crate::namespaces::NsPlan;
use crate::process::parent::{SpawnContext, spawn};
use crate::process::plan::{InitPlan, LaunchOptions};
use crate::rootfs::{RootfsOptions, RootfsPlan};
use crate::spec::ValidSpec;
use crate::state::{ContainerDir, Saved, StateRoot, Status, oci_state_json};

pub struct CreateOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// Socket-activation fds handed to the runtime (LISTEN_FDS); they come first, at fd 3,
    /// and the container gets LISTEN_FDS/LISTEN_PID to match, as with runc.
    pub listen_fds: u32,
    pub systemd_cgroup: bool,
}

/// A container in the `created` state. `pidfd` is set when this process is the init's
/// parent and the kernel gave one (clone3).
pub struct Created {
    pub pid: i32,
    pub pidfd: Option<OwnedFd>,
    pub dir: ContainerDir,
    pub saved: Saved,
}

/// Removes what a failed create made, in reverse order, unless disarmed.
struct Undo {
    dir: Option<ContainerDir>,
    cgroup: Option<Cgroup>,
    /// The init, once cloned (it is our child, so it can be reaped here).
    init: Option<i32>,
    /// Set when the container shares our mount namespace: its mounts sit under this path.
    host_mounts: Option<PathBuf>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.init.take() {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        if let Some(rootfs) = self.host_mounts.take() {
            let _ = crate::rootfs::detach_host_rootfs(&rootfs);
        }
        if let Some(cgroup) = self.cgroup.take() {
            let _ = cgroup.remove();
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
    }
}

pub fn create(opts: &CreateOptions) -> crate::Result<Created> {
    crate::id::validate(opts.id)?;
    let spec = crate::spec::load(opts.bundle)?;
    let preserve_fds = opts.listen_fds + opts.preserve_fds;
    check_preserved_fds(preserve_fds)?;
    let linux = spec.spec.linux().as_ref();
    let ns = NsPlan::from_spec(linux.and_then(|l| l.namespaces().as_deref()).unwrap_or(&[]))?;
    let terminal = spec.spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    let console = match opts.console_socket {
        Some(path) if terminal => Some(crate::console::connect(path)?),
        _ => None,
    };
    let hierarchies = Hierarchies::detect()?;

    let dir = StateRoot::new(opts.root).claim(opts.id)?;
    // Held until state.json is saved: a `delete` meanwhile waits for the create instead
    // of taking its half-made directory for the remains of a dead one.
    let lock = dir.lock()?;
    let mut undo = Undo { dir: Some(dir.clone()), cgroup: None, init: None, host_mounts: None };
    let cgroups_path = linux.and_then(|l| l.cgroups_path().as_ref()).map(|p| p.to_string_lossy().into_owned());
    let cgroup = Cgroup::create(&hierarchies, cgroups_path.as_deref(), opts.id, opts.systemd_cgroup)?;
    let cgroup = undo.cgroup.insert(cgroup).clone();
    if let Some(resources) = linux.and_then(|l| l.resources().as_ref()) {
        cgroup.apply_resources(resources)?;
    }
    crate::cgroups::devices::apply(&cgroup, linux)?;
    let rootfs = RootfsPlan::new(&spec.spec, &spec.bundle, rootfs_options(&spec, opts, &cgroup))?;
    let new_keyring = (!opts.no_new_keyring).then(|| std::ffi::CString::new(format!("_ses.{}", opts.id)).unwrap_or_default());
    let extra_env = match opts.listen_fds {
        0 => Vec::new(),
        n => vec![format!("LISTEN_FDS={n}"), "LISTEN_PID=1".to_string()],
    };
    let state_lock = Some(std::os::fd::AsRawFd::as_raw_fd(&*lock));
    let plan = InitPlan::new(&spec, ns, rootfs, LaunchOptions { console, preserve_fds, new_keyring, extra_env, state_lock })?;

    let fifo = dir.fifo_path();
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|e| LifecycleError::Fifo { id: opts.id.to_string(), source: e.into() })?;
    let mut saved = initial_state(&spec, opts.id, cgroup.clone());
    let hooks = spec.spec.hooks().as_ref();
    let list = |f: fn(&oci_spec::runtime::Hooks) -> &Option<Vec<oci_spec::runtime::Hook>>| hooks.and_then(|h| f(h).clone()).unwrap_or_default();
    let (prestart, create_runtime) = (list(|h| h.prestart()), list(|h| h.create_runtime()));
    let state_json = |pid: i32| {
        let mut s = saved.clone();
        s.pid = pid;
        // runtime-tools (and crun) expect "created" in the hooks' state, not "creating".
        serde_json::to_vec(&oci_state_json(&s, Status::Created)).unwrap_or_default()
    };
    let maps = |m: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| m.cloned().unwrap_or_default();
    let (uid_mappings, gid_mappings) = (maps(linux.and_then(|l| l.uid_mappings().as_ref())), maps(linux.and_then(|l| l.gid_mappings().as_ref())));
    let ctx = SpawnContext {
        fifo: &fifo,
        cgroup: &cgroup,
        uid_mappings: &uid_mappings,
        gid_mappings: &gid_mappings,
        prestart: &prestart,
        create_runtime: &create_runtime,
        state_json: &state_json,
    };
    if !spec.has_ns(LinuxNamespaceType::Mount) {
        undo.host_mounts = Some(spec.rootfs.clone());
    }
    let spawned = spawn(&plan, &ctx)?;
    undo.init = Some(spawned.pid);
    saved.pid = spawned.pid;
    saved.init_start_time = crate::procfs::pid_stat(spawned.pid).map(|s| s.start_time).unwrap_or_default();
    saved.poststart = list(|h| h.poststart());
    saved.poststop = list(|h| h.poststop());
    dir.save_config(&spec.spec)?;
    dir.save(&saved)?;
    if let Some(path) = opts.pid_file {
        write_pid_file(path, spawned.pid)?;
    }
    undo.dir = None;
    undo.cgroup = None;
    undo.init = None;
    undo.host_mounts = None;
    drop(lock);
    Ok(Created { pid: spawned.pid, pidfd: spawned.pidfd, dir, saved })
}

fn rootfs_options(spec: &ValidSpec, opts: &CreateOptions, cgroup: &Cgroup) -> RootfsOptions {
    RootfsOptions {
        no_pivot: opts.no_pivot,
        host_mountns: !spec.has_ns(LinuxNamespaceType::Mount),
        new_cgroupns: spec.creates_ns(LinuxNamespaceType::Cgroup),
        new_userns: spec.has_ns(LinuxNamespaceType::User),
        cgroup_dirs: cgroup.dirs.clone(),
    }
}

fn initial_state(spec: &ValidSpec, id: &str, cgroup: Cgroup) -> Saved {
    Saved {
        oci_version: spec.spec.version().clone(),
        id: id.to_string(),
        pid: 0,
        init_start_time: 0,
        boot_id: crate::procfs::boot_id().unwrap_or_default(),
        bundle: spec.bundle.clone(),
        rootfs: spec.rootfs.clone(),
        created: crate::state::rfc3339_now(),
        annotations: spec.spec.annotations().clone().unwrap_or_default(),
        cgroup,
        own_pid_ns: spec.creates_ns(LinuxNamespaceType::Pid),
        host_mountns: !spec.has_ns(LinuxNamespaceType::Mount),
        poststart: Vec::new(),
        poststop: Vec::new(),
    }
}

/// Every fd the caller asked to preserve must be open, or one of the runtime's own fds
/// could land on that number and leak into the container.
pub(crate) fn check_preserved_fds(count: u32) -> Result<(), LifecycleError> {
    for fd in 3..3 + count {
        if !crate::sys::process::fd_is_open(fd as i32) {
            return Err(LifecycleError::PreservedFd { count, fd });
        }
    }
    Ok(())
}

/// Write the pid file atomically, as containerd reads it as soon as create returns.
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<(), LifecycleError> {
    let err = |source| LifecycleError::PidFile { path: path.display().to_string(), source };
    let tmp: PathBuf = {
        let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".tmp");
        path.with_file_name(name)
    };
    std::fs::write(&tmp, pid.to_string()).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
