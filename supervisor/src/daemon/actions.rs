//! Carrying out the core's actions, each through the `corral` binary.

use std::process::Command;

use super::event_loop::{Container, Daemon, Job};
use super::{DaemonError, bundle, logs, say};
use crate::core::{Action, Event, ExitStatus, Instant, RunId};
use crate::signal::KILL;

/// Spawns `command` as our child; its exit comes back with SIGCHLD.
pub(super) fn spawn(mut command: Command) -> std::io::Result<i32> {
    let child = command.spawn()?;
    // Dropping a Child neither waits nor kills: the loop reaps it by pid.
    Ok(child.id() as i32)
}

impl Daemon {
    pub(super) fn carry_out(&mut self, action: Action, now: Instant) -> Result<(), DaemonError> {
        match action {
            Action::Start { service, run } => self.start_container(service, run),
            Action::Signal { service, run, signal } => {
                self.signal(&service, run, signal, false);
                Ok(())
            }
            Action::Kill { service, run } => {
                self.signal(&service, run, KILL, true);
                Ok(())
            }
            Action::CheckHealth { service, run, probe, timeout } => self.check_health(service, run, probe, now + timeout),
            Action::Forget { service } => {
                self.forget(&service);
                Ok(())
            }
        }
    }

    /// Makes the bundle and runs `corral run --detach` with the log pipe as output.
    /// The id is saved before the container exists, so a crash right after cannot
    /// leave a container a restarted corrald does not know about.
    fn start_container(&mut self, service: String, run: RunId) -> Result<(), DaemonError> {
        let Some(definition) = self.manifest.services.get(&service) else { return Ok(()) };
        let network = definition.container.network;
        let id = format!("{service}-{}", self.next_container);
        self.next_container += 1;
        let dir = self.dirs.bundle(&id);
        let made = bundle::generate(definition, &id, &self.host).and_then(|config| bundle::write(&dir, &config));
        if let Err(error) = made {
            let _ = std::fs::remove_dir_all(&dir);
            self.start_failed(&service, run, error.to_string());
            return Ok(());
        }
        self.containers.insert(service.clone(), Container { id: id.clone(), run, init: None, pidfd: None, network });
        self.persist();
        let spawned = logs::new_pipe().and_then(|pipe| {
            let command = self.runtime.run_detached(&id, &dir, &dir.join("init.pid"), &pipe.output)?;
            Ok((spawn(command)?, pipe.reader))
        });
        match spawned {
            Ok((pid, reader)) => {
                self.add_log_reader(&service, reader);
                self.jobs.insert(pid, Job::Start { service, id });
            }
            Err(error) => {
                self.containers.remove(&service);
                let _ = std::fs::remove_dir_all(&dir);
                self.start_failed(&service, run, format!("cannot run {}: {error}", self.options.runtime.display()));
            }
        }
        Ok(())
    }

    pub(super) fn start_failed(&mut self, service: &str, run: RunId, why: String) {
        say(format!("service {service}: start failed: {why}"));
        let status = ExitStatus::StartFailed(why);
        self.note_exit(service, &status);
        self.pending.push(Event::Exited { service: service.to_owned(), run, status });
    }

    /// `corral kill`; a container that is already gone makes it fail, harmlessly.
    fn signal(&mut self, service: &str, run: RunId, signal: i32, all: bool) {
        let Some(container) = self.containers.get(service).filter(|c| c.run == run) else { return };
        match spawn(self.runtime.kill(&container.id, signal, all)) {
            Ok(pid) => {
                self.jobs.insert(pid, Job::Signal);
            }
            Err(error) => say(format!("service {service}: cannot run corral kill: {error}")),
        }
    }

    /// `corral delete --force`; its bundle goes when that is done.
    pub(super) fn delete_container(&mut self, id: &str) {
        match spawn(self.runtime.delete(id)) {
            Ok(pid) => {
                self.jobs.insert(pid, Job::Delete { id: id.to_owned() });
            }
            Err(error) => say(format!("cannot run corral delete {id}: {error}")),
        }
    }

    /// The service left the manifest and its container is gone: drop its logs.
    fn forget(&mut self, service: &str) {
        self.log_readers.retain(|_, reader| reader.service != service);
        let dir = self.dirs.logs();
        let file = self.log_files.remove(service);
        file.unwrap_or_else(|| logs::RotatingFile::new(&dir, service, self.options.log_limits)).remove();
    }
}
