use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// table or json.
    #[arg(short = 'f', long, default_value = "table")]
    format: String,
    /// Print only the ids.
    #[arg(short = 'q', long)]
    quiet: bool,
}

pub fn run(a: Args, g: &Globals) -> CmdResult {
    let states = corral_runtime::container::list(&g.root)?;
    if a.quiet {
        states.iter().for_each(|s| println!("{}", s["id"].as_str().unwrap_or_default()));
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => println!("{}", serde_json::Value::Array(states)),
        "table" => {
            println!("{:<24} {:<8} {:<10} {:<40} {:<32} OWNER", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
            for s in &states {
                let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
                println!("{:<24} {:<8} {:<10} {:<40} {:<32} root", text("id"), s["pid"], text("status"), text("bundle"), text("created"));
            }
        }
        other => return Err(format!("--format {other:?}: use table or json").into()),
    }
    Ok(0)
}
