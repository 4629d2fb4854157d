use std::path::PathBuf;

use corral_runtime::container::{ExecOptions, ExecOutcome, ExecProcess, ProcessOverrides};

use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Unix socket that receives the pty master when --tty is given.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Write the new process's pid to this file.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// An OCI process object (JSON) to run; the other process flags are then ignored.
    #[arg(short = 'p', long)]
    process: Option<PathBuf>,
    /// Return once the process has started.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Give the process a terminal (its master goes to --console-socket).
    #[arg(short = 't', long)]
    tty: bool,
    /// Working directory inside the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE); repeatable.
    #[arg(short = 'e', long)]
    env: Vec<String>,
    /// Run as uid[:gid] (numeric).
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Additional group id; repeatable.
    #[arg(short = 'g', long)]
    additional_gids: Vec<u32>,
    /// Add a capability (e.g. CAP_NET_ADMIN); repeatable.
    #[arg(short = 'c', long)]
    cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    no_new_privs: bool,
    /// Pass N extra fds (3 .. 3+N-1) to the process.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// SELinux label for the process (refused on hosts with SELinux enabled: not supported yet).
    #[arg(long)]
    process_label: Option<String>,
    /// AppArmor profile for the process (refused on hosts with AppArmor enabled: not supported yet).
    #[arg(long)]
    apparmor: Option<String>,
    /// Allow exec into a paused container (the process starts frozen).
    #[arg(long)]
    ignore_paused: bool,
    /// Accepted for runc compatibility.
    #[arg(long, hide = true)]
    no_subreaper: bool,
    /// Container id.
    id: String,
    /// The command and its arguments (unless --process is given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn run(a: Args, g: &Globals) -> CmdResult {
    // The new process runs as this binary until its execve: never from a writable image.
    corral_runtime::self_image::reexec_unless_write_proof()?;
    let process = match a.process {
        Some(path) => ExecProcess::File(path),
        None if a.command.is_empty() => return Err("exec: no command given; pass one after the container id, or --process".into()),
        None => ExecProcess::Overrides(ProcessOverrides {
            args: a.command,
            cwd: a.cwd,
            env: a.env,
            user: a.user,
            additional_gids: a.additional_gids,
            caps: a.cap,
            no_new_privs: a.no_new_privs,
            tty: a.tty,
            apparmor: a.apparmor,
            process_label: a.process_label,
        }),
    };
    let opts = ExecOptions {
        root: &g.root,
        id: &a.id,
        process,
        console_socket: a.console_socket.as_deref(),
        pid_file: a.pid_file.as_deref(),
        detach: a.detach,
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
    };
    match corral_runtime::container::exec(&opts)? {
        ExecOutcome::Detached(_) => Ok(0),
        ExecOutcome::Exited(code) => Ok(u8::try_from(code).unwrap_or(255)),
    }
}
