//! corral-probe: a static program that runs inside test containers and
//! reports what the process sees. See tests/README.md for the commands.
//!
//! Exit status: 0 on success, 1 when the operation failed (the errno name,
//! e.g. "EACCES", is printed on stdout), 2 on a usage error.

#![deny(unsafe_code)]

mod json;
mod report;
// The only module with unsafe code: raw signals and fcntl.
#[allow(unsafe_code)]
mod sys;

use json::Json;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: probe report | exit N | sleep SECS | signal-self SIG | write PATH [TEXT] | \
read PATH | stat PATH | ls DIR | readlink PATH | env | pause [--exit-on-term] | \
without SYSCALL[,SYSCALL...] PROGRAM [ARGS...]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    match argv.as_slice() {
        ["report"] => print_line(&report::report().render()),
        ["exit", code] => exit_with(code),
        ["sleep", secs] => sleep_for(secs),
        ["signal-self", sig] => signal_self(sig),
        ["write", path] => write_file(path, "probe\n"),
        ["write", path, text] => write_file(path, text),
        ["read", path] => read_file(path),
        ["stat", path] => stat_path(path),
        ["ls", dir] => list_dir(dir),
        ["readlink", path] => read_link(path),
        ["env"] => print_env(),
        ["pause"] => pause(false),
        ["pause", "--exit-on-term"] => pause(true),
        ["without", names, program, rest @ ..] => exec_without(names, program, rest),
        _ => usage(),
    }
}

/// Runs PROGRAM as on an older kernel: the named syscalls fail with ENOSYS.
fn exec_without(names: &str, program: &str, args: &[&str]) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let mut numbers = Vec::new();
    for name in names.split(',') {
        match sys::syscall_number(name) {
            Some(nr) => numbers.push(nr),
            None => {
                eprintln!("probe without: unknown syscall {name:?}");
                return ExitCode::from(2);
            }
        }
    }
    if let Err(err) = sys::fail_with_enosys(&numbers) {
        return failed(&err);
    }
    let err = std::process::Command::new(program).args(args).exec();
    failed(&err)
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn print_line(text: &str) -> ExitCode {
    let mut out = io::stdout().lock();
    // A closed stdout is the caller's problem; report it through the status.
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn failed(err: &io::Error) -> ExitCode {
    print_line(&sys::errno_name(err));
    ExitCode::FAILURE
}

fn exit_with(code: &str) -> ExitCode {
    match code.parse::<u8>() {
        Ok(n) => ExitCode::from(n),
        Err(_) => usage(),
    }
}

fn sleep_for(secs: &str) -> ExitCode {
    match secs.parse::<f64>() {
        Ok(s) if s >= 0.0 => {
            std::thread::sleep(Duration::from_secs_f64(s));
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
}

/// Raises the signal; if it did not end the process (e.g. SIGTERM sent to a
/// pid-namespace init without a handler), exits with 99 after one second.
fn signal_self(sig: &str) -> ExitCode {
    let Some(signo) = sys::parse_signal(sig) else {
        return usage();
    };
    if let Err(err) = sys::signal_self(signo) {
        return failed(&err);
    }
    std::thread::sleep(Duration::from_secs(1));
    print_line("signal had no effect");
    ExitCode::from(99)
}

fn write_file(path: &str, text: &str) -> ExitCode {
    match fs::write(path, text) {
        Ok(()) => print_line("ok"),
        Err(err) => failed(&err),
    }
}

fn read_file(path: &str) -> ExitCode {
    match fs::read(path) {
        Ok(bytes) => {
            let mut out = io::stdout().lock();
            match out.write_all(&bytes).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Err(err) => failed(&err),
    }
}

fn file_type_name(ft: fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else {
        "unknown"
    }
}

/// Device numbers split the way glibc's major()/minor() do.
fn major_minor(rdev: u64) -> (u64, u64) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major, minor)
}

/// Prints type, permission bits (octal string), rdev, owner and size.
/// Symlinks are not followed.
fn stat_path(path: &str) -> ExitCode {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) => return failed(&err),
    };
    let (major, minor) = major_minor(meta.rdev());
    let json = Json::Obj(vec![
        ("type".into(), Json::str(file_type_name(meta.file_type()))),
        (
            "mode".into(),
            Json::str(format!("{:04o}", meta.mode() & 0o7777)),
        ),
        ("rdev".into(), Json::str(format!("{major}:{minor}"))),
        ("uid".into(), Json::Int(i64::from(meta.uid()))),
        ("gid".into(), Json::Int(i64::from(meta.gid()))),
        (
            "size".into(),
            Json::Int(i64::try_from(meta.size()).unwrap_or(i64::MAX)),
        ),
    ]);
    print_line(&json.render())
}

fn list_dir(dir: &str) -> ExitCode {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => return failed(&err),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    print_line(&names.join("\n"))
}

fn read_link(path: &str) -> ExitCode {
    match fs::read_link(path) {
        Ok(target) => print_line(&target.to_string_lossy()),
        Err(err) => failed(&err),
    }
}

fn print_env() -> ExitCode {
    let lines: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    print_line(&lines.join("\n"))
}

/// Sleeps until a signal ends the process. With `--exit-on-term`, SIGTERM
/// ends it with status 0 (a pid-namespace init would otherwise ignore it).
fn pause(exit_on_term: bool) -> ExitCode {
    let handler = if exit_on_term {
        sys::exit_on_sigterm()
    } else {
        Ok(())
    };
    if let Err(err) = handler {
        return failed(&err);
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
