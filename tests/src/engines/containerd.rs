//! A private containerd with corral as the runc v2 shim's binary.

use super::*;

/// The name of the runtime handler our config.toml defines for the CRI plugin.
pub const CRI_HANDLER: &str = "corral";

/// A private containerd (own socket, root, state and config.toml), stopped by pid on drop.
pub struct Containerd {
    dir: TempDir,
    pub(super) io: Runtime,
    child: Option<Child>,
    cgroup: CgroupParent,
    host_dirs: HostDirs,
    namespace: String,
    ids: Mutex<Vec<String>>,
    _lock: MutexGuard<'static, ()>,
}

impl Containerd {
    /// Starts containerd and waits until it answers.
    pub fn start() -> Containerd {
        let lock = engine_lock();
        let host_dirs = HostDirs::note(&["/run/containerd"]);
        let dir = TempDir::new("containerd");
        let d = dir.path().to_path_buf();
        for sub in ["cni-bin", "cni-conf", "fifo", "runc-root"] {
            fs::create_dir(d.join(sub)).expect("create containerd dir");
        }
        fs::write(d.join("config.toml"), config_toml(&d)).expect("write config.toml");
        let log = File::create(d.join("containerd.log")).expect("create containerd.log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn containerd");
        let mut ctd = Containerd {
            dir,
            io: Runtime::new(),
            child: Some(child),
            cgroup: CgroupParent::new("ctd"),
            host_dirs,
            namespace: "corral-test".into(),
            ids: Mutex::new(Vec::new()),
            _lock: lock,
        };
        let up = wait_until(Duration::from_secs(20), || {
            if let Some(Ok(Some(status))) = ctd.child.as_mut().map(Child::try_wait) {
                panic!("containerd exited ({status}):\n{}", ctd.log());
            }
            ctd.ctr(&["version"]).status.success().then_some(())
        });
        assert!(
            up.is_some(),
            "containerd did not answer within 20 s:\n{}",
            ctd.log()
        );
        ctd
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// containerd's own log (debug level).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// The `--root` the runc shim passes to corral for our namespace.
    pub fn corral_root(&self) -> PathBuf {
        self.dir.path().join("runc-root").join(&self.namespace)
    }

    /// `ctr --address <sock> -n <ns> <args>`, not yet run.
    pub fn ctr_command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(self.socket())
            .args(["-n", &self.namespace])
            .args(args);
        cmd
    }

    pub fn ctr<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        run_captured(&self.io, self.ctr_command(args), ENGINE_TIMEOUT).0
    }

    /// Like `ctr`, panicking with both streams unless it succeeds; returns stdout.
    pub fn ctr_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.ctr(args);
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        assert!(
            out.status.success(),
            "`ctr {}` failed\n{}\ncontainerd log tail:\n{}",
            shown.join(" "),
            describe(&out),
            tail(&self.log(), 15)
        );
        stdout_of(&out)
    }

    /// The cgroupsPath for container `id`: under this instance's parent.
    pub fn cgroup_path(&self, id: &str) -> String {
        format!("/{}/{id}", self.cgroup.name)
    }

    /// Flags of `ctr run` that make corral the runc shim's binary, with a private shim root,
    /// our cgroup parent and our fifo dir.
    pub fn run_flags(&self, id: &str) -> Vec<String> {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id.to_string());
        vec![
            "--runtime".into(),
            "io.containerd.runc.v2".into(),
            "--runc-binary".into(),
            corral_bin().display().to_string(),
            "--runc-root".into(),
            self.dir.path().join("runc-root").display().to_string(),
            "--cgroup".into(),
            self.cgroup_path(id),
            "--fifo-dir".into(),
            self.dir.path().join("fifo").display().to_string(),
        ]
    }

    /// The args of `ctr run <flags> <run_flags> --rootfs <rootfs> <id> <command...>`.
    pub fn run_args(
        &self,
        id: &str,
        rootfs: &Bundle,
        flags: &[&str],
        command: &[&str],
    ) -> Vec<String> {
        let mut args = vec!["run".to_string()];
        args.extend(flags.iter().map(|s| s.to_string()));
        args.extend(self.run_flags(id));
        args.push("--rootfs".into());
        args.push(rootfs.rootfs().display().to_string());
        args.push(id.into());
        args.extend(command.iter().map(|s| s.to_string()));
        args
    }

    pub fn run(&self, id: &str, rootfs: &Bundle, flags: &[&str], command: &[&str]) -> Output {
        self.ctr(&self.run_args(id, rootfs, flags, command))
    }

    /// `ctr run -d ...`; returns the task's pid once it is RUNNING.
    pub fn run_detached(&self, id: &str, rootfs: &Bundle, flags: &[&str], command: &[&str]) -> i64 {
        let mut all = vec!["-d"];
        all.extend_from_slice(flags);
        let out = self.run(id, rootfs, &all, command);
        assert!(
            out.status.success(),
            "ctr run -d {id} failed\n{}\ncontainerd log tail:\n{}",
            describe(&out),
            tail(&self.log(), 15)
        );
        let (pid, status) = self
            .task(id)
            .unwrap_or_else(|| panic!("no task {id} after ctr run -d"));
        assert_eq!(status, "RUNNING", "task {id} after ctr run -d");
        pid
    }

    /// (pid, STATUS) of task `id` from `ctr task ls`.
    pub fn task(&self, id: &str) -> Option<(i64, String)> {
        let text = self.ctr_ok(&["task", "ls"]);
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[0] == id).then(|| (f[1].parse().unwrap_or(0), f[2].to_string()))
        })
    }

    /// Waits until the task's status is `want`.
    pub fn wait_task_status(&self, id: &str, want: &str) {
        let got = wait_until(Duration::from_secs(10), || {
            self.task(id).filter(|(_, s)| s == want).map(|_| ())
        });
        assert!(
            got.is_some(),
            "task {id} never became {want}: {:?}",
            self.task(id)
        );
    }

    /// Panics unless nothing of container `id` is left: corral state under the shim's root,
    /// cgroups, mounts, processes.
    pub fn assert_gone(&self, id: &str, rootfs: &Bundle) {
        let look = || {
            let mut found = crate::leaks::leftovers(id, &self.corral_root(), rootfs.path());
            // The shim names the id on its command line; it exits once the task is deleted.
            found.retain(|f| !f.contains("containerd-shim"));
            found
        };
        let _ = wait_until(Duration::from_secs(10), || look().is_empty().then_some(()));
        let found = look();
        assert!(
            found.is_empty(),
            "container {id} left behind:\n  {}",
            found.join("\n  ")
        );
    }

    /// Kills and deletes every task and container this instance made.
    fn remove_all(&self) {
        let ids = self.ids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for id in &ids {
            let quiet = |args: &[&str]| {
                let mut cmd = self.ctr_command(args);
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                if let Ok(mut child) = cmd.spawn() {
                    let _ = wait_or_kill(&mut child, Duration::from_secs(20));
                }
            };
            if self.task(id).is_some() {
                quiet(&["task", "kill", "-a", "-s", "SIGKILL", id]);
                quiet(&["task", "delete", "--force", id]);
            }
            quiet(&["container", "delete", id]);
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if child.try_wait().ok().flatten().is_none() {
                self.remove_all();
            }
            // Stop containerd by its pid: SIGTERM, then SIGKILL after 10 s.
            let pid = child.id();
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .stdin(Stdio::null())
                .status();
            if wait_or_kill(&mut child, Duration::from_secs(10)).is_none() {
                eprintln!("containerd {pid} ignored SIGTERM; killed");
            }
        }
        // Shims exit once their task is deleted.
        let _ = wait_until(Duration::from_secs(10), || {
            self.cgroup.processes().is_empty().then_some(())
        });
        let procs = self.cgroup.processes();
        let shims = shims_of(&self.socket());
        let cgroups = self.cgroup.remove();
        let mounts = mounts_mentioning(&self.dir.path().to_string_lossy());
        self.host_dirs.remove();
        if !std::thread::panicking() {
            assert!(
                procs.is_empty(),
                "containerd test left processes: {procs:?}"
            );
            assert!(shims.is_empty(), "containerd test left shims: {shims:?}");
            assert!(
                cgroups.is_empty(),
                "containerd test left cgroups: {cgroups:?}"
            );
            assert!(mounts.is_empty(), "containerd test left mounts: {mounts:?}");
        }
    }
}

/// Live shim processes started for the containerd at `socket`.
fn shims_of(socket: &Path) -> Vec<String> {
    let needle = socket.to_string_lossy().into_owned();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i64>().ok()))
        .filter(|pid| crate::leaks::pid_alive(*pid))
        .filter_map(|pid| {
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.contains("containerd-shim") && cmd.contains(&needle))
                .then(|| format!("{pid}: {cmd}"))
        })
        .collect()
}

/// containerd's config.toml: everything under `dir`, and a CRI runtime handler "corral"
/// (what a Kubernetes RuntimeClass with `handler: corral` selects).
pub fn config_toml(dir: &Path) -> String {
    let d = dir.display();
    let bin = corral_bin().display().to_string();
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
oom_score = 0

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni-bin"
    conf_dir = "{d}/cni-conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{CRI_HANDLER}]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{CRI_HANDLER}.options]
        BinaryName = {bin:?}
        Root = "{d}/cri-corral-root"
        SystemdCgroup = false
"#
    )
}
