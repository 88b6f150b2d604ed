//! A small readiness event loop: one [`Poller`] trait over epoll, kqueue and poll(2).
//!
//! `poller` tells you which file descriptors are ready to read or write. It does
//! not read or write them for you, does not own them, and has no timers, tasks or
//! futures: it is the bottom layer an event loop is built on (like `mio` or
//! `polling`), with one written contract that every backend is tested against.
//!
//! Backends: `Epoll` (Linux, Android), `Kqueue` (macOS and Apple's other
//! systems, FreeBSD, OpenBSD, NetBSD, DragonFly) and [`Poll`] (every Unix).
//! [`DefaultPoller`] is the best one for the target; building with
//! `--cfg poller_force_poll` makes it [`Poll`]. Every backend compiled for a
//! target can be named, so a program can pick one at run time and stay
//! statically dispatched (`fn run<P: Poller>()`).
//!
//! To test the kqueue backend on Linux, `--cfg poller_libkqueue` compiles
//! `Kqueue` there too, over libkqueue (the kqueue API emulated over epoll),
//! linked statically from `$LIBKQUEUE_PREFIX/lib/libkqueue.a`; `DefaultPoller`
//! stays `Epoll`. It is a test device: a normal build neither needs nor links
//! libkqueue. The build script, which holds the one list of kqueue systems,
//! sets `poller_epoll` and `poller_kqueue` for the backends compiled, and passes
//! them to dependents' build scripts as `DEP_POLLER_CFGS`.
//!
//! # The contract
//!
//! Every backend guarantees the following; `tests/conformance.rs` holds each
//! backend to it.
//!
//! **Registrations** are keyed by file descriptor. The caller keeps ownership of
//! the fd and must keep it open while it is registered.
//! - [`register`](Poller::register) of an fd that is already registered fails with
//!   [`ErrorKind::AlreadyExists`](io::ErrorKind::AlreadyExists).
//! - [`reregister`](Poller::reregister) replaces token, interest and mode at once;
//!   it and [`deregister`](Poller::deregister) fail with
//!   [`ErrorKind::NotFound`](io::ErrorKind::NotFound) for an fd that is not registered.
//!   A `reregister` in [`Mode::Edge`] re-arms: what is ready then is reported
//!   by the next `poll` even if it was reported before (`EPOLL_CTL_MOD`).
//! - After `deregister` returns, no event for that fd is ever delivered.
//! - **Deregister before closing.** Closing a registered fd does not break the
//!   poller: no error, no panic, other registrations keep working, and no event
//!   comes for the closed fd. kqueue forgets the registration at the close,
//!   epoll when the last fd of that open file is closed (a `dup` keeps it, and
//!   its events, alive); [`Poll`] drops it silently at its next `poll` (`POLLNVAL`) and until
//!   then still counts the fd number as registered. What `reregister` or
//!   `deregister` do with a number that was closed and reused without a
//!   `deregister` is unspecified. The kernel reuses fd numbers at once: callers
//!   that reuse tokens should put a generation in them.
//! - [`deregister_and_close`](Poller::deregister_and_close) does both in one
//!   call, and on epoll in one system call (`close(2)` alone), for an fd that
//!   is its open file's only descriptor.
//! - A registration that the OS cannot watch fails at `register`: regular files and
//!   directories on epoll give [`ErrorKind::Unsupported`](io::ErrorKind::Unsupported)
//!   (epoll's `EPERM`; they are always ready, read them directly). kqueue and
//!   poll(2) accept them and report them ready.
//!
//! **Events.** One [`poll`](Poller::poll) delivers at most
//! [`Events::capacity`] events and at most one [`Event`] per fd (kqueue's
//! separate read and write filters are merged). An event says:
//! - [`is_readable`](Event::is_readable): a read will not block (data, EOF or an
//!   error is waiting);
//! - [`is_writable`](Event::is_writable): a write will not block;
//! - [`is_read_closed`](Event::is_read_closed): the peer will send no more
//!   (epoll `EPOLLRDHUP`/`EPOLLHUP`, poll `POLLHUP`/`POLLRDHUP`, kqueue `EV_EOF`).
//!   Data sent before the close may still be buffered: read until a read returns 0;
//! - [`is_error`](Event::is_error): the fd has a pending error, such as a
//!   connection reset (epoll `EPOLLERR`, poll `POLLERR`, kqueue `EV_EOF` with an
//!   errno in `fflags`). The next read or write returns it.
//!
//! Error and hang-up are reported whatever the interest on epoll and poll(2);
//! kqueue reports them only through the filters asked for (a reset on a
//! write-only registration is `writable + error`). When more fds are ready than
//! the buffer holds, the next `poll` delivers the rest (no fd is starved).
//!
//! **Modes.** [`Mode::Level`] reports an fd on every `poll` while it is ready.
//! [`Mode::Edge`] reports it once per change to ready (`EPOLLET`, `EV_CLEAR`);
//! the caller must then read or write until `WouldBlock`. [`Poll`] answers
//! `Edge` with [`ErrorKind::Unsupported`](io::ErrorKind::Unsupported): check
//! [`Poller::SUPPORTS_EDGE`].
//!
//! **Timeouts.** `None` waits until an event arrives. `Some(Duration::ZERO)`
//! checks and returns at once. Any other timeout is rounded **up** to whole
//! milliseconds (a 1 µs timeout sleeps 1 ms, never a busy loop). A signal that
//! interrupts the wait (`EINTR`) does not end it early: the wait is resumed with
//! the time that remains. `poll` may return with no event when the timeout ends.
//!
//! **Waker.** [`Poller::waker`] gives a [`Waker`] (eventfd on Linux and Android,
//! `EVFILT_USER` on kqueue, a non-blocking pipe on poll(2)) that any thread, or a
//! signal handler, can use to end a blocked `poll`. It shows up as one readable
//! event with the waker's token; many wakes before a `poll` coalesce into one
//! event; the poller drains it itself.
//!
//! **Threads.** Every backend is `Send + Sync`: a poller can be created on one
//! thread and used on another, but its methods take `&mut self` (no internal
//! locking). Only the [`Waker`] is meant to be shared.
//!
//! **Allocation.** `poll` never allocates once the backend's raw buffer has been
//! sized for the [`Events`] it is given (on the first `poll` with that capacity).
//! `register` may allocate (the fd tables of kqueue and poll(2) grow).
//!
//! # Examples
//!
//! ```
//! use std::io::Write;
//! use std::os::fd::AsFd;
//! use std::os::unix::net::UnixStream;
//! use std::time::Duration;
//! use poller::{DefaultPoller, Events, Interest, Mode, Poller, Token};
//!
//! let (mut ours, theirs) = UnixStream::pair()?;
//! theirs.set_nonblocking(true)?;
//! let mut poller = DefaultPoller::new()?;
//! poller.register(theirs.as_fd(), Token(7), Interest::READABLE, Mode::Level)?;
//!
//! let mut events = Events::with_capacity(16);
//! poller.poll(&mut events, Some(Duration::ZERO))?;
//! assert!(events.is_empty(), "nothing written yet");
//!
//! ours.write_all(b"ping")?;
//! poller.poll(&mut events, Some(Duration::from_secs(5)))?;
//! let event = events.iter().next().expect("one event");
//! assert_eq!(event.token(), Token(7));
//! assert!(event.is_readable() && !event.is_read_closed());
//!
//! poller.deregister(theirs.as_fd())?;
//! # Ok::<(), std::io::Error>(())
//! ```

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs a libc call and turns its `-1` into `io::Error::last_os_error()`.
///
/// The caller writes the `unsafe` block (with its `// SAFETY:` line) inside the
/// macro: `syscall!(unsafe { libc::close(fd) })`.
macro_rules! syscall {
    ($call:expr) => {{
        let res = $call;
        if res == -1 {
            Err(::std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

// `poller_epoll` and `poller_kqueue` say which backends this target has; the
// build script sets them (it holds the one list of kqueue systems).
#[cfg(poller_epoll)]
mod epoll;
#[cfg(poller_epoll)]
pub use epoll::Epoll;

#[cfg(poller_kqueue)]
mod kqueue;
#[cfg(poller_kqueue)]
pub use kqueue::Kqueue;
#[cfg(poller_libkqueue)]
mod libkqueue;

#[cfg(unix)]
mod pipe;
#[cfg(unix)]
mod poll;
#[cfg(unix)]
pub use poll::Poll;

cfg_if::cfg_if! {
    if #[cfg(all(unix, poller_force_poll))] {
        /// The backend for this target: [`Poll`] (forced by `--cfg poller_force_poll`).
        pub type DefaultPoller = Poll;
    } else if #[cfg(poller_epoll)] {
        /// The backend for this target: [`Epoll`].
        pub type DefaultPoller = Epoll;
    } else if #[cfg(poller_kqueue)] {
        /// The backend for this target: [`Kqueue`].
        pub type DefaultPoller = Kqueue;
    } else if #[cfg(unix)] {
        /// The backend for this target: [`Poll`].
        pub type DefaultPoller = Poll;
    } else {
        compile_error!("poller supports Unix targets only (epoll, kqueue or poll(2))");
    }
}

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

    /// Both interests together (also `self | other`).
    ///
    /// ```
    /// use poller::Interest;
    /// assert_eq!(Interest::READABLE.add(Interest::WRITABLE), Interest::BOTH);
    /// assert_eq!(Interest::WRITABLE | Interest::WRITABLE, Interest::WRITABLE);
    /// ```
    pub const fn add(self, other: Interest) -> Interest {
        Interest {
            readable: self.readable || other.readable,
            writable: self.writable || other.writable,
        }
    }
}

impl std::ops::BitOr for Interest {
    type Output = Interest;

    fn bitor(self, other: Interest) -> Interest {
        self.add(other)
    }
}

/// How a registration reports readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Reported on every `poll` while the fd is ready.
    Level,
    /// Reported once per change to ready; the caller must drain to `WouldBlock`.
    /// Not supported by [`Poll`] (see [`Poller::SUPPORTS_EDGE`]).
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
    /// The fd reported an error (EPOLLERR, POLLERR, kqueue EV_EOF with an errno).
    pub const fn is_error(&self) -> bool {
        self.error
    }

    /// An event for `token` with no readiness set yet.
    pub(crate) const fn new(token: Token) -> Event {
        Event { token, readable: false, writable: false, read_closed: false, error: false }
    }

    /// Adds the readiness of `other` (same fd, another kqueue filter) to this event.
    #[cfg_attr(not(poller_kqueue), allow(dead_code))]
    pub(crate) fn merge(&mut self, other: Event) {
        self.readable |= other.readable;
        self.writable |= other.writable;
        self.read_closed |= other.read_closed;
        self.error |= other.error;
    }
}

/// A preallocated buffer of events filled by [`Poller::poll`].
///
/// The buffer is allocated once, here; `poll` clears and refills it without
/// allocating.
#[derive(Debug)]
pub struct Events {
    list: Vec<Event>,
    capacity: usize,
}

impl Events {
    /// A buffer that receives at most `capacity` events per `poll` (at least one).
    pub fn with_capacity(capacity: usize) -> Events {
        // The raw kernel buffers are indexed with a C int.
        let capacity = capacity.clamp(1, MAX_EVENTS);
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
    /// Forgets the events of the last `poll` (keeps the allocation).
    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// Whether no more events fit.
    pub(crate) fn is_full(&self) -> bool {
        self.list.len() >= self.capacity
    }

    /// Appends an event; backends never offer more than `capacity` of them, so
    /// this never reallocates.
    pub(crate) fn push(&mut self, event: Event) {
        debug_assert!(!self.is_full(), "backend delivered more events than the capacity");
        if !self.is_full() {
            self.list.push(event);
        }
    }

    /// The event at `index` of this `poll`, to merge another filter's readiness into.
    #[cfg_attr(not(poller_kqueue), allow(dead_code))]
    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut Event> {
        self.list.get_mut(index)
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The largest [`Events::capacity`]: the kernel interfaces count events in a C `int`.
pub const MAX_EVENTS: usize = 1 << 20;

/// Ends a blocked [`Poller::poll`] from another thread or a signal handler.
///
/// Obtained from [`Poller::waker`]. Cloning is cheap (a reference count); all
/// clones wake the same poller. A waker outliving its poller is harmless: its
/// wakes go nowhere.
#[derive(Clone)]
pub struct Waker {
    inner: Arc<dyn Wake>,
}

impl Waker {
    /// Makes the poller report one readable event with the waker's token.
    ///
    /// Many wakes before the poller runs coalesce into one event. This is
    /// async-signal-safe: it allocates nothing, takes no lock and makes one
    /// system call (`write(2)` on an eventfd or a pipe, `kevent(2)` with
    /// `NOTE_TRIGGER`), retried on `EINTR`. It may change `errno`; a signal
    /// handler that cares should save and restore it.
    ///
    /// # Errors
    ///
    /// The OS error of that call. A full pipe or saturated counter is not an
    /// error: a wake is then already pending.
    pub fn wake(&self) -> io::Result<()> {
        self.inner.wake()
    }

    pub(crate) fn new(inner: Arc<dyn Wake>) -> Waker {
        Waker { inner }
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker").field("inner", &self.inner).finish()
    }
}

/// What a backend's waker does when woken. Sealed: only the backends implement it.
pub(crate) trait Wake: Send + Sync + fmt::Debug {
    /// Signals the poller; async-signal-safe.
    fn wake(&self) -> io::Result<()>;
}

/// The contract every backend implements; see the crate docs.
///
/// A program written against this trait runs on every backend unchanged; pick
/// one with a type parameter (`Server<P: Poller>`) or use [`DefaultPoller`].
pub trait Poller: Sized {
    /// The backend's name: `"epoll"`, `"kqueue"` or `"poll"`.
    const NAME: &'static str;

    /// Whether [`Mode::Edge`] registrations are supported (`false` for [`Poll`]).
    const SUPPORTS_EDGE: bool;

    /// Creates a poller with no registrations.
    ///
    /// # Errors
    ///
    /// The OS error of `epoll_create1(2)` or `kqueue(2)` (e.g. `EMFILE`).
    fn new() -> io::Result<Self>;

    /// Starts reporting readiness of `fd` under `token`.
    ///
    /// The fd should be non-blocking (the poller does not change it).
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if `fd` is registered; `Unsupported` for [`Mode::Edge`] on
    /// a backend without it, or for a regular file or directory on epoll;
    /// `BrokenPipe` on kqueue for write interest on a pipe whose reader is gone
    /// (FreeBSD attaches no write filter then); else the OS error.
    fn register(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()>;

    /// Replaces the token, interest and mode of a registered `fd`.
    ///
    /// In [`Mode::Edge`] this re-arms the registration: readiness that is there
    /// now is reported by the next `poll`, even if it was reported already.
    ///
    /// # Errors
    ///
    /// `NotFound` if `fd` is not registered; `Unsupported` for [`Mode::Edge`] on a
    /// backend without it; else the OS error. On kqueue a `reregister` that fails
    /// after the kernel applied part of it leaves the fd unregistered rather than
    /// half-changed.
    fn reregister(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()>;

    /// Stops reporting `fd`; no event for it is delivered afterwards.
    ///
    /// # Errors
    ///
    /// `NotFound` if `fd` is not registered; else the OS error.
    fn deregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()>;

    /// Deregisters `fd` and closes it: no event for it is delivered
    /// afterwards, and the descriptor is closed even when deregistering fails.
    ///
    /// On epoll this is one `close(2)`: the kernel drops a registration when
    /// the last descriptor of its open file closes, so the `EPOLL_CTL_DEL`
    /// that [`Poller::deregister`] makes is saved (a server closing a
    /// connection per request saves one system call each). That holds only
    /// while `fd` is the open file's one descriptor: after a `dup`, or in a
    /// child that inherited it without `O_CLOEXEC`, call
    /// [`Poller::deregister`] first. Other backends deregister, then close.
    ///
    /// # Errors
    ///
    /// As [`Poller::deregister`] (the fd is closed all the same).
    fn deregister_and_close(&mut self, fd: OwnedFd) -> io::Result<()> {
        let result = self.deregister(fd.as_fd());
        drop(fd);
        result
    }

    /// Waits for events, at most `timeout` (`None` waits forever), and puts them
    /// in `events` (cleared first).
    ///
    /// The timeout is rounded up to whole milliseconds; zero returns at once;
    /// `EINTR` resumes the wait with the remaining time. Allocates nothing once
    /// the backend has seen an `Events` of this capacity.
    ///
    /// # Errors
    ///
    /// The OS error of the wait (`EINTR` is never returned).
    fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()>;

    /// Returns the poller's [`Waker`], reported as a readable event with `token`.
    ///
    /// The first call creates it; later calls with the same token return a clone.
    /// Give it a token that no registration uses.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the waker was created with another token; else the OS
    /// error of creating it.
    fn waker(&mut self, token: Token) -> io::Result<Waker>;
}

/// The error of registering an fd twice, the same text on every backend.
pub(crate) fn already_registered() -> io::Error {
    io::Error::new(io::ErrorKind::AlreadyExists, "fd is already registered")
}

/// The error of touching an fd that is not registered, the same on every backend.
pub(crate) fn not_registered() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "fd is not registered")
}

/// The error of an fd number that cannot index the fd tables.
pub(crate) fn bad_fd() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "fd is negative")
}

/// The existing waker if `token` matches the one it was made with.
pub(crate) fn existing_waker(
    existing: Option<&(Token, Waker)>,
    token: Token,
) -> Option<io::Result<Waker>> {
    existing.map(|(made_with, waker)| {
        if *made_with == token {
            Ok(waker.clone())
        } else {
            Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the poller already has a waker with another token",
            ))
        }
    })
}

/// Retries `f` while it fails with `EINTR`.
pub(crate) fn retry_on_eintr<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// A timeout in whole milliseconds for a C wait call: `-1` forever, else rounded
/// up and capped at `c_int::MAX`.
fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => {
            let mut ms = t.as_millis();
            if t.subsec_nanos() % 1_000_000 != 0 {
                ms += 1;
            }
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}

/// Runs `wait(ms)` (a C wait call taking milliseconds, `-1` = forever) until it
/// reports events or `timeout` has passed.
///
/// `EINTR` resumes the wait with the remaining time, rounded up. A timeout longer
/// than `c_int::MAX` ms is waited in several calls. Returns how many events
/// `wait` reported (0 when the time is up).
pub(crate) fn wait_with_timeout(
    timeout: Option<Duration>,
    mut wait: impl FnMut(libc::c_int) -> io::Result<usize>,
) -> io::Result<usize> {
    // The deadline is only needed when a wait is cut short; a zero or infinite
    // timeout needs no clock at all.
    let deadline = match timeout {
        Some(t) if !t.is_zero() => Some(Instant::now().checked_add(t)),
        _ => None,
    };
    let mut ms = timeout_ms(timeout);
    loop {
        match wait(ms) {
            Ok(0) => match deadline {
                // A capped wait ended before the real deadline: keep waiting.
                Some(Some(deadline)) if ms == libc::c_int::MAX => {
                    match deadline.checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => ms = timeout_ms(Some(left)),
                        _ => return Ok(0),
                    }
                }
                _ => return Ok(0),
            },
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => match deadline {
                None => {}
                // Past `Instant`'s range: as good as forever.
                Some(None) => {}
                Some(Some(deadline)) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => ms = timeout_ms(Some(left)),
                    _ => return Ok(0),
                },
            },
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        let cases: &[(Option<Duration>, libc::c_int)] = &[
            (None, -1),
            (Some(Duration::ZERO), 0),
            (Some(Duration::from_nanos(1)), 1),
            (Some(Duration::from_micros(999)), 1),
            (Some(Duration::from_millis(1)), 1),
            (Some(Duration::from_micros(1001)), 2),
            (Some(Duration::from_millis(20)), 20),
            (Some(Duration::new(3, 500_000)), 3001),
            (Some(Duration::from_secs(u64::MAX)), libc::c_int::MAX),
        ];
        for &(timeout, want) in cases {
            assert_eq!(timeout_ms(timeout), want, "timeout {timeout:?}");
        }
    }

    #[test]
    fn eintr_resumes_with_the_remaining_time() {
        let mut calls = Vec::new();
        let n = wait_with_timeout(Some(Duration::from_millis(50)), |ms| {
            calls.push(ms);
            if calls.len() < 3 {
                Err(io::Error::from_raw_os_error(libc::EINTR))
            } else {
                Ok(0)
            }
        })
        .unwrap();
        assert_eq!(n, 0);
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0], 50);
        assert!(calls[1] <= 50 && calls[1] > 0, "{calls:?}");
        assert!(calls[2] <= calls[1], "{calls:?}");
    }

    #[test]
    fn eintr_after_the_deadline_returns_no_events() {
        let mut calls = 0;
        let n = wait_with_timeout(Some(Duration::from_millis(1)), |_| {
            calls += 1;
            std::thread::sleep(Duration::from_millis(3));
            Err(io::Error::from_raw_os_error(libc::EINTR))
        })
        .unwrap();
        assert_eq!((n, calls), (0, 1));
    }

    #[test]
    fn other_errors_pass_through() {
        let err = wait_with_timeout(None, |_| Err(io::Error::from_raw_os_error(libc::EBADF)))
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn infinite_wait_survives_eintr() {
        let mut calls = 0;
        let n = wait_with_timeout(None, |ms| {
            assert_eq!(ms, -1);
            calls += 1;
            if calls < 4 {
                Err(io::Error::from_raw_os_error(libc::EINTR))
            } else {
                Ok(2)
            }
        })
        .unwrap();
        assert_eq!((n, calls), (2, 4));
    }

    #[test]
    fn events_capacity_is_at_least_one_and_capped() {
        assert_eq!(Events::with_capacity(0).capacity(), 1);
        assert_eq!(Events::with_capacity(usize::MAX).capacity(), MAX_EVENTS);
        let mut events = Events::with_capacity(2);
        events.push(Event::new(Token(1)));
        events.push(Event::new(Token(2)));
        assert!(events.is_full());
        assert_eq!(events.iter().map(|e| e.token()).collect::<Vec<_>>(), [Token(1), Token(2)]);
        events.clear();
        assert!(events.is_empty());
    }

    #[test]
    fn interest_constants() {
        assert!(Interest::READABLE.is_readable() && !Interest::READABLE.is_writable());
        assert!(!Interest::WRITABLE.is_readable() && Interest::WRITABLE.is_writable());
        assert!(Interest::BOTH.is_readable() && Interest::BOTH.is_writable());
    }
}
