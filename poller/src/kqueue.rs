//! The kqueue(2) backend (macOS, iOS, FreeBSD, OpenBSD, NetBSD, DragonFly).
//!
//! kqueue watches (ident, filter) pairs, so one registration is up to two knotes:
//! `EVFILT_READ` and `EVFILT_WRITE`. An fd -> slot table remembers what each fd
//! asked for; it lets `register` answer `AlreadyExists` (kqueue's `EV_ADD` would
//! silently modify), lets `reregister` add and delete exactly the right filters,
//! and merges the two filters' reports into one `Event` per fd per `poll`.
//! `Mode::Edge` is `EV_CLEAR`. `EV_EOF` on the read filter is read-closed while
//! buffered data may still be readable; `EV_EOF` with an errno in `fflags`
//! (e.g. `ECONNRESET`) is an error. The waker is an `EVFILT_USER` knote
//! triggered with `NOTE_TRIGGER` and cleared by delivery (`EV_CLEAR`).

use std::fmt;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use crate::{Event, Events, Interest, Mode, Poller, Token, Wake, Waker};

// The kevent ABI differs in field and count types; the differences live here.
cfg_if::cfg_if! {
    if #[cfg(target_os = "netbsd")] {
        type Filter = u32;
        type Flags = u32;
        type Count = libc::size_t;
    } else {
        type Filter = i16;
        type Flags = u16;
        type Count = libc::c_int;
    }
}

/// The ident of the waker's `EVFILT_USER` knote (user idents are their own
/// namespace, apart from fds).
const WAKER_IDENT: usize = 0;

/// The kqueue(2) backend: macOS, iOS and the BSDs.
///
/// Level mode is plain kqueue, edge mode is `EV_CLEAR`. See the crate docs for the
/// contract.
pub struct Kqueue {
    /// Shared with the waker, which triggers its `EVFILT_USER` knote.
    kq: Arc<OwnedFd>,
    /// The raw event list handed to `kevent`, grown to the largest
    /// `Events::capacity` seen and never shrunk.
    buf: Vec<libc::kevent>,
    /// fd number -> what it is registered for.
    slots: Vec<Slot>,
    /// Counts `poll` calls, to tell which slots already have an event this call.
    seq: u64,
    waker: Option<(Token, Waker)>,
}

/// One fd's registration, and where its event of the current `poll` is.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    reg: Option<Registration>,
    /// The `poll` (`Kqueue::seq`) that last produced an event for this fd...
    seq: u64,
    /// ...at this index of `Events`.
    index: usize,
}

#[derive(Debug, Clone, Copy)]
struct Registration {
    token: Token,
    interest: Interest,
    mode: Mode,
}

impl Poller for Kqueue {
    const NAME: &'static str = "kqueue";
    const SUPPORTS_EDGE: bool = true;

    fn new() -> io::Result<Kqueue> {
        // SAFETY: kqueue takes no arguments.
        let fd = syscall!(unsafe { libc::kqueue() })?;
        // SAFETY: kqueue returned a new fd that nothing else owns.
        let kq = unsafe { OwnedFd::from_raw_fd(fd) };
        // Not every kqueue system has kqueue1(O_CLOEXEC); set it right away.
        // SAFETY: `fd` is open; F_SETFD takes an int argument.
        syscall!(unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
        Ok(Kqueue { kq: Arc::new(kq), buf: Vec::new(), slots: Vec::new(), seq: 0, waker: None })
    }

    fn register(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        let at = usize::try_from(fd).map_err(|_| crate::bad_fd())?;
        if let Some(old) = self.registration(fd) {
            // The table may be stale if the fd was closed without deregister (the
            // kernel then dropped its knotes and the number may have been
            // reused): ask the kernel before refusing.
            if self.knote_exists(fd, old.interest)? {
                return Err(crate::already_registered());
            }
        }
        let mut changes = [change(0, 0, 0, 0); 2];
        let mut n = 0;
        for (filter, wanted) in filters(interest) {
            if wanted {
                if let Some(slot) = changes.get_mut(n) {
                    *slot = change(fd, filter, add_flags(mode), 0);
                    n += 1;
                }
            }
        }
        if let Err(e) = self.apply(changes.get_mut(..n).unwrap_or_default()) {
            // Undo a half-made registration (e.g. read added, write refused).
            let mut undo = [
                change(fd, libc::EVFILT_READ, libc::EV_DELETE, 0),
                change(fd, libc::EVFILT_WRITE, libc::EV_DELETE, 0),
            ];
            let _ = self.apply_ignoring(&mut undo, libc::ENOENT);
            return Err(e);
        }
        if self.slots.len() <= at {
            self.slots.resize(at + 1, Slot::default());
        }
        if let Some(slot) = self.slots.get_mut(at) {
            slot.reg = Some(Registration { token, interest, mode });
        }
        Ok(())
    }

    fn reregister(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        let old = self.registration(fd).ok_or_else(crate::not_registered)?;
        // At most: delete + add for each of the two filters.
        let mut changes = [change(0, 0, 0, 0); 4];
        let mut n = 0;
        let old_filters = filters(old.interest);
        for ((filter, wanted), (_, had)) in filters(interest).into_iter().zip(old_filters) {
            let ops: &[Flags] = match (had, wanted) {
                (true, false) => &[libc::EV_DELETE],
                (false, true) => &[add_flags(mode)],
                // `EV_ADD` on an existing knote does not change `EV_CLEAR`
                // everywhere: re-create it when the mode changes.
                (true, true) if old.mode != mode => &[libc::EV_DELETE, add_flags(mode)],
                (true, true) => &[add_flags(mode)],
                (false, false) => &[],
            };
            for &flags in ops {
                if let Some(slot) = changes.get_mut(n) {
                    *slot = change(fd, filter, flags, 0);
                    n += 1;
                }
            }
        }
        let result = self.apply(changes.get_mut(..n).unwrap_or_default());
        let slot = usize::try_from(fd).ok().and_then(|at| self.slots.get_mut(at));
        match result {
            Ok(()) => {
                if let Some(slot) = slot {
                    slot.reg = Some(Registration { token, interest, mode });
                }
                Ok(())
            }
            // The knote is gone: the fd was closed without deregister.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if let Some(slot) = slot {
                    slot.reg = None;
                }
                Err(crate::not_registered())
            }
            Err(e) => Err(e),
        }
    }

    fn deregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        let old = self.registration(fd).ok_or_else(crate::not_registered)?;
        if let Some(slot) = usize::try_from(fd).ok().and_then(|at| self.slots.get_mut(at)) {
            slot.reg = None;
        }
        let mut changes = [change(0, 0, 0, 0); 2];
        let mut n = 0;
        for (filter, had) in filters(old.interest) {
            if had {
                if let Some(slot) = changes.get_mut(n) {
                    *slot = change(fd, filter, libc::EV_DELETE, 0);
                    n += 1;
                }
            }
        }
        match self.apply(changes.get_mut(..n).unwrap_or_default()) {
            // The knotes died with a close of the fd: it was not registered any more.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(crate::not_registered()),
            other => other,
        }
    }

    fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        self.seq = self.seq.wrapping_add(1);
        let capacity = events.capacity();
        if self.buf.len() < capacity {
            // The only allocation of `poll`: once per larger `Events`.
            self.buf.resize(capacity, change(0, 0, 0, 0));
        }
        let kq = self.kq.as_raw_fd();
        let buf = &mut self.buf[..capacity];
        // `Events::with_capacity` caps the capacity far below `c_int::MAX`.
        let max = Count::try_from(buf.len()).unwrap_or(0);
        let n = crate::wait_with_timeout(timeout, |ms| {
            let ts = timespec(ms);
            let ts_ptr = ts.as_ref().map_or(ptr::null(), |ts| ts as *const libc::timespec);
            // SAFETY: `buf` is valid for writes of `max` kevents and `ts_ptr` is
            // null or points to `ts`, both alive across the call; no changes.
            let n = syscall!(unsafe {
                libc::kevent(kq, ptr::null(), 0, buf.as_mut_ptr(), max, ts_ptr)
            })?;
            Ok(usize::try_from(n).unwrap_or(0))
        })?;
        for raw in self.buf.iter().take(n.min(capacity)) {
            if raw.filter == libc::EVFILT_USER {
                if let Some((token, _)) = &self.waker {
                    let mut event = Event::new(*token);
                    event.readable = true;
                    events.push(event);
                }
                continue;
            }
            let Ok(fd) = RawFd::try_from(raw.ident) else { continue };
            let Some(slot) = usize::try_from(fd).ok().and_then(|at| self.slots.get_mut(at)) else {
                continue;
            };
            let Some(reg) = slot.reg else { continue };
            let new = event(reg.token, raw);
            if slot.seq == self.seq {
                if let Some(existing) = events.get_mut(slot.index) {
                    existing.merge(new);
                    continue;
                }
            }
            slot.seq = self.seq;
            slot.index = events.len();
            events.push(new);
        }
        Ok(())
    }

    fn waker(&mut self, token: Token) -> io::Result<Waker> {
        if let Some(existing) = crate::existing_waker(self.waker.as_ref(), token) {
            return existing;
        }
        let mut add = [change(0, libc::EVFILT_USER, libc::EV_ADD | libc::EV_CLEAR, 0)];
        if let Some(kev) = add.first_mut() {
            kev.ident = WAKER_IDENT as _;
        }
        self.apply(&mut add)?;
        let waker = Waker::new(Arc::new(UserEvent { kq: self.kq.clone() }));
        self.waker = Some((token, waker.clone()));
        Ok(waker)
    }
}

impl Kqueue {
    /// What `fd` is registered for, by the table.
    fn registration(&self, fd: RawFd) -> Option<Registration> {
        self.slots.get(usize::try_from(fd).ok()?)?.reg
    }

    /// Whether the kernel still has `fd`'s knotes: `EV_ENABLE` without `EV_ADD`
    /// fails with `ENOENT` for a knote that does not exist, and is a no-op on one
    /// that does (registrations are never disabled).
    fn knote_exists(&self, fd: RawFd, interest: Interest) -> io::Result<bool> {
        let filter = if interest.is_readable() { libc::EVFILT_READ } else { libc::EVFILT_WRITE };
        match self.apply(&mut [change(fd, filter, libc::EV_ENABLE, 0)]) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Applies `changes` and returns the first error among them.
    fn apply(&self, changes: &mut [libc::kevent]) -> io::Result<()> {
        // A write filter on a pipe whose reader is gone answers EPIPE but is
        // registered (and reports EV_EOF); mio ignores it the same way.
        self.apply_ignoring(changes, libc::EPIPE)
    }

    /// Applies `changes` in one `kevent` call without collecting events
    /// (`EV_RECEIPT` makes every change come back with its own result) and
    /// returns the first error other than `ignored`.
    fn apply_ignoring(&self, changes: &mut [libc::kevent], ignored: libc::c_int) -> io::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        for kev in changes.iter_mut() {
            kev.flags |= libc::EV_RECEIPT;
        }
        let n = Count::try_from(changes.len()).unwrap_or(0);
        let ptr = changes.as_mut_ptr();
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `changes` is valid for reads and writes of `n` kevents (it is
        // both the change list and, with EV_RECEIPT, the result list); `zero`
        // outlives the call; `kq` is our open kqueue.
        retry_kevent(|| {
            syscall!(unsafe { libc::kevent(self.kq.as_raw_fd(), ptr, n, ptr, n, &zero) })
        })?;
        for kev in changes.iter() {
            let errno = kev.data as libc::c_int;
            if kev.flags & libc::EV_ERROR != 0 && errno != 0 && errno != ignored {
                return Err(io::Error::from_raw_os_error(errno));
            }
        }
        Ok(())
    }
}

// SAFETY: the only non-Send/Sync part is `buf`: kevents whose `udata` pointers
// are always null and never dereferenced. Everything else (Arc<OwnedFd>, Vec of
// plain slots, Waker) is Send + Sync, and all mutation goes through `&mut self`.
unsafe impl Send for Kqueue {}
// SAFETY: as above; `&Kqueue` gives access to no method at all.
unsafe impl Sync for Kqueue {}

impl fmt::Debug for Kqueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kqueue")
            .field("kq", &self.kq)
            .field("registered", &self.slots.iter().filter(|slot| slot.reg.is_some()).count())
            .field("waker", &self.waker)
            .finish()
    }
}

/// Retries a `kevent` call that only applies changes while it fails with `EINTR`.
fn retry_kevent(f: impl FnMut() -> io::Result<libc::c_int>) -> io::Result<libc::c_int> {
    crate::retry_on_eintr(f)
}

/// A kevent for `fd`'s `filter` (zeroed first: the structs differ in extra fields).
fn change(fd: RawFd, filter: Filter, flags: Flags, fflags: u32) -> libc::kevent {
    // SAFETY: kevent is a plain C struct of integers and a pointer, for which all
    // zero bytes (a null `udata`) is a valid value.
    let mut kev: libc::kevent = unsafe { mem::zeroed() };
    kev.ident = usize::try_from(fd).unwrap_or(0) as _;
    kev.filter = filter;
    kev.flags = flags;
    kev.fflags = fflags;
    kev
}

/// The read and write filters, each with whether `interest` wants it.
fn filters(interest: Interest) -> [(Filter, bool); 2] {
    [(libc::EVFILT_READ, interest.is_readable()), (libc::EVFILT_WRITE, interest.is_writable())]
}

/// The flags that add a filter in `mode`.
fn add_flags(mode: Mode) -> Flags {
    match mode {
        Mode::Level => libc::EV_ADD,
        Mode::Edge => libc::EV_ADD | libc::EV_CLEAR,
    }
}

/// A timeout in ms (`-1` = forever) as kevent's timespec (`None` = forever).
fn timespec(ms: libc::c_int) -> Option<libc::timespec> {
    if ms < 0 {
        return None;
    }
    Some(libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: ((ms % 1000) * 1_000_000) as _,
    })
}

/// The event for one raw kevent of a registered fd.
fn event(token: Token, raw: &libc::kevent) -> Event {
    let mut event = Event::new(token);
    let eof = raw.flags & libc::EV_EOF != 0;
    if raw.filter == libc::EVFILT_READ {
        // EV_EOF on the read filter: the peer is done sending; `data` bytes may
        // still be buffered, and reading them (then 0) does not block.
        event.readable = true;
        event.read_closed = eof;
    } else if raw.filter == libc::EVFILT_WRITE {
        event.writable = true;
    }
    // With EV_EOF, `fflags` holds the socket's pending errno (e.g. ECONNRESET).
    event.error = raw.flags & libc::EV_ERROR != 0 || (eof && raw.fflags != 0);
    event
}

/// The waker's side: triggers the poller's `EVFILT_USER` knote.
#[derive(Debug)]
struct UserEvent {
    kq: Arc<OwnedFd>,
}

impl Wake for UserEvent {
    fn wake(&self) -> io::Result<()> {
        let mut trigger = change(0, libc::EVFILT_USER, 0, libc::NOTE_TRIGGER);
        trigger.ident = WAKER_IDENT as _;
        retry_kevent(|| {
            // SAFETY: `trigger` is valid for reads of one kevent for the call; no
            // event list; `kq` is kept open by the Arc.
            syscall!(unsafe {
                libc::kevent(self.kq.as_raw_fd(), &trigger, 1, ptr::null_mut(), 0, ptr::null())
            })
        })?;
        Ok(())
    }
}
