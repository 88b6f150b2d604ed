//! The reactor: one thread, one [`Poller`], every listener, connection and the
//! signal pipe registered in it.
//!
//! Each loop iteration polls (timeout: zero when a connection is known to be
//! still ready, else the next deadline), marks reported connections ready,
//! drives each scheduled connection once (one read, one write at most), then
//! fires due deadlines. Connections stay registered for their whole life:
//! edge-triggered for read and write where the backend supports it (epoll,
//! kqueue), with readiness remembered per connection; level-triggered on
//! poll(2), where write interest is added only while a write would block.
//!
//! At `max_connections` the oldest idle keep-alive connection is closed to
//! make room (nginx's `ngx_drain_connections`): idle connections are queued
//! as `(key, tick)` when they go idle, stale entries skipped lazily, so each
//! accept costs O(1) amortised. Accepting pauses only when none is idle.
//!
//! Signals (the table in `docs/operations.md`): SIGTERM, SIGINT and SIGQUIT
//! stop gracefully, SIGUSR1 reopens the logs, SIGUSR2 and SIGWINCH (nginx's
//! binary upgrade and worker stop, which Berth has no use for) are logged
//! and ignored, so no signal sent by habit kills the server.
//!
//! SIGHUP reloads the configuration file: it is re-read and re-validated,
//! new logs are opened and new addresses bound before anything changes; any
//! failure keeps the running configuration whole. On success listeners whose
//! address stays keep their socket, removed ones close, connections are
//! remapped to the new listener indices by address, and every request from
//! then on uses the new configuration.

use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use config::Config;
use platform::signal::{Signal, SignalPipe};
use poller::{Events, Interest, Mode, Poller, Token};

use crate::conn::{after, Conn, Phase, Verdict, LINGER};
use crate::log::Log;
use crate::router::Shared;
use crate::slab::{Key, Slab};
use crate::timer::Timers;

/// Most connections accepted per listener readiness report.
pub const ACCEPT_BUDGET: usize = 64;
/// How long accepting pauses after EMFILE/ENFILE.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Shortest interval between two error-log lines about failing `accept()`
/// calls; the failures in between are counted in the next line.
pub const ACCEPT_ERROR_INTERVAL: Duration = Duration::from_secs(1);
/// The signals the server catches (see the module docs).
const SIGNALS: [Signal; 7] = [
    Signal::Int,
    Signal::Term,
    Signal::Quit,
    Signal::Hup,
    Signal::Usr1,
    Signal::Usr2,
    Signal::Winch,
];
/// How long a graceful stop waits for responses in flight.
pub const GRACE_PERIOD: Duration = Duration::from_secs(10);
/// Stale timer reminders tolerated beyond two per connection before the heap
/// is compacted.
const TIMER_SLACK: usize = 1024;
/// Events delivered per poll.
pub const EVENTS_CAPACITY: usize = 1024;
/// Stale idle-queue entries tolerated beyond two per connection before the
/// queue is compacted.
const IDLE_SLACK: usize = 1024;
/// Descriptors a connection may hold at once: its socket and a file being sent.
pub const FDS_PER_CONNECTION: usize = 2;
/// Descriptors kept besides connections and listeners (poller, signal pipe,
/// logs, standard streams, CGI pipes in flight).
pub const RESERVED_FDS: usize = 32;
/// Shortest interval between two "closing idle connections" warnings.
const DRAIN_WARN_INTERVAL: Duration = Duration::from_secs(1);
/// Listener index of a connection whose address a reload removed.
const DETACHED: usize = usize::MAX;

/// `EMFILE` and `ENFILE`: the same numbers on Linux, macOS and the BSDs.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

const SIGNAL_TOKEN: Token = Token(usize::MAX);
const LISTENER_BASE: usize = Key::MAX_TOKEN + 1;

/// One bound listening socket.
#[derive(Debug)]
struct Listening {
    socket: TcpListener,
    /// The configured address (a reload matches listeners by it).
    addr: SocketAddr,
    /// Index into `Config::listeners`.
    index: usize,
}

/// The Berth server over a poller backend `P`.
#[derive(Debug)]
pub struct Server<P: Poller> {
    poller: P,
    edge: bool,
    listeners: Vec<Listening>,
    listeners_registered: bool,
    accept_paused_until: Option<Instant>,
    signals: SignalPipe,
    conns: Slab<Conn>,
    timers: Timers,
    ready: Vec<Key>,
    work: Vec<Key>,
    tick: u64,
    grace_until: Option<Instant>,
    shared: Shared,
    /// Idle keep-alive connections, oldest first, as `(key, tick)`: valid
    /// while the connection is idle and was last scheduled in that tick.
    idle: VecDeque<(Key, u64)>,
    /// When the last "closing idle connections" warning was logged.
    drain_warned: Option<Instant>,
    /// `accept()` failures not logged yet, and when the last line was logged.
    accept_errors: AcceptErrors,
}

/// Rate-limits the error-log lines of failing `accept()` calls: at the open
/// file limit they fail at every retry, and one line per retry would flood
/// the log.
#[derive(Debug, Default)]
struct AcceptErrors {
    /// When the last line was logged.
    logged_at: Option<Instant>,
    /// Failures since then that were not logged.
    unlogged: u64,
}

impl AcceptErrors {
    /// Counts a failure; returns the line to log now, if one is due, with
    /// the number of failures it stands for.
    fn note(&mut self, now: Instant, what: &str) -> Option<String> {
        self.unlogged += 1;
        let due = !self.logged_at.is_some_and(|t| now.duration_since(t) < ACCEPT_ERROR_INTERVAL);
        if !due {
            return None;
        }
        let line = if self.unlogged == 1 {
            what.to_string()
        } else {
            format!("{what} ({} times since the last report)", self.unlogged)
        };
        self.logged_at = Some(now);
        self.unlogged = 0;
        Some(line)
    }
}

impl<P: Poller> Server<P> {
    /// Binds every configured address, opens the logs, installs the signal
    /// handlers and registers everything in a new poller.
    ///
    /// # Errors
    /// When a socket cannot be bound (the message names the address), a log
    /// cannot be opened, or the poller or signal pipe cannot be created.
    pub fn new(config: Config) -> io::Result<Server<P>> {
        let log = Log::open(config.access_log.as_deref(), &config.error_log)?;
        let mut shared = Shared::new(config, log);
        if let Err(e) = platform::signal::ignore_sigpipe() {
            shared.error("warn", &format!("cannot ignore SIGPIPE: {e}"));
        }
        check_fd_limit(&mut shared);
        let mut poller = P::new()?;
        let signals = SignalPipe::install(&SIGNALS)?;
        // Edge-triggered where the backend has it; the answer decides the mode
        // of every connection registration.
        let edge =
            match poller.register(signals.as_fd(), SIGNAL_TOKEN, Interest::READABLE, Mode::Edge) {
                Ok(()) => true,
                Err(e) if e.kind() == ErrorKind::Unsupported => {
                    poller.register(
                        signals.as_fd(),
                        SIGNAL_TOKEN,
                        Interest::READABLE,
                        Mode::Level,
                    )?;
                    false
                }
                Err(e) => return Err(e),
            };
        let mut listeners = Vec::new();
        for (index, l) in shared.config.listeners.iter().enumerate() {
            let socket = bind(l)?;
            listeners.push(Listening { socket, addr: l.addr, index });
        }
        let mut server = Server {
            poller,
            edge,
            listeners,
            listeners_registered: false,
            accept_paused_until: None,
            signals,
            conns: Slab::default(),
            timers: Timers::default(),
            ready: Vec::new(),
            work: Vec::new(),
            tick: 0,
            grace_until: None,
            shared,
            idle: VecDeque::new(),
            drain_warned: None,
            accept_errors: AcceptErrors::default(),
        };
        server.register_listeners()?;
        Ok(server)
    }

    /// The local address of every listener (useful with port 0).
    pub fn local_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.listeners.iter().filter_map(|l| l.socket.local_addr().ok()).collect()
    }

    /// Runs until a graceful stop completes.
    ///
    /// # Errors
    /// Only when the poller itself fails.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let msg = format!(
            "berth started on {} ({}, pid {})",
            urls(&self.local_addrs()),
            P::NAME,
            std::process::id()
        );
        self.shared.error("notice", &msg);
        self.shared.log.flush();
        loop {
            self.shared.clock.update();
            let now = self.shared.clock.now;
            if let Some(grace) = self.grace_until {
                if self.conns.is_empty() || now >= grace {
                    break;
                }
            }
            let timeout = self.poll_timeout(now);
            if let Err(e) = self.poller.poll(&mut events, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            self.shared.clock.update();
            self.tick += 1;
            self.work.clear();
            std::mem::swap(&mut self.work, &mut self.ready);
            for &key in &self.work {
                if let Some(c) = self.conns.get_mut(key) {
                    c.queued_next = false;
                    c.scheduled = self.tick;
                }
            }
            for ev in events.iter() {
                let t = ev.token();
                if t == SIGNAL_TOKEN {
                    self.on_signals();
                } else if t.0 >= LISTENER_BASE {
                    self.accept(t.0 - LISTENER_BASE);
                } else {
                    let key = Key::from_usize(t.0);
                    // A stale token (connection closed, slot reused) finds nothing.
                    let Some(c) = self.conns.get_mut(key) else { continue };
                    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                        c.readable = true;
                    }
                    if ev.is_writable() || ev.is_error() {
                        c.writable = true;
                    }
                    if ev.is_read_closed() || ev.is_error() {
                        c.eof_hint = true;
                    }
                    if c.scheduled != self.tick {
                        c.scheduled = self.tick;
                        self.work.push(key);
                    }
                }
            }
            let work = std::mem::take(&mut self.work);
            for &key in &work {
                self.drive(key);
            }
            self.work = work;
            self.expire_timers();
            let now = self.shared.clock.now;
            self.shared.log.tick(now);
            if self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept_paused_until = None;
                self.maybe_resume_accept();
            }
        }
        let msg = format!("berth exiting ({} connections left)", self.conns.len());
        self.shared.error("notice", &msg);
        for key in self.conns.keys() {
            self.close(key);
        }
        self.shared.log.flush();
        Ok(())
    }

    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.ready.is_empty() {
            return Some(Duration::ZERO);
        }
        [
            self.timers.next(),
            self.shared.log.next_flush(),
            self.accept_paused_until,
            self.grace_until,
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|t| t.saturating_duration_since(now))
    }

    fn drive(&mut self, key: Key) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        match conn.drive(&mut self.shared) {
            Verdict::Keep => self.after(key),
            Verdict::Close => self.close(key),
        }
    }

    /// Bookkeeping after a connection changed: deadline, level interest,
    /// ready list.
    fn after(&mut self, key: Key) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if conn.listener() == DETACHED && conn.is_idle() {
            // Its address was removed by a reload and its last request is done.
            self.close(key);
            return;
        }
        let now = self.shared.clock.now;
        let (phase, restart) = conn.phase_now();
        if restart {
            let d = phase_timeout(&self.shared.config, conn, phase);
            self.timers.schedule(key, &mut conn.timer, Some(after(now, d)));
        }
        // Every turn of an idle keep-alive connection queues it anew (older
        // entries go stale), so the queue's valid entries are in the order
        // connections last did something.
        let went_idle = phase == Phase::Idle && conn.served_any() && conn.scheduled == self.tick;
        if went_idle && self.idle.back() != Some(&(key, self.tick)) {
            self.idle.push_back((key, self.tick));
        }
        if self.timers.len() > 2 * self.conns.len() + TIMER_SLACK {
            let conns = &self.conns;
            self.timers.retain(|k, at| conns.get(k).is_some_and(|c| c.timer.is_queued_at(at)));
        }
        if self.idle.len() > 2 * self.conns.len() + IDLE_SLACK {
            let conns = &self.conns;
            self.idle.retain(|&(k, tick)| is_idle_entry(conns, k, tick));
        }
        if went_idle && !self.listeners_registered {
            // Accepting may have paused at the limit with nothing idle.
            self.maybe_resume_accept();
        }
        let Some(conn) = self.conns.get_mut(key) else { return };
        if !self.edge {
            let want = conn.level_interest();
            if want != conn.interest {
                let fd = conn.stream().as_fd();
                let res = self.poller.reregister(fd, Token(key.to_usize()), want, Mode::Level);
                if res.is_err() {
                    self.close(key);
                    return;
                }
                conn.interest = want;
            }
        }
        if conn.needs_turn() && !conn.queued_next {
            conn.queued_next = true;
            self.ready.push(key);
        }
    }

    fn close(&mut self, key: Key) {
        let Some(mut conn) = self.conns.remove(key) else { return };
        conn.release_buffers(&mut self.shared);
        // Deregister before the fd closes (the poller contract); a failure
        // here leaves nothing to undo since the fd is closed right after.
        let _ = self.poller.deregister(conn.stream().as_fd());
        drop(conn);
        self.maybe_resume_accept();
    }

    fn expire_timers(&mut self) {
        let now = self.shared.clock.now;
        while let Some(reminder) = self.timers.pop_due(now) {
            let key = reminder.1;
            let Some(conn) = self.conns.get_mut(key) else { continue };
            if !self.timers.fire(reminder, &mut conn.timer, now) {
                continue;
            }
            match conn.on_timeout(&mut self.shared) {
                Verdict::Keep => self.after(key),
                Verdict::Close => self.close(key),
            }
        }
    }

    fn accept(&mut self, which: usize) {
        for _ in 0..ACCEPT_BUDGET {
            let at_limit = self.conns.len() >= self.shared.config.max_connections;
            if at_limit && self.oldest_idle().is_none() {
                // Nothing idle to close: stop listening until a connection
                // closes or goes idle.
                self.pause_accept(None);
                return;
            }
            let Some(l) = self.listeners.get(which) else { return };
            match platform::net::accept4(&l.socket) {
                Ok((stream, peer)) => {
                    let index = l.index;
                    if at_limit {
                        // Only now that a client is really waiting (nginx
                        // drains after accept() too).
                        self.drain_idle();
                    }
                    let default_server =
                        self.shared.config.listeners.get(index).map_or(0, |l| l.default_server);
                    if let Err(e) = platform::net::set_nodelay(stream.as_fd(), true) {
                        self.shared.error("info", &format!("setsockopt(TCP_NODELAY) failed: {e}"));
                    }
                    let level = !self.edge;
                    self.add_conn(Conn::new(stream, peer, index, default_server, level));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) if matches!(e.raw_os_error(), Some(EMFILE | ENFILE)) => {
                    let now = self.shared.clock.now;
                    let what = format!(
                        "accept() failed: {}; pausing accept for {} ms at a time",
                        config::os_message(&e),
                        ACCEPT_BACKOFF.as_millis()
                    );
                    if let Some(line) = self.accept_errors.note(now, &what) {
                        self.shared.error("crit", &line);
                    }
                    self.pause_accept(Some(after(now, ACCEPT_BACKOFF)));
                    return;
                }
                Err(e) => {
                    let what = format!("accept() failed: {}", config::os_message(&e));
                    if let Some(line) = self.accept_errors.note(self.shared.clock.now, &what) {
                        self.shared.error("error", &line);
                    }
                    return;
                }
            }
        }
    }

    fn add_conn(&mut self, conn: Conn) {
        let Ok(key) = self.conns.insert(conn) else {
            self.shared.error("error", "connection table full");
            return;
        };
        let (interest, mode) = if self.edge {
            (Interest::BOTH, Mode::Edge)
        } else {
            (Interest::READABLE, Mode::Level)
        };
        let Some(conn) = self.conns.get_mut(key) else { return };
        conn.interest = interest;
        let res =
            self.poller.register(conn.stream().as_fd(), Token(key.to_usize()), interest, mode);
        if let Err(e) = res {
            self.shared.error("error", &format!("cannot register a connection: {e}"));
            self.conns.remove(key);
            return;
        }
        self.after(key);
    }

    fn register_listeners(&mut self) -> io::Result<()> {
        if self.listeners_registered {
            return Ok(());
        }
        for (i, l) in self.listeners.iter().enumerate() {
            let token = Token(LISTENER_BASE + i);
            self.poller.register(l.socket.as_fd(), token, Interest::READABLE, Mode::Level)?;
        }
        self.listeners_registered = true;
        Ok(())
    }

    fn pause_accept(&mut self, until: Option<Instant>) {
        if self.listeners_registered {
            for l in &self.listeners {
                let _ = self.poller.deregister(l.socket.as_fd());
            }
            self.listeners_registered = false;
        }
        if until.is_some() {
            self.accept_paused_until = until;
        }
    }

    fn maybe_resume_accept(&mut self) {
        if self.listeners_registered
            || self.accept_paused_until.is_some()
            || self.grace_until.is_some()
            || (self.conns.len() >= self.shared.config.max_connections
                && self.oldest_idle().is_none())
        {
            return;
        }
        if let Err(e) = self.register_listeners() {
            self.shared.error("alert", &format!("cannot resume accepting: {e}"));
            self.accept_paused_until = Some(after(self.shared.clock.now, ACCEPT_BACKOFF));
        }
    }

    fn on_signals(&mut self) {
        let signals = match self.signals.drain() {
            Ok(s) => s,
            Err(e) => {
                self.shared.error("alert", &format!("reading the signal pipe failed: {e}"));
                return;
            }
        };
        let (mut stop, mut hup, mut usr1) = (None, false, false);
        for sig in signals {
            match sig {
                Signal::Int | Signal::Term | Signal::Quit => stop = Some(sig),
                Signal::Hup => hup = true,
                Signal::Usr1 => usr1 = true,
                Signal::Usr2 => self.shared.error(
                    "notice",
                    "SIGUSR2 received, ignored: Berth has no binary upgrade, restart it instead",
                ),
                Signal::Winch => self.shared.error(
                    "notice",
                    "SIGWINCH received, ignored: Berth has no worker processes to stop",
                ),
                Signal::Chld => {}
            }
        }
        if let Some(sig) = stop {
            self.begin_shutdown(sig);
        }
        // Several SIGHUPs read at once are one reload; a reload reopens the
        // logs too.
        if hup && self.grace_until.is_none() {
            self.reload();
        } else if usr1 {
            self.reopen_logs();
        }
    }

    /// SIGUSR1: opens the configured log files again (after a rotation
    /// moved them away), flushing what is buffered into the old ones first;
    /// on failure the old ones are kept.
    fn reopen_logs(&mut self) {
        self.shared.error("notice", "SIGUSR1 received, reopening the logs");
        self.shared.log.flush();
        let config = &self.shared.config;
        match Log::open(config.access_log.as_deref(), &config.error_log) {
            Ok(log) => {
                self.shared.log = log;
                self.shared.error("notice", "logs reopened");
            }
            Err(e) => {
                let msg = format!(
                    "cannot reopen the logs, the old ones are kept: {}",
                    config::os_message(&e)
                );
                self.shared.error("alert", &msg);
            }
        }
        self.shared.log.flush();
    }

    /// The oldest connection idle in keep-alive, skipping stale entries.
    fn oldest_idle(&mut self) -> Option<Key> {
        while let Some(&(key, tick)) = self.idle.front() {
            if is_idle_entry(&self.conns, key, tick) {
                return Some(key);
            }
            self.idle.pop_front();
        }
        None
    }

    /// Closes the oldest idle keep-alive connection to make room for a new
    /// one; false when none is idle.
    fn drain_idle(&mut self) -> bool {
        let Some(key) = self.oldest_idle() else { return false };
        self.idle.pop_front();
        let now = self.shared.clock.now;
        let warned_lately =
            self.drain_warned.is_some_and(|t| now.duration_since(t) < DRAIN_WARN_INTERVAL);
        if !warned_lately {
            self.drain_warned = Some(now);
            let msg = format!(
                "{} max_connections are not enough, closing idle keep-alive connections",
                self.shared.config.max_connections
            );
            self.shared.error("warn", &msg);
        }
        self.close(key);
        true
    }

    /// SIGHUP: re-reads the configuration file and applies it, or keeps the
    /// running configuration whole and logs why.
    fn reload(&mut self) {
        self.shared.error("notice", "SIGHUP received, reloading the configuration");
        match self.prepare_reload() {
            Ok((config, log, fresh)) => self.apply_reload(config, log, fresh),
            Err(msg) => {
                self.shared.error("emerg", &msg);
                self.shared.error("notice", "reload failed, the running configuration is kept");
            }
        }
        self.shared.log.flush();
    }

    /// Everything a reload can fail at, done before anything changes: the
    /// configuration is loaded, its logs opened and its new addresses bound.
    fn prepare_reload(&self) -> Result<(Config, Log, Vec<Listening>), String> {
        let config = config::load(&self.shared.config.file).map_err(|e| e.to_string())?;
        let log = Log::open(config.access_log.as_deref(), &config.error_log)
            .map_err(|e| format!("cannot open a log file: {}", config::os_message(&e)))?;
        let mut fresh = Vec::new();
        for (index, l) in config.listeners.iter().enumerate() {
            if self.listeners.iter().any(|old| old.addr == l.addr) {
                continue;
            }
            // Dropping `fresh` on error closes what was bound so far.
            let socket = bind(l).map_err(|e| config::os_message(&e))?;
            fresh.push(Listening { socket, addr: l.addr, index });
        }
        Ok((config, log, fresh))
    }

    /// Switches to a loaded configuration (see the module docs).
    fn apply_reload(&mut self, config: Config, log: Log, fresh: Vec<Listening>) {
        // Lines buffered so far belong to the old logs.
        self.shared.log.flush();
        let mut shared = Shared::new(config, log);
        std::mem::swap(&mut shared.clock, &mut self.shared.clock);
        std::mem::swap(&mut shared.cache, &mut self.shared.cache);
        std::mem::swap(&mut shared.scratch, &mut self.shared.scratch);
        let old = std::mem::replace(&mut self.shared, shared);

        // Listeners: same address, same socket (its backlog survives); the
        // tokens are renumbered, so all are registered again.
        self.pause_accept(None);
        let new = &self.shared.config;
        let mut listeners = std::mem::take(&mut self.listeners);
        listeners.retain(|l| new.listener_for(l.addr).is_some());
        listeners.extend(fresh);
        for l in &mut listeners {
            l.index = new.listener_for(l.addr).unwrap_or(DETACHED);
        }
        self.listeners = listeners;

        // Connections: listener indices remapped by address; those whose
        // address is gone finish what they are doing and close when idle.
        // Deadlines restart with the new timeouts.
        let now = self.shared.clock.now;
        for key in self.conns.keys() {
            let Some(conn) = self.conns.get_mut(key) else { continue };
            let addr = old.config.listeners.get(conn.listener()).map(|l| l.addr);
            let index = addr.and_then(|a| self.shared.config.listener_for(a));
            let server = index
                .and_then(|i| self.shared.config.listeners.get(i))
                .map_or(0, |l| l.default_server);
            conn.remap(index.unwrap_or(DETACHED), server);
            if index.is_none() && conn.is_idle() {
                self.close(key);
                continue;
            }
            let (phase, _) = conn.phase_now();
            let d = phase_timeout(&self.shared.config, conn, phase);
            self.timers.schedule(key, &mut conn.timer, Some(after(now, d)));
        }
        drop(old);
        check_fd_limit(&mut self.shared);
        for w in self.shared.config.warnings.clone() {
            self.shared.error("warn", &w.to_string());
        }
        let msg = format!("configuration reloaded, listening on {}", urls(&self.local_addrs()));
        self.shared.error("notice", &msg);
        self.maybe_resume_accept();
    }

    fn begin_shutdown(&mut self, sig: Signal) {
        let now = self.shared.clock.now;
        if self.grace_until.is_some() {
            // A second signal: stop now.
            self.shared.error("notice", &format!("{sig} received again, stopping now"));
            self.grace_until = Some(now);
            return;
        }
        let msg = format!("{sig} received, graceful shutdown: no longer accepting");
        self.shared.error("notice", &msg);
        self.shared.shutting_down = true;
        self.grace_until = Some(after(now, GRACE_PERIOD));
        self.pause_accept(None);
        self.listeners.clear();
        for key in self.conns.keys() {
            if self.conns.get(key).is_some_and(Conn::is_idle) {
                self.close(key);
            }
        }
    }
}

/// Binds `l`'s address with its options; the error names the address.
fn bind(l: &config::Listener) -> io::Result<TcpListener> {
    let opts = platform::net::ListenOptions {
        reuseport: l.reuseport,
        ..platform::net::ListenOptions::default()
    };
    platform::net::bind_listener(l.addr, &opts).map_err(|e| {
        let hint = match e.kind() {
            ErrorKind::AddrInUse => " (another server listens there)",
            ErrorKind::PermissionDenied if l.addr.port() < 1024 => {
                " (ports below 1024 need root or CAP_NET_BIND_SERVICE, see docs/operations.md)"
            }
            ErrorKind::AddrNotAvailable => " (no interface of this machine has that address)",
            _ => "",
        };
        io::Error::new(e.kind(), format!("bind {}: {}{hint}", l.addr, config::os_message(&e)))
    })
}

/// `http://127.0.0.1:8080/ http://[::1]:8080/`: each address as a URL.
pub fn urls(addrs: &[SocketAddr]) -> String {
    let urls: Vec<String> = addrs.iter().map(|a| format!("http://{a}/")).collect();
    urls.join(" ")
}

/// The deadline of `phase` for `conn` under `config`.
fn phase_timeout(config: &Config, conn: &Conn, phase: Phase) -> Duration {
    let t = config.servers.get(conn.server()).map(|s| &s.timeouts);
    match (phase, t) {
        (Phase::Linger, _) | (_, None) => LINGER,
        (Phase::Idle, Some(t)) if conn.served_any() => t.keepalive,
        (Phase::Idle | Phase::Header, Some(t)) => t.client_header,
        (Phase::Body, Some(t)) => t.client_body,
        (Phase::Send, Some(t)) => t.send,
    }
}

/// Whether idle-queue entry `(key, tick)` still stands for an idle
/// keep-alive connection (it did nothing since it was queued).
fn is_idle_entry(conns: &Slab<Conn>, key: Key, tick: u64) -> bool {
    conns.get(key).is_some_and(|c| c.scheduled == tick && c.served_any() && c.is_idle())
}

/// Descriptors `max_connections` may need: [`FDS_PER_CONNECTION`] per
/// connection, plus the listeners and [`RESERVED_FDS`]; saturating, since
/// `max_connections` may be as large as `usize::MAX`.
pub fn fds_wanted(max_connections: usize, listeners: usize) -> usize {
    max_connections
        .saturating_mul(FDS_PER_CONNECTION)
        .saturating_add(listeners)
        .saturating_add(RESERVED_FDS)
}

/// Raises the open file limit to its hard maximum and warns when it is
/// still below what `max_connections` may need.
fn check_fd_limit(shared: &mut Shared) {
    let wanted = fds_wanted(shared.config.max_connections, shared.config.listeners.len());
    match platform::rlimit::raise_nofile_limit() {
        Ok(n) if usize::try_from(n).unwrap_or(usize::MAX) < wanted => {
            let msg = format!(
                "open file limit {n} is below the {wanted} descriptors max_connections {} may \
                 need (2 per connection, plus listeners); EMFILE may occur",
                shared.config.max_connections
            );
            shared.error("warn", &msg);
        }
        Ok(_) => {}
        Err(e) => shared.error("warn", &format!("cannot raise the open file limit: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_are_logged_at_most_once_a_second_with_a_count() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut e = AcceptErrors::default();
        assert_eq!(e.note(t0, "x").as_deref(), Some("x"));
        // Retries every 100 ms for 1.5 s: one more line, counting them all.
        let lines: Vec<String> = (1..=15).filter_map(|i| e.note(t0 + ms(100 * i), "x")).collect();
        assert_eq!(lines, ["x (10 times since the last report)"]);
        assert_eq!(e.unlogged, 5);
        assert_eq!(
            e.note(t0 + ms(2500), "y").as_deref(),
            Some("y (6 times since the last report)")
        );
        assert_eq!(e.note(t0 + ms(9000), "z").as_deref(), Some("z"));
    }

    #[test]
    fn listener_urls() {
        let addrs: Vec<SocketAddr> =
            vec!["127.0.0.1:8080".parse().unwrap(), "[::1]:80".parse().unwrap()];
        assert_eq!(urls(&addrs), "http://127.0.0.1:8080/ http://[::1]:80/");
    }

    #[test]
    fn fds_wanted_saturates() {
        assert_eq!(fds_wanted(10, 2), 20 + 2 + RESERVED_FDS);
        assert_eq!(fds_wanted(usize::MAX, 3), usize::MAX);
        assert_eq!(fds_wanted(usize::MAX / 2 + 1, 0), usize::MAX);
        assert_eq!(fds_wanted(usize::MAX - 1, usize::MAX), usize::MAX);
    }
}
