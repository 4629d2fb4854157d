//! config.json hooks: all six kinds run at their lifecycle step and in the
//! spec's order, get the state on stdin, honour args and env, and run in
//! the namespace the spec says.
//!
//! The hooks log into a host directory that is also bind-mounted into the
//! container at the same absolute path, so one script path works both on
//! the host and inside the container (startContainer runs in there).
//! Hook timeouts are covered by bad_input.rs.
//!
//! Expected to fail on runc 1.1.5: `hooks_run_at_their_lifecycle_step_in_spec_order`
//! (it runs poststart during create) and `hooks_get_the_container_state_on_stdin`
//! (createContainer and startContainer hooks get pid 1, the pid inside the
//! container, not the host pid the spec's state asks for).

mod support;

use corral_tests::tempdir::TempDir;
use corral_tests::*;
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::add_bind;

const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Hook kinds in the order the runtime spec's lifecycle invokes them.
/// (runc 1.1 runs poststart already at create: runc issue #1710, fixed
/// upstream by runc PR #5186.)
const KINDS_IN_ORDER: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// A host directory for hook scripts and their output, bind-mounted into
/// the container at the same path.
struct HookDir {
    dir: TempDir,
}

impl HookDir {
    fn new(bundle: &mut Bundle) -> HookDir {
        let dir = TempDir::new("hooks");
        let path = dir.path().to_str().expect("UTF-8 path").to_string();
        add_bind(bundle, dir.path(), &path, &["bind"]);
        HookDir { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes an executable shell script (busybox sh in the container,
    /// the host's sh outside) and returns its path.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        write_script(&self.path(name), body)
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// The "<kind> <state JSON>" lines the logging hook wrote.
    fn log(&self) -> Vec<(String, Value)> {
        self.read("hooks.log")
            .lines()
            .map(|line| {
                let (kind, state) = line.split_once(' ').unwrap_or((line, ""));
                let state = serde_json::from_str(state).unwrap_or(Value::Null);
                (kind.to_string(), state)
            })
            .collect()
    }

    fn logged_kinds(&self) -> Vec<String> {
        self.log().into_iter().map(|(kind, _)| kind).collect()
    }
}

fn write_script(path: &Path, body: &str) -> PathBuf {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write hook script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod hook script");
    path.to_path_buf()
}

/// Appends `{path, args, env}` to hooks.<kind>.
fn add_hook(bundle: &mut Bundle, kind: &str, path: &Path, args: &[&str], env: &[&str]) {
    let hook = json!({ "path": path, "args": args, "env": env });
    let hooks = &mut bundle.config_mut()["hooks"];
    if !hooks.is_object() {
        *hooks = json!({});
    }
    let list = &mut hooks[kind];
    if !list.is_array() {
        *list = json!([]);
    }
    list.as_array_mut().expect("hook list").push(hook);
    bundle.save();
}

const HOOK_ENV: [&str; 1] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"];

/// A pausing container with the logging hook registered for every kind.
fn bundle_logging_all_hooks() -> (Bundle, HookDir) {
    let mut bundle = Bundle::new();
    bundle.set_probe_args(&["pause"]);
    let hooks = HookDir::new(&mut bundle);
    let log = hooks.path("hooks.log");
    let body = format!(
        "state=$(/bin/cat)\nprintf '%s %s\\n' \"$1\" \"$state\" >> {}",
        log.display()
    );
    let script = hooks.script("log-hook", &body);
    for kind in KINDS_IN_ORDER {
        add_hook(&mut bundle, kind, &script, &["log-hook", kind], &HOOK_ENV);
    }
    (bundle, hooks)
}

fn stop_and_delete(rt: &Runtime, id: &str) {
    assert_ok(&rt.kill(id, "KILL"), "kill");
    rt.wait_for_status(id, "stopped", STOP_TIMEOUT);
    assert_ok(&rt.delete(id, false), "delete");
}

#[test]
fn hooks_run_at_their_lifecycle_step_in_spec_order() {
    skip_unless_root!();
    let rt = Runtime::new();
    let (bundle, hooks) = bundle_logging_all_hooks();
    let id = unique_id();
    assert_ok(&rt.create(&bundle, &id, &[]), "create");
    assert_eq!(hooks.logged_kinds(), KINDS_IN_ORDER[..3], "after create");
    assert_ok(&rt.start(&id), "start");
    assert_eq!(hooks.logged_kinds(), KINDS_IN_ORDER[..5], "after start");
    stop_and_delete(&rt, &id);
    assert_eq!(hooks.logged_kinds(), KINDS_IN_ORDER, "after delete");
    rt.assert_no_leftovers(&id, &bundle);
}

#[test]
fn hooks_get_the_container_state_on_stdin() {
    skip_unless_root!();
    let rt = Runtime::new();
    let (bundle, hooks) = bundle_logging_all_hooks();
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    stop_and_delete(&rt, &id);
    let log = hooks.log();
    assert_eq!(
        log.len(),
        KINDS_IN_ORDER.len(),
        "one line per hook: {log:?}"
    );
    let bundle_path = bundle.path().to_str().expect("UTF-8 path");
    for (kind, state) in &log {
        assert_eq!(state["id"], id.as_str(), "{kind} state: {state}");
        assert_eq!(state["bundle"], bundle_path, "{kind} state: {state}");
        assert!(state["ociVersion"].is_string(), "{kind} state: {state}");
    }
    // After the process is gone (poststop) the pid may be absent or stale.
    let wrong_pid: Vec<String> = log
        .iter()
        .filter(|(kind, state)| kind != "poststop" && state["pid"] != pid)
        .map(|(kind, state)| format!("{kind}: {}", state["pid"]))
        .collect();
    assert!(
        wrong_pid.is_empty(),
        "hooks not given init's host pid {pid}: {wrong_pid:?}"
    );
    rt.assert_no_leftovers(&id, &bundle);
}

/// The hook is busybox, which picks its applet from argv[0]: it only runs
/// as a shell if the runtime passes args[0] as argv[0].
#[test]
fn hook_args_and_env_are_honoured() {
    skip_unless_root!();
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_args(&["/bin/true"]);
    let hooks = HookDir::new(&mut bundle);
    let out = hooks.path("args");
    let script = format!(
        "printf '%s|%s|%s|%s' \"$0\" \"$1\" \"$2\" \"$HOOK_VAR\" > {}",
        out.display()
    );
    let busybox = bundle.rootfs().join("bin/busybox");
    let args = ["sh", "-c", &script, "zero", "one", "two words"];
    add_hook(
        &mut bundle,
        "createRuntime",
        &busybox,
        &args,
        &["HOOK_VAR=hello there"],
    );
    let id = unique_id();
    assert_ok(&rt.run(&bundle, &id, &[]), "run");
    assert_eq!(hooks.read("args"), "zero|one|two words|hello there");
    rt.assert_no_leftovers(&id, &bundle);
}

/// Writes a script at `file` that records its mount namespace in
/// `<kind>.ns`, and registers it as a `kind` hook at `hook_path`.
fn record_mount_namespace(
    bundle: &mut Bundle,
    hooks: &HookDir,
    kind: &str,
    file: &Path,
    hook_path: &Path,
) {
    let out = hooks.path(&format!("{kind}.ns"));
    let body = format!("/bin/readlink /proc/self/ns/mnt > {}", out.display());
    write_script(file, &body);
    add_hook(bundle, kind, hook_path, &["ns-hook"], &HOOK_ENV);
}

/// Creates and starts a pausing container with one namespace-recording
/// hook; returns what the hook recorded and the init's mount namespace.
fn hook_and_init_mount_namespaces(kind: &str, script_in_rootfs: bool) -> (String, String) {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.set_probe_args(&["pause"]);
    let hooks = HookDir::new(&mut bundle);
    // Inside the rootfs the script only exists at /bin/ns-hook: a runtime
    // that looked it up on the host would not find it.
    let (script, hook_path) = if script_in_rootfs {
        (
            bundle.rootfs().join("bin/ns-hook"),
            PathBuf::from("/bin/ns-hook"),
        )
    } else {
        (hooks.path("ns-hook"), hooks.path("ns-hook"))
    };
    record_mount_namespace(&mut bundle, &hooks, kind, &script, &hook_path);
    let id = unique_id();
    let pid = rt.create_and_start(&bundle, &id);
    let init_ns = fs::read_link(format!("/proc/{pid}/ns/mnt")).expect("init's mnt ns");
    stop_and_delete(&rt, &id);
    rt.assert_no_leftovers(&id, &bundle);
    let seen = hooks.read(&format!("{kind}.ns")).trim().to_string();
    (seen, init_ns.to_string_lossy().into_owned())
}

#[test]
fn create_runtime_hook_runs_in_the_runtime_mount_namespace() {
    skip_unless_root!();
    let (hook_ns, init_ns) = hook_and_init_mount_namespaces("createRuntime", false);
    let host = fs::read_link("/proc/self/ns/mnt").expect("own mnt ns");
    assert_eq!(hook_ns, host.to_string_lossy());
    assert_ne!(hook_ns, init_ns);
}

#[test]
fn create_container_hook_runs_in_the_container_mount_namespace() {
    skip_unless_root!();
    let (hook_ns, init_ns) = hook_and_init_mount_namespaces("createContainer", false);
    assert_eq!(hook_ns, init_ns);
}

#[test]
fn start_container_hook_runs_inside_the_container() {
    skip_unless_root!();
    let (hook_ns, init_ns) = hook_and_init_mount_namespaces("startContainer", true);
    assert_eq!(
        hook_ns, init_ns,
        "the hook at /bin/ns-hook of the rootfs ran"
    );
}

#[test]
fn poststart_hook_runs_in_the_runtime_mount_namespace() {
    skip_unless_root!();
    let (hook_ns, _) = hook_and_init_mount_namespaces("poststart", false);
    let host = fs::read_link("/proc/self/ns/mnt").expect("own mnt ns");
    assert_eq!(hook_ns, host.to_string_lossy());
}
