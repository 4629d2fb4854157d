use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Signal every process in the container, not just its init.
    #[arg(short = 'a', long)]
    all: bool,
    /// Container id.
    id: String,
    /// Signal name (TERM, SIGKILL) or number.
    #[arg(default_value = "SIGTERM")]
    signal: String,
}

pub fn run(a: Args, g: &Globals) -> CmdResult {
    let signal = corral_runtime::container::parse_signal(&a.signal)?;
    corral_runtime::container::kill(&g.root, &a.id, signal, a.all)?;
    Ok(0)
}
