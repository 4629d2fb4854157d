//! `process.terminal`: a pty made inside the container, its master sent over the
//! --console-socket to whoever manages the terminal (containerd's shim, conmon, a test).

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use nix::sys::stat::Mode;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConsoleError {
    #[error("--console-socket {path}: cannot connect: {source}; is the console listener running?")]
    Connect { path: String, source: std::io::Error },
    #[error("process.terminal is true but no --console-socket was given; pass one, or set terminal to false")]
    NoSocket,
    #[error("console: {step}: {source}")]
    Setup { step: &'static str, source: nix::Error },
    #[error("console: {0}")]
    Mount(#[from] crate::rootfs::RootfsError),
}

/// Connect to the console socket in the parent, before clone; the child inherits it.
pub fn connect(path: &Path) -> Result<UnixStream, ConsoleError> {
    UnixStream::connect(path).map_err(|source| ConsoleError::Connect { path: path.display().to_string(), source })
}

fn step(step: &'static str) -> impl Fn(nix::Error) -> ConsoleError {
    move |source| ConsoleError::Setup { step, source }
}

/// The slave by the master fd; by its /dev/pts name only on kernels before 4.13, where
/// `mount_console` still refuses anything that is not a pty slave.
fn open_slave(master: &nix::pty::PtyMaster) -> Result<OwnedFd, ConsoleError> {
    match crate::sys::process::open_pty_peer(master.as_fd()) {
        Ok(slave) => Ok(slave),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::ENOTTY) => {
            let name = ptsname_r(master).map_err(step("ptsname"))?;
            open(name.as_str(), OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC, Mode::empty()).map_err(step("open pty slave"))
        }
        Err(e) => Err(step("TIOCGPTPEER")(nix::Error::from_raw(e.raw_os_error().unwrap_or(0)))),
    }
}

/// In the child, after pivot: open a pty on the container's devpts, bind its slave over
/// /dev/console (the init only: an `exec`'d process leaves the container's console as it
/// is), send the master out, and make the slave the controlling terminal and stdio. The
/// caller must already be a session leader.
pub fn setup_in_child(socket: &UnixStream, mount_console: bool) -> Result<(), ConsoleError> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).map_err(step("open /dev/ptmx"))?;
    grantpt(&master).map_err(step("grantpt"))?;
    unlockpt(&master).map_err(step("unlockpt"))?;
    let slave = open_slave(&master)?;
    if mount_console {
        crate::rootfs::mount_console(slave.as_fd())?;
    }
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(socket.as_raw_fd(), &[IoSlice::new(b"console")], &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
        .map_err(step("send the pty master over --console-socket"))?;
    drop(master);
    crate::sys::process::set_controlling_tty(slave.as_fd()).map_err(|e| step("TIOCSCTTY")(nix::Error::from_raw(e.raw_os_error().unwrap_or(0))))?;
    nix::unistd::dup2_stdin(&slave).map_err(step("dup2 stdin"))?;
    nix::unistd::dup2_stdout(&slave).map_err(step("dup2 stdout"))?;
    nix::unistd::dup2_stderr(&slave).map_err(step("dup2 stderr"))?;
    Ok(())
}
