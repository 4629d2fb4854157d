//! `probe report`: one JSON object describing what this process sees.
//!
//! Everything is read from /proc/self so the report reflects the kernel's view,
//! not what libc or the environment claims. Numbers that Linux prints as
//! "unlimited" (rlimits) are reported as -1.

use crate::json::Json;
use std::collections::BTreeMap;
use std::fs;
use std::io::IsTerminal;

pub fn report() -> Json {
    // Listed first, while the probe holds no other file open.
    let fds = open_fds();
    let status = read_status();
    let field = |key: &str| status.get(key).map(String::as_str);
    let ids = |key: &str, index: usize| {
        Json::int_or_null(field(key).and_then(|v| v.split_whitespace().nth(index)))
    };
    let (pgid, sid) = pgid_and_sid();
    Json::Obj(vec![
        (
            "hostname".into(),
            Json::str(read_trimmed("/proc/sys/kernel/hostname")),
        ),
        (
            "domainname".into(),
            Json::str(read_trimmed("/proc/sys/kernel/domainname")),
        ),
        ("uid".into(), ids("Uid", 0)),
        ("euid".into(), ids("Uid", 1)),
        ("gid".into(), ids("Gid", 0)),
        ("egid".into(), ids("Gid", 1)),
        ("groups".into(), groups(field("Groups"))),
        ("caps".into(), caps(&status)),
        (
            "no_new_privs".into(),
            Json::Bool(field("NoNewPrivs") == Some("1")),
        ),
        ("seccomp".into(), Json::int_or_null(field("Seccomp"))),
        ("umask".into(), Json::str(field("Umask").unwrap_or(""))),
        ("cwd".into(), Json::str(cwd())),
        ("env".into(), Json::strs(env_pairs())),
        (
            "args".into(),
            Json::strs(std::env::args_os().map(|a| a.to_string_lossy().into_owned())),
        ),
        ("pid".into(), Json::Int(i64::from(std::process::id()))),
        ("ppid".into(), Json::int_or_null(field("PPid"))),
        ("pgid".into(), pgid),
        ("sid".into(), sid),
        ("rlimits".into(), rlimits()),
        ("namespaces".into(), namespaces()),
        (
            "mountinfo".into(),
            Json::strs(read_lines("/proc/self/mountinfo")),
        ),
        ("cgroup".into(), Json::strs(read_lines("/proc/self/cgroup"))),
        (
            "fds".into(),
            Json::Arr(fds.iter().map(|(fd, _)| Json::Int(*fd)).collect()),
        ),
        (
            "fd_targets".into(),
            Json::Obj(
                fds.into_iter()
                    .map(|(fd, t)| (fd.to_string(), Json::Str(t)))
                    .collect(),
            ),
        ),
        (
            "oom_score_adj".into(),
            Json::int_or_null(Some(&read_trimmed("/proc/self/oom_score_adj"))),
        ),
        ("isatty".into(), isatty()),
        ("tty".into(), Json::str(link_target("/proc/self/fd/0"))),
    ])
}

fn read_trimmed(path: &str) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn read_lines(path: &str) -> Vec<String> {
    fs::read_to_string(path)
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

fn link_target(path: &str) -> String {
    fs::read_link(path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// /proc/self/status as key -> value (value trimmed).
fn read_status() -> BTreeMap<String, String> {
    read_lines("/proc/self/status")
        .into_iter()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            Some((key.to_string(), value.trim().to_string()))
        })
        .collect()
}

fn groups(line: Option<&str>) -> Json {
    let ids = line.unwrap_or("").split_whitespace();
    Json::Arr(ids.filter_map(|g| g.parse().ok()).map(Json::Int).collect())
}

fn caps(status: &BTreeMap<String, String>) -> Json {
    let sets = [
        ("inh", "CapInh"),
        ("prm", "CapPrm"),
        ("eff", "CapEff"),
        ("bnd", "CapBnd"),
        ("amb", "CapAmb"),
    ];
    Json::Obj(
        sets.iter()
            .map(|(short, key)| {
                (
                    short.to_string(),
                    Json::str(status.get(*key).cloned().unwrap_or_default()),
                )
            })
            .collect(),
    )
}

fn cwd() -> String {
    match std::env::current_dir() {
        Ok(dir) => dir.to_string_lossy().into_owned(),
        Err(err) => format!("error: {err}"),
    }
}

fn env_pairs() -> Vec<String> {
    std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect()
}

/// Process group and session ids: fields 5 and 6 of /proc/self/stat.
fn pgid_and_sid() -> (Json, Json) {
    let stat = read_trimmed("/proc/self/stat");
    // The command name may contain spaces, so split after its closing paren.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    (
        Json::int_or_null(fields.get(2).copied()),
        Json::int_or_null(fields.get(3).copied()),
    )
}

/// Map "Max open files" style names to the OCI names.
const RLIMIT_NAMES: [(&str, &str); 16] = [
    ("Max cpu time", "RLIMIT_CPU"),
    ("Max file size", "RLIMIT_FSIZE"),
    ("Max data size", "RLIMIT_DATA"),
    ("Max stack size", "RLIMIT_STACK"),
    ("Max core file size", "RLIMIT_CORE"),
    ("Max resident set", "RLIMIT_RSS"),
    ("Max processes", "RLIMIT_NPROC"),
    ("Max open files", "RLIMIT_NOFILE"),
    ("Max locked memory", "RLIMIT_MEMLOCK"),
    ("Max address space", "RLIMIT_AS"),
    ("Max file locks", "RLIMIT_LOCKS"),
    ("Max pending signals", "RLIMIT_SIGPENDING"),
    ("Max msgqueue size", "RLIMIT_MSGQUEUE"),
    ("Max nice priority", "RLIMIT_NICE"),
    ("Max realtime priority", "RLIMIT_RTPRIO"),
    ("Max realtime timeout", "RLIMIT_RTTIME"),
];

fn rlimit_value(text: &str) -> Json {
    if text == "unlimited" {
        return Json::Int(-1);
    }
    Json::int_or_null(Some(text))
}

fn rlimits() -> Json {
    let mut out = Vec::new();
    for line in read_lines("/proc/self/limits").iter().skip(1) {
        let Some((label, oci_name)) = RLIMIT_NAMES
            .iter()
            .find(|(label, _)| line.starts_with(label))
        else {
            continue;
        };
        let mut values = line[label.len()..].split_whitespace();
        let soft = rlimit_value(values.next().unwrap_or(""));
        let hard = rlimit_value(values.next().unwrap_or(""));
        out.push((oci_name.to_string(), Json::Arr(vec![soft, hard])));
    }
    Json::Obj(out)
}

/// Namespace name -> inode number (as a string), from /proc/self/ns links.
fn namespaces() -> Json {
    let Ok(entries) = fs::read_dir("/proc/self/ns") else {
        return Json::Obj(Vec::new());
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let fields = names
        .into_iter()
        .map(|name| {
            let target = link_target(&format!("/proc/self/ns/{name}"));
            let inode = target
                .split_once('[')
                .map(|(_, rest)| rest.trim_end_matches(']').to_string())
                .unwrap_or(target);
            (name, Json::Str(inode))
        })
        .collect();
    Json::Obj(fields)
}

/// Open fds with their link targets, without the one used to list them.
fn open_fds() -> Vec<(i64, String)> {
    let Ok(entries) = fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let mut fds: Vec<i32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    // The listing's own fd is closed now that the iterator is dropped.
    fds.retain(|fd| crate::sys::fd_is_open(*fd));
    fds.sort_unstable();
    fds.into_iter()
        .map(|fd| (i64::from(fd), link_target(&format!("/proc/self/fd/{fd}"))))
        .collect()
}

fn isatty() -> Json {
    Json::Obj(vec![
        ("0".into(), Json::Bool(std::io::stdin().is_terminal())),
        ("1".into(), Json::Bool(std::io::stdout().is_terminal())),
        ("2".into(), Json::Bool(std::io::stderr().is_terminal())),
    ])
}
