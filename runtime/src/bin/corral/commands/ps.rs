use std::collections::HashSet;

use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// table or json.
    #[arg(short = 'f', long, default_value = "table")]
    format: String,
    /// Container id.
    id: String,
    /// Options for ps(1) in table format (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

pub fn run(a: Args, g: &Globals) -> CmdResult {
    let pids = corral_runtime::container::ps_pids(&g.root, &a.id)?;
    match a.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => print_table(&pids, &a.ps_args)?,
        other => return Err(format!("--format {other:?}: use table or json").into()),
    }
    Ok(0)
}

/// As runc does: run ps(1) and keep its header and the container's lines.
fn print_table(pids: &[i32], ps_args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<&str> = if ps_args.is_empty() { vec!["-ef"] } else { ps_args.iter().map(String::as_str).collect() };
    let out = std::process::Command::new("ps").args(&args).output().map_err(|e| format!("running ps: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let column = header.split_whitespace().position(|c| c == "PID").ok_or("ps output has no PID column; pass -ef or -o pid,...")?;
    let wanted: HashSet<String> = pids.iter().map(i32::to_string).collect();
    println!("{header}");
    for line in lines.filter(|l| l.split_whitespace().nth(column).is_some_and(|p| wanted.contains(p))) {
        println!("{line}");
    }
    Ok(())
}
