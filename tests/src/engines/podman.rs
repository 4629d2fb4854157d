//! podman with private storage and corral as its runtime.

use super::*;

/// podman with private storage, corral as its runtime, and a cgroup parent of its own.
pub struct Podman {
    dir: TempDir,
    io: Runtime,
    cgroup: CgroupParent,
    host_dirs: HostDirs,
    /// `--runtime` value: corral's path, or "corral" (the containers.conf entry).
    runtime: String,
    names: Mutex<Vec<String>>,
    _lock: MutexGuard<'static, ()>,
}

impl Podman {
    /// podman with `--runtime <path of corral>`.
    pub fn new() -> Podman {
        Podman::with_runtime(None)
    }

    /// podman with `--runtime corral`, found through containers.conf `[engine.runtimes]`.
    pub fn with_conf_runtime() -> Podman {
        Podman::with_runtime(Some("corral"))
    }

    fn with_runtime(name: Option<&str>) -> Podman {
        let lock = engine_lock();
        let host_dirs = HostDirs::note(&["/run/containers", "/etc/containers/networks"]);
        let dir = TempDir::new("podman");
        for sub in ["root", "runroot", "tmp", "net"] {
            fs::create_dir(dir.path().join(sub)).expect("create podman dir");
        }
        let bin = corral_bin();
        // File locks under --tmpdir instead of the host-wide /dev/shm/libpod_lock segment.
        let conf = format!(
            "[engine]\nlock_type = \"file\"\nruntime_supports_json = [\"corral\", \"crun\", \"runc\"]\n\
             [engine.runtimes]\ncorral = [{:?}]\n",
            bin.display().to_string()
        );
        fs::write(dir.path().join("containers.conf"), conf).expect("write containers.conf");
        Podman {
            dir,
            io: Runtime::new(),
            cgroup: CgroupParent::new("podman"),
            host_dirs,
            runtime: name.map_or_else(|| bin.display().to_string(), str::to_string),
            names: Mutex::new(Vec::new()),
            _lock: lock,
        }
    }

    /// The cgroup parent (as given to `--cgroup-parent`, with a leading slash).
    pub fn cgroup_parent(&self) -> String {
        format!("/{}", self.cgroup.name)
    }

    /// `podman <private global flags> <args>`, not yet run.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .arg("--network-config-dir")
            .arg(d.join("net"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(["--storage-driver", "vfs", "--runtime", &self.runtime])
            .args(args);
        cmd
    }

    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        run_captured(&self.io, self.command(args), ENGINE_TIMEOUT).0
    }

    /// Like `cmd`, panicking with both streams unless it succeeds; returns stdout.
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.cmd(args);
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        assert!(
            out.status.success(),
            "`podman {}` failed\n{}",
            shown.join(" "),
            describe(&out)
        );
        stdout_of(&out)
    }

    /// The flags every container gets: our cgroup parent, no network, and rlimits this
    /// sandbox can grant (its bounding set lacks CAP_SYS_RESOURCE).
    pub fn base_flags(&self, name: &str, rootfs: &Bundle) -> Vec<String> {
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.to_string());
        [
            "--name",
            name,
            "--network",
            "none",
            "--cgroup-parent",
            &self.cgroup_parent(),
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "--rootfs",
            &rootfs.rootfs().to_string_lossy(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// `podman run <base flags> <flags> <rootfs> <command...>`.
    pub fn run(&self, name: &str, rootfs: &Bundle, flags: &[&str], command: &[&str]) -> Output {
        let mut args = vec!["run".to_string()];
        args.extend(flags.iter().map(|s| s.to_string()));
        args.extend(self.base_flags(name, rootfs));
        args.extend(command.iter().map(|s| s.to_string()));
        self.cmd(&args)
    }

    /// `podman run -d ...`, asserting success; waits until the container is running.
    pub fn run_detached(
        &self,
        name: &str,
        rootfs: &Bundle,
        flags: &[&str],
        command: &[&str],
    ) -> i64 {
        let mut all = vec!["-d"];
        all.extend_from_slice(flags);
        let out = self.run(name, rootfs, &all, command);
        assert!(
            out.status.success(),
            "podman run -d {name} failed\n{}",
            describe(&out)
        );
        wait_until(Duration::from_secs(10), || {
            let pid: i64 = self.inspect(name, "{{.State.Pid}}").parse().ok()?;
            (pid > 0).then_some(pid)
        })
        .unwrap_or_else(|| panic!("container {name} never got a pid"))
    }

    /// `podman inspect --format <format> <name>`, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "--format", format, name])
            .trim()
            .to_string()
    }

    /// The container's full id.
    pub fn id(&self, name: &str) -> String {
        self.inspect(name, "{{.Id}}")
    }

    /// Waits until `{{.State.Status}}` is `want`; panics after 10 s.
    pub fn wait_status(&self, name: &str, want: &str) {
        let last = Mutex::new(String::new());
        let got = wait_until(Duration::from_secs(10), || {
            let status = self.inspect(name, "{{.State.Status}}");
            let hit = status == want;
            *last.lock().unwrap() = status;
            hit.then_some(())
        });
        assert!(
            got.is_some(),
            "{name} status stayed {:?}, wanted {want}",
            last.lock().unwrap()
        );
    }

    /// `podman stop` (the init, host pid `pid`, must be gone), `podman rm`, then
    /// [`Podman::assert_gone`].
    pub fn stop_remove_and_check(&self, name: &str, pid: i64, id: &str, rootfs: &Bundle) {
        self.ok(&["stop", "--time", "10", name]);
        assert!(crate::leaks::wait_pid_gone(pid), "the init (pid {pid}) outlived `podman stop`");
        self.ok(&["rm", name]);
        self.assert_gone(id, rootfs);
    }

    /// Panics unless nothing of container `id` (a full id) is left: corral state, cgroups,
    /// mounts, processes.
    pub fn assert_gone(&self, id: &str, rootfs: &Bundle) {
        // conmon and its exit command (`podman container cleanup`) may outlive `podman rm` or
        // an attached `podman run` by a moment.
        let look = || crate::leaks::leftovers(id, Path::new(CORRAL_DEFAULT_ROOT), rootfs.path());
        let _ = wait_until(Duration::from_secs(10), || look().is_empty().then_some(()));
        let found = look();
        assert!(
            found.is_empty(),
            "container {id} left behind:\n  {}",
            found.join("\n  ")
        );
    }
}

impl Default for Podman {
    fn default() -> Self {
        Podman::new()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if !names.is_empty() {
            let mut args = vec![
                "rm".to_string(),
                "--force".into(),
                "--time".into(),
                "0".into(),
            ];
            args.extend(names);
            let mut cmd = self.command(&args);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Ok(mut child) = cmd.spawn() {
                let _ = wait_or_kill(&mut child, ENGINE_TIMEOUT);
            }
        }
        // conmon's exit command (`podman --root <ours> container cleanup`) may still be running;
        // it can recreate the host dirs, so wait for every podman process of this instance.
        let dir = self.dir.path().to_path_buf();
        let mine = || crate::leaks::processes_of(&dir.to_string_lossy(), &dir);
        let _ = wait_until(Duration::from_secs(10), || {
            (self.cgroup.processes().is_empty() && mine().is_empty()).then_some(())
        });
        let mut procs = self.cgroup.processes();
        procs.extend(mine());
        let cgroups = self.cgroup.remove();
        let mounts = mounts_mentioning(&self.dir.path().to_string_lossy());
        self.host_dirs.remove();
        if !std::thread::panicking() {
            assert!(procs.is_empty(), "podman left processes: {procs:?}");
            assert!(cgroups.is_empty(), "podman left cgroups: {cgroups:?}");
            assert!(mounts.is_empty(), "podman left mounts: {mounts:?}");
        }
    }
}
