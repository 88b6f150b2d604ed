//! The poll(2) backend (every Unix).
//!
//! A `Vec<libc::pollfd>` is handed to the kernel as is, with a parallel vector of
//! tokens and an fd -> slot table for O(1) register/reregister/deregister
//! (removal is a `swap_remove`). The scan for ready slots starts where the last
//! full buffer stopped, so a small `Events` never starves the fds at the end.
//! poll(2) has no edge mode: `Mode::Edge` is refused with `Unsupported`.
//!
//! An fd closed without `deregister` makes poll(2) answer `POLLNVAL` for its slot:
//! that slot is dropped silently (no event, no error), which also frees its fd
//! number for a new registration.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use crate::pipe::Pipe;
use crate::{Event, Events, Interest, Mode, Poller, Token, Waker};

/// The poll(2) backend: every Unix, level-triggered only.
///
/// [`Mode::Edge`] gives `Unsupported`. Each `poll` hands the kernel the whole
/// registration list, so it costs O(registered fds), unlike epoll and kqueue. See
/// the crate docs for the contract.
pub struct Poll {
    /// What the kernel sees, one entry per registration (and the waker's pipe).
    fds: Vec<libc::pollfd>,
    /// `slots[i]` describes `fds[i]`.
    slots: Vec<Slot>,
    /// fd number -> index in `fds`, `NO_SLOT` when not registered.
    index: Vec<usize>,
    /// Where the next scan for ready slots starts.
    cursor: usize,
    waker: Option<(Token, Waker)>,
    /// The waker's pipe (its read end is one of `fds`).
    pipe: Option<Arc<Pipe>>,
}

/// What a slot of `fds` is.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The registered fd's number (kept even when poll(2) calls it invalid).
    fd: RawFd,
    token: Token,
    /// The waker's read end: drained by the poller.
    is_waker: bool,
    /// poll(2) said `POLLNVAL` (closed without deregister): to be removed.
    is_dead: bool,
}

const NO_SLOT: usize = usize::MAX;

impl Poller for Poll {
    const NAME: &'static str = "poll";
    const SUPPORTS_EDGE: bool = false;

    fn new() -> io::Result<Poll> {
        Ok(Poll {
            fds: Vec::new(),
            slots: Vec::new(),
            index: Vec::new(),
            cursor: 0,
            waker: None,
            pipe: None,
        })
    }

    fn register(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        check_mode(mode)?;
        let fd = fd.as_raw_fd();
        self.insert(Slot { fd, token, is_waker: false, is_dead: false }, interest)
    }

    fn reregister(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        check_mode(mode)?;
        let i = self.slot_of(fd.as_raw_fd()).ok_or_else(crate::not_registered)?;
        let (Some(pollfd), Some(slot)) = (self.fds.get_mut(i), self.slots.get_mut(i)) else {
            return Err(crate::not_registered());
        };
        pollfd.events = poll_flags(interest);
        pollfd.revents = 0;
        slot.token = token;
        Ok(())
    }

    fn deregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let i = self.slot_of(fd.as_raw_fd()).ok_or_else(crate::not_registered)?;
        self.remove(i);
        Ok(())
    }

    fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        let fds = &mut self.fds;
        // `nfds_t` is at least as wide as the number of fds a process may open.
        let nfds = fds.len() as libc::nfds_t;
        let mut ready = crate::wait_with_timeout(timeout, |ms| {
            // SAFETY: `fds` is valid for reads and writes of `nfds` pollfds for
            // the whole call (an empty vector with nfds 0 is allowed).
            let n = syscall!(unsafe { libc::poll(fds.as_mut_ptr(), nfds, ms) })?;
            Ok(usize::try_from(n).unwrap_or(0))
        })?;
        let len = self.fds.len();
        let mut dead = false;
        let mut i = if self.cursor < len { self.cursor } else { 0 };
        let mut scanned = 0;
        while ready > 0 && scanned < len && !events.is_full() {
            let (Some(pollfd), Some(slot)) = (self.fds.get_mut(i), self.slots.get_mut(i)) else {
                break;
            };
            let revents = pollfd.revents;
            pollfd.revents = 0;
            if revents != 0 {
                ready -= 1;
                if revents & libc::POLLNVAL != 0 {
                    // Closed without deregister: drop it silently (see module docs).
                    slot.is_dead = true;
                    dead = true;
                } else {
                    if slot.is_waker {
                        if let Some(pipe) = &self.pipe {
                            pipe.drain()?;
                        }
                    }
                    events.push(event(slot.token, revents));
                    self.cursor = i + 1;
                }
            }
            scanned += 1;
            i = if i + 1 < len { i + 1 } else { 0 };
        }
        if dead {
            self.remove_dead();
        }
        Ok(())
    }

    fn waker(&mut self, token: Token) -> io::Result<Waker> {
        if let Some(existing) = crate::existing_waker(self.waker.as_ref(), token) {
            return existing;
        }
        let pipe = Arc::new(Pipe::new()?);
        let slot = Slot { fd: pipe.read_fd(), token, is_waker: true, is_dead: false };
        self.insert(slot, Interest::READABLE)?;
        let waker = Waker::new(pipe.clone());
        self.pipe = Some(pipe);
        self.waker = Some((token, waker.clone()));
        Ok(waker)
    }
}

impl Poll {
    /// The slot index of a registered fd.
    fn slot_of(&self, fd: RawFd) -> Option<usize> {
        let i = *self.index.get(usize::try_from(fd).ok()?)?;
        (i != NO_SLOT).then_some(i)
    }

    /// Adds a slot, refusing an fd that is already there.
    fn insert(&mut self, slot: Slot, interest: Interest) -> io::Result<()> {
        let at = usize::try_from(slot.fd).map_err(|_| crate::bad_fd())?;
        if self.slot_of(slot.fd).is_some() {
            return Err(crate::already_registered());
        }
        if self.index.len() <= at {
            self.index.resize(at + 1, NO_SLOT);
        }
        let i = self.fds.len();
        self.fds.push(libc::pollfd { fd: slot.fd, events: poll_flags(interest), revents: 0 });
        self.slots.push(slot);
        self.set_index(slot.fd, i);
        Ok(())
    }

    /// Removes slot `i`, moving the last slot into its place.
    fn remove(&mut self, i: usize) {
        if i >= self.slots.len() {
            return;
        }
        self.fds.swap_remove(i);
        let gone = self.slots.swap_remove(i);
        self.set_index(gone.fd, NO_SLOT);
        if let Some(moved) = self.slots.get(i) {
            self.set_index(moved.fd, i);
        }
    }

    /// Removes every slot poll(2) reported as `POLLNVAL`.
    fn remove_dead(&mut self) {
        // From the end: `remove` only moves slots that were already checked.
        for i in (0..self.slots.len()).rev() {
            if self.slots.get(i).is_some_and(|slot| slot.is_dead) {
                self.remove(i);
            }
        }
        if self.cursor >= self.slots.len() {
            self.cursor = 0;
        }
    }

    /// Points fd number `fd` at slot `i` (or `NO_SLOT`).
    fn set_index(&mut self, fd: RawFd, i: usize) {
        if let Some(entry) = usize::try_from(fd).ok().and_then(|at| self.index.get_mut(at)) {
            *entry = i;
        }
    }
}

impl fmt::Debug for Poll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poll")
            .field("registered", &self.slots.len())
            .field("cursor", &self.cursor)
            .field("waker", &self.waker)
            .finish()
    }
}

/// poll(2) has no edge mode.
fn check_mode(mode: Mode) -> io::Result<()> {
    match mode {
        Mode::Level => Ok(()),
        Mode::Edge => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "poll(2) has no edge-triggered mode, register with Mode::Level",
        )),
    }
}

cfg_if::cfg_if! {
    if #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "illumos",
    ))] {
        /// Peer half-close: only these systems report it apart from data.
        const POLLRDHUP: libc::c_short = libc::POLLRDHUP;
    } else {
        /// Peer half-close: not reported by this system's poll(2) (read returns 0).
        const POLLRDHUP: libc::c_short = 0;
    }
}

/// The poll(2) flags for a registration (HUP, ERR and NVAL always come back).
fn poll_flags(interest: Interest) -> libc::c_short {
    let mut bits = 0;
    if interest.is_readable() {
        bits |= libc::POLLIN | POLLRDHUP;
    }
    if interest.is_writable() {
        bits |= libc::POLLOUT;
    }
    bits
}

/// The event for one slot's `revents`.
fn event(token: Token, revents: libc::c_short) -> Event {
    let mut event = Event::new(token);
    event.readable = revents & (libc::POLLIN | libc::POLLPRI) != 0;
    event.writable = revents & libc::POLLOUT != 0;
    event.read_closed = revents & (libc::POLLHUP | POLLRDHUP) != 0;
    event.error = revents & libc::POLLERR != 0;
    event
}
