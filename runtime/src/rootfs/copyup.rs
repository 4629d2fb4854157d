//! "tmpcopyup": a tmpfs mounted over a directory of the image starts with a copy of what
//! it hides (files, directories, symlinks, device nodes; modes and owners kept).
//!
//! Everything is done by fd and by single names read from the directory itself, so
//! nothing in the image can point the copy elsewhere: entries are opened with
//! O_NOFOLLOW, symlinks are copied as links, and the target is a tmpfs just mounted.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FchmodatFlags, FileStat, Mode, SFlag, fchmodat, fstatat, mkdirat, mknodat};
use nix::unistd::{Gid, Uid, fchownat, symlinkat};

use crate::sys::fs::file_type;

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// Opens a directory for reading its entries, from any fd naming it (O_PATH included).
/// Done before the tmpfs is mounted, this fd keeps seeing the directory underneath.
pub(crate) fn open_dir(dir: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    Ok(openat(dir, ".", DIR_FLAGS, Mode::empty())?)
}

/// Copies the contents of directory `from` into directory `to`, then gives `to` the
/// mode and owner of `from`.
pub(crate) fn copy_tree(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    let top = nix::sys::stat::fstat(from)?;
    copy_entries(from, to)?;
    let to_dir = open_dir(to)?;
    keep_owner(to_dir.as_fd(), c"", &top, AtFlags::AT_EMPTY_PATH)?;
    Ok(nix::sys::stat::fchmod(&to_dir, mode_of(&top))?)
}

fn copy_entries(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    let mut dir = Dir::openat(from, ".", DIR_FLAGS, Mode::empty())?;
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        copy_entry(from, to, name)?;
    }
    Ok(())
}

fn copy_entry(from: BorrowedFd<'_>, to: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let stat = fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let kind = file_type(&stat);
    match kind {
        SFlag::S_IFDIR => {
            mkdirat(to, name, Mode::from_bits_truncate(0o700))?;
            let sub_from = openat(from, name, DIR_FLAGS, Mode::empty())?;
            let sub_to = openat(to, name, DIR_FLAGS, Mode::empty())?;
            copy_entries(sub_from.as_fd(), sub_to.as_fd())?;
        }
        SFlag::S_IFREG => {
            let src = openat(
                from,
                name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            let flags = OFlag::O_WRONLY
                | OFlag::O_CREAT
                | OFlag::O_EXCL
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC;
            let dst = openat(to, name, flags, Mode::from_bits_truncate(0o600))?;
            io::copy(&mut File::from(src), &mut File::from(dst))?;
        }
        SFlag::S_IFLNK => {
            let target = readlinkat(from, name)?;
            symlinkat(target.as_os_str(), to, name)?;
        }
        _ => match mknodat(to, name, kind, Mode::empty(), stat.st_rdev) {
            // A user namespace cannot make device nodes; leave them out, as the
            // container could not use them either.
            Err(Errno::EPERM) => return Ok(()),
            other => other?,
        },
    }
    // Owner first: chown clears set-id bits, which the chmod then restores.
    keep_owner(to, name, &stat, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    if kind != SFlag::S_IFLNK {
        // `name` was just made by us in a tmpfs no other process can reach yet, and it
        // is not a symlink, so following is safe (and needs no /proc, unlike NOFOLLOW).
        fchmodat(to, name, mode_of(&stat), FchmodatFlags::FollowSymlink)?;
    }
    Ok(())
}

fn mode_of(stat: &FileStat) -> Mode {
    Mode::from_bits_truncate(stat.st_mode & 0o7777)
}

/// chown to the original owner; an owner the user namespace does not map (EINVAL) or
/// may not give (EPERM) is left as the creator.
fn keep_owner(dir: BorrowedFd<'_>, name: &CStr, stat: &FileStat, flags: AtFlags) -> io::Result<()> {
    let (uid, gid) = (
        Some(Uid::from_raw(stat.st_uid)),
        Some(Gid::from_raw(stat.st_gid)),
    );
    match fchownat(dir, name, uid, gid, flags) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::EPERM) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
