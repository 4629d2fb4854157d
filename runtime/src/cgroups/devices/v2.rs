//! cgroup v2: the folded policy compiled to an eBPF device program and attached to the
//! container's cgroup directory.

use std::ffi::CStr;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::DeviceError;
use super::policy::Policy;
use super::program::compile;
use crate::sys::bpf;

/// The program uses no helpers, so any license string loads; this is the project's.
const LICENSE: &CStr = c"Apache-2.0";
/// The name shown by bpftool for the program.
const PROGRAM_NAME: &str = "corral_devices";

/// Loads the program for `policy` and attaches it to the cgroup directory `dir`.
/// The program fd is closed on return: the attachment keeps the program alive until the
/// cgroup is removed.
pub fn attach_policy(dir: &Path, policy: &Policy) -> Result<(), DeviceError> {
    let program = compile(policy);
    let prog = bpf::load_cgroup_device_program(&program, LICENSE, PROGRAM_NAME).map_err(|e| {
        DeviceError::LoadProgram {
            instructions: program.len(),
            source: e.source,
            verifier_log: e.verifier_log,
        }
    })?;
    let cgroup = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .map_err(|source| DeviceError::OpenCgroup {
            path: dir.to_path_buf(),
            source,
        })?;
    bpf::attach_cgroup_device_program(cgroup.as_fd(), prog.as_fd()).map_err(|source| {
        DeviceError::Attach {
            path: dir.to_path_buf(),
            source,
        }
    })
}

/// Real programs on this kernel: a cgroup2 directory gets a program, a shell moves
/// itself there and tries to open devices. Needs root and a cgroup2 mount (the hybrid
/// host's /sys/fs/cgroup/unified will do: device programs attach to any cgroup2 dir).
#[cfg(test)]
mod kernel_tests {
    use std::path::PathBuf;
    use std::process::Command;

    use super::attach_policy;
    use crate::cgroups::devices::{Access, DevKind, DeviceSet, Policy, effective_rules};

    fn cgroup2_mount() -> Option<PathBuf> {
        let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
        mounts.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(fields[1]))
        })
    }

    /// A fresh cgroup2 directory, removed on drop.
    struct TempCgroup(PathBuf);

    impl TempCgroup {
        fn new() -> Option<TempCgroup> {
            if !nix::unistd::geteuid().is_root() {
                eprintln!("skipped: needs root");
                return None;
            }
            let Some(mount) = cgroup2_mount() else {
                eprintln!("skipped: no cgroup2 mount");
                return None;
            };
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos());
            let dir = mount.join(format!(
                "corral-devtest-{}-{}",
                std::process::id(),
                nanos.unwrap_or(0)
            ));
            std::fs::create_dir(&dir).expect("create test cgroup");
            Some(TempCgroup(dir))
        }

        /// Runs `script` in a shell that first moves itself into this cgroup; true on success.
        fn run(&self, script: &str) -> bool {
            let procs = self.0.join("cgroup.procs");
            let full = format!("echo $$ > {} && {script}", procs.display());
            let out = Command::new("/bin/busybox")
                .args(["sh", "-c", &full])
                .output()
                .expect("run busybox sh");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() || stderr.contains("Operation not permitted"),
                "{script}: {stderr}"
            );
            out.status.success()
        }
    }

    impl Drop for TempCgroup {
        fn drop(&mut self) {
            for _ in 0..50 {
                if std::fs::remove_dir(&self.0).is_ok() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            eprintln!("could not remove test cgroup {}", self.0.display());
        }
    }

    #[test]
    fn program_denying_dev_null_is_enforced() {
        let Some(cgroup) = TempCgroup::new() else {
            return;
        };
        let null = DeviceSet {
            kind: DevKind::Char,
            major: Some(1),
            minor: Some(3),
            access: Access::ALL,
        };
        let policy = Policy {
            default_allow: true,
            exceptions: vec![null],
        };
        attach_policy(&cgroup.0, &policy).expect("load and attach");
        assert!(
            !cgroup.run("exec 3</dev/null"),
            "/dev/null opened despite the program"
        );
        assert!(cgroup.run("exec 3</dev/zero"), "/dev/zero refused");
    }

    #[test]
    fn default_program_allows_only_standard_devices() {
        let Some(cgroup) = TempCgroup::new() else {
            return;
        };
        let policy = Policy::fold(&effective_rules(&[], &[]).unwrap()).unwrap();
        attach_policy(&cgroup.0, &policy).expect("load and attach");
        assert!(
            cgroup.run("exec 3</dev/null 4</dev/urandom 5>/dev/full"),
            "standard devices refused"
        );
        assert!(
            !cgroup.run("exec 3</dev/kmsg"),
            "/dev/kmsg (1:11) opened without a rule"
        );
    }
}
