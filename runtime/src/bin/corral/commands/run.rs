use corral_runtime::container::RunOutcome;

use super::{CmdResult, CreateFlags};
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    flags: CreateFlags,
    /// Return once the container has started.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Accepted for runc compatibility: the container is deleted after it exits.
    #[arg(long, hide = true)]
    keep: bool,
    /// Accepted for runc compatibility.
    #[arg(long, hide = true)]
    no_subreaper: bool,
    /// Container id.
    id: String,
}

pub fn run(a: Args, g: &Globals) -> CmdResult {
    // The init runs as this binary until its execve: never from a writable image.
    corral_runtime::self_image::reexec_unless_write_proof()?;
    match corral_runtime::container::run(&a.flags.options(g, &a.id), a.detach)? {
        RunOutcome::Detached(_) => Ok(0),
        RunOutcome::Exited(code) => Ok(u8::try_from(code).unwrap_or(255)),
    }
}
