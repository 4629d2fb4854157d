//! Creating the container's init process: plan (before clone), parent side, init side.

pub mod exec;
pub mod init;
pub mod parent;
pub mod plan;
pub mod steps;
pub mod sync;
pub mod sysctl;
