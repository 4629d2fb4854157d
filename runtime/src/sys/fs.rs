//! Path resolution inside a root by fd (openat2 RESOLVE_IN_ROOT, with a fallback).
//!
//! Every path that names something inside a container's root filesystem is resolved
//! relative to a directory fd for that root, never as a host path string, so that a
//! symlink or a `..` in the rootfs cannot lead outside it. The kernel does this for us
//! with openat2(RESOLVE_IN_ROOT) (Linux 5.6+); on older kernels [`walk_in_root`] does the
//! same one component at a time with O_PATH|O_NOFOLLOW, reading symlinks itself.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicU8, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, mkdirat, mknodat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchownat, symlinkat, unlinkat};

/// Symlinks followed in one resolution before giving up with ELOOP, as the kernel does.
const MAX_SYMLINKS: usize = 40;
/// Retries of openat2 when the kernel reports a concurrent rename (EAGAIN).
const OPENAT2_RETRIES: usize = 32;

/// Whether openat2 works here: 0 not yet known, 1 works, 2 missing (ENOSYS).
static OPENAT2_STATE: AtomicU8 = AtomicU8::new(0);
const OPENAT2_MISSING: u8 = 2;
const OPENAT2_WORKS: u8 = 1;

/// Opens `path` as seen from inside `root`: absolute symlinks and `..` are clamped to
/// `root`, magic links (/proc/self/fd/N and the like) are refused. A final symlink is
/// followed unless `flags` has O_NOFOLLOW. O_CLOEXEC is always added. O_CREAT is refused
/// (EINVAL): use [`create_file_in_root`].
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    if flags.contains(OFlag::O_CREAT) {
        return Err(Errno::EINVAL.into());
    }
    if OPENAT2_STATE.load(Ordering::Relaxed) != OPENAT2_MISSING {
        match openat2_in_root(root, path, flags) {
            Err(Errno::ENOSYS) => OPENAT2_STATE.store(OPENAT2_MISSING, Ordering::Relaxed),
            other => {
                OPENAT2_STATE.store(OPENAT2_WORKS, Ordering::Relaxed);
                return other.map_err(io::Error::from);
            }
        }
    }
    open_in_root_fallback(root, path, flags)
}

/// Makes [`open_in_root`] use the fallback from now on, in this process (tests only).
#[cfg(test)]
pub(crate) fn force_fallback_for_tests() {
    OPENAT2_STATE.store(OPENAT2_MISSING, Ordering::Relaxed);
}

fn openat2_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    // EAGAIN: a rename happened somewhere during the walk and the kernel would rather not
    // vouch for `..`; trying again is the documented answer (openat2_retrying does).
    let resolve = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    openat2_retrying(root, path, flags, resolve)
}

/// [`open_in_root`] without openat2, for kernels older than 5.6. Public so tests can
/// compare both resolvers on the same tree.
pub fn open_in_root_fallback(
    root: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
) -> io::Result<OwnedFd> {
    if flags.contains(OFlag::O_CREAT) {
        return Err(Errno::EINVAL.into());
    }
    if path.as_os_str().is_empty() {
        return Err(Errno::ENOENT.into()); // as openat2 answers
    }
    let follow_last = !flags.contains(OFlag::O_NOFOLLOW);
    let walked = walk_in_root(root, path, follow_last, None, false)?;
    walked.reopen(flags)
}

/// Like [`open_in_root`], but a symlink anywhere in `path` (the last component too) is
/// refused with ELOOP instead of being resolved. For destinations such as /proc, /sys
/// and /dev, where an image has no business placing a symlink: following it, even inside
/// the root, would put the container's procfs or device nodes somewhere unexpected.
pub fn open_in_root_no_symlinks(
    root: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
) -> io::Result<OwnedFd> {
    if flags.contains(OFlag::O_CREAT) {
        return Err(Errno::EINVAL.into());
    }
    if OPENAT2_STATE.load(Ordering::Relaxed) != OPENAT2_MISSING {
        let resolve = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS;
        match openat2_retrying(root, path, flags, resolve) {
            Err(Errno::ENOSYS) => OPENAT2_STATE.store(OPENAT2_MISSING, Ordering::Relaxed),
            other => return other.map_err(io::Error::from),
        }
    }
    open_in_root_no_symlinks_fallback(root, path, flags)
}

/// [`open_in_root_no_symlinks`] without openat2: the component walk, refusing links.
/// Public so tests can run it on a kernel that has openat2.
pub fn open_in_root_no_symlinks_fallback(
    root: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
) -> io::Result<OwnedFd> {
    if flags.contains(OFlag::O_CREAT) {
        return Err(Errno::EINVAL.into());
    }
    if path.as_os_str().is_empty() {
        return Err(Errno::ENOENT.into());
    }
    walk_in_root(root, path, false, None, true)?.reopen(flags)
}

/// Opens `path` strictly beneath the directory `dir`, on `dir`'s own mount: `..` above
/// `dir`, absolute paths, magic links and any mount crossing (something mounted over a
/// part of the path) fail with EXDEV or ELOOP. `extra` adds resolve flags (e.g.
/// RESOLVE_NO_SYMLINKS). Needs openat2 (Linux 5.6): without it the answer is ENOSYS,
/// and the caller must refuse, since no component walk can see mounts as reliably.
pub fn open_beneath(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
    extra: ResolveFlag,
) -> io::Result<OwnedFd> {
    let resolve = ResolveFlag::RESOLVE_BENEATH
        | ResolveFlag::RESOLVE_NO_XDEV
        | ResolveFlag::RESOLVE_NO_MAGICLINKS
        | extra;
    Ok(openat2_retrying(dir, path, flags, resolve)?)
}

/// openat2 with O_CLOEXEC, retried on EAGAIN (a concurrent rename somewhere).
fn openat2_retrying(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
    resolve: ResolveFlag,
) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(resolve);
    for _ in 0..OPENAT2_RETRIES {
        match openat2(dir, path, how) {
            Err(Errno::EAGAIN) => continue,
            other => return other,
        }
    }
    Err(Errno::EAGAIN)
}

/// The end of a walk: an O_PATH fd for the object reached, and how to reopen it.
struct Walked {
    /// O_PATH fd of the object the path names.
    fd: OwnedFd,
    /// Its directory and name, when it is not a directory (a directory is reopened as ".").
    entry: Option<(OwnedFd, OsString)>,
    stat: FileStat,
}

impl Walked {
    /// Turns the O_PATH fd into one opened with `flags`, checking that the name still
    /// denotes the same inode (a swap in between is refused, not followed).
    fn reopen(self, flags: OFlag) -> io::Result<OwnedFd> {
        let is_dir = file_type(&self.stat) == SFlag::S_IFDIR;
        if flags.contains(OFlag::O_DIRECTORY) && !is_dir {
            return Err(Errno::ENOTDIR.into());
        }
        if flags.contains(OFlag::O_PATH) {
            return Ok(self.fd);
        }
        let flags = flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        let fd = match &self.entry {
            Some((dir, name)) => openat(dir, name.as_os_str(), flags, Mode::empty())?,
            None => openat(&self.fd, ".", flags, Mode::empty())?,
        };
        let now = fstat(&fd)?;
        if (now.st_dev, now.st_ino) != (self.stat.st_dev, self.stat.st_ino) {
            return Err(Errno::EXDEV.into());
        }
        Ok(fd)
    }
}

/// Resolves `path` inside `root` one component at a time. Each step is an
/// openat(O_PATH|O_NOFOLLOW) relative to the directory reached so far, so no single
/// syscall ever sees a `/` or a `..`; `..` pops our own stack of directories (never above
/// `root`), and a symlink's target is spliced into the remaining components, an
/// absolute target starting over at `root`. With `create_dirs`, missing components are
/// made as directories with that mode. With `refuse_links`, any symlink met is ELOOP.
fn walk_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    follow_last: bool,
    create_dirs: Option<Mode>,
    refuse_links: bool,
) -> io::Result<Walked> {
    let mut dirs: Vec<OwnedFd> = Vec::new();
    let mut todo: Vec<OsString> = Vec::new();
    push_components(&mut todo, path);
    let mut links = 0usize;
    while let Some(name) = todo.pop() {
        if name == ".." {
            dirs.pop();
            continue;
        }
        let cur = dirs.last().map_or(root, |d| d.as_fd());
        let fd = match (
            openat(cur, name.as_os_str(), path_flags(), Mode::empty()),
            create_dirs,
        ) {
            (Ok(fd), _) => fd,
            (Err(Errno::ENOENT), Some(mode)) => {
                match mkdirat(cur, name.as_os_str(), mode) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                // Open it on the next turn, like any other component.
                todo.push(name);
                continue;
            }
            (Err(e), _) => return Err(e.into()),
        };
        let stat = fstat(&fd)?;
        let is_last = todo.is_empty();
        match file_type(&stat) {
            SFlag::S_IFLNK if refuse_links => return Err(Errno::ELOOP.into()),
            SFlag::S_IFLNK if !is_last || follow_last => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP.into());
                }
                let target = readlinkat(&fd, "")?;
                if target.as_bytes().first() == Some(&b'/') {
                    dirs.clear();
                }
                push_components(&mut todo, Path::new(&target));
            }
            SFlag::S_IFDIR => dirs.push(fd),
            _ if !is_last => return Err(Errno::ENOTDIR.into()),
            _ => {
                let dir = match dirs.pop() {
                    Some(dir) => dir,
                    None => root.try_clone_to_owned()?,
                };
                return Ok(Walked {
                    fd,
                    entry: Some((dir, name)),
                    stat,
                });
            }
        }
    }
    // The path ended on a directory: the top of the stack, or the root itself.
    let fd = match dirs.pop() {
        Some(fd) => fd,
        None => openat(root, ".", path_flags(), Mode::empty())?,
    };
    let stat = fstat(&fd)?;
    Ok(Walked {
        fd,
        entry: None,
        stat,
    })
}

fn path_flags() -> OFlag {
    OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// Appends the components of `path` to `todo` in reverse, so `pop` yields them in order.
/// The root and `.` vanish; `..` stays for the walker to handle.
fn push_components(todo: &mut Vec<OsString>, path: &Path) {
    let start = todo.len();
    for component in path.components() {
        match component {
            Component::Normal(name) => todo.push(name.to_os_string()),
            Component::ParentDir => todo.push(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    todo[start..].reverse();
}

/// Returns an O_PATH fd for directory `path` inside `root`, creating it and any missing
/// parents with `mode` (less the umask). Symlinks on the way are resolved inside `root`,
/// a dangling one by creating its target there.
pub fn mkdir_all_in_root(root: BorrowedFd<'_>, path: &Path, mode: Mode) -> io::Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    match open_in_root(root, path, flags) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        other => return other,
    }
    walk_in_root(root, path, true, Some(mode), false)?.reopen(flags)
}

/// Splits `path` into its parent and a final name that is a real entry name (not `..`).
fn split_last(path: &Path) -> io::Result<(&Path, &OsStr)> {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err(Errno::EINVAL.into()),
    }
}

/// Creates the regular file `path` inside `root` (O_EXCL: an existing entry is EEXIST),
/// making missing parent directories 0755. Returns the new file open for writing; its
/// mode is `mode` less the umask.
pub fn create_file_in_root(root: BorrowedFd<'_>, path: &Path, mode: Mode) -> io::Result<OwnedFd> {
    let (parent, name) = split_last(path)?;
    let dir = mkdir_all_in_root(root, parent, Mode::from_bits_truncate(0o755))?;
    let flags =
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
    Ok(openat(&dir, name, flags, mode)?)
}

/// mknod(2) of `path` inside `root` (parents made 0755); returns an O_PATH fd for the new
/// node. `kind` is S_IFCHR, S_IFBLK or S_IFIFO; the mode is `perm` less the umask.
pub fn mknod_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    kind: SFlag,
    perm: Mode,
    dev: libc::dev_t,
) -> io::Result<OwnedFd> {
    let (parent, name) = split_last(path)?;
    let dir = mkdir_all_in_root(root, parent, Mode::from_bits_truncate(0o755))?;
    mknodat(&dir, name, kind, perm, dev)?;
    Ok(openat(&dir, name, path_flags(), Mode::empty())?)
}

/// Creates the symlink `link` -> `target` inside `root` (parents made 0755). `target` is
/// stored as given; it is only ever followed later by the container itself.
pub fn symlink_in_root(root: BorrowedFd<'_>, target: &Path, link: &Path) -> io::Result<()> {
    let (parent, name) = split_last(link)?;
    let dir = mkdir_all_in_root(root, parent, Mode::from_bits_truncate(0o755))?;
    Ok(symlinkat(target, dir.as_fd(), name)?)
}

/// Removes the non-directory `path` inside `root` (a final symlink is removed, not followed).
pub fn unlink_in_root(root: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let (parent, name) = split_last(path)?;
    let dir = open_in_root(root, parent, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    Ok(unlinkat(dir.as_fd(), name, UnlinkatFlags::NoRemoveDir)?)
}

/// Opens a host path as O_PATH|O_CLOEXEC (following symlinks: host paths come from the
/// runtime's caller, not from the container).
pub fn open_host(path: &Path, extra: OFlag) -> io::Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_CLOEXEC | extra;
    Ok(nix::fcntl::open(path, flags, Mode::empty())?)
}

/// chown of whatever `fd` refers to (O_PATH fds work), without following symlinks.
pub fn chown_fd(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
    Ok(fchownat(fd, "", uid, gid, AtFlags::AT_EMPTY_PATH)?)
}

/// fchmod of an fd opened for reading or writing (not O_PATH).
pub fn chmod_fd(fd: BorrowedFd<'_>, mode: Mode) -> io::Result<()> {
    Ok(nix::sys::stat::fchmod(fd, mode)?)
}

/// Sets the process umask, returning the previous one.
pub fn set_umask(mode: Mode) -> Mode {
    nix::sys::stat::umask(mode)
}

/// fstat of any fd, O_PATH included.
pub fn stat_fd(fd: BorrowedFd<'_>) -> io::Result<FileStat> {
    Ok(fstat(fd)?)
}

/// The S_IFMT part of a stat's mode.
pub fn file_type(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits())
}

/// Whether `fd` refers to a directory.
pub fn is_dir(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(file_type(&fstat(fd)?) == SFlag::S_IFDIR)
}

/// Major and minor number of `fd` when it is a device of type `kind` (S_IFCHR or S_IFBLK).
pub fn device_numbers(fd: BorrowedFd<'_>, kind: SFlag) -> io::Result<Option<(u32, u32)>> {
    let stat = fstat(fd)?;
    if file_type(&stat) != kind {
        return Ok(None);
    }
    Ok(Some((libc::major(stat.st_rdev), libc::minor(stat.st_rdev))))
}

/// What statfs(2) says about the filesystem and mount under an fd.
#[derive(Debug, Clone, Copy)]
pub struct FsInfo {
    /// Filesystem magic (e.g. libc::PROC_SUPER_MAGIC).
    pub fs_type: i64,
    /// The mount's ST_* flags, as the kernel reports them (ST_RDONLY, ST_NOSUID, ...).
    pub mount_flags: u64,
}

/// statfs(2) of the filesystem under `fd` (O_PATH fds work).
// f_type and f_flags are c_long, whose width varies by target.
#[allow(clippy::unnecessary_cast)]
pub fn statfs_fd(fd: BorrowedFd<'_>) -> io::Result<FsInfo> {
    let mut buf = std::mem::MaybeUninit::<libc::statfs64>::zeroed();
    // SAFETY: `fd` is a live descriptor borrowed for this call and `buf` is a writable
    // statfs64 the kernel fills in completely on success.
    let rc = unsafe { libc::fstatfs64(fd.as_raw_fd(), buf.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatfs64 returned 0, so the kernel initialised the whole struct.
    let buf = unsafe { buf.assume_init() };
    Ok(FsInfo {
        fs_type: buf.f_type as i64,
        mount_flags: buf.f_flags as u64,
    })
}

#[cfg(test)]
#[path = "fs_tests.rs"]
mod tests;
