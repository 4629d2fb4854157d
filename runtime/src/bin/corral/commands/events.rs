//! `events`: runc's JSON events, one object per line.

use std::io::Write;

use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Print the statistics once and exit.
    #[arg(long)]
    stats: bool,
    /// How often to print statistics while streaming, e.g. 5s or 500ms.
    #[arg(long, default_value = "5s")]
    interval: String,
    /// Container id.
    id: String,
}

pub fn run(a: Args, g: &Globals) -> CmdResult {
    if a.stats {
        let event = corral_runtime::container::stats_event(&g.root, &a.id)?;
        println!("{}", serde_json::to_string(&event)?);
        return Ok(0);
    }
    let interval = corral_runtime::container::parse_duration(&a.interval).ok_or_else(|| {
        format!(
            "--interval {:?}: use a positive duration such as 5s, 500ms or 1m",
            a.interval
        )
    })?;
    let mut stdout = std::io::stdout().lock();
    corral_runtime::container::stream_events(&g.root, &a.id, interval, |event| {
        // A closed pipe ends nothing here: the loop stops when the container stops.
        let _ = writeln!(stdout, "{event}");
        let _ = stdout.flush();
    })?;
    Ok(0)
}
