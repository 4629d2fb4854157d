use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Container id.
    id: String,
}

pub fn run(a: Args, g: &Globals) -> CmdResult {
    let state = corral_runtime::container::state(&g.root, &a.id)?;
    println!("{}", serde_json::to_string_pretty(&state)?);
    Ok(0)
}
