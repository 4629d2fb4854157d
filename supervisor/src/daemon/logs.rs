//! Service output: a pipe per container, drained into size-capped rotated files.
//!
//! The container's stdout and stderr are one descriptor opened *read-write* on the pipe
//! (through /proc/self/fd). The container itself thus always holds a reader, so when
//! corrald is down (crashed, upgraded) a service that logs is never killed by SIGPIPE:
//! it fills the 1 MB pipe and then blocks until the next corrald drains it. A restarted
//! corrald gets a read end back by opening /proc/<init>/fd/1.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::stat::Mode;

/// Pipe capacity asked for: a service can log this much while corrald is away.
const PIPE_BYTES: i32 = 1 << 20;

/// How big a log file grows and how many rotated ones are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLimits {
    pub max_bytes: u64,
    /// Rotated files kept: `.1` (newest) to `.N`.
    pub keep: u32,
}

impl Default for LogLimits {
    fn default() -> LogLimits {
        LogLimits { max_bytes: 1 << 20, keep: 3 }
    }
}

/// A new log pipe: `reader` for corrald (non-blocking), `output` for the container.
pub struct LogPipe {
    pub reader: OwnedFd,
    pub output: OwnedFd,
}

pub fn new_pipe() -> io::Result<LogPipe> {
    let (reader, writer) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // Too big for the limit (non-root) is not fatal: the default 64 KB still works.
    let _ = fcntl(&writer, FcntlArg::F_SETPIPE_SZ(PIPE_BYTES));
    set_nonblocking(&reader)?;
    let output = reopen(&format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&writer)), OFlag::O_RDWR)?;
    Ok(LogPipe { reader, output })
}

/// A read end of the pipe behind process `pid`'s stdout, for a container adopted
/// after a restart; an error if its stdout is not a pipe.
pub fn reopen_reader(pid: i32) -> io::Result<OwnedFd> {
    let link = format!("/proc/{pid}/fd/1");
    let target = fs::read_link(&link)?;
    if !target.to_string_lossy().starts_with("pipe:") {
        return Err(io::Error::other(format!("{link} is {}, not a pipe", target.display())));
    }
    // O_NONBLOCK: opening a pipe for reading must not wait for a writer.
    reopen(&link, OFlag::O_RDONLY | OFlag::O_NONBLOCK)
}

fn reopen(path: &str, flags: OFlag) -> io::Result<OwnedFd> {
    Ok(nix::fcntl::open(path, flags | OFlag::O_CLOEXEC, Mode::empty())?)
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// What a drain found.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// Everything buffered was read; more may come.
    Empty,
    /// Every writer is gone: the container and all its processes ended.
    Closed,
}

/// Reads what `reader` holds into `file`, showing each chunk to `tee` too (log followers).
pub fn drain(reader: &OwnedFd, file: &mut RotatingFile, tee: &mut dyn FnMut(&[u8])) -> io::Result<Drained> {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match nix::unistd::read(reader.as_fd(), &mut buffer) {
            Ok(0) => return Ok(Drained::Closed),
            Ok(n) => {
                tee(&buffer[..n]);
                file.write(&buffer[..n])?;
            }
            Err(nix::errno::Errno::EAGAIN) => return Ok(Drained::Empty),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    }
}

/// `<dir>/<service>.log`, rotated to `.1`, `.2`… when it would pass `max_bytes`.
pub struct RotatingFile {
    path: PathBuf,
    limits: LogLimits,
    file: Option<File>,
    size: u64,
}

impl RotatingFile {
    pub fn new(dir: &Path, service: &str, limits: LogLimits) -> RotatingFile {
        RotatingFile { path: dir.join(format!("{service}.log")), limits, file: None, size: 0 }
    }

    /// Appends `bytes`, rotating first whenever the file is full. A chunk is split at
    /// its last newline that fits, so lines stay whole unless one is longer than a file.
    pub fn write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            self.open()?; // learns the size of an existing file
            let room = self.limits.max_bytes.saturating_sub(self.size) as usize;
            if bytes.len() <= room {
                self.append(bytes)?;
                return Ok(());
            }
            let cut = bytes[..room].iter().rposition(|b| *b == b'\n').map(|at| at + 1);
            let cut = match cut {
                Some(cut) => cut,
                None if self.size == 0 => room.max(1),
                None => 0,
            };
            self.append(&bytes[..cut])?;
            bytes = &bytes[cut..];
            self.rotate()?;
        }
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.open()?.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn open(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let file = OpenOptions::new().create(true).append(true).open(&self.path)?;
            self.size = file.metadata()?.len();
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("just opened"))
    }

    /// .N-1 → .N, …, .log → .1; the oldest falls off.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.limits.keep == 0 {
            fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.limits.keep).rev() {
                ignore_missing(fs::rename(numbered(n), numbered(n + 1)))?;
            }
            fs::rename(&self.path, numbered(1))?;
        }
        self.size = 0;
        Ok(())
    }

    /// Removes the file and its rotated copies (the service left the manifest).
    pub fn remove(mut self) {
        self.file = None;
        let _ = fs::remove_file(&self.path);
        for n in 1..=self.limits.keep {
            let _ = fs::remove_file(format!("{}.{n}", self.path.display()));
        }
    }
}

fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_line_ends_and_keeps_n_files() {
        let dir = std::env::temp_dir().join(format!("corrald-logs-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let mut log = RotatingFile::new(&dir, "svc", LogLimits { max_bytes: 10, keep: 2 });
        for line in ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n", "ffff\n", "gggg\n"] {
            log.write(line.as_bytes()).expect("write");
        }
        let read = |name: &str| fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert_eq!(read("svc.log"), "gggg\n");
        assert_eq!(read("svc.log.1"), "eeee\nffff\n");
        assert_eq!(read("svc.log.2"), "cccc\ndddd\n");
        assert!(!dir.join("svc.log.3").exists());
        log.write(b"0123456789abcdef").expect("a line longer than a file");
        assert_eq!((read("svc.log.2"), read("svc.log.1"), read("svc.log")), ("gggg\n".into(), "0123456789".into(), "abcdef".into()));
        log.remove();
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
