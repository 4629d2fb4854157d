use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Container id.
    id: String,
}

pub fn run(a: Args, g: &Globals) -> CmdResult {
    corral_runtime::container::pause(&g.root, &a.id)?;
    Ok(0)
}
