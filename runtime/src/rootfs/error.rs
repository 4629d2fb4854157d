//! Everything that can go wrong with the container's root filesystem.
//!
//! Variants up to `NulByte` come from [`super::RootfsPlan::new`], before any process is
//! cloned; the rest from the steps run in the child.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error(
        "config.json has no \"root\" object; set root.path to the container's root filesystem directory"
    )]
    NoRoot,

    #[error(
        "root.path {path:?} cannot be used: {source}; it must be an existing directory (a relative path is taken from the bundle directory)"
    )]
    RootPath { path: PathBuf, source: io::Error },

    #[error(
        "mounts[{index}]: mount destination {destination:?} is not absolute; use {suggestion:?}"
    )]
    RelativeDestination {
        index: usize,
        destination: PathBuf,
        suggestion: PathBuf,
    },

    #[error(
        "mounts[{index}]: mount destination {destination:?} is the container's root itself; mount below \"/\" instead (the root comes from root.path)"
    )]
    RootDestination { index: usize, destination: PathBuf },

    #[error("mounts[{index}] at {destination:?}: {reason}")]
    InvalidMount {
        index: usize,
        destination: PathBuf,
        reason: String,
    },

    #[error(
        "mounts[{index}] at {destination:?}: bind source {path:?} cannot be used: {source}; it must exist on the host (a relative source is taken from the bundle directory)"
    )]
    BindSource {
        index: usize,
        destination: PathBuf,
        path: PathBuf,
        source: io::Error,
    },

    #[error("linux.devices entry {path:?}: {reason}")]
    InvalidDevice { path: PathBuf, reason: String },

    #[error(
        "linux.rootfsPropagation {value:?} is not one of private, rprivate, slave, rslave, shared, rshared, unbindable, runbindable"
    )]
    InvalidPropagation { value: String },

    #[error("linux.{field} entry {path:?} is not an absolute path; write it as {suggestion:?}")]
    RelativePath {
        field: &'static str,
        path: String,
        suggestion: String,
    },

    #[error(
        "linux.maskedPaths entry {path:?} names the container's root, which cannot be masked; remove it"
    )]
    MaskedRoot { path: String },

    #[error("{what} {value:?} contains a NUL byte, which no path or mount option can hold")]
    NulByte { what: &'static str, value: String },

    #[error("preparing the rootfs {path:?}: {step} failed: {source}")]
    Prepare {
        path: PathBuf,
        step: &'static str,
        source: io::Error,
    },

    #[error("mounts[{index}] at {destination:?}: {step} failed: {source}")]
    Mount {
        index: usize,
        destination: PathBuf,
        step: &'static str,
        source: io::Error,
    },

    #[error(
        "mounts[{index}] at {destination:?}: recursive options (rro, rnosuid, ...) need mount_setattr(2), from Linux 5.12, which this kernel lacks; use the non-recursive option instead"
    )]
    SetattrUnsupported { index: usize, destination: PathBuf },

    #[error("device {path:?}: {step} failed: {source}")]
    Device {
        path: PathBuf,
        step: &'static str,
        source: io::Error,
    },

    #[error(
        "device {path:?}: the host's {path:?} is not {expected}, so it cannot be bind-mounted in its place (a user namespace cannot mknod); fix linux.devices or the host node"
    )]
    HostDeviceMismatch { path: PathBuf, expected: String },

    #[error("switching the root to {path:?}: {step} failed: {source}")]
    Pivot {
        path: PathBuf,
        step: &'static str,
        source: io::Error,
    },

    #[error(
        "the container has no procfs at /proc; maskedPaths, readonlyPaths and the console need it: add a mount of type \"proc\" at \"/proc\" to config.json"
    )]
    ProcMissing,

    #[error(
        "/dev/null in the container is not the null device (char 1:3) but {found}; it cannot be used to mask files"
    )]
    DevNullNotNull { found: String },

    #[error("linux.{field} entry {path:?}: {step} failed: {source}")]
    Path {
        field: &'static str,
        path: PathBuf,
        step: &'static str,
        source: io::Error,
    },

    #[error("remounting /dev read-only failed: {source}")]
    DevReadonly { source: io::Error },

    #[error("root.readonly: remounting the container's root read-only failed: {source}")]
    RootReadonly { source: io::Error },

    #[error("linux.rootfsPropagation: setting the propagation of \"/\" failed: {source}")]
    Propagation { source: io::Error },

    #[error("console: the fd given is not a pty slave (char device, major 136-143): {found}")]
    NotPtySlave { found: String },

    #[error("console: /dev/console (or /dev) in the rootfs is a symlink; remove it from the image, the runtime makes /dev/console itself")]
    ConsoleSymlink,

    #[error("console: {step} failed: {source}")]
    Console {
        step: &'static str,
        source: io::Error,
    },
}
