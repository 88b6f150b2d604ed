//! The epoll(7) backend (Linux, Android).
//!
//! Each registration is one `epoll_ctl` entry whose 64-bit data is the token, so
//! events need no table lookup. `Mode::Edge` is `EPOLLET`. Read-closed comes
//! from `EPOLLRDHUP` (asked for with readable interest) and `EPOLLHUP`. The
//! waker is an eventfd registered level-triggered under the waker's token and
//! drained (one `read`) whenever that token is reported.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use crate::{Event, Events, Interest, Mode, Poller, Token, Wake, Waker};

/// The epoll(7) backend: Linux and Android.
///
/// Level mode is plain epoll, edge mode is `EPOLLET`. Regular files and
/// directories cannot be registered (`Unsupported`). See the crate docs for the
/// contract.
pub struct Epoll {
    epfd: OwnedFd,
    /// The raw event buffer handed to `epoll_wait`, grown to the largest
    /// `Events::capacity` seen and never shrunk.
    buf: Vec<libc::epoll_event>,
    waker: Option<(Token, Waker)>,
    /// The waker's eventfd, drained when its token is reported.
    eventfd: Option<Arc<EventFd>>,
}

impl Poller for Epoll {
    const NAME: &'static str = "epoll";
    const SUPPORTS_EDGE: bool = true;

    fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; the flag is a valid constant.
        let fd = syscall!(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: epoll_create1 returned a new fd that nothing else owns.
        let epfd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { epfd, buf: Vec::new(), waker: None, eventfd: None })
    }

    fn register(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, flags(interest, mode), token)
    }

    fn reregister(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, flags(interest, mode), token)
    }

    fn deregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        // Kernels before 2.6.9 want a non-null event even for DEL; pass one.
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, Token(0))
    }

    fn deregister_and_close(&mut self, fd: OwnedFd) -> io::Result<()> {
        // The registration goes with the open file's last descriptor.
        drop(fd);
        Ok(())
    }

    fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        let capacity = events.capacity();
        if self.buf.len() < capacity {
            // The only allocation of `poll`: once per larger `Events`.
            self.buf.resize(capacity, libc::epoll_event { events: 0, u64: 0 });
        }
        let epfd = self.epfd.as_raw_fd();
        let buf = &mut self.buf[..capacity];
        // `Events::with_capacity` caps the capacity far below `c_int::MAX`.
        let max = libc::c_int::try_from(buf.len()).unwrap_or(libc::c_int::MAX);
        let n = crate::wait_with_timeout(timeout, |ms| {
            // SAFETY: `buf` is valid for writes of `max` epoll_events and lives
            // across the call; `epfd` is our open epoll fd.
            let n = syscall!(unsafe { libc::epoll_wait(epfd, buf.as_mut_ptr(), max, ms) })?;
            Ok(usize::try_from(n).unwrap_or(0))
        })?;
        let waker_token = self.waker.as_ref().map(|(token, _)| *token);
        for raw in self.buf.iter().take(n.min(capacity)) {
            // `epoll_event` is packed on x86_64: copy the fields, never borrow them.
            let bits = raw.events;
            let data = raw.u64;
            let token = Token(data as usize);
            if Some(token) == waker_token {
                if let Some(eventfd) = &self.eventfd {
                    eventfd.drain()?;
                }
            }
            events.push(event(token, bits));
        }
        Ok(())
    }

    fn waker(&mut self, token: Token) -> io::Result<Waker> {
        if let Some(existing) = crate::existing_waker(self.waker.as_ref(), token) {
            return existing;
        }
        // SAFETY: eventfd takes no pointers; the flags are valid constants.
        let fd = syscall!(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: eventfd returned a new fd that nothing else owns.
        let eventfd = Arc::new(EventFd { fd: unsafe { OwnedFd::from_raw_fd(fd) } });
        self.ctl(
            libc::EPOLL_CTL_ADD,
            eventfd.fd.as_fd(),
            flags(Interest::READABLE, Mode::Level),
            token,
        )?;
        let waker = Waker::new(eventfd.clone());
        self.eventfd = Some(eventfd);
        self.waker = Some((token, waker.clone()));
        Ok(waker)
    }
}

impl Epoll {
    /// One `epoll_ctl`, with its errors mapped to the crate's contract.
    fn ctl(&self, op: libc::c_int, fd: BorrowedFd<'_>, bits: u32, token: Token) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: bits, u64: token.0 as u64 };
        // SAFETY: `ev` is a valid epoll_event for the call; both fds are open
        // (`fd` is borrowed for the call, `epfd` is ours).
        match syscall!(unsafe {
            libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd.as_raw_fd(), &mut ev)
        }) {
            Ok(_) => Ok(()),
            Err(e) => Err(match e.raw_os_error() {
                Some(libc::EEXIST) => crate::already_registered(),
                Some(libc::ENOENT) => crate::not_registered(),
                // epoll refuses fds that are always ready: regular files, directories.
                Some(libc::EPERM) => io::Error::new(
                    io::ErrorKind::Unsupported,
                    "epoll cannot watch this fd (EPERM): regular files and directories \
                     are always ready, read or write them directly",
                ),
                _ => e,
            }),
        }
    }
}

impl fmt::Debug for Epoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Epoll")
            .field("epfd", &self.epfd)
            .field("buffer", &self.buf.len())
            .field("waker", &self.waker)
            .finish()
    }
}

/// The epoll flags for a registration.
fn flags(interest: Interest, mode: Mode) -> u32 {
    let mut bits = 0;
    if interest.is_readable() {
        // RDHUP tells a half-close apart from data; only useful with readable.
        bits |= libc::EPOLLIN | libc::EPOLLRDHUP;
    }
    if interest.is_writable() {
        bits |= libc::EPOLLOUT;
    }
    if mode == Mode::Edge {
        bits |= libc::EPOLLET;
    }
    // The flags are C ints; epoll_event.events is their bit pattern as u32.
    bits as u32
}

/// The event for one raw epoll report.
fn event(token: Token, bits: u32) -> Event {
    let has = |flag: libc::c_int| bits & (flag as u32) != 0;
    let mut event = Event::new(token);
    event.readable = has(libc::EPOLLIN) || has(libc::EPOLLPRI);
    event.writable = has(libc::EPOLLOUT);
    event.read_closed = has(libc::EPOLLRDHUP) || has(libc::EPOLLHUP);
    event.error = has(libc::EPOLLERR);
    event
}

/// The waker's eventfd: `wake` adds 1 to its counter, the poller reads it to 0.
#[derive(Debug)]
struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// Resets the counter so the level-triggered registration goes quiet.
    fn drain(&self) -> io::Result<()> {
        let mut count = [0u8; 8];
        match crate::retry_on_eintr(|| {
            // SAFETY: `count` is valid for writes of 8 bytes; the fd is open.
            syscall!(unsafe { libc::read(self.fd.as_raw_fd(), count.as_mut_ptr().cast(), 8) })
        }) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }
}

impl Wake for EventFd {
    fn wake(&self) -> io::Result<()> {
        let one = 1u64.to_ne_bytes();
        match crate::retry_on_eintr(|| {
            // SAFETY: `one` is valid for reads of 8 bytes; the fd is open.
            syscall!(unsafe { libc::write(self.fd.as_raw_fd(), one.as_ptr().cast(), 8) })
        }) {
            // The counter is saturated: a wake is pending already.
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }
}
