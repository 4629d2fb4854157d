//! What corrald keeps on disk to re-adopt its containers after a restart.
//!
//! `<state>/state.json` is one header line, `corrald-state 1 <fnv64 of the body>`, then
//! the JSON body. It is replaced atomically: the new text goes to a temp file that is
//! fsynced, the current file is hard-linked as `state.json.prev`, the temp file is renamed
//! over it, and the directory is fsynced (so `state.json` always exists). A file whose checksum does not match (torn by a
//! crash, or corrupted) is ignored and the previous copy is used.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const MAGIC: &str = "corrald-state 1";

/// Everything persisted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Numbers container ids (`<service>-<n>`), so that no id is used twice.
    pub next_container: u64,
    pub services: BTreeMap<String, ServiceRecord>,
    /// The kernel's boot id when this was saved: containers of another boot are gone,
    /// and a pid recorded then may name an unrelated process now.
    #[serde(default)]
    pub boot_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// The service's live container, if any.
    pub container: Option<ContainerRecord>,
    pub restarts: u64,
    pub recent_restarts: u32,
    /// Stopped by the operator.
    pub held: bool,
    /// Containers killed at their memory limit, ever.
    #[serde(default)]
    pub oom_kills: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    /// The init's pid and start time (/proc/<pid>/stat field 22); None while starting.
    pub init: Option<InitRecord>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitRecord {
    pub pid: i32,
    pub start_time: u64,
}

/// The state file and its previous copy.
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(dir: &Path) -> StateFile {
        StateFile { path: dir.join("state.json") }
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        PathBuf::from(format!("{}{suffix}", self.path.display()))
    }

    /// The newest intact snapshot, and a warning for each copy that was unreadable.
    pub fn load(&self) -> (Option<Snapshot>, Vec<String>) {
        let mut warnings = Vec::new();
        for path in [self.path.clone(), self.sibling(".prev")] {
            match fs::read(&path) {
                Ok(bytes) => match decode(&bytes) {
                    Some(snapshot) => return (Some(snapshot), warnings),
                    None => warnings.push(format!("{} is torn or corrupt; ignored", path.display())),
                },
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => warnings.push(format!("cannot read {}: {error}", path.display())),
            }
        }
        (None, warnings)
    }

    pub fn save(&self, snapshot: &Snapshot) -> io::Result<()> {
        let temp = self.sibling(".tmp");
        let mut file = File::create(&temp)?;
        file.write_all(&encode(snapshot))?;
        file.sync_all()?;
        drop(file);
        // The current file becomes the previous copy by a second name (a hard link), not
        // by moving it: state.json never stops existing, and the rename below replaces it
        // in one step.
        let prev = self.sibling(".prev");
        ignore_missing(fs::remove_file(&prev))?;
        ignore_missing(fs::hard_link(&self.path, &prev))?;
        fs::rename(&temp, &self.path)?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()
    }
}

/// Ok when the file was not there to begin with.
fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn encode(snapshot: &Snapshot) -> Vec<u8> {
    let body = serde_json::to_vec_pretty(snapshot).expect("a snapshot serialises");
    let mut text = format!("{MAGIC} {:016x}\n", fnv1a(&body)).into_bytes();
    text.extend(body);
    text
}

fn decode(bytes: &[u8]) -> Option<Snapshot> {
    let newline = bytes.iter().position(|b| *b == b'\n')?;
    let header = std::str::from_utf8(&bytes[..newline]).ok()?;
    let sum = u64::from_str_radix(header.strip_prefix(MAGIC)?.trim(), 16).ok()?;
    let body = &bytes[newline + 1..];
    (fnv1a(body) == sum).then(|| serde_json::from_slice(body).ok()).flatten()
}

/// FNV-1a, 64 bits: detects torn and corrupted files (not tampering).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(n: u64) -> Snapshot {
        let init = Some(InitRecord { pid: 42, start_time: 7 });
        let record = ServiceRecord {
            container: Some(ContainerRecord { id: format!("web-{n}"), init }),
            ..ServiceRecord::default()
        };
        Snapshot { next_container: n, services: [("web".to_owned(), record)].into(), boot_id: "b".into() }
    }

    #[test]
    fn a_torn_file_falls_back_to_the_previous_copy() {
        let dir = std::env::temp_dir().join(format!("corrald-persist-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let file = StateFile::new(&dir);
        assert_eq!(file.load().0, None);
        file.save(&snapshot(1)).expect("save");
        file.save(&snapshot(2)).expect("save");
        assert_eq!(file.load().0, Some(snapshot(2)));
        let current = dir.join("state.json");
        let bytes = fs::read(&current).expect("read");
        fs::write(&current, &bytes[..bytes.len() - 5]).expect("tear");
        let (loaded, warnings) = file.load();
        assert_eq!(loaded, Some(snapshot(1)));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
