//! The only module allowed to hold `unsafe`. Every block carries a `// SAFETY:` line.
//!
//! Each submodule wraps a family of raw syscalls in a safe function that returns
//! `std::io::Result` (or a nix `Result`), so callers above this layer stay safe.

pub mod bpf;
pub mod fs;
pub mod mount;
pub mod net;
pub mod process;
pub mod seccomp;
