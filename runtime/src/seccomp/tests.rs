use oci_spec::runtime::LinuxSeccomp;

use super::{SeccompError, SeccompPlan};

fn compile(json: &str) -> Result<SeccompPlan, SeccompError> {
    let cfg: LinuxSeccomp = serde_json::from_str(json).expect("test config parses");
    SeccompPlan::compile(&cfg, true)
}

fn invalid_field(json: &str) -> String {
    match compile(json) {
        Err(SeccompError::Invalid { field, .. }) => field,
        Err(e) => panic!("expected a validation error, got {e}"),
        Ok(_) => panic!("expected a validation error for {json}"),
    }
}

#[test]
fn compiles_every_operator_and_action() {
    let plan = compile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [
              {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
              {"names": ["personality"], "action": "SCMP_ACT_KILL", "args": [
                 {"index": 0, "value": 1, "op": "SCMP_CMP_NE"}, {"index": 1, "value": 2, "op": "SCMP_CMP_LT"},
                 {"index": 2, "value": 3, "op": "SCMP_CMP_LE"}, {"index": 3, "value": 4, "op": "SCMP_CMP_EQ"},
                 {"index": 4, "value": 5, "op": "SCMP_CMP_GE"}, {"index": 5, "value": 6, "op": "SCMP_CMP_GT"}]},
              {"names": ["openat"], "action": "SCMP_ACT_TRACE", "errnoRet": 7, "args": [
                 {"index": 2, "value": 64, "valueTwo": 64, "op": "SCMP_CMP_MASKED_EQ"},
                 {"index": 2, "value": 1, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}]},
              {"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS"}, {"names": ["tkill"], "action": "SCMP_ACT_KILL_THREAD"},
              {"names": ["uname"], "action": "SCMP_ACT_LOG"}, {"names": ["getpid"], "action": "SCMP_ACT_TRAP"},
              {"names": ["getppid"], "action": "SCMP_ACT_ALLOW"},
              {"names": ["no_such_syscall_anywhere"], "action": "SCMP_ACT_ERRNO"}
            ]}"#,
    )
    .expect("compiles");
    assert!(!plan.program.is_empty());
    let all = libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_TSYNC | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    assert_eq!(plan.flags, all);
    assert!(!plan.before_caps_drop);
}

#[test]
fn without_no_new_privs_loads_before_caps_drop() {
    let cfg: LinuxSeccomp = serde_json::from_str(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#).expect("parses");
    assert!(SeccompPlan::compile(&cfg, false).expect("compiles").before_caps_drop);
}

#[test]
fn refuses_with_the_field_named() {
    let base = |syscalls: &str| format!(r#"{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{syscalls}]}}"#);
    assert_eq!(invalid_field(&base(r#"{"names": [], "action": "SCMP_ACT_ALLOW"}"#)), "linux.seccomp.syscalls[0].names");
    assert_eq!(invalid_field(&base(r#"{"names": [""], "action": "SCMP_ACT_ALLOW"}"#)), "linux.seccomp.syscalls[0].names[0]");
    assert_eq!(
        invalid_field(&base(r#"{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}"#)),
        "linux.seccomp.syscalls[0].errnoRet"
    );
    assert_eq!(
        invalid_field(&base(r#"{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}"#)),
        "linux.seccomp.syscalls[0].errnoRet"
    );
    assert_eq!(
        invalid_field(&base(r#"{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}"#)),
        "linux.seccomp.syscalls[0].args[0].index"
    );
    assert_eq!(invalid_field(&base(r#"{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}"#)), "linux.seccomp.syscalls[0].action");
    assert_eq!(invalid_field(r#"{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}"#), "linux.seccomp.defaultErrnoRet");
    assert_eq!(
        invalid_field(r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#),
        "linux.seccomp.flags[0]"
    );
    assert_eq!(invalid_field(r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}"#), "linux.seccomp.listenerPath");
}

#[test]
fn unknown_names_are_refused_by_the_config_parser() {
    for bad in [
        r#"{"defaultAction": "SCMP_ACT_BOGUS"}"#,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PDP11"]}"#,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_ABOUT"}]}]}"#,
    ] {
        assert!(serde_json::from_str::<LinuxSeccomp>(bad).is_err(), "{bad} should not parse");
    }
}

#[test]
fn lists_the_native_architecture() {
    let arches = super::supported_architectures();
    assert!(arches.iter().any(|a| a == "SCMP_ARCH_X86_64" || a == "SCMP_ARCH_AARCH64"), "{arches:?}");
}

/// Shapes found in container engines' default profiles: a deny-by-default filter with
/// one syscall in several entries (different argument values, same action), a masked
/// condition, an unconditional entry after a conditional one, and an errno override.
#[test]
fn compiles_a_default_profile_shape() {
    let plan = compile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
              {"names": ["read", "write", "openat", "close", "execve", "exit_group", "socketcall", "ipc"], "action": "SCMP_ACT_ALLOW"},
              {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
              {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
              {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}]},
              {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
              {"names": ["clone"], "action": "SCMP_ACT_ALLOW"},
              {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
              {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
            ]}"#,
    )
    .expect("compiles");
    assert!(plan.program.len() > 10);
}

/// Syscalls that exist only on other architectures (libseccomp knows them as pseudo
/// numbers) are accepted in a native-only filter and simply match nothing.
#[test]
fn other_architectures_syscalls_in_a_native_filter() {
    compile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["socketcall", "arm_fadvise64_64", "read"], "action": "SCMP_ACT_ALLOW"}]}"#,
    )
    .expect("compiles");
}
