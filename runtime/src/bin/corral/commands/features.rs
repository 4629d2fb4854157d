use super::CmdResult;

pub fn run() -> CmdResult {
    println!("{}", serde_json::to_string_pretty(&corral_runtime::features::features())?);
    Ok(0)
}
