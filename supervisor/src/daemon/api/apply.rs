//! `POST /v1/apply`: what a new manifest changes, and saving it in place of the file
//! corrald was started with (so a restart of corrald, or SIGHUP, keeps it).

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::manifest::{Manifest, ManifestErrors};

/// Services by what a new manifest does to them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Its container definition changed: a new container replaces the old one.
    pub replaced: Vec<String>,
    /// Only how it is supervised changed: applied to the running container.
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
}

impl Changes {
    pub fn between(old: &Manifest, new: &Manifest) -> Changes {
        let mut changes = Changes::default();
        for (name, wanted) in &new.services {
            let list = match old.services.get(name) {
                None => &mut changes.added,
                Some(current) if current.container != wanted.container => &mut changes.replaced,
                Some(current) if current.supervision != wanted.supervision => &mut changes.updated,
                Some(_) => &mut changes.unchanged,
            };
            list.push(name.clone());
        }
        changes.removed = old.services.keys().filter(|name| !new.services.contains_key(*name)).cloned().collect();
        changes
    }

    pub fn to_json(&self) -> Value {
        json!({
            "added": self.added,
            "removed": self.removed,
            "replaced": self.replaced,
            "updated": self.updated,
            "unchanged": self.unchanged,
        })
    }
}

/// The 422 body for a refused manifest: every error with its position and service.
pub fn errors_json(errors: &ManifestErrors) -> Value {
    let list: Vec<Value> = errors
        .0
        .iter()
        .map(|e| json!({ "line": e.line, "column": e.column, "service": e.service, "message": e.message }))
        .collect();
    json!({ "error": errors.to_string().lines().next().unwrap_or("manifest refused"), "errors": list })
}

/// Replaces `path` with `text` atomically (temp file, fsync, rename, fsync of the
/// directory), keeping the old file's permissions. A symlink is followed: the file it
/// points to is replaced, the link stays.
pub fn save_manifest(path: &Path, text: &[u8]) -> io::Result<()> {
    let resolved = fs::canonicalize(path);
    let path = resolved.as_deref().unwrap_or(path);
    let temp = PathBuf::from(format!("{}.corrald-new", path.display()));
    let mode = fs::metadata(path).map(|meta| meta.permissions().mode() & 0o7777).unwrap_or(0o600);
    let written = (|| {
        let mut file = File::create(&temp)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(text)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Device;

    fn manifest(text: &str) -> Manifest {
        crate::manifest::parse(text, &Device { mem_total: 1 << 30 }).expect("valid")
    }

    #[test]
    fn sorts_services_by_change() {
        let old = manifest(
            "[services.a]\nrootfs = \"/a\"\nprocess = { args = [\"/x\"] }\n\
             [services.b]\nrootfs = \"/b\"\nprocess = { args = [\"/x\"] }\n\
             [services.c]\nrootfs = \"/c\"\nprocess = { args = [\"/x\"] }\n\
             [services.d]\nrootfs = \"/d\"\nprocess = { args = [\"/x\"] }\n",
        );
        let new = manifest(
            "[services.a]\nrootfs = \"/a\"\nprocess = { args = [\"/x\"] }\n\
             [services.b]\nrootfs = \"/b\"\nprocess = { args = [\"/y\"] }\n\
             [services.c]\nrootfs = \"/c\"\nprocess = { args = [\"/x\"] }\nrestart = \"never\"\n\
             [services.e]\nrootfs = \"/e\"\nprocess = { args = [\"/x\"] }\n",
        );
        let changes = Changes::between(&old, &new);
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(changes.added, names(&["e"]));
        assert_eq!(changes.removed, names(&["d"]));
        assert_eq!(changes.replaced, names(&["b"]));
        assert_eq!(changes.updated, names(&["c"]));
        assert_eq!(changes.unchanged, names(&["a"]));
    }

    #[test]
    fn saves_atomically_keeping_the_mode() {
        let path = std::env::temp_dir().join(format!("corrald-apply-{}.toml", std::process::id()));
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        save_manifest(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_symlinked_manifest_keeps_its_link() {
        let dir = std::env::temp_dir().join(format!("corrald-apply-link-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("real.toml"), "old").unwrap();
        std::os::unix::fs::symlink("real.toml", dir.join("link.toml")).unwrap();
        save_manifest(&dir.join("link.toml"), b"new").unwrap();
        assert!(fs::symlink_metadata(dir.join("link.toml")).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(dir.join("real.toml")).unwrap(), "new");
        fs::remove_dir_all(&dir).unwrap();
    }
}
