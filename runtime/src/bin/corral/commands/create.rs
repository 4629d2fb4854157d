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
    corral_runtime::container::create(&a.flags.options(g, &a.id))?;
    Ok(0)
}
