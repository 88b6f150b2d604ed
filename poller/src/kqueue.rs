//! The kqueue(2) backend (macOS and Apple's other systems, FreeBSD, OpenBSD,
//! NetBSD, DragonFly; on Linux over libkqueue under `--cfg poller_libkqueue`).
//!
//! kqueue watches (ident, filter) pairs, so one registration is up to two knotes:
//! `EVFILT_READ` and `EVFILT_WRITE`. An fd -> slot table remembers what each fd
//! asked for; it lets `register` answer `AlreadyExists` (kqueue's `EV_ADD` would
//! silently modify), lets `reregister` add and delete exactly the right filters,
//! and merges the two filters' reports into one `Event` per fd per `poll`.
//! `Mode::Edge` is `EV_CLEAR`. `EV_EOF` on the read filter is read-closed while
//! buffered data may still be readable; `EV_EOF` with an errno in `fflags`
//! (e.g. `ECONNRESET`) is an error. The waker is an `EVFILT_USER` knote
//! triggered with `NOTE_TRIGGER` and cleared by delivery (`EV_CLEAR`); NetBSD
//! before 10 and OpenBSD before 7.8 have no `EVFILT_USER`, so there it is a
//! non-blocking self-pipe whose read end the poller watches and drains.
//!
//! `kevent` returns each filter as its own entry, so the raw list has room for
//! two per `Events` slot; entries for fds beyond the capacity are kept and
//! delivered first by the next `poll` (the kernel has handed them over: an
//! `EV_CLEAR` edge would not come again), unless the fd was registered,
//! reregistered or deregistered in between. An fd closed without `deregister`
//! right after such a `poll` can still get that one kept event.
//!
//! kqueue applies a change list piece by piece, so a failed `register` or
//! `reregister` may have applied part of it: both then delete what is left and
//! the fd is not registered (the error says why, e.g. `BrokenPipe` for write
//! interest on a pipe whose reader is gone).
//!
//! libkqueue, which runs this backend on Linux for testing, differs from the
//! kernels where the tests say so: it fills `fflags` by reading `SO_ERROR`
//! (which clears the error the next read should return), keeps the knotes of
//! an fd closed without `deregister`, and drops the entries that do not fit
//! its list (512 at most) when both filters of an fd fire, so with more than
//! 256 such fds at once edges are lost. The order of changes below (write
//! filter first) keeps its loss of `EPOLLRDHUP` from hiding `EV_EOF`.

use std::fmt;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use crate::{Event, Events, Interest, Mode, Poller, Token, Wake, Waker};

// The kqueue API: the kernel's, as `libc` declares it, or on Linux under
// `--cfg poller_libkqueue` libkqueue's (the same names and FreeBSD's layout).
cfg_if::cfg_if! {
    if #[cfg(poller_libkqueue)] {
        use crate::libkqueue as sys;
    } else {
        use libc as sys;
    }
}

// Whether `EV_RECEIPT` can be relied on to get each change's result back.
// FreeBSD (8.1+), DragonFly and macOS document it. NetBSD before 10 has no such
// flag and may ignore it: the call would then fill the event list with pending
// events, consuming them (an edge would be lost). There, and on OpenBSD, changes
// are applied one per call with no event list.
cfg_if::cfg_if! {
    if #[cfg(any(target_os = "netbsd", target_os = "openbsd"))] {
        const RECEIPTS: bool = false;
    } else {
        const RECEIPTS: bool = true;
    }
}

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

/// The kqueue(2) backend: macOS, iOS and the BSDs (and Linux over libkqueue,
/// for testing, under `--cfg poller_libkqueue`).
///
/// Level mode is plain kqueue, edge mode is `EV_CLEAR`. See the crate docs for the
/// contract.
pub struct Kqueue {
    /// Shared with the waker, which triggers its `EVFILT_USER` knote.
    kq: Arc<OwnedFd>,
    /// The raw event list handed to `kevent`: two entries per `Events` slot
    /// (an fd's read and write filters come back as two), grown to the largest
    /// capacity seen and never shrunk.
    buf: Vec<sys::kevent>,
    /// Raw entries of the last `kevent` for fds that did not fit in `Events`.
    /// The kernel has handed them over (an `EV_CLEAR` edge is not reported
    /// again), so the next `poll` delivers them first. Never longer than `buf`,
    /// and reserved with it: pushing to it never allocates.
    pending: Vec<sys::kevent>,
    /// fd number -> what it is registered for.
    slots: Vec<Slot>,
    /// Counts `poll` calls, to tell which slots already have an event this call.
    seq: u64,
    waker: Option<(Token, Waker)>,
    /// The waker's knote, to recognise (and, for a pipe, drain) its events.
    notify: Option<Arc<notify::Notify>>,
}

/// One fd's registration, and where its event of the current `poll` is.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    reg: Option<Registration>,
    /// The `poll` (`Kqueue::seq`) that last produced an event for this fd...
    seq: u64,
    /// ...at this index of `Events`.
    index: usize,
    /// Changes with every register, reregister and deregister of this fd: a
    /// `pending` entry (which keeps it in `data`) from before is dropped.
    generation: u32,
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
        let fd = syscall!(unsafe { sys::kqueue() })?;
        // SAFETY: kqueue returned a new fd that nothing else owns.
        let kq = unsafe { OwnedFd::from_raw_fd(fd) };
        // Not every kqueue system has kqueue1(O_CLOEXEC); set it right away.
        // SAFETY: `fd` is open; F_SETFD takes an int argument.
        syscall!(unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
        Ok(Kqueue {
            kq: Arc::new(kq),
            buf: Vec::new(),
            pending: Vec::new(),
            slots: Vec::new(),
            seq: 0,
            waker: None,
            notify: None,
        })
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
            self.delete_all(fd);
            return Err(e);
        }
        if self.slots.len() <= at {
            self.slots.resize(at + 1, Slot::default());
        }
        self.set_registration(fd, Some(Registration { token, interest, mode }));
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
                (true, false) => &[sys::EV_DELETE],
                (false, true) => &[add_flags(mode)],
                // Re-created, not modified: `EV_ADD` on an existing knote does
                // not change `EV_CLEAR` everywhere, and a new edge knote is
                // reported at once if its fd is ready, which re-arms it (as
                // `EPOLL_CTL_MOD` does) on every kqueue. The kernels also
                // re-evaluate a knote modified by `EV_ADD`; libkqueue does not.
                (true, true) if old.mode != mode || mode == Mode::Edge => {
                    &[sys::EV_DELETE, add_flags(mode)]
                }
                // An unchanged level knote already reports whenever the fd is
                // ready: nothing to change. (libkqueue even refuses `EV_ADD`
                // on an existing level read or write knote, with whatever
                // errno was left over.)
                (true, true) | (false, false) => &[],
            };
            for &flags in ops {
                if let Some(slot) = changes.get_mut(n) {
                    *slot = change(fd, filter, flags, 0);
                    n += 1;
                }
            }
        }
        match self.apply(changes.get_mut(..n).unwrap_or_default()) {
            Ok(()) => {
                self.set_registration(fd, Some(Registration { token, interest, mode }));
                Ok(())
            }
            // The knote is gone: the fd was closed without deregister. EV_RECEIPT
            // applied the other changes anyway; an `EV_ADD` among them made a
            // knote for whatever now has this number, which no slot would claim
            // (a level knote of it would end every `poll` at once, with no
            // event): take it back out.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                self.set_registration(fd, None);
                self.delete_all(fd);
                Err(crate::not_registered())
            }
            // Some changes may have been applied and others not: rather than a
            // half-changed registration the table would misdescribe, none.
            Err(e) => {
                self.set_registration(fd, None);
                self.delete_all(fd);
                Err(e)
            }
        }
    }

    fn deregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        let old = self.registration(fd).ok_or_else(crate::not_registered)?;
        self.set_registration(fd, None);
        let mut changes = [change(0, 0, 0, 0); 2];
        let mut n = 0;
        for (filter, had) in filters(old.interest) {
            if had {
                if let Some(slot) = changes.get_mut(n) {
                    *slot = change(fd, filter, sys::EV_DELETE, 0);
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
        // Room for both filters of every fd, so that one `Event` carries both
        // (`Events::with_capacity` caps this far below `c_int::MAX`).
        let raw_len = events.capacity().saturating_mul(2);
        if self.buf.len() < raw_len {
            // The only allocations of `poll`: once per larger `Events`.
            self.buf.resize(raw_len, change(0, 0, 0, 0));
            self.pending.reserve_exact(raw_len.saturating_sub(self.pending.len()));
        }
        let Kqueue { kq, buf, pending, slots, seq, waker, notify } = self;
        let seq = *seq;
        let waker = notify.as_deref().zip(waker.as_ref().map(|(token, _)| *token));
        if !pending.is_empty() {
            // Last call's overflow first, without asking the kernel: it may have
            // nothing more, and these would wait behind a blocking call.
            let mut delivered = false;
            pending.retain(|raw| match deliver(raw, true, slots, seq, waker, events) {
                Fate::Delivered => {
                    delivered = true;
                    false
                }
                Fate::Dropped => false,
                Fate::NoRoom(_) => true,
            });
            if delivered {
                return Ok(());
            }
        }
        // Only stale entries were pending (now dropped): `pending` is empty, so
        // it has room for every entry of the call below.
        let kq = kq.as_raw_fd();
        let buf = buf.get_mut(..raw_len).unwrap_or_default();
        let max = Count::try_from(buf.len()).unwrap_or(0);
        let n = crate::wait_with_timeout(timeout, |ms| {
            let ts = timespec(ms);
            let ts_ptr = ts.as_ref().map_or(ptr::null(), |ts| ts as *const libc::timespec);
            // SAFETY: `buf` is valid for writes of `max` kevents and `ts_ptr` is
            // null or points to `ts`, both alive across the call; no changes.
            let n = syscall!(unsafe {
                sys::kevent(kq, ptr::null(), 0, buf.as_mut_ptr(), max, ts_ptr)
            })?;
            Ok(usize::try_from(n).unwrap_or(0))
        })?;
        for raw in buf.iter().take(n) {
            if let Fate::NoRoom(generation) = deliver(raw, false, slots, seq, waker, events) {
                let mut kept = *raw;
                kept.data = generation as _;
                pending.push(kept);
            }
        }
        Ok(())
    }

    fn waker(&mut self, token: Token) -> io::Result<Waker> {
        if let Some(existing) = crate::existing_waker(self.waker.as_ref(), token) {
            return existing;
        }
        let notify = Arc::new(notify::Notify::new(self)?);
        let waker = Waker::new(notify.clone());
        self.notify = Some(notify);
        self.waker = Some((token, waker.clone()));
        Ok(waker)
    }
}

impl Kqueue {
    /// Records `fd`'s registration (or its absence) in the table; any entry of
    /// `pending` for the fd from before is stale from now on.
    fn set_registration(&mut self, fd: RawFd, reg: Option<Registration>) {
        if let Some(slot) = usize::try_from(fd).ok().and_then(|at| self.slots.get_mut(at)) {
            slot.reg = reg;
            slot.generation = slot.generation.wrapping_add(1);
        }
    }

    /// What `fd` is registered for, by the table.
    fn registration(&self, fd: RawFd) -> Option<Registration> {
        self.slots.get(usize::try_from(fd).ok()?)?.reg
    }

    /// Whether the kernel still has `fd`'s knotes: `EV_ENABLE` without `EV_ADD`
    /// fails with `ENOENT` for a knote that does not exist. On one that does it
    /// changes nothing we set (registrations are never disabled; `udata`,
    /// `fflags` and `data` are zero as at `EV_ADD`), but FreeBSD and macOS
    /// re-evaluate the knote on any change: an edge registration that is ready
    /// can be reported once more, which a caller that reads until `WouldBlock`
    /// does not notice. kqueue has no side-effect-free query.
    fn knote_exists(&self, fd: RawFd, interest: Interest) -> io::Result<bool> {
        let filter = if interest.is_readable() { sys::EVFILT_READ } else { sys::EVFILT_WRITE };
        match self.apply(&mut [change(fd, filter, sys::EV_ENABLE, 0)]) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes both of `fd`'s filters, whichever exist (undoing a failed change).
    fn delete_all(&self, fd: RawFd) {
        let mut undo = [
            change(fd, sys::EVFILT_READ, sys::EV_DELETE, 0),
            change(fd, sys::EVFILT_WRITE, sys::EV_DELETE, 0),
        ];
        // Best effort on an error path: a filter that was never added is ENOENT,
        // and the caller reports the error that brought it here.
        let _ = self.apply_ignoring(&mut undo, Some(libc::ENOENT));
    }

    /// Applies `changes` and returns the first error among them.
    ///
    /// A write filter on a pipe whose reader is gone answers `EPIPE`: FreeBSD
    /// then attaches no knote at all (some macOS versions do attach one, which
    /// is why mio ignores the error). Passing it on (`BrokenPipe`, what a write
    /// would give) and undoing the change keeps the table true on both, instead
    /// of a write registration that never reports and whose `EV_DELETE` later
    /// fails with `ENOENT`.
    fn apply(&self, changes: &mut [sys::kevent]) -> io::Result<()> {
        self.apply_ignoring(changes, None)
    }

    /// Applies every one of `changes` and returns the first error other than
    /// `ignored` (if any).
    ///
    /// With `EV_RECEIPT` (see `RECEIPTS`) that is one `kevent` call whose event
    /// list is the change list itself: every change comes back with `EV_ERROR`
    /// and its own errno in `data` (0 for success), and since every slot of the
    /// list is taken by a receipt, no pending event is collected (and lost).
    /// Without it, one call per change with no event list: an error then comes
    /// back as `-1` and `errno`. On `EINTR` kevent(2) has applied every change
    /// already, so it is not retried (an `EV_DELETE` would fail the second time).
    fn apply_ignoring(
        &self,
        changes: &mut [sys::kevent],
        ignored: Option<libc::c_int>,
    ) -> io::Result<()> {
        let kq = self.kq.as_raw_fd();
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        let mut first = None;
        let mut keep = |err: io::Error| {
            if err.kind() != io::ErrorKind::Interrupted
                && (ignored.is_none() || err.raw_os_error() != ignored)
            {
                first.get_or_insert(err);
            }
        };
        if RECEIPTS {
            if changes.is_empty() {
                return Ok(());
            }
            for kev in changes.iter_mut() {
                kev.flags |= sys::EV_RECEIPT;
            }
            let n = Count::try_from(changes.len()).unwrap_or(0);
            let ptr = changes.as_mut_ptr();
            // SAFETY: `changes` is valid for reads and writes of `n` kevents (it
            // is both the change list and, with EV_RECEIPT, the result list);
            // `zero` outlives the call; `kq` is our open kqueue.
            if let Err(e) = syscall!(unsafe { sys::kevent(kq, ptr, n, ptr, n, &zero) }) {
                keep(e);
            }
            for kev in changes.iter() {
                let errno = kev.data as libc::c_int;
                if kev.flags & sys::EV_ERROR != 0 && errno != 0 {
                    keep(io::Error::from_raw_os_error(errno));
                }
            }
        } else {
            for kev in changes.iter() {
                // SAFETY: `kev` is valid for reads of one kevent for the call; no
                // event list; `zero` outlives the call; `kq` is our open kqueue.
                let res = syscall!(unsafe { sys::kevent(kq, kev, 1, ptr::null_mut(), 0, &zero) });
                if let Err(e) = res {
                    keep(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

// SAFETY: the only non-Send/Sync parts are `buf` and `pending`: kevents whose
// `udata` pointers are always null and never dereferenced. Everything else (Arc<OwnedFd>, Vec of
// plain slots, Waker, the waker's fds) is Send + Sync, and all mutation goes
// through `&mut self`.
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

/// What became of one raw kevent in `poll`.
enum Fate {
    /// Reported: a new `Event`, or merged into this fd's `Event`.
    Delivered,
    /// Not readiness of anything registered now (see `deliver`).
    Dropped,
    /// A new fd and `Events` is full: to be kept for the next `poll`, with the
    /// fd's registration generation.
    NoRoom(u32),
}

/// Turns one raw kevent into (part of) an `Event`.
///
/// Dropped: `EV_ERROR` entries (the result of a change, `data` = its errno,
/// not readiness; `poll` submits no changes, so none is expected), filters
/// other than read and write, fds not registered, and `pending` entries
/// (`from_pending`) whose fd was registered, reregistered or deregistered
/// since. The waker's event is `readable`; a pipe waker is drained here.
fn deliver(
    raw: &sys::kevent,
    from_pending: bool,
    slots: &mut [Slot],
    seq: u64,
    waker: Option<(&notify::Notify, Token)>,
    events: &mut Events,
) -> Fate {
    if raw.flags & sys::EV_ERROR != 0 {
        return Fate::Dropped;
    }
    if let Some((notify, token)) = waker {
        if notify.is_ours(raw) {
            if events.is_full() {
                return Fate::NoRoom(0);
            }
            // A failed drain leaves the pipe readable: the (level) knote then
            // reports the waker again next time, a spurious wake, never a lost one.
            let _ = notify.reset();
            let mut event = Event::new(token);
            event.readable = true;
            events.push(event);
            return Fate::Delivered;
        }
    }
    if raw.filter != sys::EVFILT_READ && raw.filter != sys::EVFILT_WRITE {
        return Fate::Dropped;
    }
    let Ok(fd) = RawFd::try_from(raw.ident) else { return Fate::Dropped };
    let Some(slot) = usize::try_from(fd).ok().and_then(|at| slots.get_mut(at)) else {
        return Fate::Dropped;
    };
    let Some(reg) = slot.reg else { return Fate::Dropped };
    if from_pending && u32::try_from(raw.data).ok() != Some(slot.generation) {
        return Fate::Dropped;
    }
    let new = event(reg.token, raw);
    if slot.seq == seq {
        if let Some(existing) = events.get_mut(slot.index) {
            existing.merge(new);
            return Fate::Delivered;
        }
    }
    if events.is_full() {
        return Fate::NoRoom(slot.generation);
    }
    slot.seq = seq;
    slot.index = events.len();
    events.push(new);
    Fate::Delivered
}

/// A kevent for `fd`'s `filter` (zeroed first: the structs differ in extra fields).
fn change(fd: RawFd, filter: Filter, flags: Flags, fflags: u32) -> sys::kevent {
    // SAFETY: kevent is a plain C struct of integers and a pointer, for which all
    // zero bytes (a null `udata`) is a valid value.
    let mut kev: sys::kevent = unsafe { mem::zeroed() };
    kev.ident = usize::try_from(fd).unwrap_or(0) as _;
    kev.filter = filter;
    kev.flags = flags;
    kev.fflags = fflags;
    kev
}

/// The write and read filters, each with whether `interest` wants it.
///
/// Changes go in this order, write first. The kernels do not mind; libkqueue
/// (kqueue emulated over epoll on Linux, which tests this backend there)
/// rebuilds an fd's epoll mask from its read and write bits alone when a
/// filter is added or deleted beside the other one, losing `EPOLLRDHUP`
/// (`want = have_ev | ev`, src/linux/platform.c:1932 at f96608964f7d): only a
/// read filter added last reports `EV_EOF` while data is still buffered.
fn filters(interest: Interest) -> [(Filter, bool); 2] {
    [(sys::EVFILT_WRITE, interest.is_writable()), (sys::EVFILT_READ, interest.is_readable())]
}

/// The flags that add a filter in `mode`.
fn add_flags(mode: Mode) -> Flags {
    match mode {
        Mode::Level => sys::EV_ADD,
        Mode::Edge => sys::EV_ADD | sys::EV_CLEAR,
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
fn event(token: Token, raw: &sys::kevent) -> Event {
    let mut event = Event::new(token);
    let eof = raw.flags & sys::EV_EOF != 0;
    if raw.filter == sys::EVFILT_READ {
        // EV_EOF on the read filter: the peer is done sending; `data` bytes may
        // still be buffered, and reading them (then 0) does not block.
        event.readable = true;
        event.read_closed = eof;
    } else if raw.filter == sys::EVFILT_WRITE {
        event.writable = true;
    }
    // With EV_EOF, `fflags` holds the socket's pending errno (e.g. ECONNRESET).
    event.error = eof && raw.fflags != 0;
    event
}

cfg_if::cfg_if! {
    if #[cfg(any(target_os = "netbsd", target_os = "openbsd"))] {
        mod notify {
            //! NetBSD before 10 and OpenBSD before 7.8 have no `EVFILT_USER` (an
            //! `EV_ADD` of it fails with `EINVAL`): a self-pipe, as mio and
            //! polling use there. The poller watches the read end (level) and
            //! drains it when it reports it, so many wakes are one event.

            use super::*;

            use crate::pipe::Pipe;

            /// The waker's pipe. Both ends live as long as any waker or the
            /// poller, so a wake never writes to a pipe without a reader.
            #[derive(Debug)]
            pub(super) struct Notify {
                pipe: Pipe,
            }

            impl Notify {
                /// Creates the pipe and adds its read end to `kq`.
                pub(super) fn new(kq: &Kqueue) -> io::Result<Notify> {
                    let pipe = Pipe::new()?;
                    kq.apply(&mut [change(pipe.read_fd(), sys::EVFILT_READ, sys::EV_ADD, 0)])?;
                    Ok(Notify { pipe })
                }

                /// Whether `raw` is the read end's event.
                pub(super) fn is_ours(&self, raw: &sys::kevent) -> bool {
                    raw.filter == sys::EVFILT_READ
                        && RawFd::try_from(raw.ident).ok() == Some(self.pipe.read_fd())
                }

                /// Empties the pipe so the level-triggered knote goes quiet.
                pub(super) fn reset(&self) -> io::Result<()> {
                    self.pipe.drain()
                }
            }

            impl Wake for Notify {
                fn wake(&self) -> io::Result<()> {
                    self.pipe.wake()
                }
            }
        }
    } else {
        mod notify {
            //! An `EVFILT_USER` knote: `NOTE_TRIGGER` fires it, `EV_CLEAR` resets
            //! it when `kevent` reports it, so many wakes are one event.

            use super::*;

            /// The ident of the waker's knote (user idents are their own
            /// namespace, apart from fds).
            const WAKER_IDENT: usize = 0;

            /// The waker's side: triggers the poller's `EVFILT_USER` knote.
            #[derive(Debug)]
            pub(super) struct Notify {
                kq: Arc<OwnedFd>,
            }

            impl Notify {
                /// Adds the knote to `kq`.
                pub(super) fn new(kq: &Kqueue) -> io::Result<Notify> {
                    let mut add = change(0, sys::EVFILT_USER, sys::EV_ADD | sys::EV_CLEAR, 0);
                    add.ident = WAKER_IDENT as _;
                    kq.apply(&mut [add])?;
                    Ok(Notify { kq: kq.kq.clone() })
                }

                /// Whether `raw` is the knote's event.
                pub(super) fn is_ours(&self, raw: &sys::kevent) -> bool {
                    raw.filter == sys::EVFILT_USER && raw.ident == WAKER_IDENT as _
                }

                /// Nothing to do: `EV_CLEAR` reset the knote when it was reported.
                pub(super) fn reset(&self) -> io::Result<()> {
                    Ok(())
                }
            }

            impl Wake for Notify {
                fn wake(&self) -> io::Result<()> {
                    let mut trigger = change(0, sys::EVFILT_USER, 0, sys::NOTE_TRIGGER);
                    trigger.ident = WAKER_IDENT as _;
                    // EINTR: the trigger was applied; triggering twice is one wake.
                    crate::retry_on_eintr(|| {
                        // SAFETY: `trigger` is valid for reads of one kevent for the
                        // call; no event list; `kq` is kept open by the Arc.
                        syscall!(unsafe {
                            sys::kevent(self.kq.as_raw_fd(), &trigger, 1, ptr::null_mut(), 0, ptr::null())
                        })
                    })?;
                    Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    const LONG: Option<Duration> = Some(Duration::from_secs(5));

    fn pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    fn tokens(events: &Events) -> Vec<Token> {
        events.iter().map(Event::token).collect()
    }

    #[test]
    fn read_and_write_filters_merge_into_one_event() {
        let mut kev = change(7, sys::EVFILT_READ, 0, 0);
        let mut slots = vec![Slot::default(); 8];
        slots[7].reg =
            Some(Registration { token: Token(1), interest: Interest::BOTH, mode: Mode::Level });
        let mut events = Events::with_capacity(1);
        assert!(matches!(deliver(&kev, false, &mut slots, 1, None, &mut events), Fate::Delivered));
        kev.filter = sys::EVFILT_WRITE;
        assert!(matches!(deliver(&kev, false, &mut slots, 1, None, &mut events), Fate::Delivered));
        let got: Vec<Event> = events.iter().copied().collect();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].is_readable() && got[0].is_writable(), "{got:?}");
    }

    #[test]
    fn error_entries_and_unregistered_fds_are_not_events() {
        let mut slots = vec![Slot::default(); 8];
        slots[3].reg =
            Some(Registration { token: Token(1), interest: Interest::READABLE, mode: Mode::Level });
        let mut events = Events::with_capacity(4);
        let mut failed = change(3, sys::EVFILT_READ, sys::EV_ERROR, 0);
        failed.data = libc::EBADF as _;
        assert!(matches!(deliver(&failed, false, &mut slots, 1, None, &mut events), Fate::Dropped));
        let unknown = change(5, sys::EVFILT_READ, 0, 0);
        assert!(matches!(
            deliver(&unknown, false, &mut slots, 1, None, &mut events),
            Fate::Dropped
        ));
        assert!(events.is_empty());
    }

    #[test]
    fn eof_with_an_errno_is_an_error() {
        let reset = change(3, sys::EVFILT_READ, sys::EV_EOF, libc::ECONNRESET as u32);
        let ev = event(Token(1), &reset);
        assert!(ev.is_readable() && ev.is_read_closed() && ev.is_error(), "{ev:?}");
        let fin = change(3, sys::EVFILT_READ, sys::EV_EOF, 0);
        let ev = event(Token(1), &fin);
        assert!(ev.is_read_closed() && !ev.is_error(), "{ev:?}");
    }

    #[test]
    fn edge_events_beyond_the_capacity_come_on_the_next_polls() {
        let pairs: Vec<(UnixStream, UnixStream)> = (0..3).map(|_| pair()).collect();
        let mut p = Kqueue::new().unwrap();
        for (i, (a, b)) in pairs.iter().enumerate() {
            p.register(b.as_fd(), Token(i), Interest::READABLE, Mode::Edge).unwrap();
            (&*a).write_all(b"x").unwrap();
        }
        let mut events = Events::with_capacity(1);
        let mut seen = HashSet::new();
        for _ in 0..3 {
            p.poll(&mut events, LONG).unwrap();
            assert_eq!(events.len(), 1, "{:?}", tokens(&events));
            seen.extend(tokens(&events));
        }
        assert_eq!(seen.len(), 3, "every edge delivered once: {seen:?}");
        p.poll(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty(), "{:?}", tokens(&events));
    }

    #[test]
    fn a_kept_event_of_a_deregistered_fd_is_dropped() {
        let pairs: Vec<(UnixStream, UnixStream)> = (0..2).map(|_| pair()).collect();
        let mut p = Kqueue::new().unwrap();
        for (i, (a, b)) in pairs.iter().enumerate() {
            p.register(b.as_fd(), Token(i), Interest::READABLE, Mode::Edge).unwrap();
            (&*a).write_all(b"x").unwrap();
        }
        let mut events = Events::with_capacity(1);
        // Wait until both are ready, so one of them is kept for the next poll.
        std::thread::sleep(Duration::from_millis(50));
        p.poll(&mut events, LONG).unwrap();
        let first = tokens(&events);
        assert_eq!(first.len(), 1, "{first:?}");
        let other = 1 - first[0].0;
        p.deregister(pairs[other].1.as_fd()).unwrap();
        p.poll(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty(), "deregistered: {:?}", tokens(&events));
    }

    // libkqueue: "If a file descriptor outside of kqueue is closed, the
    // internal kqueue state is not cleaned up" (BUGS.md:80 of the vendored
    // source): the knote of the closed number survives, so the reregister
    // this test makes fail succeeds there.
    #[test]
    #[cfg_attr(poller_libkqueue, ignore = "libkqueue keeps the knotes of a closed fd (BUGS.md:80)")]
    fn failed_reregister_of_a_reused_fd_leaves_no_knote() {
        let (_a, b) = pair();
        let mut p = Kqueue::new().unwrap();
        p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
        let number = b.as_raw_fd();
        drop(b);
        // Against the rules: the number is reused without a deregister.
        let (c, d) = pair();
        let reused = if c.as_raw_fd() == number {
            c
        } else if d.as_raw_fd() == number {
            d
        } else {
            return; // Another thread took the number; nothing to check.
        };
        let err = p.reregister(reused.as_fd(), Token(2), Interest::WRITABLE, Mode::Level);
        assert_eq!(err.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(!p.knote_exists(number, Interest::WRITABLE).unwrap(), "no stray write knote");
        // And the number can be registered again.
        p.register(reused.as_fd(), Token(3), Interest::WRITABLE, Mode::Level).unwrap();
        let mut events = Events::with_capacity(4);
        p.poll(&mut events, LONG).unwrap();
        assert_eq!(tokens(&events), [Token(3)]);
    }

    #[test]
    fn waker_event_is_readable_with_its_token_and_coalesces() {
        let mut p = Kqueue::new().unwrap();
        let waker = p.waker(Token(9)).unwrap();
        waker.wake().unwrap();
        waker.wake().unwrap();
        let mut events = Events::with_capacity(4);
        p.poll(&mut events, LONG).unwrap();
        assert_eq!(tokens(&events), [Token(9)]);
        assert!(events.iter().all(Event::is_readable));
        p.poll(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty(), "drained: {:?}", tokens(&events));
    }
}
