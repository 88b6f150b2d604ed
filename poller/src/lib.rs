//! A small readiness event loop: one [`Poller`] trait over epoll, kqueue and poll(2).
//!
//! `poller` tells you which file descriptors are ready to read or write. It does
//! not read or write them for you, does not own them, and has no timers, tasks or
//! futures: it is the bottom layer an event loop is built on (like `mio` or
//! `polling`), with one written contract that every backend is tested against.
//!
//! Backends: [`Epoll`] (Linux, Android), [`Kqueue`] (macOS, iOS, FreeBSD,
//! OpenBSD, NetBSD, DragonFly) and [`Poll`] (every Unix). [`DefaultPoller`] is
//! the best one for the target; building with `--cfg poller_force_poll` makes
//! it [`Poll`].
// The contract, backend files and docs are filled in by the poller work.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

/// A caller-chosen value reported back with every event of a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub usize);

/// Which readiness a registration asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest {
    readable: bool,
    writable: bool,
}

impl Interest {
    /// Readable readiness only.
    pub const READABLE: Interest = Interest { readable: true, writable: false };
    /// Writable readiness only.
    pub const WRITABLE: Interest = Interest { readable: false, writable: true };
    /// Both readable and writable readiness.
    pub const BOTH: Interest = Interest { readable: true, writable: true };

    /// Whether readable readiness is asked for.
    pub const fn is_readable(self) -> bool {
        self.readable
    }

    /// Whether writable readiness is asked for.
    pub const fn is_writable(self) -> bool {
        self.writable
    }
}

/// How a registration reports readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Reported on every `poll` while the fd is ready.
    Level,
    /// Reported once per change to ready; the caller must drain to `WouldBlock`.
    Edge,
}

/// One readiness report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    token: Token,
    readable: bool,
    writable: bool,
    read_closed: bool,
    error: bool,
}

impl Event {
    /// The token given at registration.
    pub const fn token(&self) -> Token {
        self.token
    }
    /// Data (or EOF) can be read without blocking.
    pub const fn is_readable(&self) -> bool {
        self.readable
    }
    /// Data can be written without blocking.
    pub const fn is_writable(&self) -> bool {
        self.writable
    }
    /// The peer closed its write side (HUP, RDHUP, EV_EOF); buffered data may remain.
    pub const fn is_read_closed(&self) -> bool {
        self.read_closed
    }
    /// The fd reported an error (EPOLLERR, POLLERR, EV_ERROR or a reset).
    pub const fn is_error(&self) -> bool {
        self.error
    }
}

/// A preallocated buffer of events filled by [`Poller::poll`].
#[derive(Debug)]
pub struct Events {
    list: Vec<Event>,
    capacity: usize,
}

impl Events {
    /// A buffer that receives at most `capacity` events per `poll` (at least one).
    pub fn with_capacity(capacity: usize) -> Events {
        let capacity = capacity.max(1);
        Events { list: Vec::with_capacity(capacity), capacity }
    }
    /// How many events one `poll` can deliver.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// How many events the last `poll` delivered.
    pub fn len(&self) -> usize {
        self.list.len()
    }
    /// Whether the last `poll` delivered no event.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    /// The events of the last `poll`.
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.list.iter()
    }
}

/// The contract every backend implements; see the crate docs.
pub trait Poller: Sized {
    /// The backend's name: `"epoll"`, `"kqueue"` or `"poll"`.
    const NAME: &'static str;
    /// Creates a poller with no registrations.
    fn new() -> io::Result<Self>;
    /// Starts reporting readiness of `fd` under `token`.
    fn register(&mut self, fd: BorrowedFd<'_>, token: Token, interest: Interest, mode: Mode) -> io::Result<()>;
    /// Replaces the token, interest and mode of a registered `fd`.
    fn reregister(&mut self, fd: BorrowedFd<'_>, token: Token, interest: Interest, mode: Mode) -> io::Result<()>;
    /// Stops reporting `fd`.
    fn deregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()>;
    /// Waits for events, at most `timeout` (`None` waits forever).
    fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()>;
}
