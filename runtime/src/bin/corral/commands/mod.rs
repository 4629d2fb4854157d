//! One file per subcommand; each turns its flags into a corral-runtime call.

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod update;

use crate::Globals;

/// Result of a subcommand: the process exit code, or an error for the single error line.
pub type CmdResult = Result<u8, Box<dyn std::error::Error>>;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a container from a bundle; its process waits for `start`.
    Create(create::Args),
    /// Start a created container's process.
    Start(start::Args),
    /// Create and start a container, and wait for it unless --detach.
    Run(run::Args),
    /// Run another process in a running container.
    Exec(Box<exec::Args>),
    /// Print a container's OCI state as JSON.
    State(state::Args),
    /// Send a signal to a container.
    Kill(kill::Args),
    /// Delete a container and everything it made.
    Delete(delete::Args),
    /// List containers.
    List(list::Args),
    /// List a container's processes.
    Ps(ps::Args),
    /// Change a container's resource limits.
    Update(Box<update::Args>),
    /// Freeze every process of a container.
    Pause(pause::Args),
    /// Thaw a paused container.
    Resume(resume::Args),
    /// Print resource statistics and OOM events as JSON.
    Events(events::Args),
    /// Write a default config.json.
    Spec(spec::Args),
    /// Print the features this runtime implements, as JSON.
    Features,
}

impl Command {
    pub fn run(self, g: &Globals) -> CmdResult {
        match self {
            Command::Create(a) => create::run(a, g),
            Command::Start(a) => start::run(a, g),
            Command::Run(a) => run::run(a, g),
            Command::Exec(a) => exec::run(*a, g),
            Command::State(a) => state::run(a, g),
            Command::Kill(a) => kill::run(a, g),
            Command::Delete(a) => delete::run(a, g),
            Command::List(a) => list::run(a, g),
            Command::Ps(a) => ps::run(a, g),
            Command::Update(a) => update::run(*a, g),
            Command::Pause(a) => pause::run(a, g),
            Command::Resume(a) => resume::run(a, g),
            Command::Events(a) => events::run(a, g),
            Command::Spec(a) => spec::run(a),
            Command::Features => features::run(),
        }
    }
}

/// The three lines containerd's go-runc parses.
pub fn print_version() {
    println!("corral version {}", env!("CARGO_PKG_VERSION"));
    println!("commit: {}", option_env!("CORRAL_COMMIT").unwrap_or("unknown"));
    println!("spec: {}", corral_runtime::spec::OCI_VERSION_MAX);
}

/// Flags shared by `create` and `run`.
#[derive(clap::Args)]
pub struct CreateFlags {
    /// Path to the bundle directory (holding config.json).
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: std::path::PathBuf,
    /// Unix socket that receives the pty master when process.terminal is true.
    #[arg(long)]
    pub console_socket: Option<std::path::PathBuf>,
    /// Write the container's init pid to this file.
    #[arg(long)]
    pub pid_file: Option<std::path::PathBuf>,
    /// Do not use pivot_root (MS_MOVE and chroot instead), for a rootfs on a ramdisk.
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not give the container its own session keyring.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3 .. 3+N-1) to the container's process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
}

impl CreateFlags {
    pub fn options<'a>(&'a self, g: &'a Globals, id: &'a str) -> corral_runtime::container::CreateOptions<'a> {
        corral_runtime::container::CreateOptions {
            root: &g.root,
            id,
            bundle: &self.bundle,
            pid_file: self.pid_file.as_deref(),
            console_socket: self.console_socket.as_deref(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            listen_fds: listen_fds(),
            systemd_cgroup: g.systemd_cgroup,
        }
    }
}

/// Socket activation (sd_listen_fds): LISTEN_FDS counts fds from 3 meant for this process,
/// when LISTEN_PID names it.
fn listen_fds() -> u32 {
    let for_us = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse().ok());
    if for_us { count.unwrap_or(0) } else { 0 }
}
