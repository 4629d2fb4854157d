//! linux.sysctl and the init's other procfs writes, through a procfs the config cannot
//! cover (the CVE-2025-52881 class).
//!
//! A path such as "/proc/sys/net/ipv4/ip_forward" can be redirected: a config mount (or a
//! shared volume the image controls) placed over /proc or /proc/sys turns a write meant
//! for the kernel into a write to some host file. So these writes start from a procfs
//! handle of our own: a fresh, detached procfs instance (fsopen/fsmount), reachable by
//! no path, which reflects the init's namespaces because it is created from inside them.
//! Without the new mount API the container's /proc is used, but only after fstatfs says
//! it is a procfs, and every open refuses to cross a mount (RESOLVE_NO_XDEV), so anything
//! mounted over a part of the path is refused, not written through. Without openat2 the
//! write is refused: there is no reliable way to see those mounts.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, ResolveFlag};

use super::init::InitError;
use super::plan::Sysctl;
use crate::sys::fs::{open_beneath, open_host, statfs_fd};
use crate::sys::mount::{
    MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, new_detached_mount,
};

/// Why a procfs file could not be opened safely; carried inside the io::Error callers see.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("creating a private procfs instance (fsopen/fsmount) failed: {0}")]
    Private(io::Error),
    #[error("opening the container's /proc failed: {0}")]
    OpenProc(io::Error),
    #[error(
        "the container's /proc is not a procfs (filesystem magic {found:#x}); refusing to write kernel settings through it: mount a \"proc\" filesystem at /proc"
    )]
    NotProc { found: i64 },
    #[error(
        "proc/{path:?} is not on the procfs itself (something is mounted over part of the path, e.g. a bind mount at /proc/sys); refusing to write through it: remove that mount"
    )]
    Covered { path: PathBuf },
    #[error(
        "this kernel lacks openat2 (Linux 5.6), so a mount over /proc/{path:?} cannot be ruled out; refusing to write it"
    )]
    NoOpenat2 { path: PathBuf },
    #[error("proc/{path:?}: {source}")]
    Open { path: PathBuf, source: io::Error },
}

impl From<ProcError> for io::Error {
    fn from(err: ProcError) -> io::Error {
        let kind = match &err {
            ProcError::Open { source, .. } => source.kind(),
            _ => io::ErrorKind::PermissionDenied,
        };
        io::Error::new(kind, err)
    }
}

/// The root directory of a procfs that reflects this process's namespaces: a private,
/// detached instance when the kernel can make one, else the checked /proc.
pub fn open_proc_root() -> Result<OwnedFd, ProcError> {
    let attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    match new_detached_mount(c"proc", attrs) {
        Ok(fd) => Ok(fd),
        // No new mount API, or not allowed here (a seccomp filter, an LSM, a user
        // namespace that sees no fully visible procfs): the checked /proc will do.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOSYS | libc::EPERM | libc::EACCES)
            ) =>
        {
            open_mounted_proc(Path::new("/proc"))
        }
        Err(e) => Err(ProcError::Private(e)),
    }
}

/// The fallback of [`open_proc_root`]: the procfs mounted at `path`, refused unless
/// fstatfs says it is one. Public so that tests can run it on any kernel.
// PROC_SUPER_MAGIC is a c_long, which is not i64 on 32-bit targets.
#[allow(clippy::unnecessary_cast)]
pub fn open_mounted_proc(path: &Path) -> Result<OwnedFd, ProcError> {
    let fd =
        open_host(path, OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW).map_err(ProcError::OpenProc)?;
    let info = statfs_fd(fd.as_fd()).map_err(ProcError::OpenProc)?;
    if info.fs_type != libc::PROC_SUPER_MAGIC as i64 {
        return Err(ProcError::NotProc {
            found: info.fs_type,
        });
    }
    Ok(fd)
}

/// Opens `rel` (e.g. "sys/net/ipv4/ip_forward", "self/oom_score_adj") under the procfs
/// root `proc`, never leaving that mount: a path with something mounted over part of it
/// is refused. Symlinks inside the procfs ("self") are followed, magic links are not.
pub fn open_under(proc: BorrowedFd<'_>, rel: &Path, flags: OFlag) -> Result<OwnedFd, ProcError> {
    open_beneath(proc, rel, flags | OFlag::O_NOCTTY, ResolveFlag::empty())
        .map_err(|e| refusal(rel, e))
}

/// What a failed [`open_under`] means: a crossed mount and a missing openat2 are
/// refusals with their own explanation, anything else is the open's own error.
fn refusal(rel: &Path, source: io::Error) -> ProcError {
    let path = rel.to_path_buf();
    match source.raw_os_error() {
        Some(libc::EXDEV) => ProcError::Covered { path },
        Some(libc::ENOSYS) => ProcError::NoOpenat2 { path },
        _ => ProcError::Open { path, source },
    }
}

/// Opens `rel` under a procfs of this process's namespaces (see [`open_proc_root`]), for
/// the init's writes such as "self/oom_score_adj".
pub fn open_proc_file(rel: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    let proc = open_proc_root()?;
    Ok(open_under(proc.as_fd(), rel, flags)?)
}

/// Writes every sysctl through one private procfs handle.
pub fn write_all(sysctls: &[Sysctl]) -> Result<(), InitError> {
    if sysctls.is_empty() {
        return Ok(());
    }
    let first = &sysctls[0].key;
    let proc = open_proc_root().map_err(|e| InitError::Sysctl {
        key: first.clone(),
        source: e.into(),
    })?;
    for s in sysctls {
        let err = |source: io::Error| InitError::Sysctl {
            key: s.key.clone(),
            source,
        };
        let rel = Path::new("sys").join(&s.rel_path);
        let fd = open_under(proc.as_fd(), &rel, OFlag::O_WRONLY).map_err(|e| err(e.into()))?;
        std::fs::File::from(fd).write_all(&s.value).map_err(err)?;
    }
    Ok(())
}

/// True when `err` came from a refusal of [`open_under`] to cross a mount.
pub fn is_covered(err: &io::Error) -> bool {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<ProcError>())
        .is_some_and(|e| matches!(e, ProcError::Covered { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn read_under(proc: BorrowedFd<'_>, rel: &str) -> Result<String, ProcError> {
        let fd = open_under(proc, Path::new(rel), OFlag::O_RDONLY)?;
        let mut text = String::new();
        std::fs::File::from(fd)
            .read_to_string(&mut text)
            .map_err(ProcError::OpenProc)?;
        Ok(text)
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn private_procfs_reads_the_kernel() {
        if !is_root() {
            return;
        }
        let proc = open_proc_root().unwrap();
        assert_eq!(
            read_under(proc.as_fd(), "sys/kernel/ostype")
                .unwrap()
                .trim(),
            "Linux"
        );
        // "self" is a plain symlink inside the procfs, and must name this process.
        let status = read_under(proc.as_fd(), "self/status").unwrap();
        let pid = format!("Pid:\t{}", std::process::id());
        assert!(status.lines().any(|l| l == pid), "{status}");
    }

    /// The fallback path, forced: the mounted /proc is accepted, anything else refused.
    #[test]
    fn fallback_accepts_only_a_procfs() {
        let proc = open_mounted_proc(Path::new("/proc")).unwrap();
        assert_eq!(
            read_under(proc.as_fd(), "sys/kernel/ostype")
                .unwrap()
                .trim(),
            "Linux"
        );
        let dir = std::env::temp_dir();
        match open_mounted_proc(&dir) {
            Err(ProcError::NotProc { .. }) => {}
            other => panic!("{dir:?} accepted as procfs: {other:?}"),
        }
    }

    /// Without openat2 (ENOSYS) nothing can tell a mount over the path apart, so the
    /// write is refused with a message that says so.
    #[test]
    fn missing_openat2_is_a_clear_refusal() {
        let err = refusal(
            Path::new("sys/net/ipv4/ip_forward"),
            io::Error::from_raw_os_error(libc::ENOSYS),
        );
        assert!(matches!(err, ProcError::NoOpenat2 { .. }));
        assert!(err.to_string().contains("lacks openat2"), "{err}");
        let err: io::Error = refusal(
            Path::new("sys/x"),
            io::Error::from_raw_os_error(libc::EXDEV),
        )
        .into();
        assert!(
            is_covered(&err) && err.to_string().contains("mounted over"),
            "{err}"
        );
    }

    /// A path that crosses into another mount is refused, whatever the root: from the
    /// host's "/" the way to "proc/version" crosses the /proc mount.
    #[test]
    fn a_mount_on_the_way_is_refused() {
        let root = open_host(Path::new("/"), OFlag::O_DIRECTORY).unwrap();
        match open_under(root.as_fd(), Path::new("proc/version"), OFlag::O_RDONLY) {
            Err(e @ ProcError::Covered { .. }) => assert!(is_covered(&e.into())),
            other => panic!("crossed a mount: {other:?}"),
        }
        // And ".." or an absolute path cannot climb out of the procfs.
        let proc = open_mounted_proc(Path::new("/proc")).unwrap();
        assert!(read_under(proc.as_fd(), "../etc/hostname").is_err());
        assert!(read_under(proc.as_fd(), "/etc/hostname").is_err());
    }
}
