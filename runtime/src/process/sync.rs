//! The parent ↔ init channel: a socketpair carrying small tagged frames.
//!
//! Frame: one tag byte, a u32 length (native endian), then the payload. The child only
//! ever sends fixed tags and short error texts; nothing is parsed beyond the tag.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// Parent → child: ids mapped and cgroup joined; payload: the state JSON for hooks.
    Go = 1,
    /// Child → parent: mounts are ready, run prestart/createRuntime hooks now.
    RunHooks = 2,
    /// Parent → child: hooks done, carry on.
    Resume = 3,
    /// Child → parent: waiting on the exec fifo; payload: nothing.
    Created = 4,
    /// Child → parent: setup failed; payload: the message.
    Error = 5,
}

impl Tag {
    fn from_u8(b: u8) -> Option<Tag> {
        [Tag::Go, Tag::RunHooks, Tag::Resume, Tag::Created, Tag::Error].into_iter().find(|t| *t as u8 == b)
    }
}

/// Largest payload accepted; state JSON with annotations fits easily.
const MAX_FRAME: u32 = 1 << 20;

pub struct Channel(UnixStream);

impl Channel {
    /// Both ends, close-on-exec.
    pub fn pair() -> io::Result<(Channel, Channel)> {
        let (a, b) = UnixStream::pair()?;
        Ok((Channel(a), Channel(b)))
    }

    pub fn send(&mut self, tag: Tag, payload: &[u8]) -> io::Result<()> {
        let len = u32::try_from(payload.len()).map_err(|_| io::Error::other("frame too large"))?;
        let mut frame = Vec::with_capacity(5 + payload.len());
        frame.push(tag as u8);
        frame.extend_from_slice(&len.to_ne_bytes());
        frame.extend_from_slice(payload);
        self.0.write_all(&frame)
    }

    /// Next frame; an EOF (the other side died) is an UnexpectedEof error.
    pub fn recv(&mut self) -> io::Result<(Tag, Vec<u8>)> {
        let mut head = [0u8; 5];
        self.0.read_exact(&mut head)?;
        let tag = Tag::from_u8(head[0]).ok_or_else(|| io::Error::other("unknown frame tag"))?;
        let len = u32::from_ne_bytes([head[1], head[2], head[3], head[4]]);
        if len > MAX_FRAME {
            return Err(io::Error::other("frame too large"));
        }
        let mut payload = vec![0u8; len as usize];
        self.0.read_exact(&mut payload)?;
        Ok((tag, payload))
    }
}
