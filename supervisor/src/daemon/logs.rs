//! Service output: a pipe per container, drained into size-capped rotated files.
//!
//! The container's stdout and stderr are one descriptor opened *read-write* on the pipe
//! (through /proc/self/fd). The container itself thus always holds a reader, so when
//! corrald is down (crashed, upgraded) a service that logs is never killed by SIGPIPE:
//! it fills the 1 MB pipe and then blocks until the next corrald drains it. A restarted
//! corrald gets a read end back by opening /proc/<init>/fd/1.
//!
//! Since the pipe outlives corrald, it is also where output waits until it is safely in
//! the log file: `Drainer` copies the pipe's head with tee(2), which leaves it in place,
//! writes the copy to the file, and only then takes those bytes out of the pipe. A
//! SIGKILL between the write and the take leaves them in the pipe, and the next corrald
//! writes them again: output is delivered at least once, a crash can duplicate up to
//! one chunk (64 KB) but never lose one. The other order (take, then write: a plain
//! read) loses the chunk instead, and a missing line is worse than a repeated one.
//! Output the file cannot take (a full disk) is the exception: it is dropped, with a
//! message, because a service blocked on its stdout is worse than a gap in its log.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl};
use nix::sys::stat::Mode;

use crate::manifest::LogSettings;

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

impl LogLimits {
    /// These limits (corrald's flags) with a service's own `logs` settings laid over them.
    pub fn with(self, settings: &LogSettings) -> LogLimits {
        LogLimits { max_bytes: settings.max_size.unwrap_or(self.max_bytes), keep: settings.keep.unwrap_or(self.keep) }
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
    /// `MAX_CHUNKS` were moved and more is waiting: the pipe stays readable, so the
    /// loop comes back after serving everything else.
    More,
}

/// Bytes moved per step: what a pipe of the default size (the scratch pipe) holds.
const CHUNK: usize = 64 * 1024;
/// Chunks moved per drain: a service writing faster than the disk takes must not keep
/// the loop (health checks, restarts, the API) from everything else.
const MAX_CHUNKS: usize = 16;

/// Moves output from log pipes to log files, at least once (see the module doc). One
/// serves every pipe: its scratch pipe is empty between steps.
pub struct Drainer {
    /// Where tee(2) copies a pipe's head to be read: (read end, write end), non-blocking.
    scratch: (OwnedFd, OwnedFd),
    /// Bytes already in the file are spliced from the container's pipe into /dev/null,
    /// which frees them without copying them out.
    null: File,
    buffer: Vec<u8>,
}

/// What one look at a pipe found.
enum Peeked {
    /// This many bytes of its head are in the buffer (and still in the pipe).
    Bytes(usize),
    Nothing(Drained),
}

impl Drainer {
    pub fn new() -> io::Result<Drainer> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        let null = OpenOptions::new().write(true).open("/dev/null")?;
        Ok(Drainer { scratch: (read, write), null, buffer: vec![0; CHUNK] })
    }

    /// Moves what `reader` holds into `file`, showing each chunk to `follow` (log
    /// followers) once it is in the file.
    pub fn drain(
        &mut self,
        reader: &OwnedFd,
        file: &mut RotatingFile,
        follow: &mut dyn FnMut(&[u8]),
    ) -> io::Result<Drained> {
        self.drain_at_most(reader, file, follow, MAX_CHUNKS)
    }

    fn drain_at_most(
        &mut self,
        reader: &OwnedFd,
        file: &mut RotatingFile,
        follow: &mut dyn FnMut(&[u8]),
        chunks: usize,
    ) -> io::Result<Drained> {
        for _ in 0..chunks {
            let len = match self.peek(reader)? {
                Peeked::Bytes(len) => len,
                Peeked::Nothing(drained) => return Ok(drained),
            };
            // A chunk the file cannot take (a full disk) is dropped, not left in the
            // pipe: keeping it would soon block the service on its next write.
            file.write_or_drop(&self.buffer[..len]);
            follow(&self.buffer[..len]);
            self.consume(reader, len)?;
        }
        Ok(Drained::More)
    }

    /// Copies the head of `reader`'s pipe into the buffer, leaving it in the pipe.
    fn peek(&mut self, reader: &OwnedFd) -> io::Result<Peeked> {
        let len = loop {
            match nix::fcntl::tee(reader, &self.scratch.1, CHUNK, SpliceFFlags::SPLICE_F_NONBLOCK) {
                Ok(0) => return Ok(Peeked::Nothing(Drained::Closed)),
                Ok(len) => break len,
                Err(Errno::EAGAIN) => return Ok(Peeked::Nothing(Drained::Empty)),
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno.into()),
            }
        };
        let read = self.read_scratch(len);
        if read.is_err() {
            self.clear_scratch(); // the next tee must start on an empty pipe
        }
        read.map(|()| Peeked::Bytes(len))
    }

    /// Reads the `len` bytes tee just put in the scratch pipe into the buffer.
    fn read_scratch(&mut self, len: usize) -> io::Result<()> {
        let mut got = 0;
        while got < len {
            match nix::unistd::read(self.scratch.0.as_fd(), &mut self.buffer[got..len]) {
                Ok(0) | Err(Errno::EAGAIN) => {
                    return Err(io::Error::other(format!("the scratch pipe held {got} of the {len} bytes tee copied")));
                }
                Ok(n) => got += n,
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno.into()),
            }
        }
        Ok(())
    }

    fn clear_scratch(&mut self) {
        while matches!(nix::unistd::read(self.scratch.0.as_fd(), &mut self.buffer), Ok(1..) | Err(Errno::EINTR)) {}
    }

    /// Takes the first `len` bytes (already in the log file) out of `reader`'s pipe.
    fn consume(&self, reader: &OwnedFd, mut len: usize) -> io::Result<()> {
        while len > 0 {
            match nix::fcntl::splice(reader, None, &self.null, None, len, SpliceFFlags::SPLICE_F_NONBLOCK) {
                // Only corrald reads the pipe, so what tee saw is still there; should it be
                // gone anyway, there is nothing left to take.
                Ok(0) | Err(Errno::EAGAIN) => return Ok(()),
                Ok(n) => len -= n.min(len),
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno.into()),
            }
        }
        Ok(())
    }
}

/// `<dir>/<service>.log`, rotated to `.1`, `.2`… when it would pass `max_bytes`.
pub struct RotatingFile {
    path: PathBuf,
    limits: LogLimits,
    file: Option<File>,
    size: u64,
    /// Bytes dropped since writing last failed (None while writes succeed).
    dropped: Option<u64>,
}

impl RotatingFile {
    pub fn new(dir: &Path, service: &str, limits: LogLimits) -> RotatingFile {
        RotatingFile { path: dir.join(format!("{service}.log")), limits, file: None, size: 0, dropped: None }
    }

    /// Writes `bytes`, or drops them if the file cannot take them; says so when writing
    /// first fails and when it works again, not for every chunk in between.
    pub fn write_or_drop(&mut self, bytes: &[u8]) {
        match (self.write(bytes), self.dropped) {
            (Ok(()), None) => {}
            (Ok(()), Some(dropped)) => {
                self.dropped = None;
                crate::daemon::say(format!("{}: writable again; {dropped} bytes of output were dropped", self.path.display()));
            }
            (Err(error), None) => {
                self.dropped = Some(bytes.len() as u64);
                self.file = None; // reopened (and its size learned again) on the next write
                crate::daemon::say(format!("cannot write {}: {error}; dropping output until it can", self.path.display()));
            }
            (Err(_), Some(dropped)) => self.dropped = Some(dropped + bytes.len() as u64),
        }
    }

    /// New limits (a changed manifest) for the writes to come; a file already past a
    /// smaller size is rotated by the next write.
    pub fn set_limits(&mut self, limits: LogLimits) {
        self.limits = limits;
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

    fn numbered(&self, n: u32) -> PathBuf {
        PathBuf::from(format!("{}.{n}", self.path.display()))
    }

    /// .N-1 → .N, …, .log → .1; the oldest falls off.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.limits.keep == 0 {
            fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.limits.keep).rev() {
                ignore_missing(fs::rename(self.numbered(n), self.numbered(n + 1)))?;
            }
            fs::rename(&self.path, self.numbered(1))?;
        }
        self.size = 0;
        // Copies past `keep` are left from a larger `keep` before the manifest changed.
        self.remove_from(self.limits.keep.saturating_add(1));
        Ok(())
    }

    /// Removes `.first`, `.first+1`… up to the first one missing.
    fn remove_from(&self, first: u32) {
        let mut n = first;
        while fs::remove_file(self.numbered(n)).is_ok() {
            n = n.saturating_add(1);
        }
    }

    /// Removes the file and its rotated copies (the service left the manifest).
    pub fn remove(mut self) {
        self.file = None;
        let _ = fs::remove_file(&self.path);
        for n in 1..=self.limits.keep {
            let _ = fs::remove_file(self.numbered(n));
        }
        self.remove_from(self.limits.keep.saturating_add(1));
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
    use std::os::fd::AsRawFd;

    use super::*;

    /// A fresh directory for one test.
    fn temp_dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("corrald-logs-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn write_all(fd: &OwnedFd, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            bytes = &bytes[nix::unistd::write(fd, bytes).expect("write to the pipe")..];
        }
    }

    /// Whether the pipe behind `reader` holds nothing (a read would block).
    fn is_empty(reader: &OwnedFd) -> bool {
        nix::unistd::read(reader.as_fd(), &mut [0u8; 1]) == Err(Errno::EAGAIN)
    }

    fn numbered_lines(from: usize, to: usize) -> Vec<u8> {
        (from..to).flat_map(|n| format!("line {n}\n").into_bytes()).collect()
    }

    #[test]
    fn drains_everything_into_the_file_and_leaves_the_pipe_empty() {
        let dir = temp_dir("drain");
        let pipe = new_pipe().expect("pipe");
        let mut log = RotatingFile::new(&dir, "svc", LogLimits { max_bytes: 1 << 30, keep: 1 });
        let (mut drainer, mut followed) = (Drainer::new().expect("drainer"), Vec::new());
        // Several chunks' worth, written while the pipe is drained (it may be only 64 KB).
        let all = numbered_lines(0, 40_000);
        let writer = std::thread::spawn({
            let (output, all) = (pipe.output, all.clone());
            move || write_all(&output, &all)
        });
        // Closed once the writer's end is gone with its thread and all was drained.
        while drainer.drain(&pipe.reader, &mut log, &mut |bytes| followed.extend_from_slice(bytes)).expect("drain")
            != Drained::Closed
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        writer.join().expect("writer");
        assert!(all.len() > 4 * CHUNK);
        assert_eq!(fs::read(dir.join("svc.log")).expect("log"), all);
        assert_eq!(followed, all);
        fs::remove_dir_all(&dir).expect("clean up");
    }

    /// A pipe that never runs dry (a service logging faster than the disk) is drained
    /// a bounded amount per call, so the loop gets to everything else.
    #[test]
    fn one_drain_moves_a_bounded_amount() {
        let dir = temp_dir("bounded");
        let pipe = new_pipe().expect("pipe");
        let mut log = RotatingFile::new(&dir, "svc", LogLimits { max_bytes: 1 << 30, keep: 1 });
        let mut drainer = Drainer::new().expect("drainer");
        let all = numbered_lines(0, 20_000); // about 210 KB, well within the 1 MB pipe
        write_all(&pipe.output, &all);
        let size = || fs::metadata(dir.join("svc.log")).map_or(0, |meta| meta.len());
        assert_eq!(drainer.drain_at_most(&pipe.reader, &mut log, &mut |_| {}, 2).expect("drain"), Drained::More);
        assert_eq!(size(), 2 * CHUNK as u64, "two chunks, no more");
        assert_eq!(drainer.drain(&pipe.reader, &mut log, &mut |_| {}).expect("drain"), Drained::Empty);
        assert_eq!(fs::read(dir.join("svc.log")).expect("log"), all);
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn drained_bytes_leave_the_pipe_and_later_ones_follow() {
        let dir = temp_dir("empty");
        let pipe = new_pipe().expect("pipe");
        let mut log = RotatingFile::new(&dir, "svc", LogLimits { max_bytes: 1 << 30, keep: 1 });
        let mut drainer = Drainer::new().expect("drainer");
        write_all(&pipe.output, b"one\n");
        assert_eq!(drainer.drain(&pipe.reader, &mut log, &mut |_| {}).expect("drain"), Drained::Empty);
        assert!(is_empty(&pipe.reader), "drained bytes are still in the pipe");
        write_all(&pipe.output, b"two\n");
        assert_eq!(drainer.drain(&pipe.reader, &mut log, &mut |_| {}).expect("drain"), Drained::Empty);
        assert_eq!(fs::read_to_string(dir.join("svc.log")).expect("log"), "one\ntwo\n");
        assert!(is_empty(&pipe.reader));
        fs::remove_dir_all(&dir).expect("clean up");
    }

    /// corrald killed after a chunk reached the file but before it left the pipe: the
    /// next corrald (a new drainer, a read end reopened through /proc) writes it again.
    #[test]
    fn a_chunk_written_but_not_taken_is_written_again_not_lost() {
        let dir = temp_dir("replay");
        let pipe = new_pipe().expect("pipe");
        let limits = LogLimits { max_bytes: 1 << 30, keep: 1 };
        write_all(&pipe.output, b"a\nb\n");
        let mut first = Drainer::new().expect("drainer");
        let Peeked::Bytes(len) = first.peek(&pipe.reader).expect("peek") else { panic!("nothing to peek") };
        RotatingFile::new(&dir, "svc", limits).write(&first.buffer[..len]).expect("write");
        drop(first); // killed here, before consume
        write_all(&pipe.output, b"c\n");

        let path = format!("/proc/self/fd/{}", pipe.reader.as_raw_fd());
        let reader = reopen(&path, OFlag::O_RDONLY | OFlag::O_NONBLOCK).expect("reopen");
        drop(pipe.reader);
        let mut log = RotatingFile::new(&dir, "svc", limits);
        let drained = Drainer::new().expect("drainer").drain(&reader, &mut log, &mut |_| {});
        assert_eq!(drained.expect("drain"), Drained::Empty);
        assert_eq!(fs::read_to_string(dir.join("svc.log")).expect("log"), "a\nb\na\nb\nc\n");
        assert!(is_empty(&reader));
        fs::remove_dir_all(&dir).expect("clean up");
    }

    /// A log file that cannot be written (here: its directory is gone; on a device,
    /// a full disk) must not stall the service: its output is taken and dropped.
    #[test]
    fn output_that_cannot_be_written_is_dropped_not_left_to_block_the_service() {
        let dir = temp_dir("unwritable");
        let pipe = new_pipe().expect("pipe");
        let mut log = RotatingFile::new(&dir.join("gone"), "svc", LogLimits { max_bytes: 1 << 30, keep: 1 });
        let mut drainer = Drainer::new().expect("drainer");
        write_all(&pipe.output, &numbered_lines(0, 10_000));
        assert_eq!(drainer.drain(&pipe.reader, &mut log, &mut |_| {}).expect("drain"), Drained::Empty);
        assert!(is_empty(&pipe.reader), "the pipe was emptied");
        assert_eq!(log.dropped, Some(numbered_lines(0, 10_000).len() as u64));
        fs::create_dir(dir.join("gone")).expect("mkdir");
        write_all(&pipe.output, b"back\n");
        drainer.drain(&pipe.reader, &mut log, &mut |_| {}).expect("drain");
        assert_eq!((log.dropped, fs::read_to_string(dir.join("gone/svc.log")).ok()), (None, Some("back\n".into())));
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn changed_limits_apply_to_the_next_writes() {
        let dir = temp_dir("limits");
        let read = |name: &str| fs::read_to_string(dir.join(name)).ok();
        let mut log = RotatingFile::new(&dir, "svc", LogLimits { max_bytes: 10, keep: 3 });
        for line in ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n", "ffff\n", "gggg\n"] {
            log.write(line.as_bytes()).expect("write");
        }
        assert!(read("svc.log.3").is_some());
        log.set_limits(LogLimits { max_bytes: 4, keep: 1 });
        log.write(b"hh\n").expect("write");
        assert_eq!((read("svc.log.1"), read("svc.log")), (Some("gggg\n".into()), Some("hh\n".into())));
        assert_eq!((read("svc.log.2"), read("svc.log.3")), (None, None), "copies past the new keep stay");
        log.set_limits(LogLimits { max_bytes: 4, keep: 3 });
        log.remove();
        assert!(fs::read_dir(&dir).expect("dir").next().is_none(), "remove left files");
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn a_services_settings_override_the_daemons_limits() {
        let daemon = LogLimits { max_bytes: 1 << 20, keep: 3 };
        assert_eq!(daemon.with(&LogSettings::default()), daemon);
        let settings = LogSettings { max_size: Some(2048), keep: None };
        assert_eq!(daemon.with(&settings), LogLimits { max_bytes: 2048, keep: 3 });
        let settings = LogSettings { max_size: None, keep: Some(0) };
        assert_eq!(daemon.with(&settings), LogLimits { max_bytes: 1 << 20, keep: 0 });
    }

    #[test]
    fn rotates_at_line_ends_and_keeps_n_files() {
        let dir = temp_dir("rotate");
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
