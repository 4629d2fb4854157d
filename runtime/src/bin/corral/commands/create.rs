use super::{CmdResult, CreateFlags};
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    flags: CreateFlags,
    /// Container id.
    id: String,
}

pub fn run(a: Args, g: &Globals) -> CmdResult {
    // The init runs as this binary until its execve: never from a writable image.
    corral_runtime::self_image::reexec_unless_write_proof()?;
    corral_runtime::container::create(&a.flags.options(g, &a.id))?;
    Ok(0)
}
