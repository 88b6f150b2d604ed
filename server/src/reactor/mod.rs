//! The reactor: one thread, one [`Poller`], one slab of event sources
//! (listeners, connections, handler pipes, the signal pipe) registered in it.
//!
//! Every source's token is its slab key (slot + generation), so an event for
//! a source that is gone, or whose slot was reused, finds nothing. Each loop
//! iteration polls (timeout: the next deadline), notes what was reported for
//! each source, drives each connection that was reported, or whose pipes
//! were, exactly once, then fires due deadlines. Every source can own a
//! deadline on one heap.
//!
//! The I/O rule of DESIGN.md §6 holds exactly: a socket or pipe is read or
//! written only in an iteration whose wait reported it, at most once for
//! each direction. Connections stay registered for their whole life:
//! edge-triggered for read and write where the backend supports it (epoll,
//! kqueue), where one report carries every ready direction; when readiness
//! reported earlier is wanted again without a new edge to come (a read that
//! filled the buffer, a write cut at the per-turn cap), the registration is
//! re-armed, one `epoll_ctl` that makes the next wait report it. On
//! level-triggered poll(2) the interest follows what the connection wants
//! (read, write, both or nothing). Handler pipes are level-triggered with
//! the interest their handler asks for.
//!
//! At `max_connections` the oldest idle keep-alive connection is closed to
//! make room (nginx's `ngx_drain_connections`): idle connections are queued
//! as `(key, tick)` when they go idle, stale entries skipped lazily, so each
//! accept costs O(1) amortised. Accepting pauses only when none is idle.
//!
//! Signals (the table in `docs/operations.md`): SIGTERM, SIGINT and SIGQUIT
//! stop gracefully, SIGUSR1 reopens the logs, SIGUSR2 and SIGWINCH (nginx's
//! binary upgrade and worker stop, which Berth has no use for) are logged
//! and ignored, so no signal sent by habit kills the server; SIGCHLD reaps
//! children.
//!
//! SIGHUP reloads the configuration file: it is re-read and re-validated,
//! new logs are opened and new addresses bound before anything changes; any
//! failure keeps the running configuration whole. On success listeners whose
//! address stays keep their socket, removed ones close, connections are
//! remapped to the new listener indices by address (those whose address is
//! gone finish their current response and close), requests in progress
//! finish under the site they arrived under, and new ones use the new site.

pub mod connection;
pub mod output;
pub mod request;
pub mod slab;
pub mod timer;

use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use config::Config;
use platform::signal::{Signal, SignalPipe};
use poller::{Events, Interest, Mode, Poller, Token};

use crate::handlers::Sources;
use crate::log::{Level, Log};
use crate::site::{Runtime, Site};
use connection::{deadline_after, Connection, Env, Phase, Verdict, LINGER};
use slab::{Key, Slab};
use timer::{TimerSlot, Timers};

/// Most connections accepted per listener readiness report.
pub const ACCEPT_BUDGET: usize = 64;
/// How long accepting pauses after EMFILE/ENFILE.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Shortest interval between two error-log lines about failing `accept()`
/// calls; the failures in between are counted in the next line.
pub const ACCEPT_ERROR_INTERVAL: Duration = Duration::from_secs(1);
/// The signals the server catches (see the module docs).
const SIGNALS: [Signal; 8] = [
    Signal::Int,
    Signal::Term,
    Signal::Quit,
    Signal::Hup,
    Signal::Usr1,
    Signal::Usr2,
    Signal::Winch,
    Signal::Chld,
];
/// How long a graceful stop waits for responses in flight.
pub const GRACE_PERIOD: Duration = Duration::from_secs(10);
/// Stale timer reminders tolerated beyond two per source before the heap
/// is compacted.
const TIMER_SLACK: usize = 1024;
/// Events delivered per poll.
pub const EVENTS_CAPACITY: usize = 1024;
/// Stale idle-queue entries tolerated beyond two per connection before the
/// queue is compacted.
const IDLE_SLACK: usize = 1024;
/// Descriptors one connection may hold at once: its socket, plus what its
/// request may hold: a file being sent, or a CGI script's three pipes and
/// the spool file of a chunked body.
pub const FDS_PER_CONNECTION: usize = 5;
/// Descriptors kept besides connections and listeners (poller, signal pipe,
/// logs, standard streams).
pub const RESERVED_FDS: usize = 32;
/// Shortest interval between two "closing idle connections" warnings.
const DRAIN_WARN_INTERVAL: Duration = Duration::from_secs(1);

/// `EMFILE` and `ENFILE`: the same numbers on Linux, macOS and the BSDs.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

/// One bound listening socket.
#[derive(Debug)]
struct Listening {
    socket: TcpListener,
    /// The configured address (a reload matches listeners by it).
    addr: SocketAddr,
    /// Index into `Config::listeners`.
    index: usize,
}

/// A pipe owned by a connection's handler.
#[derive(Debug)]
struct Pipe {
    /// The connection whose handler owns it.
    owner: Key,
    /// What it is watched for (`None`: not registered right now).
    interest: Option<Interest>,
    /// Iteration of the last report, and what it said.
    reported_tick: u64,
    readable: bool,
    writable: bool,
    timer: TimerSlot,
}

/// An event source in the slab.
#[derive(Debug)]
enum Source {
    Listener(Listening),
    Connection(Box<Connection>),
    Pipe(Pipe),
    Signal,
    /// A connection taken out of its slot while it is driven (its handler
    /// may add sources to the slab meanwhile).
    Busy,
}

/// The Berth server over a poller backend `P`.
#[derive(Debug)]
pub struct Server<P: Poller> {
    poller: P,
    edge: bool,
    sources: Slab<Source>,
    listeners: Vec<Key>,
    listeners_registered: bool,
    accept_paused_until: Option<Instant>,
    signals: SignalPipe,
    connections: usize,
    timers: Timers,
    work: Vec<Key>,
    tick: u64,
    grace_until: Option<Instant>,
    site: Rc<Site>,
    rt: Runtime,
    /// Idle keep-alive connections, oldest first, as `(key, tick)`: valid
    /// while the connection is idle and was last driven in that tick.
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
        let mut rt = Runtime::new(log);
        let site = Rc::new(Site::new(config));
        if let Err(e) = platform::signal::ignore_sigpipe() {
            rt.error(Level::Warn, &format!("cannot ignore SIGPIPE: {e}"));
        }
        // Descriptors inherited from whoever started the server must not
        // reach CGI scripts (Berth's own are close-on-exec from creation).
        if let Err(e) = platform::fd::set_cloexec_from(3) {
            rt.error(Level::Warn, &format!("cannot mark inherited descriptors close-on-exec: {e}"));
        }
        check_fd_limit(&site.config, &mut rt);
        let mut poller = P::new()?;
        let signals = SignalPipe::install(&SIGNALS)?;
        let mut sources = Slab::default();
        let signal_key = sources
            .insert(Source::Signal)
            .map_err(|_| io::Error::new(ErrorKind::OutOfMemory, "source table full"))?;
        // Level-triggered: each report is one read of the pipe (DESIGN.md
        // §6); bytes left behind are reported again.
        let token = Token(signal_key.to_usize());
        poller.register(signals.as_fd(), token, Interest::READABLE, Mode::Level)?;
        // Edge-triggered connections where the backend has them.
        let edge = P::SUPPORTS_EDGE;
        let mut server = Server {
            poller,
            edge,
            sources,
            listeners: Vec::new(),
            listeners_registered: false,
            accept_paused_until: None,
            signals,
            connections: 0,
            timers: Timers::default(),
            work: Vec::new(),
            tick: 0,
            grace_until: None,
            site,
            rt,
            idle: VecDeque::new(),
            drain_warned: None,
            accept_errors: AcceptErrors::default(),
        };
        let mut bound = Vec::new();
        for (index, l) in server.site.config.listeners.iter().enumerate() {
            bound.push(Listening { socket: bind(l)?, addr: l.addr, index });
        }
        for l in bound {
            server.add_listener(l)?;
        }
        server.register_listeners()?;
        Ok(server)
    }

    /// The local address of every listener (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|&k| match self.sources.get(k) {
                Some(Source::Listener(l)) => l.socket.local_addr().ok(),
                _ => None,
            })
            .collect()
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
        self.rt.error(Level::Notice, &msg);
        self.rt.log.flush();
        while self.turn(&mut events)? {}
        let msg = format!("berth exiting ({} connections left)", self.connections);
        self.rt.error(Level::Notice, &msg);
        for key in self.sources.keys() {
            if matches!(self.sources.get(key), Some(Source::Connection(_))) {
                self.close(key);
            }
        }
        self.end_children();
        self.rt.log.flush();
        Ok(())
    }

    /// One loop iteration: poll, note what was reported, drive what was
    /// reported, fire due deadlines. Returns false once a graceful stop is
    /// complete.
    ///
    /// # Errors
    /// Only when the poller itself fails.
    pub fn turn(&mut self, events: &mut Events) -> io::Result<bool> {
        self.rt.clock.update();
        let now = self.rt.clock.now;
        if let Some(grace) = self.grace_until {
            if self.connections == 0 || now >= grace {
                return Ok(false);
            }
        }
        let timeout = self.poll_timeout(now);
        if let Err(e) = self.poller.poll(events, timeout) {
            if e.kind() == ErrorKind::Interrupted {
                return Ok(true);
            }
            return Err(e);
        }
        self.rt.clock.update();
        self.rt.cache.forget_stats();
        self.tick += 1;
        self.work.clear();
        for ev in events.iter() {
            let key = Key::from_usize(ev.token().0);
            match note_event(&mut self.sources, key, ev, self.tick) {
                Noted::Signal => self.on_signals(),
                Noted::Listener => self.accept(key),
                Noted::Drive(owner) => self.work.push(owner),
                Noted::Nothing => {}
            }
        }
        let work = std::mem::take(&mut self.work);
        for &key in &work {
            self.drive(key);
        }
        self.work = work;
        self.expire_timers();
        let now = self.rt.clock.now;
        self.send_kills(now);
        self.rt.log.tick(now);
        if self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept_paused_until = None;
            self.maybe_resume_accept();
        }
        Ok(true)
    }

    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        let kill = self.rt.kills.iter().map(|&(_, at)| at).min();
        [
            self.timers.next(),
            self.rt.log.next_flush(),
            self.accept_paused_until,
            self.grace_until,
            kill,
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|t| t.saturating_duration_since(now))
    }

    /// Runs `f` on connection `key`, taken out of its slot so that its
    /// handler can reach the other sources meanwhile; then does the
    /// bookkeeping its verdict asks for.
    fn with_connection(
        &mut self,
        key: Key,
        f: impl FnOnce(&mut Connection, &mut Env<'_>) -> Verdict,
    ) {
        let Some(slot) = self.sources.get_mut(key) else { return };
        let taken = std::mem::replace(slot, Source::Busy);
        let Source::Connection(mut conn) = taken else {
            *slot = taken;
            return;
        };
        let verdict = self.with_env(key, |env| f(&mut conn, env));
        if let Some(slot) = self.sources.get_mut(key) {
            *slot = Source::Connection(conn);
        }
        match verdict {
            Verdict::Keep => self.sync_connection(key),
            Verdict::Close => self.close(key),
        }
    }

    fn drive(&mut self, key: Key) {
        self.with_connection(key, |conn, env| conn.drive(env));
    }

    /// Brings the reactor's view of connection `key` in line with its new
    /// state: its deadline, its idle-queue entry, its poller registration.
    fn sync_connection(&mut self, key: Key) {
        let Some(Source::Connection(conn)) = self.sources.get_mut(key) else { return };
        let now = self.rt.clock.now;
        let (phase, restart) = conn.deadline_phase();
        if restart {
            let at = phase_timeout(&self.site.config, conn, phase).map(|d| deadline_after(now, d));
            self.timers.schedule(key, &mut conn.timer, at);
        }
        // Every turn of an idle keep-alive connection queues it anew (older
        // entries go stale), so the queue's valid entries are in the order
        // connections last did something.
        let went_idle = phase == Phase::Idle && conn.served_any() && conn.scheduled == self.tick;
        if went_idle && self.idle.back() != Some(&(key, self.tick)) {
            self.idle.push_back((key, self.tick));
        }
        let token = Token(key.to_usize());
        let res = if self.edge {
            match conn.registration() {
                Some((interest, mode)) => {
                    self.poller.reregister(conn.stream().as_fd(), token, interest, mode)
                }
                None => Ok(()),
            }
        } else {
            let want = conn.level_interest();
            let mut interest = conn.interest;
            let res =
                watch_level(&mut self.poller, conn.stream().as_fd(), token, &mut interest, want);
            conn.interest = interest;
            res
        };
        if let Err(e) = res {
            self.rt.error(Level::Alert, &format!("cannot update a connection's registration: {e}"));
            self.close(key);
            return;
        }
        if self.timers.len() > 2 * self.sources.len() + TIMER_SLACK {
            let sources = &self.sources;
            self.timers.retain(|k, at| timer_slot(sources, k).is_some_and(|t| t.is_queued_at(at)));
        }
        if self.idle.len() > 2 * self.connections + IDLE_SLACK {
            let sources = &self.sources;
            self.idle.retain(|&(k, tick)| is_idle_entry(sources, k, tick));
        }
    }

    /// Runs `f` with what a connection (`owner`, out of its slot) is
    /// driven with: the site, the runtime and the registry of its sources.
    fn with_env<T>(&mut self, owner: Key, f: impl FnOnce(&mut Env<'_>) -> T) -> T {
        let mut reg = Registry {
            poller: &mut self.poller,
            sources: &mut self.sources,
            timers: &mut self.timers,
            owner,
            tick: self.tick,
        };
        let mut env = Env { site: &self.site, rt: &mut self.rt, sources: &mut reg };
        f(&mut env)
    }

    fn close(&mut self, key: Key) {
        let Some(Source::Connection(_)) = self.sources.get(key) else { return };
        let Some(Source::Connection(mut conn)) = self.sources.remove(key) else { return };
        self.with_env(key, |env| conn.close(env));
        self.connections -= 1;
        // Deregistered as it closes (one close(2) on epoll: the socket is
        // never duplicated, children get none); a failure leaves nothing to
        // undo since the fd is closed all the same.
        if self.edge || conn.interest.is_some() {
            let _ = self.poller.deregister_and_close(OwnedFd::from(conn.into_stream()));
        }
        self.maybe_resume_accept();
    }

    fn expire_timers(&mut self) {
        let now = self.rt.clock.now;
        while let Some(reminder) = self.timers.pop_due(now) {
            let key = reminder.1;
            let Some(slot) = timer_slot_mut(&mut self.sources, key) else { continue };
            if !self.timers.fire(reminder, slot, now) {
                continue;
            }
            match self.sources.get(key) {
                Some(Source::Connection(_)) => {
                    self.with_connection(key, |conn, env| conn.on_timeout(env));
                }
                Some(Source::Pipe(p)) => {
                    let owner = p.owner;
                    self.with_connection(owner, |conn, env| conn.on_source_timer(env, key));
                }
                _ => {}
            }
        }
    }

    fn accept(&mut self, key: Key) {
        for _ in 0..ACCEPT_BUDGET {
            let at_limit = self.connections >= self.site.config.max_connections;
            if at_limit && self.oldest_idle().is_none() {
                // Nothing idle to close: stop listening until a connection
                // closes or goes idle.
                self.pause_accept(None);
                return;
            }
            let Some(Source::Listener(l)) = self.sources.get(key) else { return };
            match platform::net::accept4(&l.socket) {
                Ok((stream, peer)) => {
                    let index = l.index;
                    if at_limit {
                        // Only now that a client is really waiting (nginx
                        // drains after accept() too).
                        self.drain_idle();
                    }
                    let server =
                        self.site.config.listeners.get(index).map_or(0, |l| l.default_server);
                    let rbuf_max = self.site.read_buffer_size();
                    self.add_connection(Connection::new(stream, peer, index, server, rbuf_max));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) if matches!(e.raw_os_error(), Some(EMFILE | ENFILE)) => {
                    let now = self.rt.clock.now;
                    let what = format!(
                        "accept() failed: {}; pausing accept for {} ms at a time",
                        config::os_message(&e),
                        ACCEPT_BACKOFF.as_millis()
                    );
                    if let Some(line) = self.accept_errors.note(now, &what) {
                        self.rt.error(Level::Crit, &line);
                    }
                    self.pause_accept(Some(deadline_after(now, ACCEPT_BACKOFF)));
                    return;
                }
                Err(e) => {
                    let what = format!("accept() failed: {}", config::os_message(&e));
                    if let Some(line) = self.accept_errors.note(self.rt.clock.now, &what) {
                        self.rt.error(Level::Error, &line);
                    }
                    return;
                }
            }
        }
    }

    fn add_connection(&mut self, conn: Connection) {
        let Ok(key) = self.sources.insert(Source::Connection(Box::new(conn))) else {
            self.rt.error(Level::Error, "source table full");
            return;
        };
        self.connections += 1;
        let (interest, mode) = if self.edge {
            (Interest::BOTH, Mode::Edge)
        } else {
            (Interest::READABLE, Mode::Level)
        };
        let Some(Source::Connection(conn)) = self.sources.get_mut(key) else { return };
        conn.interest = Some(interest);
        let res =
            self.poller.register(conn.stream().as_fd(), Token(key.to_usize()), interest, mode);
        if let Err(e) = res {
            self.rt.error(Level::Error, &format!("cannot register a connection: {e}"));
            conn.interest = None;
            self.sources.remove(key);
            self.connections -= 1;
            return;
        }
        self.sync_connection(key);
    }

    fn add_listener(&mut self, l: Listening) -> io::Result<()> {
        let key = self
            .sources
            .insert(Source::Listener(l))
            .map_err(|_| io::Error::new(ErrorKind::OutOfMemory, "source table full"))?;
        self.listeners.push(key);
        Ok(())
    }

    fn register_listeners(&mut self) -> io::Result<()> {
        if self.listeners_registered {
            return Ok(());
        }
        for &key in &self.listeners {
            if let Some(Source::Listener(l)) = self.sources.get(key) {
                let token = Token(key.to_usize());
                self.poller.register(l.socket.as_fd(), token, Interest::READABLE, Mode::Level)?;
            }
        }
        self.listeners_registered = true;
        Ok(())
    }

    fn pause_accept(&mut self, until: Option<Instant>) {
        if self.listeners_registered {
            for &key in &self.listeners {
                if let Some(Source::Listener(l)) = self.sources.get(key) {
                    let _ = self.poller.deregister(l.socket.as_fd());
                }
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
            || (self.connections >= self.site.config.max_connections
                && self.oldest_idle().is_none())
        {
            return;
        }
        if let Err(e) = self.register_listeners() {
            self.rt.error(Level::Alert, &format!("cannot resume accepting: {e}"));
            self.accept_paused_until = Some(deadline_after(self.rt.clock.now, ACCEPT_BACKOFF));
        }
    }

    fn on_signals(&mut self) {
        let signals = match self.signals.read_once() {
            Ok(s) => s,
            Err(e) => {
                self.rt.error(Level::Alert, &format!("reading the signal pipe failed: {e}"));
                return;
            }
        };
        let (mut stop, mut hup, mut usr1) = (None, false, false);
        for sig in signals.iter() {
            match sig {
                Signal::Int | Signal::Term | Signal::Quit => stop = Some(sig),
                Signal::Hup => hup = true,
                Signal::Usr1 => usr1 = true,
                Signal::Usr2 => self.rt.error(
                    Level::Notice,
                    "SIGUSR2 received, ignored: Berth has no binary upgrade, restart it instead",
                ),
                Signal::Winch => self.rt.error(
                    Level::Notice,
                    "SIGWINCH received, ignored: Berth has no worker processes to stop",
                ),
                Signal::Chld => self.reap_children(),
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
        self.rt.error(Level::Notice, "SIGUSR1 received, reopening the logs");
        self.rt.log.flush();
        let config = &self.site.config;
        match Log::open(config.access_log.as_deref(), &config.error_log) {
            Ok(log) => {
                self.rt.log = log;
                self.rt.error(Level::Notice, "logs reopened");
            }
            Err(e) => {
                let msg = format!(
                    "cannot reopen the logs, the old ones are kept: {}",
                    config::os_message(&e)
                );
                self.rt.error(Level::Alert, &msg);
            }
        }
        self.rt.log.flush();
    }

    /// Sends `SIGKILL` to the process groups whose grace after `SIGTERM`
    /// is over (a group with nothing left answers ESRCH, ignored).
    fn send_kills(&mut self, now: Instant) {
        self.rt.kills.retain(|&(pgid, at)| {
            if now < at {
                return true;
            }
            let _ = platform::process::killpg(pgid, platform::process::SIGKILL);
            false
        });
    }

    /// At exit (every connection closed, so every script was sent
    /// `SIGTERM`): waits up to the CGI kill grace for the children, then
    /// kills what is left and reaps it, so the server leaves no script
    /// running and no zombie behind.
    fn end_children(&mut self) {
        let give_up = Instant::now() + crate::handlers::cgi::KILL_GRACE;
        self.reap_children();
        while !self.rt.children.is_empty() && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(10));
            self.reap_children();
        }
        for &pid in &self.rt.children {
            let _ = platform::process::killpg(pid, platform::process::SIGKILL);
        }
        self.send_kills(far_future(Instant::now()));
        let give_up = Instant::now() + Duration::from_secs(1);
        while !self.rt.children.is_empty() && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(5));
            self.reap_children();
        }
        if !self.rt.children.is_empty() {
            let msg = format!("{} child processes could not be reaped", self.rt.children.len());
            self.rt.error(Level::Alert, &msg);
        }
    }

    /// Reaps every child process that has exited (`SIGCHLD`), so none is
    /// left a zombie.
    fn reap_children(&mut self) {
        let mut i = 0;
        while let Some(&pid) = self.rt.children.get(i) {
            match platform::process::waitpid_nohang(pid) {
                Ok(None) => i += 1,
                Ok(Some(_)) | Err(_) => {
                    self.rt.children.swap_remove(i);
                }
            }
        }
    }

    /// The oldest connection idle in keep-alive, skipping stale entries.
    fn oldest_idle(&mut self) -> Option<Key> {
        while let Some(&(key, tick)) = self.idle.front() {
            if is_idle_entry(&self.sources, key, tick) {
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
        let now = self.rt.clock.now;
        let warned_lately =
            self.drain_warned.is_some_and(|t| now.duration_since(t) < DRAIN_WARN_INTERVAL);
        if !warned_lately {
            self.drain_warned = Some(now);
            let msg = format!(
                "{} max_connections are not enough, closing idle keep-alive connections",
                self.site.config.max_connections
            );
            self.rt.error(Level::Warn, &msg);
        }
        self.close(key);
        true
    }

    /// SIGHUP: re-reads the configuration file and applies it, or keeps the
    /// running configuration whole and logs why.
    fn reload(&mut self) {
        self.rt.error(Level::Notice, "SIGHUP received, reloading the configuration");
        match self.prepare_reload() {
            Ok((config, log, fresh)) => self.apply_reload(config, log, fresh),
            Err(msg) => {
                self.rt.error(Level::Emerg, &msg);
                self.rt.error(Level::Notice, "reload failed, the running configuration is kept");
            }
        }
        self.rt.log.flush();
    }

    /// Everything a reload can fail at, done before anything changes: the
    /// configuration is loaded, its logs opened and its new addresses bound.
    fn prepare_reload(&self) -> Result<(Config, Log, Vec<Listening>), String> {
        let config = config::load(&self.site.config.file).map_err(|e| e.to_string())?;
        let log = Log::open(config.access_log.as_deref(), &config.error_log)
            .map_err(|e| format!("cannot open a log file: {}", config::os_message(&e)))?;
        let mut fresh = Vec::new();
        for (index, l) in config.listeners.iter().enumerate() {
            if self.site.config.listener_for(l.addr).is_some() {
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
        self.rt.log.flush();
        self.rt.log = log;
        let old = std::mem::replace(&mut self.site, Rc::new(Site::new(config)));

        // Listeners: same address, same socket (its backlog survives).
        self.pause_accept(None);
        for key in std::mem::take(&mut self.listeners) {
            let keep = match self.sources.get_mut(key) {
                Some(Source::Listener(l)) => match self.site.config.listener_for(l.addr) {
                    Some(index) => {
                        l.index = index;
                        let deferred =
                            self.site.config.listeners.get(index).is_some_and(|c| c.deferred);
                        if let Err(e) =
                            platform::net::set_deferred_accept(l.socket.as_fd(), deferred)
                        {
                            let msg =
                                format!("cannot change the deferred accept of {}: {e}", l.addr);
                            self.rt.error(Level::Warn, &msg);
                        }
                        true
                    }
                    None => false,
                },
                _ => false,
            };
            if keep {
                self.listeners.push(key);
            } else {
                self.sources.remove(key);
            }
        }
        for l in fresh {
            if let Err(e) = self.add_listener(l) {
                self.rt.error(Level::Alert, &format!("cannot add a listener: {e}"));
            }
        }

        // Connections: listener indices remapped by address; those whose
        // address is gone finish their current response and close.
        // Deadlines restart with the new timeouts.
        let now = self.rt.clock.now;
        for key in self.sources.keys() {
            let Some(Source::Connection(conn)) = self.sources.get_mut(key) else { continue };
            let addr = old.config.listeners.get(conn.listener()).map(|l| l.addr);
            let index = addr.and_then(|a| self.site.config.listener_for(a));
            let server =
                index.and_then(|i| self.site.config.listeners.get(i)).map(|l| l.default_server);
            conn.remap(index.zip(server));
            if index.is_none() && conn.is_idle() {
                self.close(key);
                continue;
            }
            let Some(Source::Connection(conn)) = self.sources.get_mut(key) else { continue };
            let (phase, _) = conn.deadline_phase();
            let at = phase_timeout(&self.site.config, conn, phase).map(|d| deadline_after(now, d));
            self.timers.schedule(key, &mut conn.timer, at);
        }
        drop(old);
        check_fd_limit(&self.site.config, &mut self.rt);
        for w in &self.site.config.warnings {
            self.rt.error(Level::Warn, &w.to_string());
        }
        let msg = format!("configuration reloaded, listening on {}", urls(&self.local_addrs()));
        self.rt.error(Level::Notice, &msg);
        self.maybe_resume_accept();
    }

    fn begin_shutdown(&mut self, sig: Signal) {
        let now = self.rt.clock.now;
        if self.grace_until.is_some() {
            // A second signal: stop now.
            self.rt.error(Level::Notice, &format!("{sig} received again, stopping now"));
            self.grace_until = Some(now);
            return;
        }
        let msg = format!("{sig} received, graceful shutdown: no longer accepting");
        self.rt.error(Level::Notice, &msg);
        self.rt.shutting_down = true;
        self.grace_until = Some(deadline_after(now, GRACE_PERIOD));
        self.pause_accept(None);
        for key in std::mem::take(&mut self.listeners) {
            self.sources.remove(key);
        }
        for key in self.sources.keys() {
            if let Some(Source::Connection(c)) = self.sources.get(key) {
                if c.is_idle() {
                    self.close(key);
                }
            }
        }
    }
}

/// The reactor as handlers see it: the sources of connection `owner`.
struct Registry<'a, P: Poller> {
    poller: &'a mut P,
    sources: &'a mut Slab<Source>,
    timers: &'a mut Timers,
    owner: Key,
    tick: u64,
}

impl<P: Poller> Registry<'_, P> {
    fn pipe(&mut self, key: Key) -> Option<&mut Pipe> {
        match self.sources.get_mut(key) {
            Some(Source::Pipe(p)) if p.owner == self.owner => Some(p),
            _ => None,
        }
    }
}

impl<P: Poller> Sources for Registry<'_, P> {
    fn register(&mut self, fd: BorrowedFd<'_>, interest: Interest) -> io::Result<Key> {
        let pipe = Pipe {
            owner: self.owner,
            interest: Some(interest),
            reported_tick: 0,
            readable: false,
            writable: false,
            timer: TimerSlot::default(),
        };
        let key = self
            .sources
            .insert(Source::Pipe(pipe))
            .map_err(|_| io::Error::new(ErrorKind::OutOfMemory, "source table full"))?;
        if let Err(e) = self.poller.register(fd, Token(key.to_usize()), interest, Mode::Level) {
            self.sources.remove(key);
            return Err(e);
        }
        Ok(key)
    }

    fn watch(
        &mut self,
        key: Key,
        fd: BorrowedFd<'_>,
        interest: Option<Interest>,
    ) -> io::Result<()> {
        let token = Token(key.to_usize());
        let Some(Source::Pipe(p)) = self.sources.get_mut(key) else {
            return Err(io::Error::new(ErrorKind::NotFound, "no such source"));
        };
        watch_level(self.poller, fd, token, &mut p.interest, interest)
    }

    fn deregister(&mut self, key: Key, fd: BorrowedFd<'_>) {
        if let Some(p) = self.pipe(key) {
            if p.interest.is_some() {
                let _ = self.poller.deregister(fd);
            }
            self.sources.remove(key);
        }
    }

    fn take_readable(&mut self, key: Key) -> bool {
        let tick = self.tick;
        match self.pipe(key) {
            Some(p) if p.reported_tick == tick && p.readable => {
                p.readable = false;
                true
            }
            _ => false,
        }
    }

    fn take_writable(&mut self, key: Key) -> bool {
        let tick = self.tick;
        match self.pipe(key) {
            Some(p) if p.reported_tick == tick && p.writable => {
                p.writable = false;
                true
            }
            _ => false,
        }
    }

    fn set_timer(&mut self, key: Key, at: Option<Instant>) {
        if let Some(Source::Pipe(p)) = self.sources.get_mut(key) {
            if p.owner == self.owner {
                self.timers.schedule(key, &mut p.timer, at);
            }
        }
    }
}

/// What an event means for the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Noted {
    /// The signal pipe is readable.
    Signal,
    /// A listener has connections waiting.
    Listener,
    /// Drive this connection (first report of it, or of one of its pipes,
    /// in this iteration).
    Drive(Key),
    /// Nothing to do: a stale token, or a connection already queued.
    Nothing,
}

/// Notes what event `ev` reported for source `key` in iteration `tick`: on
/// a connection, or on a pipe (where its handler's `take_readable` and
/// `take_writable` find it in this iteration only).
fn note_event(sources: &mut Slab<Source>, key: Key, ev: &poller::Event, tick: u64) -> Noted {
    let (read, write) = (ev.is_readable(), ev.is_writable());
    let closed = ev.is_read_closed() || ev.is_error();
    // A stale token (source gone, slot reused) finds nothing.
    let owner = match sources.get_mut(key) {
        Some(Source::Signal) => return Noted::Signal,
        Some(Source::Listener(_)) => return Noted::Listener,
        Some(Source::Connection(c)) => {
            c.reported.read |= read || closed;
            c.reported.write |= write || ev.is_error();
            c.reported.closed |= closed;
            key
        }
        Some(Source::Pipe(p)) => {
            p.reported_tick = tick;
            p.readable = read || closed;
            p.writable = write || ev.is_error();
            p.owner
        }
        Some(Source::Busy) | None => return Noted::Nothing,
    };
    match sources.get_mut(owner) {
        Some(Source::Connection(c)) if c.scheduled != tick => {
            c.scheduled = tick;
            Noted::Drive(owner)
        }
        _ => Noted::Nothing,
    }
}

/// Brings a level-triggered registration from `current` to `want`
/// (`None`: not registered), with the one poller call that takes.
fn watch_level<P: Poller>(
    poller: &mut P,
    fd: BorrowedFd<'_>,
    token: Token,
    current: &mut Option<Interest>,
    want: Option<Interest>,
) -> io::Result<()> {
    match (*current, want) {
        (old, new) if old == new => return Ok(()),
        (None, Some(i)) => poller.register(fd, token, i, Mode::Level)?,
        (Some(_), Some(i)) => poller.reregister(fd, token, i, Mode::Level)?,
        (Some(_), None) => poller.deregister(fd)?,
        (None, None) => {}
    }
    *current = want;
    Ok(())
}

/// The deadline slot of source `key`, if it has one.
fn timer_slot(sources: &Slab<Source>, key: Key) -> Option<&TimerSlot> {
    match sources.get(key)? {
        Source::Connection(c) => Some(&c.timer),
        Source::Pipe(p) => Some(&p.timer),
        _ => None,
    }
}

fn timer_slot_mut(sources: &mut Slab<Source>, key: Key) -> Option<&mut TimerSlot> {
    match sources.get_mut(key)? {
        Source::Connection(c) => Some(&mut c.timer),
        Source::Pipe(p) => Some(&mut p.timer),
        _ => None,
    }
}

/// An instant past every deadline (for sending every pending kill now).
fn far_future(now: Instant) -> Instant {
    deadline_after(now, config::MAX_DURATION)
}

/// Binds `l`'s address with its options; the error names the address and
/// says what to do about the usual causes.
fn bind(l: &config::Listener) -> io::Result<TcpListener> {
    let opts = platform::net::ListenOptions {
        reuseport: l.reuseport,
        deferred: l.deferred,
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

/// The deadline of `phase` for `conn` under `config`; `None` while a
/// handler works (it keeps its own timers).
fn phase_timeout(config: &Config, conn: &Connection, phase: Phase) -> Option<Duration> {
    let t = config.servers.get(conn.server()).map(|s| &s.timeouts);
    match (phase, t) {
        (Phase::Wait, _) => None,
        (Phase::Linger, _) | (_, None) => Some(LINGER),
        (Phase::Idle, Some(t)) if conn.served_any() => Some(t.keepalive),
        (Phase::Idle | Phase::Header, Some(t)) => Some(t.client_header),
        (Phase::Body, Some(t)) => Some(t.client_body),
        (Phase::Send, Some(t)) => Some(t.send),
    }
}

/// Whether idle-queue entry `(key, tick)` still stands for an idle
/// keep-alive connection (it did nothing since it was queued).
fn is_idle_entry(sources: &Slab<Source>, key: Key, tick: u64) -> bool {
    match sources.get(key) {
        Some(Source::Connection(c)) => c.scheduled == tick && c.served_any() && c.is_idle(),
        _ => false,
    }
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
fn check_fd_limit(config: &Config, rt: &mut Runtime) {
    let wanted = fds_wanted(config.max_connections, config.listeners.len());
    match platform::rlimit::raise_nofile_limit() {
        Ok(n) if usize::try_from(n).unwrap_or(usize::MAX) < wanted => {
            let msg = format!(
                "open file limit {n} is below the {wanted} descriptors max_connections {} may \
                 need ({FDS_PER_CONNECTION} per connection, plus listeners); EMFILE may occur",
                config.max_connections
            );
            rt.error(Level::Warn, &msg);
        }
        Ok(_) => {}
        Err(e) => rt.error(Level::Warn, &format!("cannot raise the open file limit: {e}")),
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

    /// A handler's pipe through the reactor's registry, on a real poller:
    /// reported under its own key, usable once per iteration and only in
    /// the iteration that reported it, unwatched on demand, with a timer,
    /// and gone once deregistered.
    #[test]
    fn pipe_sources_follow_the_io_rule() {
        pipe_sources_on::<poller::DefaultPoller>();
        pipe_sources_on::<poller::Poll>();
    }

    fn pipe_sources_on<P: Poller>() {
        use std::io::Write;
        let mut poller = P::new().unwrap_or_else(|e| panic!("poller: {e}"));
        let mut sources = Slab::default();
        let mut timers = Timers::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0");
        let listener = listener.unwrap_or_else(|e| panic!("bind: {e}"));
        let stream = listener.local_addr().and_then(std::net::TcpStream::connect);
        let stream = stream.unwrap_or_else(|e| panic!("socket: {e}"));
        let peer = stream.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
        let conn = Connection::new(stream, peer, 0, 0, 4096);
        let owner = sources
            .insert(Source::Connection(Box::new(conn)))
            .unwrap_or_else(|_| panic!("slab full"));
        let (read_end, write_end) = platform::fd::pipe().unwrap_or_else(|e| panic!("pipe: {e}"));
        let mut write_end = std::fs::File::from(write_end);
        let mut events = Events::with_capacity(8);

        let mut reg = Registry {
            poller: &mut poller,
            sources: &mut sources,
            timers: &mut timers,
            owner,
            tick: 1,
        };
        let key =
            reg.register(read_end.as_fd(), Interest::READABLE).unwrap_or_else(|e| panic!("{e}"));
        assert!(!reg.take_readable(key), "usable before any report");
        write_end.write_all(b"x").unwrap_or_else(|e| panic!("write: {e}"));
        poller.poll(&mut events, Some(Duration::from_secs(1))).unwrap_or_else(|e| panic!("{e}"));
        let ev = events.iter().next().unwrap_or_else(|| panic!("no event for the pipe"));
        assert_eq!(ev.token(), Token(key.to_usize()));
        assert_eq!(
            note_event(&mut sources, key, ev, 2),
            Noted::Drive(owner),
            "its owner is driven"
        );
        assert_eq!(
            note_event(&mut sources, key, ev, 2),
            Noted::Nothing,
            "driven once per iteration"
        );

        let mut reg = Registry {
            poller: &mut poller,
            sources: &mut sources,
            timers: &mut timers,
            owner,
            tick: 2,
        };
        assert!(reg.take_readable(key), "reported in this iteration");
        assert!(!reg.take_readable(key), "one read per iteration");
        assert!(!reg.take_writable(key), "not reported writable");
        let now = Instant::now();
        reg.set_timer(key, Some(now));
        reg.watch(key, read_end.as_fd(), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(timers.next(), Some(now));

        poller.poll(&mut events, Some(Duration::ZERO)).unwrap_or_else(|e| panic!("{e}"));
        assert!(events.iter().next().is_none(), "an unwatched pipe is not reported");
        let mut reg = Registry {
            poller: &mut poller,
            sources: &mut sources,
            timers: &mut timers,
            owner,
            tick: 3,
        };
        assert!(!reg.take_readable(key), "a report of an earlier iteration is not reused");
        reg.watch(key, read_end.as_fd(), Some(Interest::READABLE))
            .unwrap_or_else(|e| panic!("{e}"));
        reg.deregister(key, read_end.as_fd());
        assert!(sources.get(key).is_none(), "deregistered");
        poller.poll(&mut events, Some(Duration::ZERO)).unwrap_or_else(|e| panic!("{e}"));
        assert!(events.iter().next().is_none(), "no event after deregister");
    }

    #[test]
    fn fds_wanted_saturates() {
        assert_eq!(fds_wanted(10, 2), 10 * FDS_PER_CONNECTION + 2 + RESERVED_FDS);
        assert_eq!(fds_wanted(usize::MAX, 3), usize::MAX);
        assert_eq!(fds_wanted(usize::MAX / 2 + 1, 0), usize::MAX);
        assert_eq!(fds_wanted(usize::MAX - 1, usize::MAX), usize::MAX);
    }
}
