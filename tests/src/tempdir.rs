//! Unique temporary directories, removed on drop.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A directory under `std::env::temp_dir()` that is removed on drop, unless
/// something is still mounted inside it (then it is kept and reported, so a
/// leaked bind mount can never make us delete files outside the directory).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        loop {
            let seq = SEQ.fetch_add(1, Ordering::Relaxed);
            let name = format!("corral-{tag}-{}-{seq}-{nanos}", std::process::id());
            let path = std::env::temp_dir().join(name);
            match fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => panic!("cannot create temp dir {}: {err}", path.display()),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Mount points at or below `dir`, from this process's mountinfo.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.to_string_lossy().into_owned();
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| *point == prefix || point.starts_with(&format!("{prefix}/")))
        .map(str::to_string)
        .collect()
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let mounts = mounts_under(&self.path);
        if !mounts.is_empty() {
            eprintln!(
                "keeping {}: still mounted inside it: {mounts:?}",
                self.path.display()
            );
            return;
        }
        let _ = fs::remove_dir_all(&self.path);
    }
}
