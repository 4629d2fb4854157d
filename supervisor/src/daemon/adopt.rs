//! Start-up: taking over what an earlier corrald left.
//!
//! Rules:
//! - A state file of an earlier boot (its boot id differs) adopts nothing: every
//!   container of it is gone, and a device that boots the same way each time easily
//!   gives a new process the recorded pid and start time.
//! - A container recorded in the state file whose init is still the same process (pid
//!   and start time match; pidfd_open'ed before the check, so the pidfd is bound to the
//!   checked process) is adopted: its service is `Running` in the core under a fresh run
//!   (`Observed::adopt`), its log pipe is reopened through /proc/<init>/fd/1, and its
//!   exit will come by pidfd. It is never started a second time. If the config.json the
//!   manifest gives now differs from the one it runs, it is restarted (like an edited
//!   manifest on SIGHUP).
//! - An adopted container's exit has no status (it is not our child): `Unknown`, which
//!   the restart policy counts as a failure (an OOM kill is still recognised from its
//!   cgroup).
//! - Every other container in our runtime root (died meanwhile, or started by a corrald
//!   that crashed before recording its pid, or of a service no longer in the manifest)
//!   is deleted with `corral delete --force`, and its bundle removed. Services whose
//!   container died meanwhile start again at once: their restart counts carry over from
//!   the state file, but no exit was seen, so no backoff is waited.
//! - Before any of that, start-up waits for the `corral run` and `corral delete` commands
//!   an earlier corrald left running (they outlive a corrald that is killed): until they
//!   end, the runtime root is not settled. A run may still claim its container's id after
//!   the root was listed (a duplicate nobody knows), and deleting a container whose run
//!   is half-way through breaks both (the runtime's create does not hold the container's
//!   lock). One still running after `LEFTOVER_WAIT` (a run takes milliseconds) is killed,
//!   and so is a leftover's `corral delete` that takes longer: start-up never hangs.

use std::collections::BTreeSet;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::event_loop::{Container, Daemon};
use super::persist::{ContainerRecord, InitRecord, Snapshot};
use super::runtime::start_time;
use super::{bundle, logs, say};
use crate::core::{Event, Instant, ServiceState};
use crate::sys::pidfd_open;

impl Daemon {
    pub(super) fn take_over(&mut self, now: Instant) {
        self.wait_for_earlier_commands();
        let (snapshot, warnings) = self.state_file.load();
        warnings.into_iter().for_each(say);
        let snapshot = snapshot.unwrap_or_default();
        self.next_container = snapshot.next_container.max(1);
        self.seed_services(&snapshot, now);
        let mut adopted = BTreeSet::new();
        // Unknown on either side (an older corrald's file, no procfs entry): the pid and
        // start-time check alone decides, as before boot ids were kept.
        let known = !snapshot.boot_id.is_empty() && !self.boot_id.is_empty();
        let earlier_boot = known && snapshot.boot_id != self.boot_id;
        if earlier_boot {
            say("the state file is from an earlier boot: its containers are gone; starting every service");
        }
        for (service, record) in snapshot.services.iter().filter(|_| !earlier_boot) {
            if let Some(container) = &record.container
                && self.adopt(service, container, now)
            {
                adopted.insert(container.id.clone());
            }
        }
        self.delete_leftovers(&adopted);
        self.persist();
    }

    /// Every service of the manifest, with its counters and hold carried over.
    fn seed_services(&mut self, snapshot: &Snapshot, now: Instant) {
        for (name, service) in &self.manifest.services {
            let mut state = ServiceState::new(now);
            if let Some(record) = snapshot.services.get(name) {
                state.restarts = record.restarts;
                state.recent_restarts = record.recent_restarts;
                state.held = record.held && service.supervision.restart.hold_survives_daemon_restart();
            }
            if let Some(record) = snapshot.services.get(name).filter(|record| record.oom_kills > 0) {
                self.api.events.oom_kills.insert(name.clone(), record.oom_kills);
            }
            self.observed.services.insert(name.clone(), state);
        }
    }

    /// Adopts `record` if its init is still the process we started.
    fn adopt(&mut self, service: &str, record: &ContainerRecord, now: Instant) -> bool {
        let Some(definition) = self.manifest.services.get(service).cloned() else { return false };
        let Some(init @ InitRecord { pid, start_time: started }) = record.init else { return false };
        let Ok(pidfd) = pidfd_open(pid) else { return false };
        if start_time(pid) != Some(started) || is_zombie(pid) {
            return false;
        }
        let config_now = bundle::generate(&definition, &record.id, &self.host).ok();
        let Some(run) = self.observed.adopt(service, definition.clone(), now) else { return false };
        say(format!("service {service}: re-adopted container {} (init {pid})", record.id));
        match logs::reopen_reader(pid) {
            Ok(reader) => self.add_log_reader(service, reader),
            Err(error) => say(format!("service {service}: its log cannot be reopened: {error}")),
        }
        if config_now != self.config_of(&record.id) {
            say(format!("service {service}: its definition changed while corrald was down; restarting it"));
            self.pending.push(Event::RestartRequested { service: service.to_owned() });
        }
        let network = definition.container.network;
        let container = Container { id: record.id.clone(), run, init: Some(init), pidfd: Some(pidfd), network };
        self.containers.insert(service.to_owned(), container);
        true
    }

    fn config_of(&self, id: &str) -> Option<serde_json::Value> {
        let text = std::fs::read(self.dirs.bundle(id).join("config.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Deletes every container and bundle in our directories not adopted. Done before
    /// the loop starts, synchronously: nothing may start until they are gone.
    fn delete_leftovers(&mut self, adopted: &BTreeSet<String>) {
        for id in self.runtime.container_ids().into_iter().filter(|id| !adopted.contains(id)) {
            say(format!("deleting container {id}, left by an earlier corrald"));
            self.delete_now(&id);
        }
        let Ok(entries) = std::fs::read_dir(self.dirs.bundles()) else { return };
        for entry in entries.filter_map(Result::ok) {
            if !entry.file_name().to_str().is_some_and(|name| adopted.contains(name)) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

impl Daemon {
    /// `corral delete --force id`, waited for (killed after `LEFTOVER_WAIT`).
    fn delete_now(&self, id: &str) {
        let mut child = match self.runtime.delete(id).stdout(Stdio::null()).spawn() {
            Ok(child) => child,
            Err(error) => return say(format!("cannot run corral delete {id}: {error}")),
        };
        if let Ok(pidfd) = pidfd_open(child.id() as i32)
            && !wait_all(&[pidfd], LEFTOVER_WAIT)[0]
        {
            say(format!("corral delete {id} still runs after {LEFTOVER_WAIT:?}; killing it"));
            let _ = child.kill();
        }
        match child.wait() {
            Ok(status) if status.success() => {}
            status => say(format!("corral delete {id} failed ({status:?})")),
        }
    }

    /// Waits for the `corral run` and `corral delete` commands on our runtime root that
    /// an earlier corrald left running; kills those still running after `LEFTOVER_WAIT`.
    fn wait_for_earlier_commands(&self) {
        let root = self.dirs.runtime_root();
        let found = runtime_commands(&root).into_iter().filter_map(|pid| Some((pid, pidfd_open(pid).ok()?)));
        // Checked again once the pidfd is open, so that each pidfd is the process checked.
        let (pids, pidfds): (Vec<i32>, Vec<OwnedFd>) = found.filter(|(pid, _)| is_runtime_command(*pid, &root)).unzip();
        if pids.is_empty() {
            return;
        }
        say(format!("waiting for corral command(s) {pids:?}, left running by an earlier corrald"));
        let ended = wait_all(&pidfds, LEFTOVER_WAIT);
        let stuck: Vec<i32> = pids.iter().zip(&ended).filter(|(_, ended)| !**ended).map(|(pid, _)| *pid).collect();
        if stuck.is_empty() {
            return;
        }
        say(format!("corral command(s) {stuck:?} still run after {LEFTOVER_WAIT:?}; killing them"));
        for pid in &stuck {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        let stuck: Vec<OwnedFd> = pidfds.into_iter().zip(ended).filter(|(_, ended)| !ended).map(|(fd, _)| fd).collect();
        wait_all(&stuck, Duration::from_secs(1));
    }
}

/// How long start-up waits for a command an earlier corrald left running, and for the
/// `corral delete` of each leftover container.
const LEFTOVER_WAIT: Duration = Duration::from_secs(15);

/// Waits until every process behind `pidfds` has ended or `timeout` has passed; returns
/// which ended.
fn wait_all(pidfds: &[OwnedFd], timeout: Duration) -> Vec<bool> {
    let deadline = std::time::Instant::now() + timeout;
    let mut ended = vec![false; pidfds.len()];
    loop {
        let waiting: Vec<usize> = (0..pidfds.len()).filter(|i| !ended[*i]).collect();
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if waiting.is_empty() || left.is_zero() {
            return ended;
        }
        let mut fds: Vec<PollFd> = waiting.iter().map(|i| PollFd::new(pidfds[*i].as_fd(), PollFlags::POLLIN)).collect();
        match poll(&mut fds, PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return ended,
        }
        for (fd, i) in fds.iter().zip(&waiting) {
            ended[*i] = fd.revents().is_some_and(|events| !events.is_empty());
        }
    }
}

/// Processes in our pid namespace running `<corral> --root <root> run|delete ...`
/// (`RuntimeCli` puts `--root` first).
fn runtime_commands(root: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let pids = entries.filter_map(Result::ok).filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok());
    pids.filter(|pid| *pid != std::process::id() as i32 && is_runtime_command(*pid, root)).collect()
}

fn is_runtime_command(pid: i32, root: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let args: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
    let ours = args.len() > 3
        && args[1] == b"--root"
        && args[2] == root.as_os_str().as_encoded_bytes()
        && matches!(args[3], b"run" | b"delete");
    // A container's init has the same command line until its execve, in the container's
    // own pid namespace: it is not a command.
    let same_namespace =
        std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok() == std::fs::read_link("/proc/self/ns/pid").ok();
    ours && same_namespace && !is_zombie(pid)
}

fn is_zombie(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    matches!(state, Some("Z" | "X") | None)
}
