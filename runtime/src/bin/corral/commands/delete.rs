use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Kill the container first if it is running.
    #[arg(short = 'f', long)]
    force: bool,
    /// Container id.
    id: String,
}

pub fn run(a: Args, g: &Globals) -> CmdResult {
    corral_runtime::container::delete(&g.root, &a.id, a.force)?;
    Ok(0)
}
