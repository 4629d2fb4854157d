//! linux.seccomp, checked by what the container's processes can and cannot do: a denied
//! syscall fails with the configured errno, the default action applies to everything
//! unlisted, argument conditions pick out single calls, kill actions kill, and the kernel
//! reports the process in filter mode.

use std::process::Output;

use corral_tests::check::{exit_code, stderr_text, stdout_text};
use corral_tests::*;
use serde_json::{Value, json};

/// The flags the probe's `write` (std::fs::write) passes to openat:
/// O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC.
const WRITE_FLAGS: u64 = 0o1 | 0o100 | 0o1000 | 0o2000000;
/// The flags of its `read` (std::fs::read): O_RDONLY | O_CLOEXEC.
const READ_FLAGS: u64 = 0o2000000;
const O_CREAT: u64 = 0o100;

/// SIGSYS ends a process killed (or trapped without a handler) by seccomp: `run` exits 128 + 31.
const KILLED_BY_SIGSYS: i32 = 128 + 31;

/// Runs `args` in a fresh container with `seccomp` as linux.seccomp; checks for leftovers.
fn run_with(seccomp: Value, args: &[&str], tweak: impl FnOnce(&mut Bundle)) -> Output {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/linux/seccomp", seccomp);
    bundle.set_args(args);
    tweak(&mut bundle);
    let id = unique_id();
    let out = rt.run(&bundle, &id, &[]);
    rt.assert_no_leftovers(&id, &bundle);
    out
}

fn allow_but(syscalls: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": syscalls})
}

#[test]
fn denied_syscall_fails_with_the_configured_errno() {
    skip_unless_root!();
    let seccomp = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            // A name unknown on this architecture is skipped, as runc does.
            {"names": ["mkdir", "mkdirat", "no_such_syscall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            // Same action as the default: nothing to add, not an error.
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
        ]
    });
    let out = run_with(
        seccomp,
        &[
            "/bin/sh",
            "-c",
            "mkdir /tmp/denied; echo rc=$?; test -e /tmp/denied || echo absent",
        ],
        |_| {},
    );
    assert_eq!(exit_code(&out), 0, "stderr: {}", stderr_text(&out));
    assert_eq!(stdout_text(&out), "rc=1\nabsent\n");
    assert!(
        stderr_text(&out).contains("Function not implemented"),
        "stderr: {}",
        stderr_text(&out)
    );
}

#[test]
fn errno_defaults_to_eperm() {
    skip_unless_root!();
    let out = run_with(
        allow_but(json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}])),
        &["/bin/mkdir", "/tmp/x"],
        |_| {},
    );
    assert_eq!(exit_code(&out), 1);
    assert!(
        stderr_text(&out).contains("Operation not permitted"),
        "stderr: {}",
        stderr_text(&out)
    );
}

/// Every syscall name of this architecture, from the kernel headers, so that a
/// deny-by-default filter can allow all but a chosen few.
fn all_syscall_names() -> Option<Vec<String>> {
    let text = std::fs::read_to_string("/usr/include/x86_64-linux-gnu/asm/unistd_64.h").ok()?;
    let names = text
        .lines()
        .filter_map(|l| l.strip_prefix("#define __NR_"))
        .filter_map(|l| l.split_whitespace().next());
    Some(names.map(str::to_string).collect())
}

#[test]
fn default_errno_ret_applies_to_unlisted_syscalls() {
    skip_unless_root!();
    let Some(names) = all_syscall_names() else {
        eprintln!("skipped: no x86_64 kernel headers (linux-libc-dev) to list syscalls");
        return;
    };
    let allowed: Vec<String> = names
        .into_iter()
        .filter(|n| n != "mkdir" && n != "mkdirat")
        .collect();
    let seccomp = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 122,
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]
    });
    let out = run_with(seccomp, &["/bin/mkdir", "/tmp/x"], |_| {});
    assert_eq!(exit_code(&out), 1);
    assert!(
        stderr_text(&out).contains("Disk quota exceeded"),
        "stderr: {}",
        stderr_text(&out)
    );
}

/// Runs the probe's `write` then `read` under a rule that denies openat (ENOSYS) when its
/// flags argument matches `op value [valueTwo]`; returns what the two printed.
fn open_under(op: &str, value: u64, value_two: Option<u64>) -> String {
    let mut arg = json!({"index": 2, "value": value, "op": op});
    if let Some(two) = value_two {
        arg["valueTwo"] = json!(two);
    }
    let rule =
        json!([{"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "args": [arg]}]);
    let script = "/bin/probe write /dev/shm/new; /bin/probe read /data.txt";
    let out = run_with(allow_but(rule), &["/bin/sh", "-c", script], |b| {
        std::fs::write(b.rootfs().join("data.txt"), "hello\n")
            .expect("write data.txt into the rootfs");
    });
    // The script's status is the read's; what each printed tells more.
    assert!(
        stderr_text(&out).is_empty(),
        "{op}: stderr: {}",
        stderr_text(&out)
    );
    stdout_text(&out)
}

#[test]
fn argument_conditions_block_only_the_matching_call() {
    skip_unless_root!();
    const WRITE_DENIED: &str = "ENOSYS\nhello\n";
    const READ_DENIED: &str = "ok\nENOSYS\n";
    let cases = [
        ("SCMP_CMP_MASKED_EQ", O_CREAT, Some(O_CREAT), WRITE_DENIED),
        ("SCMP_CMP_EQ", WRITE_FLAGS, None, WRITE_DENIED),
        ("SCMP_CMP_NE", READ_FLAGS, None, WRITE_DENIED),
        ("SCMP_CMP_GT", READ_FLAGS, None, WRITE_DENIED),
        ("SCMP_CMP_GE", WRITE_FLAGS, None, WRITE_DENIED),
        ("SCMP_CMP_LT", WRITE_FLAGS, None, READ_DENIED),
        ("SCMP_CMP_LE", READ_FLAGS, None, READ_DENIED),
    ];
    for (op, value, value_two, want) in cases {
        assert_eq!(open_under(op, value, value_two), want, "{op} {value:#o}");
    }
}

/// Two conditions on the same argument are OR'd (one rule each), as in runc.
#[test]
fn conditions_on_one_argument_are_alternatives() {
    skip_unless_root!();
    let args = json!([
        {"index": 2, "value": WRITE_FLAGS, "op": "SCMP_CMP_EQ"},
        {"index": 2, "value": READ_FLAGS, "op": "SCMP_CMP_EQ"}
    ]);
    let rule =
        json!([{"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "args": args}]);
    let script = "/bin/probe write /dev/shm/new; /bin/probe read /data.txt";
    let out = run_with(allow_but(rule), &["/bin/sh", "-c", script], |b| {
        std::fs::write(b.rootfs().join("data.txt"), "hello\n")
            .expect("write data.txt into the rootfs");
    });
    assert_eq!(
        stdout_text(&out),
        "ENOSYS\nENOSYS\n",
        "stderr: {}",
        stderr_text(&out)
    );
}

#[test]
fn kill_and_trap_actions_end_the_process_with_sigsys() {
    skip_unless_root!();
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
    ] {
        let rule = json!([{"names": ["mkdir", "mkdirat"], "action": action}]);
        let out = run_with(allow_but(rule), &["/bin/mkdir", "/tmp/x"], |_| {});
        assert_eq!(
            exit_code(&out),
            KILLED_BY_SIGSYS,
            "{action}: stderr: {}",
            stderr_text(&out)
        );
    }
}

fn report_with(seccomp: Value, tweak: impl FnOnce(&mut Bundle)) -> Report {
    let out = run_with(seccomp, &["/bin/probe", "report"], tweak);
    assert_eq!(exit_code(&out), 0, "stderr: {}", stderr_text(&out));
    Report::parse(&out)
}

#[test]
fn the_kernel_reports_filter_mode() {
    skip_unless_root!();
    let seccomp = allow_but(json!([{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]));
    let report = report_with(seccomp, |_| {});
    assert_eq!(report.int("seccomp"), 2, "Seccomp in /proc/self/status");
    assert_eq!(report.get("no_new_privs"), &json!(true));
}

/// Without noNewPrivileges the filter needs CAP_SYS_ADMIN, so it goes in before the
/// capabilities are dropped; a non-root user with no capabilities still ends up filtered.
#[test]
fn loads_without_no_new_privileges_for_an_unprivileged_user() {
    skip_unless_root!();
    let seccomp = allow_but(json!([{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]));
    let report = report_with(seccomp, |b| {
        b.set("/process/noNewPrivileges", json!(false));
        b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
        b.set("/process/capabilities", json!({}));
    });
    assert_eq!(report.int("seccomp"), 2);
    assert_eq!(report.get("no_new_privs"), &json!(false));
}

#[test]
fn invalid_filters_are_refused_naming_the_field() {
    skip_unless_root!();
    let cases = [
        (
            allow_but(json!([{"names": [], "action": "SCMP_ACT_ERRNO"}])),
            "linux.seccomp.syscalls[0].names",
        ),
        (
            allow_but(json!([{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}])),
            "SCMP_ACT_NOTIFY",
        ),
        (
            allow_but(
                json!([{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 7, "value": 0, "op": "SCMP_CMP_EQ"}]}]),
            ),
            "linux.seccomp.syscalls[0].args[0].index",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 5}),
            "linux.seccomp.defaultErrnoRet",
        ),
        (json!({"defaultAction": "SCMP_ACT_BOGUS"}), "SCMP_ACT_BOGUS"),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}),
            "SCMP_ARCH_VAX",
        ),
    ];
    for (seccomp, keyword) in cases {
        let out = run_with(seccomp, &["/bin/true"], |_| {});
        assert_ne!(exit_code(&out), 0, "{keyword}: accepted");
        assert!(
            stderr_text(&out).contains(keyword),
            "{keyword}: stderr: {}",
            stderr_text(&out)
        );
    }
}

/// Without noNewPrivileges the filter is in before init checks its cwd with getcwd; a
/// filter that denies getcwd (as the OCI validation suite's does) must not fail the start.
#[test]
fn a_filter_denying_getcwd_still_starts_without_no_new_privileges() {
    skip_unless_root!();
    let seccomp = allow_but(json!([{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]));
    let out = run_with(seccomp, &["/bin/sh", "-c", "echo started"], |b| {
        b.set("/process/noNewPrivileges", json!(false))
    });
    assert_eq!(
        stdout_text(&out),
        "started\n",
        "stderr: {}",
        stderr_text(&out)
    );
}
