//! Known container-escape classes, each run as an attack against a real container:
//! the attack must fail and the host must be unchanged. The symlink-exchange race is
//! in security_race.rs.

mod support;

use corral_tests::check::{stderr_text, stdout_text};
use corral_tests::paths::corral_bin;
use corral_tests::tempdir::TempDir;
use corral_tests::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;
use std::process::Command;
use support::{add_bind, add_mount};

/// Mount points of this (host) process's mount namespace.
fn host_mount_points() -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    text.lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// Panics if anything is mounted at `path` or below it on the host.
fn assert_not_mounted_on_host(path: &Path) {
    let path = path.to_str().expect("UTF-8 path");
    let hits: Vec<String> = host_mount_points()
        .into_iter()
        .filter(|m| m == path || m.starts_with(&format!("{path}/")))
        .collect();
    assert!(hits.is_empty(), "host mounts appeared at {path}: {hits:?}");
}

/// The error a failed command printed, for assertions on its wording.
fn failure_text(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure, got success\nstdout: {}",
        stdout_text(out)
    );
    stderr_text(out)
}

/// CVE-2019-5736: a process in the container's pid namespace opens /proc/<init>/exe
/// while the init is still the runtime binary, to overwrite the runtime. Container A
/// stays `created` (its init waits inside the runtime image); container B joins A's pid
/// namespace, where A's init is pid 1, and tries every way in.
#[test]
fn runtime_image_of_a_created_init_is_out_of_reach() {
    skip_unless_root!();
    let rt = Runtime::new();
    let binary_before = fs::read(rt.bin()).expect("read the runtime binary");
    let a = Bundle::with_probe(&["pause"]);
    let a_id = unique_id();
    assert_ok(&rt.create(&a, &a_id, &[]), "create A");
    let pid = rt.state(&a_id)["pid"].as_i64().expect("A has a pid");

    let mut b = Bundle::new();
    b.set_namespace("pid", Some(&format!("/proc/{pid}/ns/pid")));
    let script = r#"
        grep -q '^Name:.*corral' /proc/1/status && echo INIT_IS_RUNTIME
        (exec 3<>/proc/1/exe) 2>/dev/null && echo OPEN_RW
        (exec 3</proc/1/exe) 2>/dev/null && echo OPEN_RO
        readlink /proc/1/exe >/dev/null 2>&1 && echo READLINK
        cat /proc/1/environ >/dev/null 2>&1 && echo ENVIRON
        for n in 0 1 2 3 4 5 6 7 8 9 10 11 12; do
            (exec 3</proc/1/fd/$n) 2>/dev/null && echo FD_OPEN_$n
        done
        /bin/probe read /proc/1/exe >/dev/null && echo PROBE_READ
        /bin/probe write /proc/1/exe pwned >/dev/null && echo PROBE_WRITE
        echo DONE"#;
    b.set_args(&["/bin/sh", "-c", script]);
    let b_id = unique_id();
    let out = rt.run(&b, &b_id, &[]);
    assert_ok(&out, "run B in A's pid namespace");
    let seen: Vec<String> = stdout_text(&out).lines().map(str::to_string).collect();
    // Listing /proc/1/fd is allowed to root (it shows numbers only); following an entry
    // needs ptrace access, which a non-dumpable process refuses.
    assert_eq!(
        seen,
        ["INIT_IS_RUNTIME", "DONE"],
        "B reached A's init (runtime image)"
    );

    rt.delete_force_and_check(&a_id, &a);
    rt.assert_no_leftovers(&b_id, &b);
    let binary_after = fs::read(rt.bin()).expect("read the runtime binary again");
    assert!(binary_before == binary_after, "the runtime binary changed");
}

/// CVE-2019-5736 with CAP_SYS_PTRACE, which lets a container follow /proc/<pid>/exe of a
/// non-dumpable process: container B shares the host's pid namespace and holds an fd to
/// the image of A's init (still the runtime binary), and once A is gone (no process
/// executes the binary, so no ETXTBSY) reopens that fd for writing. The runtime runs
/// from a read-only image of itself, so the write must fail and the binary stay as it
/// was. The runtime under attack is a private copy: a regression damages only the copy.
#[test]
fn runtime_image_is_write_proof_even_to_cap_sys_ptrace() {
    skip_unless_root!();
    let (_dir, copy, binary_before, rt) = runtime_on_a_copy();

    let a = Bundle::with_probe(&["pause"]);
    let a_id = unique_id();
    assert_ok(&rt.create(&a, &a_id, &[]), "create A");
    let a_pid = rt.state(&a_id)["pid"].as_i64().expect("A has a pid");

    let mut b = Bundle::new();
    b.set("/root/readonly", json!(false));
    b.remove_namespace("pid");
    for set in ["bounding", "effective", "permitted"] {
        let caps = b.config_mut()["process"]["capabilities"][set].as_array_mut().expect("a capability set");
        caps.push(json!("CAP_SYS_PTRACE"));
    }
    let script = format!(
        r#"
        exec 2>>/out; exec 3</proc/{a_pid}/exe && echo HELD >>/out
        while [ ! -e /go ]; do sleep 0.05; done
        /bin/probe write /proc/self/fd/3 pwned >/dev/null 2>&1 && echo WROTE >>/out
        (exec 4<>/proc/self/fd/3 && printf pwned >&4) 2>/dev/null && echo WROTE_RW >>/out
        echo DONE >>/out"#
    );
    b.set_args(&["/bin/sh", "-c", &script]);
    let b_id = unique_id();
    rt.create_and_start(&b, &b_id);
    let out = b.rootfs().join("out");
    let report_has = |line: &str| fs::read_to_string(&out).unwrap_or_default().lines().any(|l| l == line);
    wait_until(|| report_has("HELD"), "B never got hold of the image", &out);
    rt.delete_force_and_check(&a_id, &a);
    fs::write(b.rootfs().join("go"), "").expect("signal B");
    wait_until(|| report_has("DONE"), "B never finished", &out);
    assert!(fs::read(&copy).expect("read the copy again") == binary_before, "the runtime binary changed");
    let seen = fs::read_to_string(&out).expect("B's report");
    assert!(!seen.contains("WROTE"), "B could write the runtime image: {seen}");
    rt.delete_force_and_check(&b_id, &b);
}

/// Polls `done` for up to 20 s; on timeout fails with `what` and the report file.
fn wait_until(done: impl Fn() -> bool, what: &str, report: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}; report: {:?}", fs::read_to_string(report));
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A runtime whose binary is a private copy, with the copy's temp dir, path and bytes:
/// an attack on the binary that gets through damages only the copy. Bind the dir first,
/// so that it outlives the runtime (whose drop still runs the copy).
fn runtime_on_a_copy() -> (TempDir, std::path::PathBuf, Vec<u8>, Runtime) {
    let dir = TempDir::new("bin");
    let copy = dir.path().join("corral");
    fs::copy(corral_bin(), &copy).expect("copy the runtime binary");
    let bytes = fs::read(&copy).expect("read the copy");
    let rt = Runtime::with_bin(copy.clone());
    (dir, copy, bytes, rt)
}

/// CVE-2024-21626: process.cwd "/proc/self/fd/N" names a directory fd the runtime
/// leaked into the init, i.e. a host directory. Each attempt must either fail or leave
/// the program in a cwd inside its root, with nothing but stdio open.
#[test]
fn cwd_through_an_inherited_fd_never_lands_on_the_host() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["report"]);
    for n in 3..=12 {
        bundle.set("/process/cwd", json!(format!("/proc/self/fd/{n}")));
        let id = unique_id();
        let out = rt.run(&bundle, &id, &[]);
        rt.assert_no_leftovers(&id, &bundle);
        if !out.status.success() {
            let err = stderr_text(&out);
            assert!(
                err.contains("process.cwd"),
                "fd {n}: unclear failure: {err}"
            );
            continue;
        }
        let report = Report::parse(&out);
        let cwd = report.str("cwd");
        assert!(
            cwd.starts_with('/') && !cwd.contains("unreachable"),
            "fd {n}: the program runs in a cwd outside its root: {cwd:?}"
        );
        assert_eq!(
            report.fds(),
            [0, 1, 2],
            "fd {n}: extra fds reached the program"
        );
    }
}

/// CVE-2019-19921 / CVE-2023-27561: the image makes /proc, /sys or /dev a symlink so
/// that procfs (or device nodes) land elsewhere. Corral must refuse, and mount nothing
/// on the host path the link names.
#[test]
fn symlinked_proc_sys_or_dev_in_the_image_is_refused() {
    skip_unless_root!();
    let rt = Runtime::new();
    let host_etc_mounts = host_mount_points().iter().filter(|m| *m == "/etc").count();
    for dir in ["proc", "sys", "dev"] {
        for target in ["/etc", "../../../../../../../../etc"] {
            let bundle = Bundle::with_probe(&["exit", "0"]);
            let link = bundle.rootfs().join(dir);
            fs::remove_dir(&link).expect("remove the image's directory");
            symlink(target, &link).expect("make it a symlink");
            let id = unique_id();
            let out = rt.run(&bundle, &id, &[]);
            let err = failure_text(&out);
            assert!(
                err.contains("symbolic link") && err.contains(&format!("/{dir}")),
                "/{dir} -> {target}: unclear error: {err}"
            );
            rt.assert_no_leftovers(&id, &bundle);
            let now = host_mount_points().iter().filter(|m| *m == "/etc").count();
            assert_eq!(
                now, host_etc_mounts,
                "/{dir} -> {target}: a mount reached host /etc"
            );
        }
    }
}

/// A mount destination through a symlink that points out of the rootfs, or with "..",
/// lands inside the rootfs: the host path stays unmounted and its files unchanged.
#[test]
fn mount_destinations_escaping_the_rootfs_land_inside_it() {
    skip_unless_root!();
    let rt = Runtime::new();
    let victim = TempDir::new("victim");
    fs::write(victim.path().join("canary"), "host file\n").expect("write the canary");
    let victim_path = victim.path().to_str().expect("UTF-8 path").to_string();
    let mut bundle = Bundle::with_probe(&["report"]);
    let rootfs = bundle.rootfs();
    symlink(&victim_path, rootfs.join("abs")).expect("abs link");
    symlink(
        format!("../../../../../../../..{victim_path}"),
        rootfs.join("rel"),
    )
    .expect("rel link");
    let mut expected = Vec::new();
    for (n, dest) in ["/abs/a", "/rel/b", &format!("/../../../..{victim_path}/c")]
        .iter()
        .enumerate()
    {
        add_mount(
            &mut bundle,
            dest,
            "tmpfs",
            &format!("corral-escape-{n}"),
            &["size=64k"],
        );
        expected.push(format!("corral-escape-{n}"));
    }
    let report = support::report(&rt, &mut bundle);
    let lines = report.mountinfo();
    for (n, source) in expected.iter().enumerate() {
        let line = lines
            .iter()
            .find(|l| {
                l.split(" - ")
                    .nth(1)
                    .is_some_and(|t| t.split(' ').nth(1) == Some(source))
            })
            .unwrap_or_else(|| {
                panic!(
                    "mount {n} is not inside the container:\n{}",
                    lines.join("\n")
                )
            });
        let point = line.split(' ').nth(4).unwrap_or("");
        assert!(
            point.starts_with(&victim_path),
            "mount {n} at {point}, expected under {victim_path} inside the root"
        );
    }
    assert_not_mounted_on_host(victim.path());
    let canary = fs::read_to_string(victim.path().join("canary")).expect("read the canary");
    assert_eq!(canary, "host file\n");
    for name in ["a", "b", "c"] {
        assert!(
            !victim.path().join(name).exists(),
            "a mount point was made on the host: {name}"
        );
        assert!(
            rootfs.join(&victim_path[1..]).join(name).is_dir(),
            "mount point {name} not made inside the rootfs"
        );
    }
}

/// CVE-2025-31133: /dev comes from a host directory whose "null" is a regular file or a
/// symlink to a host file; masking must not bind it over the masked paths.
#[test]
fn masking_refuses_a_fake_dev_null() {
    skip_unless_root!();
    let rt = Runtime::new();
    let host = TempDir::new("fakedev");
    let canary = host.path().join("canary");
    fs::write(&canary, "host secret\n").expect("write the canary");
    for fake in ["file", "symlink"] {
        let dev = host.path().join(format!("dev-{fake}"));
        fs::create_dir(&dev).expect("fake dev dir");
        match fake {
            "file" => fs::write(dev.join("null"), "not a device\n").expect("fake null"),
            _ => symlink(&canary, dev.join("null")).expect("fake null link"),
        }
        let mut bundle = Bundle::with_probe(&["exit", "0"]);
        add_bind(&mut bundle, &dev, "/dev", &["rbind"]);
        bundle.set("/linux/maskedPaths", json!(["/proc/kcore", "/etc/passwd"]));
        let id = unique_id();
        let out = rt.run(&bundle, &id, &[]);
        let err = failure_text(&out);
        assert!(err.contains("/dev/null"), "{fake}: unclear error: {err}");
        rt.assert_no_leftovers(&id, &bundle);
        assert_not_mounted_on_host(host.path());
        assert_eq!(
            fs::read_to_string(&canary).expect("canary"),
            "host secret\n"
        );
    }
}

/// CVE-2025-52881: a host directory mounted over /proc/sys must not receive the
/// runtime's sysctl writes. Either create refuses, or the write reaches the real
/// sysctl of the container's network namespace; the host file never changes.
#[test]
fn sysctl_write_is_not_redirected_by_a_mount_over_proc_sys() {
    skip_unless_root!();
    let rt = Runtime::new();
    let host = TempDir::new("fakesys");
    let file = host.path().join("net/ipv4/ip_forward");
    fs::create_dir_all(file.parent().expect("parent")).expect("fake sysctl tree");
    fs::write(&file, "0\n").expect("fake sysctl");
    let mut bundle = Bundle::with_probe(&["pause"]);
    add_bind(&mut bundle, host.path(), "/proc/sys", &["rbind"]);
    bundle.set("/linux/sysctl", json!({"net.ipv4.ip_forward": "1"}));
    let id = unique_id();
    let out = rt.create(&bundle, &id, &[]);
    if out.status.success() {
        let pid = rt.state(&id)["pid"].as_i64().expect("pid");
        let net = format!("--net=/proc/{pid}/ns/net");
        let seen = Command::new("nsenter")
            .args([net.as_str(), "cat", "/proc/sys/net/ipv4/ip_forward"])
            .output()
            .expect("run nsenter");
        assert_eq!(
            stdout_text(&seen).trim(),
            "1",
            "the sysctl did not reach the kernel"
        );
        rt.delete_force_and_check(&id, &bundle);
    } else {
        let err = stderr_text(&out);
        assert!(
            err.contains("net.ipv4.ip_forward") && (err.contains("mounted over") || err.contains("mount over")),
            "unclear error: {err}"
        );
        rt.assert_no_leftovers(&id, &bundle);
    }
    assert_eq!(
        fs::read_to_string(&file).expect("host file"),
        "0\n",
        "the sysctl write went to the host file"
    );
    assert_not_mounted_on_host(host.path());
}

/// CVE-2022-29162: the runtime itself runs with a non-empty inheritable set (here
/// CAP_NET_RAW, raised by capsh); the container must still get an empty one, since the
/// config names none.
#[test]
fn inheritable_caps_of_the_runtime_do_not_reach_the_container() {
    skip_unless_root!();
    if Command::new("capsh").arg("--help").output().is_err() {
        eprintln!("skipped: capsh (libcap2-bin) is not installed");
        return;
    }
    let check = Command::new("capsh")
        .args([
            "--inh=cap_net_raw",
            "--",
            "-c",
            "grep CapInh /proc/self/status",
        ])
        .output()
        .expect("run capsh");
    let inh = stdout_text(&check);
    assert!(
        !inh.contains("0000000000000000"),
        "capsh did not raise the inheritable set: {inh}"
    );

    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["report"]);
    bundle.set("/process/capabilities/ambient", json!([]));
    let id = unique_id();
    rt.track(&id);
    let root = rt.root();
    let mut cmd = Command::new("capsh");
    cmd.args(["--inh=cap_net_raw", "--", "-c", r#"exec "$0" "$@""#]);
    cmd.arg(rt.bin()).arg("--root").arg(&root);
    cmd.args(["run", "--bundle", bundle.path_str(), &id]);
    let out = rt.output_of(cmd);
    assert_ok(&out, "run under capsh --inh=cap_net_raw");
    let report = Report::parse(&out);
    assert_eq!(
        report.caps("inh"),
        0,
        "the runtime's inheritable set reached the container"
    );
    assert_eq!(report.caps("amb"), 0, "ambient capabilities appeared");
    rt.assert_no_leftovers(&id, &bundle);
}

/// CVE-2025-52565 class: the image's /dev/console is a symlink, so that the pty bind
/// mount lands on another file (here one in the image standing for a sensitive one;
/// /dev comes from the image because the config mounts no tmpfs there). The runtime must
/// refuse, name the problem, and leave the target untouched and nothing behind.
#[test]
fn symlinked_dev_console_is_refused() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::with_probe(&["report"]);
    bundle.set_terminal(true);
    let mounts = bundle.config_mut()["mounts"].as_array_mut().expect("mounts");
    mounts.retain(|m| m["destination"] != "/dev");
    bundle.save();
    let rootfs = bundle.rootfs();
    fs::create_dir_all(rootfs.join("dev")).expect("mkdir dev");
    fs::write(rootfs.join("etc/target"), "untouched\n").expect("write the target");
    symlink("/etc/target", rootfs.join("dev/console")).expect("plant the symlink");
    let sockets = TempDir::new("console");
    let socket = sockets.path().join("console.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind console socket");
    let id = unique_id();
    let out = rt.create(&bundle, &id, &["--console-socket", socket.to_str().expect("UTF-8")]);
    let err = failure_text(&out);
    assert!(err.contains("/dev/console") && err.contains("symlink"), "unclear error: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one error line: {err}");
    rt.assert_no_leftovers(&id, &bundle);
    assert_eq!(fs::read_to_string(rootfs.join("etc/target")).expect("read the target"), "untouched\n");
    assert_not_mounted_on_host(&rootfs);
}

/// CVE-2019-5736 as first published: the image replaces a program with a script whose
/// interpreter is `#!/proc/self/exe`, so when `exec` runs it, the kernel starts the
/// runtime's own binary inside the container, where the container's root can hold
/// /proc/<pid>/exe open and write through it once that process is gone. Here the binary
/// is made to wait (reading a fifo as its config.json) so the attack is not a race. The
/// write must fail and the binary (a private copy) stay as it was.
#[test]
fn exec_of_a_proc_self_exe_script_cannot_reach_the_runtime() {
    skip_unless_root!();
    let (_dir, copy, binary_before, rt) = runtime_on_a_copy();
    let mut bundle = Bundle::new();
    bundle.set("/root/readonly", json!(false));
    let script = r#"
        exec 2>>/out
        mkdir -p /b && mkfifo /b/config.json
        printf '#!/proc/self/exe --log\n' >/evil && chmod +x /evil
        echo READY >>/out
        while :; do
            for d in /proc/[0-9]*; do
                t=$(readlink $d/exe 2>/dev/null) || continue
                case "$t" in /bin/busybox|/bin/probe|"") continue;; esac
                exec 3<$d/exe
                echo "HELD $t" >>/out
                break 2
            done
        done
        : >/b/config.json
        while [ -d $d ]; do sleep 0.05; done
        /bin/probe write /proc/self/fd/3 pwned >/dev/null 2>&1 && echo WROTE >>/out
        (exec 4<>/proc/self/fd/3 && printf pwned >&4) 2>/dev/null && echo WROTE_RW >>/out
        echo DONE >>/out
        exec /bin/probe pause"#;
    bundle.set_args(&["/bin/sh", "-c", script]);
    let id = unique_id();
    rt.create_and_start(&bundle, &id);
    let out = bundle.rootfs().join("out");
    let report_has = |word: &str| fs::read_to_string(&out).unwrap_or_default().lines().any(|l| l.starts_with(word));
    wait_until(|| report_has("READY"), "the container never got ready", &out);
    // The script runs the runtime binary in the container as `corral --log /evil run
    // --bundle /b x`, which blocks on the fifo until the attacker holds its image.
    let exec = rt.exec(&id, &[], &["/evil", "run", "--bundle", "/b", "x"]);
    assert!(!exec.status.success(), "the runtime binary run in the container failed on the empty config");
    wait_until(|| report_has("DONE"), "the attack never finished", &out);
    assert!(fs::read(&copy).expect("read the copy again") == binary_before, "the runtime binary changed");
    let seen = fs::read_to_string(&out).expect("the attacker's report");
    assert!(seen.contains("HELD"), "the attack never got hold of the runtime image: {seen}");
    assert!(!seen.contains("WROTE"), "the container could write the runtime image: {seen}");
    rt.delete_force_and_check(&id, &bundle);
}

/// A container recorded in an earlier boot (a --root on persistent storage outlives a
/// reboot) is stopped, even when its pid and start time name a live process now, as
/// they easily do on a device that boots the same way each time: that process is never
/// signalled as the container's.
#[test]
fn a_container_of_an_earlier_boot_is_stopped_and_its_pid_never_signalled() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = Bundle::with_probe(&["pause"]);
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    let path = rt.root().join(&id).join("state.json");
    let saved = fs::read_to_string(&path).expect("read state.json");
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("read boot_id");
    let mut state: serde_json::Value = serde_json::from_str(&saved).expect("state.json is JSON");
    assert_eq!(state["boot_id"].as_str(), Some(boot_id.trim()), "the boot is recorded");

    state["boot_id"] = json!("00000000-0000-4000-8000-000000000000");
    fs::write(&path, state.to_string()).expect("write state.json");
    assert_eq!(rt.status(&id).as_deref(), Some("stopped"));
    let kill = rt.kill(&id, "KILL");
    assert!(!kill.status.success(), "kill of a container of another boot is refused");
    assert!(stderr_text(&kill).contains("not running"), "{}", stderr_text(&kill));
    std::thread::sleep(Duration::from_millis(200));
    assert!(pid_alive(pid), "the process behind the recorded pid was not signalled");

    fs::write(&path, saved).expect("restore state.json");
    rt.delete_force_and_check(&id, &bundle);
}
