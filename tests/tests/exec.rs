//! `exec`: a second process in a running container gets the container's namespaces,
//! cgroup, root and security settings, unless flags change them; checked from inside by
//! the probe.

use corral_tests::check::{stderr_text, stdout_text};
use corral_tests::console::{read_all_output, recv_fd};
use corral_tests::tempdir::TempDir;
use corral_tests::*;
use serde_json::{Value, json};
use std::fs;
use std::os::unix::net::UnixListener;
use std::time::Duration;

const CAP_KILL: u64 = 1 << 5;
const CAP_NET_RAW: u64 = 1 << 13;

/// A started container whose init (the probe) just waits.
fn started(rt: &Runtime, bundle: &mut Bundle) -> (String, i64) {
    bundle.set_probe_args(&["pause"]);
    let id = unique_id();
    let pid = rt.create_and_start(bundle, &id);
    (id, pid)
}

fn exec_report(rt: &Runtime, id: &str, flags: &[&str]) -> Report {
    let out = rt.exec(id, flags, &["/bin/probe", "report"]);
    assert_ok(&out, "exec probe report");
    Report::parse(&out)
}

/// The namespace inode of a host pid, as the probe reports it ("4026532..."), from the
/// link "pid:[4026532...]".
fn ns_of(pid: i64, name: &str) -> String {
    let link = fs::read_link(format!("/proc/{pid}/ns/{name}")).map(|l| l.display().to_string()).unwrap_or_default();
    link.chars().filter(char::is_ascii_digit).collect()
}

fn pid_from_file(path: &std::path::Path) -> i64 {
    fs::read_to_string(path).expect("read the pid file").trim().parse().expect("a pid in the pid file")
}

#[test]
fn exec_joins_the_containers_namespaces_root_and_cgroup() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/hostname", json!("exec-host"));
    fs::write(bundle.rootfs().join("marker"), "in the rootfs\n").expect("write marker");
    let (id, init) = started(&rt, &mut bundle);

    let report = exec_report(&rt, &id, &[]);
    for name in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
        assert_eq!(report.namespace(name), ns_of(init, name), "{name} namespace");
    }
    assert_eq!(report.str("hostname"), "exec-host");
    assert_ne!(report.int("pid"), 1, "the exec'd process is not the init");
    assert_eq!(report.int("ppid"), 0, "its parent (the runtime) is outside the pid namespace");
    assert_eq!(report.fds(), [0, 1, 2], "only stdio reaches the process");
    let marker = rt.exec(&id, &[], &["/bin/probe", "read", "/marker"]);
    assert_ok(&marker, "read a file of the rootfs");
    assert!(stdout_text(&marker).contains("in the rootfs"), "{}", stdout_text(&marker));

    // Detached: the process runs on in the container's cgroup; the pid file names it.
    let dir = TempDir::new("exec");
    let pid_file = dir.path().join("exec.pid");
    let pid_flag = pid_file.to_str().expect("UTF-8");
    assert_ok(&rt.exec(&id, &["--detach", "--pid-file", pid_flag], &["/bin/probe", "pause"]), "exec --detach");
    let pid = pid_from_file(&pid_file);
    assert!(pid_alive(pid), "the detached process runs");
    assert!(rt.ps_pids(&id).contains(&pid), "ps lists the exec'd process: {:?}", rt.ps_pids(&id));
    assert_eq!(ns_of(pid, "mnt"), ns_of(init, "mnt"));
    rt.delete_force_and_check(&id, &bundle);
    assert!(wait_pid_gone(pid), "delete --force killed the exec'd process");
}

#[test]
fn exec_inherits_the_containers_security_settings() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/process/user", json!({"uid": 1000, "gid": 1000, "additionalGids": [44], "umask": 23}));
    let kill_only = json!(["CAP_KILL"]);
    // Ambient (hence inheritable) too: a non-root user keeps no capability across execve
    // otherwise.
    bundle.set(
        "/process/capabilities",
        json!({"bounding": kill_only, "effective": kill_only, "permitted": kill_only,
               "inheritable": kill_only, "ambient": kill_only}),
    );
    bundle.set("/process/rlimits", json!([{"type": "RLIMIT_NOFILE", "soft": 777, "hard": 888}]));
    bundle.set("/process/noNewPrivileges", json!(true));
    bundle.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}),
    );
    let (id, _) = started(&rt, &mut bundle);

    let report = exec_report(&rt, &id, &[]);
    assert_eq!((report.int("uid"), report.int("gid")), (1000, 1000));
    assert_eq!(report.groups(), [44]);
    assert_eq!(report.str("umask"), "0027");
    for set in ["eff", "prm", "bnd", "inh", "amb"] {
        assert_eq!(report.caps(set), CAP_KILL, "{set} set");
    }
    assert_eq!(report.rlimit("RLIMIT_NOFILE"), (777, 888));
    assert!(report.get("no_new_privs").as_bool().unwrap_or(false), "no_new_privs");
    assert_eq!(report.int("seccomp"), 2, "the container's filter is installed");
    let mkdir = rt.exec(&id, &[], &["/bin/mkdir", "/tmp/x"]);
    assert!(!mkdir.status.success(), "mkdir is denied by the container's seccomp filter");
    assert!(stderr_text(&mkdir).contains("not implemented"), "errno 38: {}", stderr_text(&mkdir));
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn exec_flags_change_the_process() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/process/noNewPrivileges", json!(false));
    let (id, _) = started(&rt, &mut bundle);
    let flags = ["--cwd", "/tmp", "--env", "FOO=bar", "--env", "PATH=/bin", "--cap", "CAP_NET_RAW", "--no-new-privs"];
    let report = exec_report(&rt, &id, &flags);
    assert_eq!(report.str("cwd"), "/tmp");
    assert_eq!(report.env_var("FOO").as_deref(), Some("bar"));
    let paths = report.env().iter().filter(|e| e.starts_with("PATH=")).count();
    assert_eq!((report.env_var("PATH").as_deref(), paths), (Some("/bin"), 1), "--env replaces PATH");
    assert_ne!(report.caps("eff") & CAP_NET_RAW, 0, "--cap adds CAP_NET_RAW");
    assert_ne!(report.caps("bnd") & CAP_KILL, 0, "the container's own caps stay");
    assert!(report.get("no_new_privs").as_bool().unwrap_or(false), "--no-new-privs");
    let report = exec_report(&rt, &id, &["--user", "1000:1001", "--additional-gids", "7"]);
    assert_eq!((report.int("uid"), report.int("gid")), (1000, 1001));
    assert_eq!(report.groups(), [7]);
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn exec_runs_a_process_file_as_given() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let (id, _) = started(&rt, &mut bundle);
    let dir = TempDir::new("process");
    let file = dir.path().join("process.json");
    let process = json!({
        "args": ["/bin/probe", "report"],
        "cwd": "/etc",
        "env": ["FROM_FILE=1", "PATH=/bin"],
        "user": {"uid": 2000, "gid": 2000},
        "terminal": false,
    });
    fs::write(&file, process.to_string()).expect("write process.json");
    let out = rt.exec(&id, &["--process", file.to_str().expect("UTF-8")], &[]);
    assert_ok(&out, "exec --process");
    let report = Report::parse(&out);
    assert_eq!(report.get("args"), &json!(["/bin/probe", "report"]));
    assert_eq!(report.str("cwd"), "/etc");
    assert_eq!(report.env_var("FROM_FILE").as_deref(), Some("1"));
    assert_eq!(report.int("uid"), 2000);
    assert_eq!(report.caps("eff"), 0, "a process object without capabilities gets none");
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn exec_exit_status_propagates() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let (id, _) = started(&rt, &mut bundle);
    assert_exit_code(&rt.exec(&id, &[], &["/bin/sh", "-c", "exit 7"]), 7, "exec exit 7");
    assert_exit_code(&rt.exec(&id, &[], &["/bin/sh", "-c", "kill -TERM $$"]), 128 + 15, "exec killed by TERM");
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn exec_tty_hands_a_pty_to_the_console_socket() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let (id, _) = started(&rt, &mut bundle);
    let dir = TempDir::new("console");
    let socket = dir.path().join("console.sock");
    let listener = UnixListener::bind(&socket).expect("bind console socket");
    let flags = ["--tty", "--detach", "--console-socket", socket.to_str().expect("UTF-8")];
    assert_ok(&rt.exec(&id, &flags, &["/bin/probe", "report"]), "exec --tty --detach");
    listener.set_nonblocking(true).expect("nonblocking listener");
    let (stream, _) = listener.accept().expect("the runtime sent the master during exec");
    let output = read_all_output(recv_fd(&stream).expect("receive the pty master"));
    let line = output.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no report: {output:?}"));
    let report = Report(serde_json::from_str::<Value>(line).expect("report JSON"));
    assert!(report.isatty(0) && report.isatty(1) && report.isatty(2), "stdio are the pty");
    assert!(report.str("tty").starts_with("/dev/pts/"), "{}", report.str("tty"));
    assert_eq!(report.int("sid"), report.int("pid"), "the process leads its session");
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn exec_into_a_paused_or_stopped_container_fails_clearly() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let (id, _) = started(&rt, &mut bundle);
    assert_ok(&rt.cmd(&["pause", &id]), "pause");
    assert_fails_with(&rt.exec(&id, &[], &["/bin/true"]), &["paused", "--ignore-paused"]);
    let dir = TempDir::new("exec");
    let pid_file = dir.path().join("exec.pid");
    let flags = ["--ignore-paused", "--detach", "--pid-file", pid_file.to_str().expect("UTF-8")];
    assert_ok(&rt.exec(&id, &flags, &["/bin/probe", "pause"]), "exec --ignore-paused");
    let pid = pid_from_file(&pid_file);
    assert!(rt.ps_pids(&id).contains(&pid), "the exec'd process joined the (frozen) cgroup");
    assert_ok(&rt.cmd(&["resume", &id]), "resume");
    rt.delete_force_and_check(&id, &bundle);

    let mut once = Bundle::new();
    once.set_args(&["/bin/true"]);
    let done = unique_id();
    rt.create_and_start(&once, &done);
    rt.wait_for_status(&done, "stopped", Duration::from_secs(10));
    assert_fails_with(&rt.exec(&done, &[], &["/bin/true"]), &["stopped"]);
    rt.delete_force_and_check(&done, &once);
}

#[test]
fn exec_bad_input_is_one_clear_line_and_leaves_nothing() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let (id, init) = started(&rt, &mut bundle);
    let cases: [(&[&str], &[&str], &[&str]); 6] = [
        (&[], &["/no/such/program"], &["/no/such/program"]),
        (&["--user", "nobody"], &["/bin/true"], &["--user"]),
        (&["--cap", "CAP_BOGUS"], &["/bin/true"], &["--cap", "CAP_BOGUS"]),
        (&["--env", "NOEQUALS"], &["/bin/true"], &["--env"]),
        (&["--tty"], &["/bin/true"], &["--console-socket"]),
        (&["--process", "/no/such/process.json"], &[], &["--process"]),
    ];
    for (flags, command, words) in cases {
        assert_fails_with(&rt.exec(&id, flags, command), words);
        assert_eq!(rt.ps_pids(&id), [init], "{flags:?}: only the init is left in the container");
    }
    assert_fails_with(&rt.exec("no-such-container", &[], &["/bin/true"]), &["does not exist"]);
    rt.delete_force_and_check(&id, &bundle);
}

#[test]
fn exec_enters_the_containers_user_namespace() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_namespace("user", None);
    let mapping = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    bundle.set("/linux/uidMappings", mapping.clone());
    bundle.set("/linux/gidMappings", mapping);
    let (id, init) = started(&rt, &mut bundle);
    let report = exec_report(&rt, &id, &[]);
    assert_eq!(report.namespace("user"), ns_of(init, "user"));
    assert_eq!((report.int("uid"), report.int("gid")), (0, 0), "root inside the namespace");
    let map = rt.exec(&id, &[], &["/bin/probe", "read", "/proc/self/uid_map"]);
    assert!(stdout_text(&map).split_whitespace().eq(["0", "100000", "65536"]), "{}", stdout_text(&map));
    rt.delete_force_and_check(&id, &bundle);
}

/// With --no-pivot the init is chrooted inside its mount namespace, whose root is still
/// the host's: exec must land in the container's root all the same.
#[test]
fn exec_lands_in_the_root_of_a_no_pivot_container() {
    skip_unless_root!();
    let rt = Runtime::new();
    let bundle = Bundle::with_probe(&["pause"]);
    fs::write(bundle.rootfs().join("marker"), "no-pivot root\n").expect("write marker");
    bundle.save();
    let id = unique_id();
    assert_ok(&rt.create(&bundle, &id, &["--no-pivot"]), "create --no-pivot");
    assert_ok(&rt.start(&id), "start");
    let out = rt.exec(&id, &[], &["/bin/probe", "read", "/marker"]);
    assert_ok(&out, "exec read /marker");
    assert!(stdout_text(&out).contains("no-pivot root"), "{}", stdout_text(&out));
    let report = exec_report(&rt, &id, &[]);
    assert_eq!(report.str("cwd"), "/");
    rt.delete_force_and_check(&id, &bundle);
}
