//! OCI bundles for tests: a busybox + probe rootfs and an editable config.json.

use crate::paths::{corral_bin, probe_bin};
use crate::tempdir::TempDir;
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Busybox applets linked into rootfs/bin.
const APPLETS: &[&str] = &[
    "sh", "true", "false", "sleep", "cat", "echo", "ls", "id", "ps", "mount", "umount", "env",
    "kill", "mkdir", "rm", "touch", "stat", "grep", "head", "tail", "hostname", "uname", "ln",
    "chmod", "readlink", "wc", "test", "printf", "pwd", "cut", "tr", "sed", "find", "wait",
    "mknod", "whoami",
];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
probe:x:1000:1000:probe:/home/probe:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

const GROUP: &str = "root:x:0:\nusers:x:100:probe\nprobe:x:1000:\nnogroup:x:65534:\n";

/// A bundle directory with `rootfs/` and `config.json`.
///
/// `config.json` starts as the output of `<runtime> spec` with
/// `process.terminal` set to false. Setters write the file at once; after
/// editing through `config_mut()`, call `save()`.
pub struct Bundle {
    dir: TempDir,
    config: Value,
}

impl Bundle {
    pub fn new() -> Bundle {
        let dir = TempDir::new("bundle");
        build_rootfs(&dir.path().join("rootfs"));
        generate_spec(dir.path());
        let config = read_config(dir.path());
        let mut bundle = Bundle { dir, config };
        bundle.set_terminal(false);
        bundle
    }

    /// A bundle whose container runs `/bin/probe <args>`.
    pub fn with_probe(args: &[&str]) -> Bundle {
        let mut bundle = Bundle::new();
        bundle.set_probe_args(args);
        bundle
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The bundle path as text, for command lines.
    pub fn path_str(&self) -> &str {
        self.path().to_str().expect("temp paths are UTF-8")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("config.json")
    }

    pub fn config(&self) -> &Value {
        &self.config
    }

    pub fn config_mut(&mut self) -> &mut Value {
        &mut self.config
    }

    /// Writes the in-memory config to config.json.
    pub fn save(&self) {
        let text = serde_json::to_string_pretty(&self.config).expect("config serialises");
        fs::write(self.config_path(), text).expect("write config.json");
    }

    /// Sets the JSON value at `pointer` (e.g. "/process/cwd"), creating
    /// missing objects on the way, and saves.
    pub fn set(&mut self, pointer: &str, value: Value) {
        *pointer_entry(&mut self.config, pointer) = value;
        self.save();
    }

    /// Removes the value at `pointer` (if present) and saves.
    pub fn remove(&mut self, pointer: &str) {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer starts with /");
        if let Some(Value::Object(map)) = self.config.pointer_mut(parent) {
            map.remove(key);
        }
        self.save();
    }

    pub fn set_args(&mut self, args: &[&str]) {
        self.set("/process/args", json!(args));
    }

    /// Runs the probe in the container: `/bin/probe <args>`.
    pub fn set_probe_args(&mut self, args: &[&str]) {
        let mut full = vec!["/bin/probe"];
        full.extend_from_slice(args);
        self.set_args(&full);
    }

    pub fn set_terminal(&mut self, terminal: bool) {
        self.set("/process/terminal", json!(terminal));
    }

    /// Adds `{type, path?}` to linux.namespaces, replacing one of that type.
    pub fn set_namespace(&mut self, kind: &str, path: Option<&str>) {
        let mut entry = json!({ "type": kind });
        if let Some(path) = path {
            entry["path"] = json!(path);
        }
        let list = self.namespaces_mut();
        list.retain(|ns| ns["type"] != kind);
        list.push(entry);
        self.save();
    }

    pub fn remove_namespace(&mut self, kind: &str) {
        self.namespaces_mut().retain(|ns| ns["type"] != kind);
        self.save();
    }

    fn namespaces_mut(&mut self) -> &mut Vec<Value> {
        let list = pointer_entry(&mut self.config, "/linux/namespaces");
        if !list.is_array() {
            *list = json!([]);
        }
        list.as_array_mut().expect("namespaces is an array")
    }

    /// Appends a hook to `hooks.<kind>` (e.g. "createRuntime").
    pub fn add_hook(&mut self, kind: &str, path: &Path, args: &[&str], timeout: Option<u64>) {
        let mut hook = json!({ "path": path, "args": args });
        if let Some(secs) = timeout {
            hook["timeout"] = json!(secs);
        }
        let list = pointer_entry(&mut self.config, &format!("/hooks/{kind}"));
        if !list.is_array() {
            *list = json!([]);
        }
        list.as_array_mut()
            .expect("hook list is an array")
            .push(hook);
        self.save();
    }

    /// Writes an executable `#!/bin/sh` script into the bundle directory
    /// (hooks run on the host, so they need host paths) and returns its path.
    pub fn write_script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.path().join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod script");
        path
    }
}

impl Default for Bundle {
    fn default() -> Self {
        Bundle::new()
    }
}

/// The value at a JSON pointer, creating missing objects along the way.
fn pointer_entry<'a>(root: &'a mut Value, pointer: &str) -> &'a mut Value {
    let mut node = root;
    for key in pointer.split('/').skip(1) {
        if !node.is_object() {
            *node = json!({});
        }
        node = node
            .as_object_mut()
            .expect("just made an object")
            .entry(key)
            .or_insert(Value::Null);
    }
    node
}

fn build_rootfs(rootfs: &Path) {
    for dir in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "home/probe",
    ] {
        fs::create_dir_all(rootfs.join(dir)).expect("create rootfs dir");
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    let bin = rootfs.join("bin");
    fs::copy("/bin/busybox", bin.join("busybox"))
        .expect("copy /bin/busybox (install busybox-static)");
    for applet in APPLETS {
        symlink("busybox", bin.join(applet)).expect("link busybox applet");
    }
    fs::copy(probe_bin(), bin.join("probe")).expect("copy probe");
    fs::write(rootfs.join("etc/passwd"), PASSWD).expect("write passwd");
    fs::write(rootfs.join("etc/group"), GROUP).expect("write group");
}

/// Runs `<runtime> spec` in the bundle directory, as a user of runc would.
fn generate_spec(dir: &Path) {
    let out = Command::new(corral_bin())
        .arg("spec")
        .current_dir(dir)
        .output()
        .expect("run `<runtime> spec`");
    assert!(
        out.status.success(),
        "`{} spec` failed ({}): {}",
        corral_bin().display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read_config(dir: &Path) -> Value {
    let path = dir.join("config.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "`{} spec` succeeded but {} is unreadable: {e}",
            corral_bin().display(),
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "`{} spec` wrote invalid JSON ({e}): {text}",
            corral_bin().display()
        )
    })
}
