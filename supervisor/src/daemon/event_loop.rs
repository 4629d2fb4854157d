//! The daemon's state and its loop: reconcile, persist, wait for the next event.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use super::api::Api;
use super::bundle::HostFacts;
use super::logs::{Drained, Drainer, LogLimits, RotatingFile};
use super::notify::Notifier;
use super::persist::{ContainerRecord, InitRecord, ServiceRecord, Snapshot, StateFile};
use super::probe::RunningProbe;
use super::runtime::RuntimeCli;
use super::{DaemonError, Dirs, Options, clock, say};
use crate::core::{self, Event, Instant, Observed, RunId};
use crate::device::Device;
use crate::manifest::{self, Manifest, NetworkMode, Priority};

/// A live container of a service.
pub(super) struct Container {
    pub id: String,
    pub run: RunId,
    /// Known once `corral run` has returned (or from the state file, when adopted).
    pub init: Option<InitRecord>,
    /// Set for a container re-adopted after a restart: it is not our child, so its
    /// exit is learned from this pidfd (without a status) rather than from SIGCHLD.
    pub pidfd: Option<OwnedFd>,
    pub network: NetworkMode,
}

/// A `corral` command (or health probe) running as our child.
pub(super) enum Job {
    Start { service: String, id: String },
    Signal,
    Delete { id: String },
    Probe,
}

/// The read end of a container's log pipe.
pub(super) struct LogReader {
    pub service: String,
    pub fd: OwnedFd,
}

pub(super) struct Daemon {
    pub options: Options,
    pub manifest: Manifest,
    pub observed: Observed,
    pub runtime: RuntimeCli,
    pub dirs: Dirs,
    pub host: HostFacts,
    /// The live container of each service that has one.
    pub containers: BTreeMap<String, Container>,
    /// Our children by pid, except container inits.
    pub jobs: HashMap<i32, Job>,
    /// Container inits that are our children (reparented to us), by pid → service.
    pub inits: HashMap<i32, String>,
    pub log_readers: BTreeMap<u64, LogReader>,
    pub log_files: BTreeMap<String, RotatingFile>,
    /// Moves pipe output into `log_files` (one scratch pipe for every service).
    pub log_drainer: Drainer,
    pub probes: BTreeMap<u64, RunningProbe>,
    pub next_token: u64,
    /// Events found while carrying out actions, applied before the next reconcile.
    pub pending: Vec<Event>,
    pub next_container: u64,
    pub state_file: StateFile,
    pub saved: Option<Snapshot>,
    pub own_netns: OwnedFd,
    /// This boot's id (empty if unknown): recorded with the state, checked at adoption.
    pub boot_id: String,
    /// The control socket and its clients.
    pub api: Api,
    pub notifier: Notifier,
    signals: SignalFd,
    timer: TimerFd,
}

/// What a ready descriptor in the poll set belongs to.
#[derive(Clone, Debug)]
enum Source {
    Signals,
    Timer,
    Log(u64),
    Pidfd(String),
    Probe(u64),
    Listener,
    Client(u64),
}

impl Daemon {
    /// Sets up the process (subreaper, signals, timer, directories) and takes over
    /// what an earlier corrald left.
    pub fn start(options: Options) -> Result<Daemon, DaemonError> {
        let device = Device::from_host().map_err(DaemonError::Device)?;
        let manifest = manifest::load(&options.manifest, &device)?;
        nix::sys::prctl::set_child_subreaper(true).map_err(|e| DaemonError::io("cannot become a child subreaper", e))?;
        let signals = block_signals()?;
        let timer = TimerFd::new(ClockId::CLOCK_BOOTTIME, TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC)
            .map_err(|e| DaemonError::io("cannot create a timerfd", e))?;
        let own_netns = File::open("/proc/self/ns/net")
            .map_err(|e| DaemonError::io("cannot open our network namespace", e))?
            .into();
        let dirs = Dirs { root: options.state_dir.clone() };
        dirs.create()?;
        // Before taking anything over: a second corrald on the same state stops here.
        let api = Api::bind(&options.socket)?;
        let mut daemon = Daemon {
            runtime: RuntimeCli::new(options.runtime.clone(), dirs.runtime_root()),
            state_file: StateFile::new(&dirs.root),
            host: HostFacts::detect(),
            observed: Observed::new(jitter_seed()),
            dirs,
            manifest,
            options,
            containers: BTreeMap::new(),
            jobs: HashMap::new(),
            inits: HashMap::new(),
            log_readers: BTreeMap::new(),
            log_files: BTreeMap::new(),
            log_drainer: Drainer::new().map_err(|e| DaemonError::io("cannot create the log drain's pipe", e))?,
            probes: BTreeMap::new(),
            next_token: 0,
            pending: Vec::new(),
            next_container: 1,
            saved: None,
            own_netns,
            boot_id: std::fs::read_to_string(BOOT_ID).map(|id| id.trim().to_owned()).unwrap_or_default(),
            api,
            notifier: Notifier::from_env(),
            signals,
            timer,
        };
        daemon.warn_of_oom_floor();
        daemon.take_over(clock::now());
        Ok(daemon)
    }

    /// Says once, at start-up, that critical services cannot get their oom_score_adj.
    fn warn_of_oom_floor(&self) {
        let (lowest, wanted) = (self.host.lowest_oom_score_adj, Priority::Critical.oom_score_adj());
        let critical = self.manifest.services.values().any(|s| s.container.priority == Priority::Critical);
        if critical && lowest > wanted {
            say(format!(
                "no CAP_SYS_RESOURCE: critical services get oom_score_adj {lowest}, not {wanted} (their CPU weight still applies)"
            ));
        }
    }

    pub fn run(mut self) -> Result<(), DaemonError> {
        let mut first = true;
        loop {
            let now = clock::now();
            self.notifier.tick(now);
            self.expire_probes(now);
            self.api.expire(now);
            self.reconcile(now)?;
            self.note_changes(now);
            self.persist();
            self.settle_requests(now);
            if std::mem::take(&mut first) {
                self.notifier.ready(now);
            }
            if self.finished() {
                break;
            }
            self.arm_timer(now)?;
            self.wait()?;
        }
        self.drain_all_logs();
        self.persist();
        say("every service stopped; exiting");
        Ok(())
    }

    /// Applies pending events and carries out the core's actions until it has nothing
    /// more to say (an action can produce events at once, e.g. a failed start).
    fn reconcile(&mut self, now: Instant) -> Result<(), DaemonError> {
        loop {
            for event in std::mem::take(&mut self.pending) {
                self.observed.apply(event, now);
            }
            let actions = core::reconcile(&self.manifest, &mut self.observed, now);
            if actions.is_empty() && self.pending.is_empty() {
                return Ok(());
            }
            for action in actions {
                self.carry_out(action, now)?;
            }
        }
    }

    /// Shut down, and nothing left to wait for: every container gone and deleted.
    fn finished(&self) -> bool {
        self.observed.shutting_down && self.containers.is_empty() && self.jobs.is_empty()
    }

    /// Writes the state file if anything in it changed.
    pub fn persist(&mut self) {
        let snapshot = self.snapshot();
        if self.saved.as_ref() == Some(&snapshot) {
            return;
        }
        match self.state_file.save(&snapshot) {
            Ok(()) => self.saved = Some(snapshot),
            Err(error) => say(format!("cannot save the state file (will retry): {error}")),
        }
    }

    fn snapshot(&self) -> Snapshot {
        let record = |(name, state): (&String, &crate::core::ServiceState)| {
            let container = self.containers.get(name).map(|c| ContainerRecord { id: c.id.clone(), init: c.init });
            let (restarts, recent_restarts, held) = (state.restarts, state.recent_restarts, state.held);
            let oom_kills = self.api.events.oom_kills.get(name).copied().unwrap_or(0);
            (name.clone(), ServiceRecord { container, restarts, recent_restarts, held, oom_kills })
        };
        let services = self.observed.services.iter().map(record).collect();
        Snapshot { next_container: self.next_container, services, boot_id: self.boot_id.clone() }
    }

    fn arm_timer(&mut self, now: Instant) -> Result<(), DaemonError> {
        let probe_deadline = self.probes.values().map(|probe| probe.deadline).min();
        let deadlines = [core::next_deadline(&self.observed, now), probe_deadline, self.api.deadline(), self.notifier.deadline()];
        let deadline = deadlines.into_iter().flatten().min();
        let result = match deadline {
            Some(at) => {
                let at = TimeSpec::from_duration(at.since_origin());
                self.timer.set(Expiration::OneShot(at), TimerSetTimeFlags::TFD_TIMER_ABSTIME)
            }
            None => self.timer.unset(),
        };
        result.map_err(|e| DaemonError::io("cannot arm the timerfd", e))
    }

    /// Blocks until something happens, then turns it into events.
    fn wait(&mut self) -> Result<(), DaemonError> {
        let ready = self.poll_ready()?;
        let now = clock::now();
        for (source, flags) in ready {
            match source {
                Source::Signals => self.handle_signals(),
                Source::Timer => {
                    let _ = self.timer.wait(); // clears the expiry; the loop re-reads the clock
                }
                Source::Log(token) => {
                    self.drain_log(token); // what is left keeps the pipe readable: back next pass
                }
                Source::Pidfd(service) => self.adopted_exited(&service),
                Source::Probe(token) => self.advance_probe(token, flags),
                Source::Listener => self.accept_clients(now),
                Source::Client(token) => self.serve_client(token, flags, now),
            }
        }
        Ok(())
    }

    fn poll_ready(&self) -> Result<Vec<(Source, PollFlags)>, DaemonError> {
        let mut sources = vec![Source::Signals, Source::Timer];
        let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN), PollFd::new(self.timer.as_fd(), PollFlags::POLLIN)];
        for (token, reader) in &self.log_readers {
            sources.push(Source::Log(*token));
            fds.push(PollFd::new(reader.fd.as_fd(), PollFlags::POLLIN));
        }
        for (service, container) in &self.containers {
            if let Some(pidfd) = &container.pidfd {
                sources.push(Source::Pidfd(service.clone()));
                fds.push(PollFd::new(pidfd.as_fd(), PollFlags::POLLIN));
            }
        }
        for (token, probe) in &self.probes {
            if let Some((fd, interest)) = probe.poll_interest() {
                sources.push(Source::Probe(*token));
                fds.push(PollFd::new(fd, interest));
            }
        }
        for (token, fd, interest) in self.api.poll_interest() {
            sources.push(token.map_or(Source::Listener, Source::Client));
            fds.push(PollFd::new(fd, interest));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(DaemonError::io("poll failed", errno)),
        }
        let flags = fds.iter().map(|fd| fd.revents().unwrap_or(PollFlags::empty()));
        Ok(sources.into_iter().zip(flags).filter(|(_, flags)| !flags.is_empty()).collect())
    }

    fn handle_signals(&mut self) {
        while let Ok(Some(info)) = self.signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => self.reap_children(),
                Ok(Signal::SIGTERM | Signal::SIGINT) => {
                    if !self.observed.shutting_down {
                        say("stopping every service");
                        self.notifier.stopping();
                    }
                    self.pending.push(Event::ShutdownRequested);
                }
                Ok(Signal::SIGHUP) => self.reload_manifest(),
                _ => {}
            }
        }
    }

    /// SIGHUP: read the manifest again; a refused one leaves the running one in place.
    fn reload_manifest(&mut self) {
        let loaded = Device::from_host()
            .map_err(DaemonError::Device)
            .and_then(|device| Ok(manifest::load(&self.options.manifest, &device)?));
        match loaded {
            Ok(manifest) => {
                say(format!("reloaded {}", self.options.manifest.display()));
                self.manifest = manifest;
            }
            Err(error) => say(format!("keeping the current manifest: {error}")),
        }
    }

    /// Registers the read end of a log pipe of `service`.
    pub fn add_log_reader(&mut self, service: &str, fd: OwnedFd) {
        let token = self.token();
        self.log_readers.insert(token, LogReader { service: service.to_owned(), fd });
    }

    pub fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// Moves a bounded amount of a pipe's output into its log file; true if more waits.
    fn drain_log(&mut self, token: u64) -> bool {
        let Some(reader) = self.log_readers.get(&token) else { return false };
        let (dir, limits) = (self.dirs.logs(), self.log_limits_of(&reader.service));
        let file = self.log_files.entry(reader.service.clone()).or_insert_with(|| log_file(&dir, &reader.service, limits));
        // Read again on every drain: a manifest applied since applies to what comes next.
        file.set_limits(limits);
        let api = &mut self.api;
        match self.log_drainer.drain(&reader.fd, file, &mut |bytes| api.feed_logs(&reader.service, bytes)) {
            Ok(Drained::More) => return true,
            Ok(Drained::Empty) => {}
            Ok(Drained::Closed) => {
                self.log_readers.remove(&token);
            }
            Err(error) => {
                say(format!("service {}: cannot read its output pipe: {error}", reader.service));
                // A pipe that fails would wake the loop forever: drop the reader. The
                // container keeps its own reader, and the next corrald reads what is left.
                self.log_readers.remove(&token);
            }
        }
        false
    }

    /// `service`'s log limits: its manifest `logs` table over corrald's flags.
    pub fn log_limits_of(&self, service: &str) -> LogLimits {
        let settings = self.manifest.services.get(service).map(|s| s.supervision.logs).unwrap_or_default();
        self.options.log_limits.with(&settings)
    }

    /// Reads what `service`'s containers wrote that is still in their pipes.
    pub fn drain_logs_of(&mut self, service: &str) {
        let tokens: Vec<u64> = self.log_readers.iter().filter(|(_, r)| r.service == service).map(|(t, _)| *t).collect();
        for token in tokens {
            self.drain_log(token);
        }
    }

    /// Before exiting: every container has ended, so each pipe runs dry.
    fn drain_all_logs(&mut self) {
        let tokens: Vec<u64> = self.log_readers.keys().copied().collect();
        for token in tokens {
            while self.drain_log(token) {}
        }
    }
}

const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

fn log_file(dir: &std::path::Path, service: &str, limits: LogLimits) -> RotatingFile {
    RotatingFile::new(dir, service, limits)
}

/// Blocks the signals the loop handles and returns a signalfd for them. Children get
/// an empty mask back (std's Command resets it).
fn block_signals() -> Result<SignalFd, DaemonError> {
    let mut mask = SigSet::empty();
    for signal in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        mask.add(signal);
    }
    mask.thread_block().map_err(|e| DaemonError::io("cannot block signals", e))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| DaemonError::io("cannot create a signalfd", e))
}

/// Spreads restart delays differently on each start of corrald.
fn jitter_seed() -> u64 {
    let now = clock::now().since_origin();
    now.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32)
}
