//! Plain file operations on cgroupfs: making and removing directories, reading and writing cgroup.procs.

use std::fs::{self, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::{Component, Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::{CgroupDir, CgroupError};

/// The file listing a cgroup's processes (thread-group ids), in v1 and v2 alike.
pub const PROCS_FILE: &str = "cgroup.procs";

/// How often to retry an rmdir that fails with EBUSY while processes leave the cgroup.
const BUSY_RETRY: Duration = Duration::from_millis(10);

/// How many times to restart a directory walk when a concurrent delete removes a shared parent under us.
const MKDIR_ATTEMPTS: usize = 10;

/// Make every missing directory from `dir`'s mount point down to its leaf, appending the ones made to `created`
/// (shallowest first). Returns true when the leaf already existed.
pub(crate) fn make_path(dir: &CgroupDir, created: &mut Vec<PathBuf>) -> Result<bool, CgroupError> {
    let mut attempt = 1;
    loop {
        match make_path_once(dir, created) {
            // ENOENT: another container's delete removed a shared parent between our mkdirs; walk again.
            Err(CgroupError::CreateDir { source, .. })
                if source.kind() == ErrorKind::NotFound
                    && attempt < MKDIR_ATTEMPTS
                    && dir.mount_point.is_dir() =>
            {
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn make_path_once(dir: &CgroupDir, created: &mut Vec<PathBuf>) -> Result<bool, CgroupError> {
    let mut current = dir.mount_point.clone();
    let mut leaf_existed = false;
    for part in dir
        .path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
    {
        current.push(part);
        let create_error = |source| CgroupError::CreateDir {
            path: current.clone(),
            source,
        };
        match fs::create_dir(&current) {
            Ok(()) => {
                created.push(current.clone());
                leaf_existed = false;
            }
            Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                // A control file (e.g. cgroupsPath "/cgroup.procs") is not a place for a container.
                // Gone by now: a concurrent delete removed a shared parent; the caller walks again.
                match fs::metadata(&current) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => return Err(create_error(io::Error::from_raw_os_error(libc::ENOTDIR))),
                    Err(err) => return Err(create_error(err)),
                }
                leaf_existed = true;
            }
            Err(err) => return Err(create_error(err)),
        }
    }
    Ok(leaf_existed)
}

/// Remove the directories in `created`, deepest first, ignoring errors: used to undo a failed create.
pub(crate) fn undo(created: &[PathBuf]) {
    for dir in created.iter().rev() {
        let _ = fs::remove_dir(dir);
    }
}

/// Write `pid` into `dir`'s cgroup.procs.
pub(crate) fn write_pid(dir: &Path, pid: i32) -> Result<(), CgroupError> {
    let path = dir.join(PROCS_FILE);
    let result = OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(pid.to_string().as_bytes()));
    result.map_err(|source| {
        let hint = CgroupError::add_pid_hint(&source);
        CgroupError::AddPid {
            pid,
            path,
            source,
            hint,
        }
    })
}

/// The pids listed in `dir`'s own cgroup.procs; empty when the cgroup does not exist (any more).
pub(crate) fn read_pids(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let path = dir.join(PROCS_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(CgroupError::ReadProcs { path, source }),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim().parse().map_err(|_| CgroupError::BadPid {
                path: path.clone(),
                text: l.to_string(),
            })
        })
        .collect()
}

/// The pids of `dir` and every sub-cgroup below it, appended to `out` (may hold duplicates).
pub(crate) fn read_pids_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    out.extend(read_pids(dir)?);
    for child in sub_cgroups(dir)? {
        read_pids_recursive(&child, out)?;
    }
    Ok(())
}

/// The sub-cgroup directories directly below `dir`; none when `dir` is gone.
fn sub_cgroups(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let read_error = |source| CgroupError::ReadProcs {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(read_error(err)),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_error)?;
        // cgroupfs has only directories and regular control files; file_type needs no extra stat here.
        if entry.file_type().map_err(read_error)?.is_dir() {
            dirs.push(entry.path());
        }
    }
    Ok(dirs)
}

/// Remove the sub-cgroups of `dir` depth-first, then `dir` itself when `remove_self`.
/// EBUSY is retried until `deadline`, because killed processes take a moment to leave their cgroup.
pub(crate) fn remove_tree(
    dir: &Path,
    remove_self: bool,
    deadline: Instant,
) -> Result<(), CgroupError> {
    for child in sub_cgroups(dir)? {
        remove_tree(&child, true, deadline)?;
    }
    if remove_self {
        remove_dir_waiting(dir, deadline)
    } else {
        Ok(())
    }
}

fn remove_dir_waiting(dir: &Path, deadline: Instant) -> Result<(), CgroupError> {
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
            Err(err) if err.raw_os_error() == Some(libc::EBUSY) => {
                if Instant::now() >= deadline {
                    let mut pids = Vec::new();
                    read_pids_recursive(dir, &mut pids)?;
                    if pids.is_empty() {
                        return Err(CgroupError::RemoveDir {
                            path: dir.to_path_buf(),
                            source: err,
                        });
                    }
                    return Err(CgroupError::StillBusy {
                        path: dir.to_path_buf(),
                        pids,
                    });
                }
                thread::sleep(BUSY_RETRY);
            }
            Err(source) => {
                return Err(CgroupError::RemoveDir {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
}

/// Remove a parent directory we created, unless something else (another container) now lives in it.
pub(crate) fn remove_parent_if_unused(dir: &Path) -> Result<(), CgroupError> {
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) if matches!(err.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => Ok(()),
        Err(source) => Err(CgroupError::RemoveDir {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Read a small control file, trimmed; None when it does not exist.
pub(crate) fn read_control(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Write a control file that must already exist (cgroupfs creates them; we never do).
pub(crate) fn write_control(path: &Path, value: &str) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(value.as_bytes())
}
