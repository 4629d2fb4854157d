//! `corrald`: the supervisor daemon.
//!
//! - `corrald run --manifest FILE [--state-dir DIR] [--socket PATH]`: keep the manifest's
//!   services running, and serve the control API (docs/api.md) on the socket.
//! - `corrald check FILE`: validate a manifest against this device and print every error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use corral_supervisor::daemon::{self, DaemonError, LogLimits, Options};
use corral_supervisor::device::Device;
use corral_supervisor::manifest::{self, LoadError};
use corral_supervisor::units::parse_size;

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
    /// Run the services of a manifest until SIGTERM or SIGINT (SIGHUP reloads it).
    Run(RunArgs),
    /// Validate a manifest against this device and list every error (exit 1 if any).
    Check {
        /// The manifest file (TOML).
        manifest: PathBuf,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The manifest file (TOML).
    #[arg(long)]
    manifest: PathBuf,
    /// Where corrald keeps its state, the runtime's state, bundles and logs.
    #[arg(long, default_value = "/var/lib/corrald")]
    state_dir: PathBuf,
    /// The control API's unix socket (default: corrald.sock in the state dir).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// The corral binary (default: next to corrald, else `corral` in PATH).
    #[arg(long)]
    runtime: Option<PathBuf>,
    /// Size at which a service's log file is rotated, e.g. 1M or 512K (a service's
    /// `logs.max_size` in the manifest overrides it).
    #[arg(long, default_value = "1M", value_parser = parse_size)]
    log_max_size: u64,
    /// Rotated log files kept per service (`.1` … `.N`; `logs.keep` overrides it).
    #[arg(long, default_value_t = 3)]
    log_keep: u32,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::Check { manifest } => check(&manifest),
    }
}

fn run(args: RunArgs) -> ExitCode {
    let Some(runtime) = args.runtime.or_else(daemon::runtime::default_runtime_bin) else {
        eprintln!("corrald: no corral binary next to corrald or in PATH; pass --runtime");
        return ExitCode::FAILURE;
    };
    let log_limits = LogLimits { max_bytes: args.log_max_size.max(1), keep: args.log_keep };
    let socket = args.socket.unwrap_or_else(|| args.state_dir.join("corrald.sock"));
    let options = Options { manifest: args.manifest, state_dir: args.state_dir, socket, runtime, log_limits };
    match daemon::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(DaemonError::Manifest(error)) => report_load_error(error),
        Err(error) => {
            eprintln!("corrald: {error}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &Path) -> ExitCode {
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
        Err(error) => report_load_error(error),
    }
}

fn report_load_error(error: LoadError) -> ExitCode {
    match error {
        error @ LoadError::Read { .. } => eprintln!("corrald: {error}"),
        LoadError::Invalid { path, errors } => {
            eprintln!("{path}: manifest refused, {} error(s):", errors.0.len());
            for error in &errors.0 {
                eprintln!("{path}:{error}");
            }
        }
    }
    ExitCode::FAILURE
}
