use std::path::PathBuf;

use super::CmdResult;

#[derive(clap::Args)]
pub struct Args {
    /// Directory to write config.json in.
    #[arg(short = 'b', long, default_value = ".")]
    bundle: PathBuf,
    /// A config for running without root: a user namespace mapping your ids to root.
    // A distinct id: the global --rootless (runc's, accepted and ignored) has the same name.
    #[arg(long = "rootless", id = "spec_rootless")]
    rootless: bool,
}

pub fn run(a: Args) -> CmdResult {
    let path = a.bundle.join("config.json");
    if path.exists() {
        return Err(format!("{} already exists; remove it first", path.display()).into());
    }
    let spec = corral_runtime::spec::default::default_spec(a.rootless, nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    std::fs::write(&path, serde_json::to_string_pretty(&spec)? + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(0)
}
