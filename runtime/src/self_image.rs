//! The runtime's own binary, as a container could reach it (CVE-2019-5736 class).
//!
//! From clone to execve the container's init is this binary, and so is a process that
//! `exec` puts into a container. A container process able to follow /proc/<pid>/exe
//! (one with CAP_SYS_PTRACE, or an image whose entrypoint is `#!/proc/self/exe`, which
//! makes the runtime re-run itself inside) can keep that file open and, once the runtime
//! has exited, reopen it for writing and replace the host's runtime. Making the init
//! non-dumpable stops only the first route, and only without CAP_SYS_PTRACE.
//!
//! So the commands that put this image into a container first re-execute themselves from
//! an image no one can write: a read-only bind mount of the binary that is attached
//! nowhere (open_tree + mount_setattr: no copy, no mount visible in any namespace), or,
//! on kernels without those calls, a sealed memfd copy. A binary that already sits on a
//! read-only mount (a squashfs root, or the result of this very step) is used as it is.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{AtFlags, FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use thiserror::Error;

use crate::sys::mount::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, MountAttr, clone_detached_bind, mount_setattr};

const ST_RDONLY: u64 = 0x0001;

#[derive(Debug, Error)]
pub enum SelfImageError {
    #[error("cannot open this binary through /proc/self/exe (is /proc mounted?): {0}")]
    Open(io::Error),
    #[error(
        "cannot make a read-only image of this binary to run containers from (CVE-2019-5736 guard): \
         read-only bind mount: {bind}; sealed memfd copy: {copy}"
    )]
    NoImage { bind: io::Error, copy: io::Error },
    #[error("an argument or environment variable holds a NUL byte; remove it")]
    Nul,
    #[error("cannot re-execute from the read-only image of this binary: {0}")]
    Exec(nix::Error),
}

/// Returns when this process already runs from an image no one can write; otherwise
/// re-executes the same argv and environment from such an image, and does not return.
pub fn reexec_unless_write_proof() -> Result<(), SelfImageError> {
    let exe = File::open("/proc/self/exe").map_err(SelfImageError::Open)?;
    if is_write_proof(exe.as_fd()) {
        return Ok(());
    }
    let image = match read_only_bind(c"/proc/self/exe") {
        Ok(image) => image,
        Err(bind) => sealed_copy(exe).map_err(|copy| SelfImageError::NoImage { bind, copy })?,
    };
    let (args, env) = argv_and_environ()?;
    let err = nix::unistd::execveat(image.as_fd(), c"", &args, &env, AtFlags::AT_EMPTY_PATH).unwrap_err();
    Err(SelfImageError::Exec(err))
}

/// Writes cannot reach the file behind `fd`: its mount is read-only, or it is a memfd
/// sealed against writes. The check runs on the image before the re-exec too, so the
/// re-executed process takes the early return and can never loop.
fn is_write_proof(fd: BorrowedFd<'_>) -> bool {
    let read_only_mount = crate::sys::fs::statfs_fd(fd).is_ok_and(|fs| fs.mount_flags & ST_RDONLY != 0);
    let sealed = fcntl(fd, FcntlArg::F_GET_SEALS)
        .is_ok_and(|seals| SealFlag::from_bits_truncate(seals).contains(SealFlag::F_SEAL_WRITE));
    read_only_mount || sealed
}

fn read_only_bind(path: &std::ffi::CStr) -> io::Result<OwnedFd> {
    let image = clone_detached_bind(path)?;
    let attr = MountAttr { attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, ..MountAttr::default() };
    mount_setattr(image.as_fd(), false, &attr)?;
    check_write_proof(image)
}

/// A memfd copy sealed against every change (the approach of runc 1.1): costs a copy of
/// the binary in memory for as long as the process runs.
fn sealed_copy(mut exe: File) -> io::Result<OwnedFd> {
    let memfd = memfd_create(c"corral", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
    let mut copy = File::from(memfd);
    io::copy(&mut exe, &mut copy)?;
    let seals = SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE;
    fcntl(copy.as_fd(), FcntlArg::F_ADD_SEALS(seals))?;
    check_write_proof(copy.into())
}

fn check_write_proof(image: OwnedFd) -> io::Result<OwnedFd> {
    if is_write_proof(image.as_fd()) {
        Ok(image)
    } else {
        Err(io::Error::other("the image still accepts writes"))
    }
}

fn argv_and_environ() -> Result<(Vec<CString>, Vec<CString>), SelfImageError> {
    let cstring = |bytes: Vec<u8>| CString::new(bytes).map_err(|_| SelfImageError::Nul);
    let args = std::env::args_os().map(|a| cstring(a.as_bytes().to_vec())).collect::<Result<_, _>>()?;
    let env = std::env::vars_os()
        .map(|(key, value)| cstring([key.as_bytes(), b"=", value.as_bytes()].concat()))
        .collect::<Result<_, _>>()?;
    Ok((args, env))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    /// What an attacker holding `image` would do: reopen it through /proc for writing.
    fn write_through_proc(image: &OwnedFd) -> io::Result<()> {
        let path = format!("/proc/self/fd/{}", image.as_raw_fd());
        std::fs::OpenOptions::new().write(true).open(path)?.write_all(b"pwned")
    }

    #[test]
    fn the_read_only_bind_refuses_writes() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        // A file nothing executes, so that ETXTBSY cannot stand in for the refusal.
        let dir = std::env::temp_dir().join(format!("corral-self-image-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("image");
        std::fs::write(&file, b"binary").unwrap();
        let path = CString::new(file.as_os_str().as_bytes()).unwrap();
        let image = read_only_bind(&path).expect("open_tree and mount_setattr (Linux 5.12)");
        std::fs::remove_dir_all(&dir).unwrap();
        let err = write_through_proc(&image).expect_err("the image took a write");
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    }

    #[test]
    fn the_sealed_copy_refuses_writes_and_matches_the_binary() {
        let image = sealed_copy(File::open("/proc/self/exe").unwrap()).expect("a sealed memfd copy");
        assert!(write_through_proc(&image).is_err(), "the sealed copy took a write");
        let copy = std::fs::read(format!("/proc/self/fd/{}", image.as_raw_fd())).unwrap();
        assert!(copy == std::fs::read("/proc/self/exe").unwrap(), "the copy differs from the binary");
    }
}
