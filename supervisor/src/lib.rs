//! corral-supervisor: what `corrald` is built from.
//!
//! - `manifest`: the TOML file declaring a device's services, parsed and validated
//!   with every error located (line, column, service).
//! - `core`: the pure decision logic. Events from the world update an `Observed`
//!   state; `core::reconcile` compares it with the manifest at an injected time and
//!   returns the actions to take. No I/O, no clock, no threads.
//! - `daemon`: `corrald run`, the event loop that carries out the core's actions
//!   through the `corral` runtime binary and reports what happens back as events.
//! - `client`: a client of corrald's control API (what `corralctl` is built on).
//! - `sys`: the only module with `unsafe` (syscalls nix does not wrap).
//! - `units`, `signal`, `device`, `graph`: small helpers the others share.
#![deny(unsafe_code)]

pub mod client;
pub mod core;
pub mod daemon;
pub mod device;
pub mod graph;
pub mod manifest;
pub mod signal;
#[allow(unsafe_code)]
pub mod sys;
pub mod units;
