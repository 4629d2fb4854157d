//! Helpers for tests/tests/supervisor_chaos.rs: a seeded random source, what runs in
//! corrald's containers as seen from /proc and the cgroup tree, and a consistency check
//! of corrald's state dir against them.

use crate::supervisor::Corrald;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*, seeded from `$CORRAL_CHAOS_SEED` or the clock; the seed is printed so a
/// failing run can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn from_env() -> Rng {
        let seed = std::env::var("CORRAL_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos());
            (nanos as u64) ^ (u64::from(std::process::id()) << 32)
        });
        eprintln!("chaos seed: {seed} (set CORRAL_CHAOS_SEED={seed} to replay)");
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Polls `check` every 10 ms until it gives Ok, and panics with its last error, `what`
/// and corrald's stderr after `timeout`.
pub fn poll_until<T>(
    corrald: &Corrald,
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(found) => return found,
            Err(why) if Instant::now() >= deadline => {
                panic!("timed out waiting for {what}: {why}\ncorrald:\n{}", corrald.stderr())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Field `n` (1-based, as in proc(5)) of /proc/<pid>/stat.
fn stat_field(pid: i64, n: usize) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(n - 3).map(str::to_string)
}

/// /proc/<pid>/stat field 22: when the process started (clock ticks after boot).
pub fn start_time(pid: i64) -> Option<u64> {
    stat_field(pid, 22)?.parse().ok()
}

fn is_live(pid: i64) -> bool {
    stat_field(pid, 3).is_some_and(|state| state != "Z" && state != "X")
}

fn all_pids() -> Vec<i64> {
    let entries = fs::read_dir("/proc").into_iter().flatten().filter_map(Result::ok);
    entries.filter_map(|e| e.file_name().to_str()?.parse().ok()).collect()
}

/// Live children of `pid`, with their command lines.
pub fn children_of(pid: u32) -> Vec<(i64, String)> {
    let parent = pid.to_string();
    let mut found = Vec::new();
    for child in all_pids() {
        if stat_field(child, 4).as_deref() == Some(parent.as_str()) && is_live(child) {
            let cmdline = fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            found.push((child, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}

/// Whether container id `id` (`<service>-<n>`) belongs to `service`.
fn id_of(service: &str, id: &str) -> bool {
    id.rsplit_once('-').is_some_and(|(name, n)| name == service && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Live processes in the cgroup of a container of `service` (cgroup path
/// `/corral/<service>-<n>` in any hierarchy), by container id.
pub fn live_containers(service: &str) -> BTreeMap<String, BTreeSet<i64>> {
    live_containers_of(&[service.to_string()]).remove(service).unwrap_or_default()
}

/// `live_containers` of several services, from one pass over /proc.
pub fn live_containers_of(services: &[String]) -> BTreeMap<String, BTreeMap<String, BTreeSet<i64>>> {
    let mut found: BTreeMap<String, BTreeMap<String, BTreeSet<i64>>> = BTreeMap::new();
    for pid in all_pids() {
        let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let ids: BTreeSet<&str> = cgroups
            .lines()
            .filter_map(|line| line.splitn(3, ':').nth(2)?.split_once("/corral/").map(|(_, rest)| rest))
            .filter_map(|rest| rest.split('/').next())
            .collect();
        for id in ids {
            if let Some(service) = services.iter().find(|s| id_of(s, id))
                && is_live(pid)
            {
                found.entry(service.clone()).or_default().entry(id.to_string()).or_default().insert(pid);
            }
        }
    }
    found
}

/// Cgroup directories of `service`'s containers under the container cgroup parent
/// (`corral/` at the top of every hierarchy; corrald puts container `id` at `/corral/<id>`).
pub fn cgroup_dirs(service: &str) -> Vec<PathBuf> {
    let mut parents = vec![PathBuf::from("/sys/fs/cgroup/corral")];
    for hierarchy in fs::read_dir("/sys/fs/cgroup").into_iter().flatten().filter_map(Result::ok) {
        parents.push(hierarchy.path().join("corral"));
    }
    let mut found = Vec::new();
    for parent in parents {
        for entry in fs::read_dir(&parent).into_iter().flatten().filter_map(Result::ok) {
            if entry.file_name().to_str().is_some_and(|id| id_of(service, id)) && entry.path().is_dir() {
                found.push(entry.path());
            }
        }
    }
    found
}

/// Names of the entries of `dir` (sorted; empty if it does not exist).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// The body of a state file written by corrald (after its checksum line), if it parses.
pub fn state_body(path: &Path) -> Option<Value> {
    let text = fs::read_to_string(path).ok()?;
    serde_json::from_str(text.split_once('\n')?.1).ok()
}

/// Writes `body` as corrald's state file at `path`, with a valid checksum line (FNV-1a
/// 64 of the body, as docs/DESIGN.md describes the format).
pub fn write_state_body(path: &Path, body: &Value) {
    let body = serde_json::to_vec_pretty(body).expect("JSON serialises");
    let fnv = body.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3));
    fs::write(path, [format!("corrald-state 1 {fnv:016x}\n").into_bytes(), body].concat()).expect("write the state file");
}

/// Checks that corrald's view, the runtime's and the kernel's agree and that each
/// service in `services` runs exactly once: one container recorded in the state file,
/// the same one (and only it) in the runtime root and in the bundles dir, its init
/// alive with the recorded start time and the runtime's pid, the only container of the
/// service with live processes, and its cgroups the only ones of the service.
/// Returns the init pid of each service.
pub fn consistent(corrald: &Corrald, services: &[String]) -> Result<BTreeMap<String, i64>, String> {
    let state_dir = corrald.state_dir();
    let state = state_body(&state_dir.join("state.json")).ok_or("state.json does not parse")?;
    let (mut ids, mut inits) = (BTreeSet::new(), BTreeMap::new());
    for service in services {
        let record = &state["services"][service]["container"];
        let id = record["id"].as_str().ok_or(format!("{service}: no container in the state file: {state}"))?;
        let pid = record["init"]["pid"].as_i64().ok_or(format!("{service}: {id} has no init yet"))?;
        let started = record["init"]["start_time"].as_u64();
        if start_time(pid) != started || !is_live(pid) {
            return Err(format!("{service}: init {pid} of {id} is not alive with start time {started:?}"));
        }
        let runtime_state: Value = fs::read(state_dir.join("runtime").join(id).join("state.json"))
            .ok()
            .and_then(|text| serde_json::from_slice(&text).ok())
            .ok_or(format!("{service}: the runtime has no state for {id}"))?;
        if runtime_state["pid"].as_i64() != Some(pid) {
            return Err(format!("{service}: the runtime's pid for {id} is {}, corrald's {pid}", runtime_state["pid"]));
        }
        let live = live_containers(service);
        if live.keys().collect::<Vec<_>>() != [id] || !live[id].contains(&pid) {
            return Err(format!("{service}: containers with live processes {live:?}, want only {id} with init {pid}"));
        }
        let cgroups = cgroup_dirs(service);
        if let Some(other) = cgroups.iter().find(|dir| !dir.ends_with(id)) {
            return Err(format!("{service}: cgroup {} besides {id}'s", other.display()));
        }
        ids.insert(id.to_string());
        inits.insert(service.clone(), pid);
    }
    let ids: Vec<String> = ids.into_iter().collect();
    let runtime = entries(&state_dir.join("runtime"));
    if runtime != ids {
        return Err(format!("runtime root holds {runtime:?}, want exactly {ids:?}"));
    }
    let bundles = entries(&state_dir.join("bundles"));
    if bundles != ids {
        return Err(format!("bundles dir holds {bundles:?}, want exactly {ids:?}"));
    }
    Ok(inits)
}

/// Panics if anything of `services` is left once corrald has exited: an entry in the
/// runtime root or the bundles dir, a cgroup under the container parent, a live process
/// in one of their containers' cgroups or naming them or the state dir, or a mount
/// mentioning them or the state dir; whatever the container's number.
pub fn assert_nothing_left(corrald: &Corrald, services: &[String]) {
    let state_dir = corrald.state_dir();
    let mut found: Vec<String> = Vec::new();
    for sub in ["runtime", "bundles"] {
        found.extend(entries(&state_dir.join(sub)).into_iter().map(|e| format!("{sub}/{e}")));
    }
    for service in services {
        found.extend(cgroup_dirs(service).into_iter().map(|dir| format!("cgroup {}", dir.display())));
        found.extend(live_containers(service).into_iter().map(|(id, pids)| format!("processes of {id}: {pids:?}")));
        found.extend(crate::leaks::processes_of(service, &state_dir));
        found.extend(crate::leaks::mounts_mentioning(service, &state_dir));
    }
    assert!(found.is_empty(), "left behind:\n  {}\ncorrald:\n{}", found.join("\n  "), corrald.stderr());
}

/// The numbers N of the `line N` lines of `service`'s log, oldest first (rotated files
/// `.keep` … `.1`, then the current one).
pub fn log_numbers(logs_dir: &Path, service: &str, keep: u32) -> Vec<u64> {
    let mut paths: Vec<PathBuf> = (1..=keep).rev().map(|n| logs_dir.join(format!("{service}.log.{n}"))).collect();
    paths.push(logs_dir.join(format!("{service}.log")));
    let text: String = paths.iter().map(|p| fs::read_to_string(p).unwrap_or_default()).collect();
    text.lines().filter_map(|l| l.strip_prefix("line ")?.trim().parse().ok()).collect()
}

/// Numbers missing from `numbers` as a log of 1, 2, 3, … delivered at least once:
/// each number must first appear right after the highest one before it, and a number
/// seen again (corrald killed between writing a chunk and taking it from the pipe
/// writes it again) is fine. The first few gaps, described.
pub fn lost(numbers: &[u64]) -> Vec<String> {
    let mut found = Vec::new();
    let mut highest = 0;
    for (index, n) in numbers.iter().enumerate() {
        if *n > highest + 1 {
            found.push(format!("at line {index}: {} to {} missing (got {n})", highest + 1, n - 1));
        }
        highest = highest.max(*n);
    }
    found.truncate(10);
    found
}

/// How many lines of `numbers` repeat one already seen (at-least-once delivery).
pub fn repeats(numbers: &[u64]) -> usize {
    let (mut highest, mut count) = (0, 0);
    for n in numbers {
        if *n <= highest {
            count += 1;
        }
        highest = highest.max(*n);
    }
    count
}

/// Watches, from a thread, that no service ever runs in two of its containers at once
/// (a duplicate; a container's processes are all gone before corrald learns that its
/// init ended, so a replacement never overlaps it). Processes still running the runtime
/// binary (`runtime`: an init not yet exec'd, a `corral exec` child) do not count as the
/// service running; a container that only has those is counted as half-made.
pub struct DuplicateWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<WatchReport>>,
}

/// What a `DuplicateWatch` saw.
#[derive(Debug, Default)]
pub struct WatchReport {
    pub scans: usize,
    /// Moments a service ran in two containers, described.
    pub duplicates: Vec<String>,
    /// Moments a service ran beside a half-made container of its own, described.
    pub half_made: Vec<String>,
}

impl DuplicateWatch {
    /// Scans /proc every `period` until `finish`.
    pub fn start(services: &[String], runtime: &Path, period: Duration) -> DuplicateWatch {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (services, flag, runtime) = (services.to_vec(), stop.clone(), runtime.to_string_lossy().into_owned());
        let thread = std::thread::spawn(move || {
            let (began, mut report) = (Instant::now(), WatchReport::default());
            let is_runtime = |pid: &i64| {
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                cmdline.starts_with(runtime.as_bytes())
            };
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                for (service, containers) in live_containers_of(&services) {
                    if containers.len() < 2 {
                        continue;
                    }
                    let running = containers.values().filter(|pids| !pids.iter().all(is_runtime)).count();
                    let seen = format!("{:?}: {service} in {containers:?}", began.elapsed());
                    let list = if running > 1 { &mut report.duplicates } else { &mut report.half_made };
                    if list.len() < 20 {
                        list.push(seen);
                    }
                }
                report.scans += 1;
                std::thread::sleep(period);
            }
            report
        });
        DuplicateWatch { stop, thread: Some(thread) }
    }

    /// Stops watching; returns what it saw.
    pub fn finish(mut self) -> WatchReport {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().expect("not finished yet").join().expect("the watch thread panicked")
    }
}

impl Drop for DuplicateWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The state file, the runtime root and the bundles dir (with their files), for failure
/// messages.
pub fn dump(corrald: &Corrald) -> String {
    let state_dir = corrald.state_dir();
    let mut text = format!("state.json: {}\n", state_body(&state_dir.join("state.json")).unwrap_or(Value::Null));
    for sub in ["runtime", "bundles"] {
        for entry in entries(&state_dir.join(sub)) {
            text += &format!("{sub}/{entry}: {:?}\n", entries(&state_dir.join(sub).join(&entry)));
        }
    }
    text
}

/// The state file's body. corrald replaces the file by moving the current one to
/// `.prev` and then renaming the new one in, so for a moment there is no state.json:
/// this retries (for up to two seconds) until one parses.
pub fn state_of(corrald: &Corrald) -> Value {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some(state) = state_body(&corrald.state_dir().join("state.json")) {
            return state;
        }
        assert!(Instant::now() < deadline, "no readable state.json\n{}", corrald.stderr());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The recorded init pid and container id of `service`'s live container.
pub fn container_of(corrald: &Corrald, service: &str) -> Option<(i64, String)> {
    let container = state_of(corrald)["services"][service]["container"].clone();
    Some((container["init"]["pid"].as_i64()?, container["id"].as_str()?.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn lost_lines_are_found_and_repeated_ones_allowed() {
        assert!(super::lost(&[1, 2, 3, 2, 3, 4]).is_empty());
        assert_eq!(super::repeats(&[1, 2, 3, 2, 3, 4]), 2);
        assert_eq!(super::lost(&[1, 2, 5, 3, 4, 6]), ["at line 2: 3 to 4 missing (got 5)"]);
        assert_eq!(super::lost(&[2, 3]), ["at line 0: 1 to 1 missing (got 2)"]);
    }
}
