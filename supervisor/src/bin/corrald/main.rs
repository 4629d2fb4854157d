//! `corrald`: the supervisor daemon. For now only `corrald check MANIFEST`, which
//! validates a manifest against this device and prints every error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use corral_supervisor::device::Device;
use corral_supervisor::manifest::{self, LoadError};

#[derive(Parser)]
#[command(
    name = "corrald",
    about = "Corral's supervisor: keeps a device's declared services running",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a manifest against this device and list every error (exit 1 if any).
    Check {
        /// The manifest file (TOML).
        manifest: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check { manifest } => check(&manifest),
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    let device = match Device::from_host() {
        Ok(device) => device,
        Err(error) => {
            eprintln!("corrald: cannot read the device's memory size: {error}");
            return ExitCode::FAILURE;
        }
    };
    match manifest::load(path, &device) {
        Ok(manifest) => {
            println!("{}: ok, {} service(s)", path.display(), manifest.services.len());
            ExitCode::SUCCESS
        }
        Err(error @ LoadError::Read { .. }) => {
            eprintln!("corrald: {error}");
            ExitCode::FAILURE
        }
        Err(LoadError::Invalid { path, errors }) => {
            eprintln!("{path}: manifest refused, {} error(s):", errors.0.len());
            for error in &errors.0 {
                eprintln!("{path}:{error}");
            }
            ExitCode::FAILURE
        }
    }
}
