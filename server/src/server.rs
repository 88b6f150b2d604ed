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

use std::io::{self, ErrorKind};
use std::net::TcpListener;
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
/// How long a graceful stop waits for responses in flight.
pub const GRACE_PERIOD: Duration = Duration::from_secs(10);
/// Stale timer reminders tolerated beyond two per connection before the heap
/// is compacted.
const TIMER_SLACK: usize = 1024;
/// Events delivered per poll.
pub const EVENTS_CAPACITY: usize = 1024;

/// `EMFILE` and `ENFILE`: the same numbers on Linux, macOS and the BSDs.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

const SIGNAL_TOKEN: Token = Token(usize::MAX);
const LISTENER_BASE: usize = Key::MAX_TOKEN + 1;

/// One bound listening socket.
#[derive(Debug)]
struct Listening {
    socket: TcpListener,
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
        match platform::rlimit::raise_nofile_limit() {
            Ok(n) if (n as usize) < shared.config.max_connections + 32 => shared.error(
                "warn",
                &format!("open file limit {n} is below max_connections; EMFILE may occur"),
            ),
            Ok(_) => {}
            Err(e) => shared.error("warn", &format!("cannot raise the open file limit: {e}")),
        }
        let mut poller = P::new()?;
        let signals = SignalPipe::install(&[Signal::Int, Signal::Term, Signal::Hup])?;
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
            let opts = platform::net::ListenOptions {
                reuseport: l.reuseport,
                ..platform::net::ListenOptions::default()
            };
            let socket = platform::net::bind_listener(l.addr, &opts)
                .map_err(|e| io::Error::new(e.kind(), format!("bind {}: {e}", l.addr)))?;
            listeners.push(Listening { socket, index });
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
        let addrs: Vec<String> = self.local_addrs().iter().map(ToString::to_string).collect();
        let msg = format!(
            "berth started on {} ({}, pid {})",
            addrs.join(" "),
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
        let now = self.shared.clock.now;
        let (phase, restart) = conn.phase_now();
        if restart {
            let t = self.shared.config.servers.get(conn.server()).map(|s| &s.timeouts);
            let d = match (phase, t) {
                (Phase::Linger, _) => LINGER,
                (_, None) => LINGER,
                (Phase::Idle, Some(t)) if conn.served_any() => t.keepalive,
                (Phase::Idle | Phase::Header, Some(t)) => t.client_header,
                (Phase::Body, Some(t)) => t.client_body,
                (Phase::Send, Some(t)) => t.send,
            };
            let at = Some(after(now, d));
            self.timers.schedule(key, &mut conn.timer, at);
        }
        if self.timers.len() > 2 * self.conns.len() + TIMER_SLACK {
            let conns = &self.conns;
            self.timers.retain(|k, at| conns.get(k).is_some_and(|c| c.timer.is_queued_at(at)));
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
            if self.conns.len() >= self.shared.config.max_connections {
                // Stop listening until a connection closes.
                self.pause_accept(None);
                return;
            }
            let Some(l) = self.listeners.get(which) else { return };
            match platform::net::accept4(&l.socket) {
                Ok((stream, peer)) => {
                    let index = l.index;
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
                    self.shared.error("crit", &format!("accept() failed: {e}; pausing accept"));
                    let until = after(self.shared.clock.now, ACCEPT_BACKOFF);
                    self.pause_accept(Some(until));
                    return;
                }
                Err(e) => {
                    self.shared.error("error", &format!("accept() failed: {e}"));
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
            || self.conns.len() >= self.shared.config.max_connections
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
        for sig in signals {
            match sig {
                Signal::Int | Signal::Term => self.begin_shutdown(),
                Signal::Hup => self
                    .shared
                    .error("notice", "SIGHUP received; configuration reload is not supported yet"),
                _ => {}
            }
        }
    }

    fn begin_shutdown(&mut self) {
        let now = self.shared.clock.now;
        if self.grace_until.is_some() {
            // A second signal: stop now.
            self.grace_until = Some(now);
            return;
        }
        self.shared.error("notice", "graceful shutdown: no longer accepting");
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
