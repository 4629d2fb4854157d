//! corral-runtime: a low-level OCI runtime.
#![deny(unsafe_code)]

pub mod cgroups;
pub mod rootfs;
#[allow(unsafe_code)]
pub mod sys;

pub use oci_spec;
