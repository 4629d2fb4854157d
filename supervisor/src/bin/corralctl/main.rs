//! `corralctl`: talks to corrald over its control socket (docs/api.md).
//!
//! Every failure is one line on stderr and a non-zero exit.

mod show;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use corral_supervisor::client::{Client, ClientError};
use serde_json::Value;

#[derive(Parser)]
#[command(name = "corralctl", about = "Controls corrald, Corral's supervisor", disable_version_flag = true)]
struct Cli {
    /// corrald's control socket.
    #[arg(long, global = true, default_value = "/var/lib/corrald/corrald.sock")]
    socket: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A table of every service: state, health, restarts, uptime, memory, CPU.
    Status,
    /// Everything corrald knows about a service, as JSON.
    Inspect { service: String },
    /// A service's output (stdout and stderr of its containers).
    Logs {
        /// Keep printing new output until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
        service: String,
    },
    /// Start a stopped service (clears an operator's stop and a given-up state); returns
    /// once it runs.
    Start(Operator),
    /// Stop a service and hold it down until started again; returns once it is down.
    Stop(Operator),
    /// Stop a service and start it again; returns once the new container runs.
    Restart(Operator),
    /// Reconcile the running services to a new manifest (added, removed, changed).
    Apply { manifest: PathBuf },
    /// State changes, health changes and OOM kills.
    Events {
        /// Keep printing new events until interrupted.
        #[arg(short, long)]
        follow: bool,
    },
    /// The Prometheus metrics text.
    Metrics,
}

#[derive(clap::Args)]
struct Operator {
    service: String,
    /// Give up waiting after SECONDS (the request stays in effect); default: 60 s, plus
    /// the stop grace period for stop and restart.
    #[arg(long, value_name = "SECONDS", conflicts_with = "no_wait", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    timeout: Option<u64>,
    /// Return once corrald has the request, without waiting for it to take effect.
    #[arg(long)]
    no_wait: bool,
}

/// Why corralctl stopped early.
enum Failure {
    /// Said in one line, with a failure exit.
    Message(String),
    /// Whoever read our output went away (`| head`): not an error.
    ReaderGone,
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Failure {
        match error {
            ClientError::Io(error) if error.kind() == io::ErrorKind::BrokenPipe => Failure::ReaderGone,
            error => Failure::Message(error.to_string()),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        match error.kind() {
            io::ErrorKind::BrokenPipe => Failure::ReaderGone,
            _ => Failure::Message(error.to_string()),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let client = Client::new(&cli.socket);
    match run(&client, cli.command) {
        Ok(()) | Err(Failure::ReaderGone) => ExitCode::SUCCESS,
        Err(Failure::Message(message)) => {
            eprintln!("corralctl: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(client: &Client, command: Command) -> Result<(), Failure> {
    match command {
        Command::Status => print(&show::status_table(&client.get("/v1/services")?.json()?)),
        Command::Inspect { service } => {
            let value = client.get(&format!("/v1/services/{service}"))?.json()?;
            print(&format!("{}\n", serde_json::to_string_pretty(&value).expect("JSON serialises")))
        }
        Command::Logs { follow, tail, service } => logs(client, &service, tail, follow),
        Command::Start(args) => operator(client, &args, "start"),
        Command::Stop(args) => operator(client, &args, "stop"),
        Command::Restart(args) => operator(client, &args, "restart"),
        Command::Apply { manifest } => apply(client, &manifest),
        Command::Events { follow } => events(client, follow),
        Command::Metrics => print(&String::from_utf8_lossy(&client.get("/metrics")?.body)),
    }
}

fn print(text: &str) -> Result<(), Failure> {
    Ok(write_out(text.as_bytes())?)
}

fn write_out(bytes: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(bytes).and_then(|()| stdout.flush())
}

fn logs(client: &Client, service: &str, tail: Option<usize>, follow: bool) -> Result<(), Failure> {
    let mut path = format!("/v1/services/{service}/logs?follow={}", u8::from(follow));
    if let Some(tail) = tail {
        path += &format!("&tail={tail}");
    }
    client.stream("GET", &path, None, &mut |chunk| write_out(chunk))?;
    Ok(())
}

fn operator(client: &Client, args: &Operator, action: &str) -> Result<(), Failure> {
    let service = &args.service;
    let timeout = if args.no_wait { Some(0) } else { args.timeout };
    let query = timeout.map(|secs| format!("?timeout={secs}")).unwrap_or_default();
    let answer = client.post(&format!("/v1/services/{service}/{action}{query}"), b"")?.json()?;
    // After a start, a state other than running (a short job that ended, a crash
    // already waiting out its backoff) needs its reason; after a stop it says nothing new.
    let reason = answer["reason"].as_str().filter(|_| action != "stop").map(|reason| format!(" ({reason})"));
    let reason = reason.unwrap_or_default();
    match answer["state"].as_str() {
        Some(state) => print(&format!("{service}: {state}{reason}\n")),
        None => print(&format!("{service}: {action} requested\n")),
    }
}

fn apply(client: &Client, manifest: &PathBuf) -> Result<(), Failure> {
    let shown = manifest.display();
    let text = std::fs::read(manifest).map_err(|error| Failure::Message(format!("cannot read {shown}: {error}")))?;
    let answer = match client.post("/v1/apply", &text) {
        Ok(answer) => answer.json()?,
        Err(ClientError::Status { status: 422, body: Some(body), .. }) => return Err(refused(&shown.to_string(), &body)),
        Err(error) => return Err(error.into()),
    };
    for change in ["added", "removed", "replaced", "updated", "unchanged"] {
        let names: Vec<&str> = answer[change].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if !names.is_empty() {
            print(&format!("{change}: {}\n", names.join(", ")))?;
        }
    }
    Ok(())
}

/// A refused manifest: every error on its own line (FILE:LINE:COLUMN: ...), then the
/// one-line failure.
fn refused(path: &str, body: &Value) -> Failure {
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    for error in &errors {
        let service = error["service"].as_str().map(|s| format!("service {s:?}: ")).unwrap_or_default();
        let (line, column) = (error["line"].as_u64().unwrap_or(0), error["column"].as_u64().unwrap_or(0));
        eprintln!("{path}:{line}:{column}: {service}{}", error["message"].as_str().unwrap_or(""));
    }
    Failure::Message(format!("{path}: manifest refused, {} error(s); nothing was changed", errors.len()))
}

fn events(client: &Client, follow: bool) -> Result<(), Failure> {
    let mut pending = Vec::new();
    let path = format!("/v1/events?follow={}", u8::from(follow));
    client.stream("GET", &path, None, &mut |chunk| {
        pending.extend_from_slice(chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let shown = match serde_json::from_slice::<Value>(&line) {
                Ok(event) => show::event_line(&event),
                Err(_) => String::from_utf8_lossy(&line).trim_end().to_owned(),
            };
            write_out(format!("{shown}\n").as_bytes())?;
        }
        Ok(())
    })?;
    Ok(())
}
