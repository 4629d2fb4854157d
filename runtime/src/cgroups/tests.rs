//! Tests of Cgroup: on a fake directory tree (any user), and on the host's real cgroupfs (root only).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name no other test run or engineer will pick.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Kills its children and removes its cgroups and directories when dropped, so failed asserts leave nothing.
#[derive(Default)]
struct Cleanup {
    children: Vec<Child>,
    cgroups: Vec<Cgroup>,
    /// Trees removed bottom-up at the end (rmdir only: cgroupfs directories hold control files).
    trees: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for cgroup in self.cgroups.iter().rev() {
            let _ = cgroup.remove();
        }
        for tree in &self.trees {
            rmdir_tree(tree);
        }
    }
}

fn rmdir_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        {
            rmdir_tree(&entry.path());
        }
    }
    let _ = fs::remove_dir(dir);
}

fn fake_hierarchy(controllers: &str, mount_point: PathBuf) -> Hierarchy {
    Hierarchy {
        kind: HierarchyKind::V1 {
            controllers: controllers.into(),
        },
        mount_point,
        mount_root: PathBuf::from("/"),
        own_cgroup: PathBuf::from("/"),
    }
}

fn fake_tree() -> (PathBuf, Cleanup) {
    let base = std::env::temp_dir().join(unique("corral-cgfake"));
    let mut cleanup = Cleanup::default();
    cleanup.trees.push(base.clone());
    for name in ["memory", "pids"] {
        fs::create_dir_all(base.join(name)).expect("mkdir fake mount");
    }
    (base, cleanup)
}

#[test]
fn fake_tree_create_records_only_what_it_made_and_remove_undoes_it() {
    let (base, _cleanup) = fake_tree();
    let hier = Hierarchies {
        v1: vec![
            fake_hierarchy("memory", base.join("memory")),
            fake_hierarchy("pids", base.join("pids")),
        ],
        v2: None,
    };
    fs::create_dir_all(base.join("memory/x/y")).expect("pre-existing leaf");
    let cgroup = Cgroup::create(&hier, Some("/x/y"), "id", false).expect("create");
    assert_eq!(cgroup.created, [base.join("pids/x"), base.join("pids/x/y")]);
    assert_eq!(cgroup.mode(), CgroupMode::V1);
    assert_eq!(
        cgroup.pids_source().map(CgroupDir::host_dir),
        Some(base.join("pids/x/y"))
    );

    let json = serde_json::to_string(&cgroup).expect("serialize");
    assert_eq!(
        serde_json::from_str::<Cgroup>(&json).expect("deserialize"),
        cgroup
    );

    cgroup.remove().expect("remove");
    cgroup.remove().expect("remove is idempotent");
    assert!(!base.join("pids/x").exists());
    assert!(
        base.join("memory/x/y").exists(),
        "a reused leaf is not ours to remove"
    );
    assert_eq!(
        cgroup.pids().expect("pids of a removed cgroup"),
        Vec::<i32>::new()
    );
}

#[test]
fn fake_tree_failed_create_leaves_nothing_behind() {
    let (base, _cleanup) = fake_tree();
    let hier = Hierarchies {
        v1: vec![
            fake_hierarchy("memory", base.join("memory")),
            fake_hierarchy("pids", base.join("absent")),
        ],
        v2: None,
    };
    let err =
        Cgroup::create(&hier, Some("/x/y"), "id", false).expect_err("second hierarchy is missing");
    assert!(matches!(err, CgroupError::CreateDir { .. }), "{err}");
    assert_eq!(fs::read_dir(base.join("memory")).expect("read").count(), 0);
}

#[test]
fn fake_tree_control_file_is_not_a_cgroup() {
    let (base, _cleanup) = fake_tree();
    fs::write(base.join("memory/cgroup.procs"), "").expect("fake control file");
    let hier = Hierarchies {
        v1: vec![fake_hierarchy("memory", base.join("memory"))],
        v2: None,
    };
    let err = Cgroup::create(&hier, Some("/cgroup.procs"), "id", false).expect_err("file");
    assert!(matches!(err, CgroupError::CreateDir { .. }), "{err}");
    fs::remove_file(base.join("memory/cgroup.procs")).expect("rm");
}

/// The host's hierarchies when we may change them (root); None (test skipped) otherwise.
fn live_hierarchies() -> Option<Hierarchies> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return None;
    }
    match Hierarchies::detect() {
        Ok(hier) => Some(hier),
        Err(err) => {
            eprintln!("skipped: {err}");
            None
        }
    }
}

fn spawn_sleeper(cleanup: &mut Cleanup) -> i32 {
    let child = Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    let pid = i32::try_from(child.id()).expect("pid fits i32");
    cleanup.children.push(child);
    pid
}

fn stop_children(cleanup: &mut Cleanup) {
    for mut child in cleanup.children.drain(..) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Track the unique top directory of `path` in every hierarchy, so cleanup catches it even if remove fails.
fn track_top(cleanup: &mut Cleanup, hier: &Hierarchies, top: &str) {
    cleanup
        .trees
        .extend(hier.in_use().iter().map(|h| h.mount_point.join(top)));
}

#[test]
fn live_create_add_list_remove() {
    let Some(hier) = live_hierarchies() else {
        return;
    };
    let mut cleanup = Cleanup::default();
    let top = unique("corral-cgtest");
    track_top(&mut cleanup, &hier, &top);
    let cgroup =
        Cgroup::create(&hier, Some(&format!("/{top}/leaf")), "leaf", false).expect("create");
    cleanup.cgroups.push(cgroup.clone());
    assert_eq!(cgroup.dirs.len(), hier.in_use().len());
    assert_eq!(
        cgroup.created.len(),
        2 * cgroup.dirs.len(),
        "parent and leaf made in each hierarchy"
    );
    if let Some(cpuset) = cgroup.v1_dir("cpuset") {
        assert!(
            !fs::read_to_string(cpuset.file("cpuset.cpus"))
                .expect("cpus")
                .trim()
                .is_empty()
        );
    }

    let pid = spawn_sleeper(&mut cleanup);
    cgroup.add_pid(pid).expect("add pid");
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("proc cgroup");
    assert_eq!(
        own.matches(&format!("/{top}/leaf\n")).count(),
        cgroup.dirs.len(),
        "{own}"
    );
    assert_eq!(cgroup.pids().expect("pids"), [pid]);

    // Processes in sub-cgroups count too, and sub-cgroups are removed first.
    for dir in &cgroup.dirs {
        fs::create_dir(dir.host_dir().join("sub")).expect("mkdir sub");
        if let Some(cpuset) = cgroup.v1_dir("cpuset").filter(|c| *c == dir) {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                fs::write(
                    cpuset.host_dir().join("sub").join(f),
                    fs::read(cpuset.file(f)).expect("read"),
                )
                .expect("w");
            }
        }
        fsops::write_pid(&dir.host_dir().join("sub"), pid).expect("move to sub");
    }
    assert_eq!(cgroup.pids().expect("pids"), [pid]);

    stop_children(&mut cleanup);
    cgroup.remove().expect("remove");
    for path in cgroup.created.iter().chain(
        cgroup
            .dirs
            .iter()
            .map(|d| d.host_dir())
            .collect::<Vec<_>>()
            .iter(),
    ) {
        assert!(!path.exists(), "{} left behind", path.display());
    }
}

#[test]
fn live_in_use_leaf_is_refused_and_empty_leaf_is_reused() {
    let Some(hier) = live_hierarchies() else {
        return;
    };
    let mut cleanup = Cleanup::default();
    let top = unique("corral-cgtest");
    track_top(&mut cleanup, &hier, &top);
    let path = format!("/{top}/shared");
    let first = Cgroup::create(&hier, Some(&path), "a", false).expect("create");
    cleanup.cgroups.push(first.clone());
    let pid = spawn_sleeper(&mut cleanup);
    first.add_pid(pid).expect("add pid");

    let err = Cgroup::create(&hier, Some(&path), "b", false).expect_err("in use");
    assert!(
        matches!(&err, CgroupError::InUse { pids, .. } if pids == &[pid]),
        "{err}"
    );
    assert!(
        err.to_string().contains("in use by another container"),
        "{err}"
    );
    assert!(
        first.dirs.iter().all(|d| d.host_dir().is_dir()),
        "a refused create must not remove others' dirs"
    );

    stop_children(&mut cleanup);
    let reused = Cgroup::create(&hier, Some(&path), "c", false).expect("reuse empty leaf");
    assert!(reused.created.is_empty());
    reused.remove().expect("remove reused");
    assert!(
        first.dirs.iter().all(|d| d.host_dir().is_dir()),
        "reuse must not remove what it did not make"
    );
    first.remove().expect("remove first");
    assert!(first.created.iter().all(|p| !p.exists()));
}

#[test]
fn live_default_and_relative_paths() {
    let Some(hier) = live_hierarchies() else {
        return;
    };
    let mut cleanup = Cleanup::default();
    let id = unique("corral-cgtest");
    let default = Cgroup::create(&hier, None, &id, false).expect("create default");
    cleanup.cgroups.push(default.clone());
    assert!(
        default
            .dirs
            .iter()
            .all(|d| d.path == Path::new("/corral").join(&id))
    );
    if hier.mode() != CgroupMode::V1 {
        assert!(default.v2_dir_fd().expect("v2 dir").is_ok());
    }
    default.remove().expect("remove default");
    assert!(default.dirs.iter().all(|d| !d.host_dir().exists()));

    let top = unique("corral-cgtest");
    let relative =
        Cgroup::create(&hier, Some(&format!("{top}/r")), &id, false).expect("create relative");
    cleanup.cgroups.push(relative.clone());
    cleanup.trees.extend(relative.created.iter().cloned());
    for (dir, h) in relative.dirs.iter().zip(hier.in_use()) {
        let own = h.own_cgroup_in_mount().expect("own cgroup visible");
        let base = if dir.kind == HierarchyKind::V2 {
            own.parent().unwrap_or(Path::new("/"))
        } else {
            &own
        };
        assert_eq!(dir.path, base.join(&top).join("r"));
    }
    relative.remove().expect("remove relative");
    assert!(relative.created.iter().all(|p| !p.exists()));
}

#[test]
fn live_remove_right_after_kill_waits_for_the_process_to_leave() {
    let Some(hier) = live_hierarchies() else {
        return;
    };
    let mut cleanup = Cleanup::default();
    let top = unique("corral-cgtest");
    track_top(&mut cleanup, &hier, &top);
    let cgroup =
        Cgroup::create(&hier, Some(&format!("/{top}/leaf")), "leaf", false).expect("create");
    cleanup.cgroups.push(cgroup.clone());
    let pid = spawn_sleeper(&mut cleanup);
    cgroup.add_pid(pid).expect("add pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    // Not reaped yet: the kernel may still count the dying process for a moment.
    cgroup.remove().expect("remove");
    assert!(cgroup.created.iter().all(|p| !p.exists()));
}

#[test]
fn live_remove_of_a_busy_cgroup_reports_its_pids() {
    let Some(hier) = live_hierarchies() else {
        return;
    };
    let mut cleanup = Cleanup::default();
    let top = unique("corral-cgtest");
    track_top(&mut cleanup, &hier, &top);
    let cgroup =
        Cgroup::create(&hier, Some(&format!("/{top}/leaf")), "leaf", false).expect("create");
    cleanup.cgroups.push(cgroup.clone());
    let pid = spawn_sleeper(&mut cleanup);
    cgroup.add_pid(pid).expect("add pid");
    let err = cgroup.remove().expect_err("busy");
    assert!(
        matches!(&err, CgroupError::StillBusy { pids, .. } if pids == &[pid]),
        "{err}"
    );
    stop_children(&mut cleanup);
    cgroup.remove().expect("remove after the process died");
}
