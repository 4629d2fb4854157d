//! Error and debug records: a line on stderr, and the same record in the --log file,
//! as text or as the JSON lines containerd and podman read back.

use std::fs::File;
use std::io::Write;
use std::path::Path;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// --log and --log-format picked out of raw arguments, for reporting a usage error that
/// stopped clap from parsing them.
pub fn destination_from_raw_args(args: impl Iterator<Item = std::ffi::OsString>) -> (Option<std::path::PathBuf>, Format) {
    let (mut path, mut format) = (None, Format::Text);
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    for (i, arg) in args.iter().enumerate() {
        let value = |flag: &str| arg.strip_prefix(&format!("{flag}=")).map(str::to_string).or_else(|| (arg == flag).then(|| args.get(i + 1).cloned()).flatten());
        if let Some(p) = value("--log") {
            path = Some(p.into());
        }
        if value("--log-format").as_deref() == Some("json") {
            format = Format::Json;
        }
    }
    (path, format)
}

pub struct Logger {
    file: Option<File>,
    format: Format,
}

impl Logger {
    pub fn new(path: Option<&Path>, format: Format) -> Logger {
        let file = path.and_then(|p| File::options().create(true).append(true).open(p).ok());
        Logger { file, format }
    }

    pub fn error(&self, msg: &str) {
        let _ = writeln!(std::io::stderr(), "corral: {msg}");
        self.record("error", msg);
    }

    fn record(&self, level: &str, msg: &str) {
        let Some(mut file) = self.file.as_ref() else { return };
        let time = corral_runtime::state::rfc3339_now();
        let line = match self.format {
            Format::Json => serde_json::json!({"level": level, "msg": msg, "time": time}).to_string(),
            Format::Text => format!("time=\"{time}\" level={level} msg={msg:?}"),
        };
        let _ = writeln!(file, "{line}");
    }
}
