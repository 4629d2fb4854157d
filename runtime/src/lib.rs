//! corral-runtime: a low-level OCI runtime, the library behind the `corral` binary.
//!
//! config.json is loaded and validated (`spec`), turned into a plan of plain data
//! (`process::plan`, `rootfs`, `namespaces`, `caps`), and only then is the init cloned
//! (`process::parent`), which runs small setup steps (`process::init`) and waits for
//! `start`. `container` holds the lifecycle operations the CLI calls.
#![deny(unsafe_code)]

pub mod caps;
pub mod cgroups;
pub mod console;
pub mod container;
pub mod error;
pub mod features;
pub mod hooks;
pub mod id;
pub mod namespaces;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod spec;
pub mod seccomp;
pub mod self_image;
pub mod state;
#[allow(unsafe_code)]
pub mod sys;

pub use error::{Error, Result};
pub use oci_spec;
