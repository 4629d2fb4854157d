//! Children ending: `corral` commands, probes, and container inits (our children
//! since corrald is a subreaper), all reaped on SIGCHLD.

use std::collections::HashMap;

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

use super::bundle::cgroup_path;
use super::event_loop::{Daemon, Job};
use super::persist::InitRecord;
use super::runtime::{oom_killed, run_error, start_time};
use super::say;
use crate::core::{Event, ExitStatus, Phase};

impl Daemon {
    pub(super) fn reap_children(&mut self) {
        let mut exits = Vec::new();
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(status) => exits.extend(status.pid().map(|pid| (pid.as_raw(), status))),
                Err(Errno::EINTR) => continue,
                Err(errno) => {
                    say(format!("waitpid failed: {errno}"));
                    break;
                }
            }
        }
        // Jobs first: when `corral run` and the init it made both ended in this batch,
        // the start must be known before the init's exit can be matched to it.
        let (jobs, others): (Vec<_>, Vec<_>) = exits.into_iter().partition(|(pid, _)| self.jobs.contains_key(pid));
        let mut others: HashMap<i32, WaitStatus> = others.into_iter().collect();
        for (pid, status) in jobs {
            let job = self.jobs.remove(&pid).expect("partitioned on it");
            self.job_finished(pid, job, status, &mut others);
        }
        for (pid, status) in others {
            if let Some(service) = self.inits.remove(&pid) {
                self.init_exited(&service, exit_status(status));
            }
        }
    }

    fn job_finished(&mut self, pid: i32, job: Job, status: WaitStatus, others: &mut HashMap<i32, WaitStatus>) {
        match job {
            Job::Start { service, id } => self.start_finished(&service, &id, status, others),
            Job::Signal => {}
            Job::Delete { id } => {
                if !matches!(status, WaitStatus::Exited(_, 0)) {
                    say(format!("corral delete {id} failed ({status:?})"));
                }
                let _ = std::fs::remove_dir_all(self.dirs.bundle(&id));
            }
            Job::Probe => self.exec_probe_finished(pid, matches!(status, WaitStatus::Exited(_, 0))),
        }
    }

    /// `corral run --detach` returned: the container runs (or failed to start).
    fn start_finished(&mut self, service: &str, id: &str, status: WaitStatus, others: &mut HashMap<i32, WaitStatus>) {
        let Some(container) = self.containers.get_mut(service).filter(|c| c.id == id) else { return };
        let run = container.run;
        let pid_file = self.dirs.bundle(id).join("init.pid");
        let pid = std::fs::read_to_string(&pid_file).ok().and_then(|text| text.trim().parse::<i32>().ok());
        let pid = match (status, pid) {
            (WaitStatus::Exited(_, 0), Some(pid)) => pid,
            (WaitStatus::Exited(_, 0), None) => return self.abandon_start(service, "corral run wrote no pid file".into()),
            (status, _) => return self.abandon_start(service, run_error(&self.dirs.bundle(id), &ended(status))),
        };
        container.init = Some(InitRecord { pid, start_time: start_time(pid).unwrap_or(0) });
        self.pending.push(Event::Started { service: service.to_owned(), run });
        if let Some(status) = others.remove(&pid) {
            self.init_exited(service, exit_status(status));
        } else if start_time(pid).is_none() {
            // Gone without us reaping it: someone else did; how it ended is lost.
            self.init_exited(service, ExitStatus::Unknown);
        } else {
            self.inits.insert(pid, service.to_owned());
        }
    }

    fn abandon_start(&mut self, service: &str, why: String) {
        let Some(container) = self.containers.remove(service) else { return };
        self.start_failed(service, container.run, why);
        self.delete_container(&container.id);
    }

    /// A re-adopted container's pidfd became readable: its init is gone.
    pub(super) fn adopted_exited(&mut self, service: &str) {
        self.init_exited(service, ExitStatus::Unknown);
    }

    /// The service's container ended: report it, stop its probes, delete it.
    pub(super) fn init_exited(&mut self, service: &str, status: ExitStatus) {
        let Some(container) = self.containers.remove(service) else { return };
        // The cgroup's OOM-kill count also counts a child killed earlier: it names the
        // init's SIGKILL only if corrald did not send one itself.
        let killed = matches!(status, ExitStatus::Signal(libc::SIGKILL) | ExitStatus::Unknown);
        let oom = killed && !self.sent_sigkill(service) && oom_killed(&cgroup_path(&container.id));
        let status = if oom { ExitStatus::OomKilled } else { status };
        say(format!("service {service}: container {} ended: {status:?}", container.id));
        self.note_exit(service, &status);
        self.cancel_probes(service, container.run);
        self.pending.push(Event::Exited { service: service.to_owned(), run: container.run, status });
        self.delete_container(&container.id);
    }
}

impl Daemon {
    /// Whether corrald itself SIGKILLed `service`'s container: its grace period ran out,
    /// or SIGKILL is its stop signal.
    fn sent_sigkill(&self, service: &str) -> bool {
        let definition = self.observed.services.get(service).and_then(|state| state.definition.as_ref());
        let stop_signal = definition.map(|d| d.supervision.stop.signal);
        match self.observed.services.get(service).map(|state| &state.phase) {
            Some(Phase::Killing { .. }) => true,
            Some(Phase::Stopping { .. }) => stop_signal == Some(libc::SIGKILL),
            _ => false,
        }
    }
}

fn exit_status(status: WaitStatus) -> ExitStatus {
    match status {
        WaitStatus::Exited(_, code) => ExitStatus::Code(code),
        WaitStatus::Signaled(_, signal, _) => ExitStatus::Signal(signal as i32),
        _ => ExitStatus::Unknown,
    }
}

/// How a command ended, in words.
fn ended(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exited with {code}"),
        WaitStatus::Signaled(_, signal, _) => format!("was killed by {signal}"),
        other => format!("ended ({other:?})"),
    }
}
