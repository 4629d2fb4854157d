//! config.json `process` settings, checked from inside the container by the
//! probe: args, env, cwd, user, umask, rlimits, noNewPrivileges,
//! oomScoreAdj and capabilities.

mod support;

use corral_tests::*;
use serde_json::json;
use support::{assert_caps, cap_mask, report};

#[test]
fn args_reach_the_process_unsplit_and_in_order() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let script = r#"printf '<%s>' "$0" "$@""#;
    bundle.set_args(&["/bin/sh", "-c", script, "zero", "one two", "", "three"]);
    let id = unique_id();
    let out = rt.run(&bundle, &id, &[]);
    assert_ok(&out, "run sh printf args");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "<zero><one two><><three>"
    );
    rt.assert_no_leftovers(&id, &bundle);
}

#[test]
fn probe_sees_its_configured_argv() {
    skip_unless_root!();
    let rt = Runtime::new();
    let report = report(&rt, &mut Bundle::new());
    assert_eq!(report.get("args"), &json!(["/bin/probe", "report"]));
}

#[test]
fn env_is_exactly_the_configured_list() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let env = ["PATH=/bin", "HOME=/root", "GREETING=hello world", "EMPTY="];
    bundle.set("/process/env", json!(env));
    let mut seen = report(&rt, &mut bundle).env();
    seen.sort();
    let mut want: Vec<String> = env.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(seen, want);
}

/// runc sets HOME from the user's /etc/passwd entry when the config has none.
#[test]
fn home_defaults_to_the_passwd_entry_of_the_user() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/process/env", json!(["PATH=/bin"]));
    bundle.set("/process/user", json!({ "uid": 1000, "gid": 1000 }));
    let report = report(&rt, &mut bundle);
    assert_eq!(report.env_var("HOME").as_deref(), Some("/home/probe"));
}

#[test]
fn cwd_is_the_configured_directory() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/process/cwd", json!("/tmp"));
    assert_eq!(report(&rt, &mut bundle).str("cwd"), "/tmp");
}

/// Like runc, a cwd missing from the rootfs is created (even with a
/// read-only root, since it is made before the remount).
#[test]
fn missing_cwd_is_created() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/process/cwd", json!("/not/there/yet"));
    assert_eq!(report(&rt, &mut bundle).str("cwd"), "/not/there/yet");
    assert!(bundle.rootfs().join("not/there/yet").is_dir());
}

#[test]
fn user_uid_and_gid_apply() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/process/user", json!({ "uid": 1000, "gid": 100 }));
    let report = report(&rt, &mut bundle);
    assert_eq!(
        [
            report.int("uid"),
            report.int("euid"),
            report.int("gid"),
            report.int("egid")
        ],
        [1000, 1000, 100, 100]
    );
}

#[test]
fn additional_gids_are_the_supplementary_groups() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let user = json!({ "uid": 1000, "gid": 1000, "additionalGids": [5, 42] });
    bundle.set("/process/user", user);
    let mut groups = report(&rt, &mut bundle).groups();
    groups.sort_unstable();
    assert_eq!(groups, [5, 42]);
}

#[test]
fn umask_applies() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/process/user/umask", json!(0o027));
    assert_eq!(report(&rt, &mut bundle).str("umask"), "0027");
}

/// Our own hard limit for open files (the container cannot exceed it: the
/// sandbox lacks CAP_SYS_RESOURCE).
fn own_nofile_hard_limit() -> i64 {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("read limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("limits has open files");
    let hard = line.split_whitespace().nth(4).expect("hard limit column");
    hard.parse().unwrap_or(i64::MAX)
}

#[test]
fn rlimit_nofile_soft_and_hard_apply() {
    skip_unless_root!();
    assert!(
        own_nofile_hard_limit() >= 1024,
        "test needs a hard limit >= 1024"
    );
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let limit = json!([{ "type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024 }]);
    bundle.set("/process/rlimits", limit);
    assert_eq!(
        report(&rt, &mut bundle).rlimit("RLIMIT_NOFILE"),
        (512, 1024)
    );
}

fn no_new_privs_with(setting: bool) -> bool {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/process/noNewPrivileges", json!(setting));
    report(&rt, &mut bundle)
        .get("no_new_privs")
        .as_bool()
        .expect("no_new_privs is a bool")
}

#[test]
fn no_new_privileges_true_sets_the_flag() {
    skip_unless_root!();
    assert!(no_new_privs_with(true), "NoNewPrivs should be 1");
}

#[test]
fn no_new_privileges_false_leaves_the_flag_clear() {
    skip_unless_root!();
    assert!(!no_new_privs_with(false), "NoNewPrivs should be 0");
}

#[test]
fn oom_score_adj_applies() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set("/process/oomScoreAdj", json!(500));
    assert_eq!(report(&rt, &mut bundle).int("oom_score_adj"), 500);
}

/// For root the kernel recomputes permitted and effective at exec from the
/// bounding and inheritable sets, so the config keeps them consistent.
#[test]
fn root_capability_sets_are_exactly_the_configured_ones() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let two = ["CAP_CHOWN", "CAP_KILL"];
    let caps = json!({ "bounding": two, "effective": two, "permitted": two });
    bundle.set("/process/capabilities", caps);
    let report = report(&rt, &mut bundle);
    let want = cap_mask(&two);
    assert_caps("Bnd", report.caps("bnd"), want);
    assert_caps("Prm", report.caps("prm"), want);
    assert_caps("Eff", report.caps("eff"), want);
    assert_caps("Inh", report.caps("inh"), 0);
    assert_caps("Amb", report.caps("amb"), 0);
}

/// The generated spec lists no inheritable set: the process must get an
/// empty one, whatever the runtime itself holds.
#[test]
fn inheritable_set_is_empty_when_config_gives_none() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    assert!(
        bundle.config()["process"]["capabilities"]
            .get("inheritable")
            .is_none(),
        "the generated spec has no inheritable set"
    );
    assert_caps("Inh", report(&rt, &mut bundle).caps("inh"), 0);
}

/// A non-root user keeps after exec only what is ambient: the ambient
/// capability ends up permitted and effective; the other sets are as given.
#[test]
fn ambient_capability_of_non_root_user_survives_exec() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let bounding = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let kept = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let ambient = ["CAP_NET_BIND_SERVICE"];
    let caps = json!({
        "bounding": bounding,
        "permitted": kept,
        "effective": kept,
        "inheritable": ambient,
        "ambient": ambient,
    });
    bundle.set("/process/capabilities", caps);
    bundle.set("/process/user", json!({ "uid": 1000, "gid": 1000 }));
    let report = report(&rt, &mut bundle);
    assert_eq!(report.int("uid"), 1000);
    let bind_service = cap_mask(&ambient);
    assert_eq!(bind_service, 1 << 10);
    assert_caps("Amb", report.caps("amb"), bind_service);
    assert_caps("Eff", report.caps("eff"), bind_service);
    assert_caps("Prm", report.caps("prm"), bind_service);
    assert_caps("Inh", report.caps("inh"), bind_service);
    assert_caps("Bnd", report.caps("bnd"), cap_mask(&bounding));
}

/// Without ambient capabilities a non-root user has none after exec.
#[test]
fn non_root_user_without_ambient_has_no_effective_capabilities() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let some = ["CAP_CHOWN", "CAP_KILL"];
    let caps = json!({ "bounding": some, "permitted": some, "effective": some });
    bundle.set("/process/capabilities", caps);
    bundle.set("/process/user", json!({ "uid": 1000, "gid": 1000 }));
    let report = report(&rt, &mut bundle);
    assert_caps("Eff", report.caps("eff"), 0);
    assert_caps("Prm", report.caps("prm"), 0);
    assert_caps("Bnd", report.caps("bnd"), cap_mask(&some));
}
