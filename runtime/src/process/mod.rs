//! Creating the container's init process: plan (before clone), parent side, init side.

pub mod init;
pub mod parent;
pub mod plan;
pub mod sync;
pub mod sysctl;
