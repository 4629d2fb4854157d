//! Start-up: taking over what an earlier corrald left.
//!
//! Rules:
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

use std::collections::BTreeSet;
use std::process::Stdio;

use super::event_loop::{Container, Daemon};
use super::persist::{ContainerRecord, InitRecord, Snapshot};
use super::runtime::start_time;
use super::{bundle, logs, say};
use crate::core::{Event, Instant, ServiceState};
use crate::sys::pidfd_open;

impl Daemon {
    pub(super) fn take_over(&mut self, now: Instant) {
        let (snapshot, warnings) = self.state_file.load();
        warnings.into_iter().for_each(say);
        let snapshot = snapshot.unwrap_or_default();
        self.next_container = snapshot.next_container.max(1);
        self.seed_services(&snapshot, now);
        let mut adopted = BTreeSet::new();
        for (service, record) in &snapshot.services {
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
            let status = self.runtime.delete(&id).stdout(Stdio::null()).status();
            if !status.as_ref().is_ok_and(|status| status.success()) {
                say(format!("corral delete {id} failed ({status:?})"));
            }
        }
        let Ok(entries) = std::fs::read_dir(self.dirs.bundles()) else { return };
        for entry in entries.filter_map(Result::ok) {
            if !entry.file_name().to_str().is_some_and(|name| adopted.contains(name)) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn is_zombie(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    matches!(state, Some("Z" | "X") | None)
}
