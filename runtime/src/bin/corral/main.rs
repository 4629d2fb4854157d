//! `corral`: the runc-compatible command line over corral-runtime.
//!
//! Each subcommand is a short file in `commands/` that turns flags into a library call.
//! Errors become one line on stderr (and a record in --log, in --log-format).

mod commands;
mod log;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

#[derive(Parser)]
#[command(name = "corral", about = "Corral: a small OCI container runtime", disable_version_flag = true)]
struct Cli {
    /// Directory for container state.
    #[arg(long, global = true, default_value = corral_runtime::state::DEFAULT_ROOT)]
    root: PathBuf,
    /// Write log records to this file (errors always go to stderr too).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    #[arg(long, global = true, value_enum, default_value_t = log::Format::Text)]
    log_format: log::Format,
    /// Accepted for runc compatibility (containerd and podman pass it); errors are the only records so far.
    #[arg(long, global = true)]
    debug: bool,
    /// Use the systemd cgroup driver (not supported yet: a systemd-style cgroupsPath is refused).
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility and ignored.
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    /// Accepted for runc compatibility; rootless mode is detected from the config.
    #[arg(long, global = true, hide = true, value_enum)]
    rootless: Option<Rootless>,
    /// Print the version.
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<commands::Command>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Rootless {
    True,
    False,
    Auto,
}

/// clap's first line ("error: unexpected argument '--x' found"), without its prefix.
fn usage_error_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    format!("{}; see `corral --help`", first.trim_start_matches("error: "))
}

/// What a subcommand needs from the global flags.
pub struct Globals {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and the like: clap's text on stdout.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        // A usage error is one line too, and reaches --log as a record, where podman and
        // containerd look for it.
        Err(e) => {
            let (path, format) = log::destination_from_raw_args(std::env::args_os());
            log::Logger::new(path.as_deref(), format).error(&usage_error_line(&e));
            return ExitCode::from(2);
        }
    };
    let logger = log::Logger::new(cli.log.as_deref(), cli.log_format);
    if cli.version {
        commands::print_version();
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        logger.error("no command given; see `corral --help`");
        return ExitCode::FAILURE;
    };
    let root = std::path::absolute(&cli.root).unwrap_or(cli.root);
    let globals = Globals { root, systemd_cgroup: cli.systemd_cgroup };
    match command.run(&globals) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            logger.error(&e.to_string());
            ExitCode::FAILURE
        }
    }
}
