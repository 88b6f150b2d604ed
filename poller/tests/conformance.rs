//! The conformance suite: every behaviour of the crate's contract, written once as
//! a generic function and instantiated for every backend compiled on this
//! platform (`epoll::…` and `poll::…` on Linux, `kqueue::…` and `poll::…` on
//! macOS and the BSDs, all three on Linux under `--cfg poller_libkqueue`).
//!
//! libkqueue implements kqueue over epoll in user space and differs from the
//! kernels in a few places. A test whose `kqueue::` instance it cannot pass is
//! listed as `name: "why"`: that instance is ignored under
//! `--cfg poller_libkqueue`, with why, and runs everywhere else (macOS and
//! FreeBSD CI). Line numbers refer to libkqueue at commit f96608964f7d, the
//! source in `../shared/vendor/` (<https://github.com/mheily/libkqueue>).
//!
//! Timing: waits for an event that must come use a long deadline and return as
//! soon as it arrives; bounds on elapsed time are generous (shared machines).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use poller::{Event, Events, Interest, Mode, Poller, Token, Waker};

/// How long to wait for an event that must come (returns as soon as it does).
const LONG: Duration = Duration::from_secs(5);

/// Instantiates every behaviour for every backend of this platform; `name:
/// "why"` marks a libkqueue difference (see the module docs).
macro_rules! conformance {
    (
        common: [$($common:ident $(: $common_why:literal)?),* $(,)?],
        edge: [$($edge:ident $(: $edge_why:literal)?),* $(,)?],
        epoll: [$($epoll:ident),* $(,)?],
        not_epoll: [$($not_epoll:ident),* $(,)?],
        poll: [$($poll:ident),* $(,)?] $(,)?
    ) => {
        #[cfg(poller_epoll)]
        mod epoll {
            $(#[test] fn $common() { super::$common::<poller::Epoll>() })*
            $(#[test] fn $edge() { super::$edge::<poller::Epoll>() })*
            $(#[test] fn $epoll() { super::$epoll::<poller::Epoll>() })*
        }

        #[cfg(poller_kqueue)]
        mod kqueue {
            $(
                $(#[cfg_attr(poller_libkqueue, ignore = $common_why)])?
                #[test]
                fn $common() { super::$common::<poller::Kqueue>() }
            )*
            $(
                $(#[cfg_attr(poller_libkqueue, ignore = $edge_why)])?
                #[test]
                fn $edge() { super::$edge::<poller::Kqueue>() }
            )*
            $(#[test] fn $not_epoll() { super::$not_epoll::<poller::Kqueue>() })*
        }

        mod poll {
            $(#[test] fn $common() { super::$common::<poller::Poll>() })*
            $(#[test] fn $not_epoll() { super::$not_epoll::<poller::Poll>() })*
            $(#[test] fn $poll() { super::$poll::<poller::Poll>() })*
        }
    };
}

conformance! {
    common: [
        readable_after_peer_writes,
        no_event_before_readiness,
        writable_after_connect,
        writable_when_send_buffer_has_room,
        writable_again_after_peer_drains,
        both_interests_give_one_event_per_fd,
        two_ready_fds_give_two_events,
        no_event_after_deregister,
        no_event_after_deregister_and_close,
        reregister_changes_the_interest,
        reregister_changes_the_token,
        reregister_keeping_a_level_filter_after_a_read_would_block,
        deregister_then_register_again,
        level_fires_again_until_drained,
        read_closed_on_peer_close,
        read_closed_on_shutdown_write_with_data_buffered,
        read_closed_on_tcp_shutdown_write_with_data_buffered,
        read_closed_when_pipe_writer_closes,
        read_closed_with_both_interests_and_data_buffered,
        // libkqueue fills `fflags` with getsockopt(SO_ERROR), which clears the
        // error that the next read must return (src/linux/read.c:118).
        error_on_reset: "libkqueue clears SO_ERROR to report it (src/linux/read.c:118)",
        zero_timeout_returns_at_once,
        timeout_of_20ms_waits_at_least_20ms,
        sub_millisecond_timeout_is_rounded_up,
        empty_poller_times_out,
        waker_from_another_thread_interrupts_a_blocked_poll,
        many_wakes_coalesce_into_one_event,
        waker_is_drained_and_rearms,
        waker_from_a_signal_handler,
        waker_token_is_fixed_at_creation,
        thousand_sockets_all_reported_exactly_once,
        register_twice_is_already_exists,
        deregister_unknown_is_not_found,
        reregister_unknown_is_not_found,
        // "If a file descriptor outside of kqueue is closed, the internal
        // kqueue state is not cleaned up" (BUGS.md:80): the knotes of the
        // closed number stay, and a new fd with that number cannot be added.
        closing_a_registered_fd_does_not_break_the_poller:
            "libkqueue keeps the knotes of a closed fd (BUGS.md:80)",
        fd_number_reuse_reports_the_new_token_never_the_old,
        signal_during_timed_poll_does_not_end_the_wait_early,
        signal_during_infinite_poll_keeps_waiting,
        small_event_buffer_delivers_the_rest_on_the_next_call,
        capacity_one_delivers_one_event_per_call,
        two_pollers_watch_the_same_fd,
        poller_and_waker_are_send_and_sync,
    ],
    edge: [
        edge_does_not_fire_again_until_new_data,
        edge_writable_fires_once,
        reregister_switches_between_edge_and_level,
        edge_read_closed_with_both_interests_and_data_buffered,
        reregister_rearms_a_ready_edge_registration,
        // libkqueue takes as many epoll events as the list has entries, makes
        // two entries of each fd ready on both filters, and drops those past
        // the end (src/common/kevent.c:463, src/linux/platform.c:1116 and
        // :1336-1347): with 512 entries at most, edges beyond 256 such fds are
        // lost for good.
        many_ready_edge_fds_with_both_interests_are_all_reported:
            "libkqueue drops events past a full list (src/linux/platform.c:1347)",
    ],
    epoll: [
        regular_file_is_unsupported_on_epoll,
    ],
    not_epoll: [
        regular_file_is_reported_ready,
    ],
    poll: [
        edge_is_unsupported_on_poll,
    ],
}

/// `DefaultPoller` is what the one `cfg_if!` chain promises for this build.
#[test]
fn default_poller_is_the_platform_backend() {
    let want = if cfg!(poller_force_poll) {
        "poll"
    } else if cfg!(poller_epoll) {
        "epoll"
    } else if cfg!(poller_kqueue) {
        "kqueue"
    } else {
        "poll"
    };
    assert_eq!(<poller::DefaultPoller as Poller>::NAME, want);
}

// ---------------------------------------------------------------------------
// Helpers

/// A connected, non-blocking Unix stream pair.
fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// A connected, non-blocking TCP pair over loopback: (client, server side).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nonblocking(true).unwrap();
    server.set_nonblocking(true).unwrap();
    (client, server)
}

/// A non-blocking pipe: (read end, write end).
fn pipe() -> (File, File) {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is valid for writes of two c_ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "{}", io::Error::last_os_error());
    // SAFETY: pipe(2) succeeded: both fds are new and owned by nothing else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [&r, &w] {
        // SAFETY: the fd is open; F_SETFL takes an int.
        assert_eq!(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) }, 0);
    }
    (File::from(r), File::from(w))
}

fn new<P: Poller>() -> P {
    P::new().unwrap_or_else(|e| panic!("{}::new: {e}", P::NAME))
}

/// One `poll`, its events copied out.
fn poll_once<P: Poller>(p: &mut P, events: &mut Events, timeout: Option<Duration>) -> Vec<Event> {
    p.poll(events, timeout).unwrap_or_else(|e| panic!("{}::poll: {e}", P::NAME));
    events.iter().copied().collect()
}

/// Polls until an event for `token` passes `want`, and returns it.
fn wait_for<P: Poller>(
    p: &mut P,
    events: &mut Events,
    token: Token,
    want: impl Fn(&Event) -> bool,
) -> Event {
    let deadline = Instant::now() + LONG;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{}: no matching event for {token:?} within {LONG:?}", P::NAME);
        for event in poll_once(p, events, Some(left)) {
            if event.token() == token && want(&event) {
                return event;
            }
        }
    }
}

/// Asserts that a `poll` with a short timeout reports nothing.
///
/// It must also wait the whole timeout: an early return with no event means the
/// backend would make its caller spin.
fn assert_quiet<P: Poller>(p: &mut P, events: &mut Events, why: &str) {
    let start = Instant::now();
    let got = poll_once(p, events, Some(Duration::from_millis(20)));
    let took = start.elapsed();
    assert!(got.is_empty(), "{}: {why}: unexpected events {got:?}", P::NAME);
    assert!(took >= Duration::from_millis(20), "{}: {why}: returned early: {took:?}", P::NAME);
}

/// Reads everything buffered (until `WouldBlock` or EOF).
fn drain(mut r: impl Read) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return all,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Whether the backend reports a peer's half-close as read-closed (poll(2) can
/// only where the OS has `POLLRDHUP`).
fn reports_half_close<P: Poller>() -> bool {
    P::NAME != "poll"
        || cfg!(any(
            target_os = "linux",
            target_os = "android",
            target_os = "freebsd",
            target_os = "illumos"
        ))
}

/// Raises the soft fd limit to the hard one (the 1000-socket test needs it).
fn raise_nofile_limit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `rlim` is a valid rlimit for getrlimit/setrlimit to read/write.
        unsafe {
            let mut rlim: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlim) == 0 {
                rlim.rlim_cur = rlim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &rlim);
            }
        }
    });
}

/// Counts SIGUSR1 deliveries to the no-op handler.
static SIGUSR1_COUNT: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_sigusr1(_: libc::c_int) {
    SIGUSR1_COUNT.fetch_add(1, Ordering::SeqCst);
}

/// Installs `handler` for `signal` without `SA_RESTART`, so that a blocked
/// system call in the signalled thread fails with `EINTR`.
fn install_handler(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: `action` is fully initialised (zeroed, then handler and empty mask)
    // before sigaction reads it; the handler is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as usize;
        libc::sigemptyset(&mut action.sa_mask);
        action.sa_flags = 0;
        assert_eq!(libc::sigaction(signal, &action, std::ptr::null_mut()), 0);
    }
}

fn install_sigusr1() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| install_handler(libc::SIGUSR1, count_sigusr1));
}

/// Sends `signal` to the thread of `handle`.
fn signal_thread<T>(handle: &thread::JoinHandle<T>, signal: libc::c_int) {
    // SAFETY: the thread is not joined yet, so its pthread_t is valid (a thread
    // that already finished just gets ESRCH or nothing).
    let rc = unsafe { libc::pthread_kill(handle.as_pthread_t(), signal) };
    assert!(rc == 0 || rc == libc::ESRCH, "pthread_kill: {rc}");
}

// ---------------------------------------------------------------------------
// Readiness

fn readable_after_peer_writes<P: Poller>() {
    let (mut a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    a.write_all(b"hello").unwrap();
    let got = poll_once(&mut p, &mut events, Some(LONG));
    assert_eq!(got.len(), 1, "{got:?}");
    let ev = got[0];
    assert_eq!(ev.token(), Token(1));
    assert!(ev.is_readable() && !ev.is_writable(), "{ev:?}");
    assert!(!ev.is_read_closed() && !ev.is_error(), "{ev:?}");
    assert_eq!(drain(&b), b"hello");
}

fn no_event_before_readiness<P: Poller>() {
    let (_a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    assert_quiet(&mut p, &mut events, "nothing was written");
}

fn writable_after_connect<P: Poller>() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let SocketAddr::V4(addr) = listener.local_addr().unwrap() else { panic!("v4 listener") };
    // SAFETY: plain socket(2) call; the result is checked below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: socket(2) returned a new fd owned by nothing else.
    let stream = TcpStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
    stream.set_nonblocking(true).unwrap();
    // SAFETY: sockaddr_in is plain integers; all zero is valid.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = addr.port().to_be();
    sin.sin_addr = libc::in_addr { s_addr: u32::from(*addr.ip()).to_be() };
    // The kqueue systems are the BSD family, whose sockaddrs carry their length
    // (not Linux, where libkqueue provides kqueue).
    #[cfg(all(poller_kqueue, not(poller_libkqueue)))]
    {
        sin.sin_len = std::mem::size_of::<libc::sockaddr_in>() as u8;
    }
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sin` is a valid sockaddr_in of `len` bytes; the fd is open.
    let rc = unsafe {
        libc::connect(stream.as_raw_fd(), (&sin as *const libc::sockaddr_in).cast(), len)
    };
    if rc != 0 {
        let err = io::Error::last_os_error();
        assert_eq!(err.raw_os_error(), Some(libc::EINPROGRESS), "connect: {err}");
    }
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(stream.as_fd(), Token(3), Interest::WRITABLE, Mode::Level).unwrap();
    let ev = wait_for(&mut p, &mut events, Token(3), Event::is_writable);
    assert!(!ev.is_error(), "{ev:?}");
    assert!(stream.take_error().unwrap().is_none());
    assert_eq!(stream.peer_addr().unwrap(), SocketAddr::V4(addr));
    let (_server, _) = listener.accept().unwrap();
}

fn writable_when_send_buffer_has_room<P: Poller>() {
    let (a, _b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(a.as_fd(), Token(2), Interest::WRITABLE, Mode::Level).unwrap();
    let got = poll_once(&mut p, &mut events, Some(LONG));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].token(), Token(2));
    assert!(got[0].is_writable() && !got[0].is_readable(), "{got:?}");
}

fn writable_again_after_peer_drains<P: Poller>() {
    let (mut a, b) = pair();
    let chunk = [7u8; 4096];
    let mut written = 0;
    loop {
        match a.write(&chunk) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("write: {e}"),
        }
    }
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(a.as_fd(), Token(4), Interest::WRITABLE, Mode::Level).unwrap();
    assert_quiet(&mut p, &mut events, "the send buffer is full");
    let mut read = 0;
    let deadline = Instant::now() + LONG;
    while read < written && Instant::now() < deadline {
        read += drain(&b).len();
    }
    assert_eq!(read, written);
    let ev = wait_for(&mut p, &mut events, Token(4), Event::is_writable);
    assert!(!ev.is_readable(), "{ev:?}");
}

fn both_interests_give_one_event_per_fd<P: Poller>() {
    let (mut a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(5), Interest::BOTH, Mode::Level).unwrap();
    a.write_all(b"x").unwrap();
    let got = poll_once(&mut p, &mut events, Some(LONG));
    assert_eq!(got.len(), 1, "one event per fd, read and write merged: {got:?}");
    assert!(got[0].is_readable() && got[0].is_writable(), "{got:?}");
}

fn two_ready_fds_give_two_events<P: Poller>() {
    let (mut a1, b1) = pair();
    let (mut a2, b2) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b1.as_fd(), Token(10), Interest::READABLE, Mode::Level).unwrap();
    p.register(b2.as_fd(), Token(20), Interest::READABLE, Mode::Level).unwrap();
    a1.write_all(b"1").unwrap();
    a2.write_all(b"2").unwrap();
    let mut tokens: Vec<Token> =
        poll_once(&mut p, &mut events, Some(LONG)).iter().map(Event::token).collect();
    tokens.sort();
    assert_eq!(tokens, [Token(10), Token(20)]);
}

fn poller_and_waker_are_send_and_sync<P: Poller + Send + Sync + 'static>() {
    fn check<T: Send + Sync + 'static>() {}
    check::<P>();
    check::<Waker>();
    check::<Events>();
    // A poller can move to another thread and keep working there.
    let (mut a, b) = pair();
    let mut p = new::<P>();
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    a.write_all(b"x").unwrap();
    let got = thread::spawn(move || {
        let mut events = Events::with_capacity(8);
        let got = poll_once(&mut p, &mut events, Some(LONG));
        p.deregister(b.as_fd()).unwrap();
        got
    })
    .join()
    .unwrap();
    assert_eq!(got.iter().map(Event::token).collect::<Vec<_>>(), [Token(1)]);
}

// ---------------------------------------------------------------------------
// Registration

fn no_event_after_deregister<P: Poller>() {
    let (mut a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::BOTH, Mode::Level).unwrap();
    a.write_all(b"pending").unwrap();
    // The fd is ready before deregister: its pending readiness must go too.
    p.deregister(b.as_fd()).unwrap();
    assert_quiet(&mut p, &mut events, "deregistered");
    a.write_all(b"more").unwrap();
    assert_quiet(&mut p, &mut events, "deregistered, new data");
}

fn no_event_after_deregister_and_close<P: Poller>() {
    let (mut a, b) = pair();
    let (mut c, d) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::BOTH, Mode::Level).unwrap();
    p.register(d.as_fd(), Token(2), Interest::READABLE, Mode::Level).unwrap();
    a.write_all(b"pending").unwrap();
    // Ready and unreported when it goes: nothing of it may come.
    p.deregister_and_close(std::os::fd::OwnedFd::from(b)).unwrap();
    assert_quiet(&mut p, &mut events, "closed");
    // Its number reused by a new fd under another token: only that one.
    let (mut e, f) = pair();
    p.register(f.as_fd(), Token(3), Interest::READABLE, Mode::Level).unwrap();
    e.write_all(b"x").unwrap();
    c.write_all(b"y").unwrap();
    let mut tokens = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + LONG;
    while tokens.len() < 2 && std::time::Instant::now() < deadline {
        tokens.extend(poll_once(&mut p, &mut events, Some(LONG)).iter().map(|e| e.token().0));
    }
    assert_eq!(tokens.into_iter().collect::<Vec<_>>(), [2, 3]);
    drop((a, d, f));
}

fn reregister_changes_the_interest<P: Poller>() {
    let (mut a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    assert_quiet(&mut p, &mut events, "readable interest, no data");
    p.reregister(b.as_fd(), Token(1), Interest::WRITABLE, Mode::Level).unwrap();
    let ev = wait_for(&mut p, &mut events, Token(1), Event::is_writable);
    assert!(!ev.is_readable(), "{ev:?}");
    p.reregister(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    assert_quiet(&mut p, &mut events, "back to readable, no data");
    a.write_all(b"x").unwrap();
    let ev = wait_for(&mut p, &mut events, Token(1), Event::is_readable);
    assert!(!ev.is_writable(), "{ev:?}");
}

fn reregister_changes_the_token<P: Poller>() {
    let (mut a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    p.reregister(b.as_fd(), Token(2), Interest::READABLE, Mode::Level).unwrap();
    a.write_all(b"x").unwrap();
    let got = poll_once(&mut p, &mut events, Some(LONG));
    assert_eq!(got.iter().map(Event::token).collect::<Vec<_>>(), [Token(2)]);
}

/// Regression (found on libkqueue): a `reregister` that kept a level filter
/// sent `EV_ADD` for it again, which libkqueue refuses with whatever errno was
/// left over, here the `EAGAIN` of a read: the fd ended up unregistered.
fn reregister_keeping_a_level_filter_after_a_read_would_block<P: Poller>() {
    let (mut a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    let err = (&b).read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
    // Write interest added, read kept.
    p.reregister(b.as_fd(), Token(2), Interest::BOTH, Mode::Level).unwrap();
    let ev = wait_for(&mut p, &mut events, Token(2), Event::is_writable);
    assert!(!ev.is_readable(), "{ev:?}");
    let err = (&b).read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
    // Only the token changes.
    p.reregister(b.as_fd(), Token(3), Interest::BOTH, Mode::Level).unwrap();
    a.write_all(b"x").unwrap();
    let ev = wait_for(&mut p, &mut events, Token(3), Event::is_readable);
    assert!(ev.is_writable(), "{ev:?}");
    assert_eq!(drain(&b), b"x");
}

fn deregister_then_register_again<P: Poller>() {
    let (mut a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    p.deregister(b.as_fd()).unwrap();
    p.register(b.as_fd(), Token(9), Interest::READABLE, Mode::Level).unwrap();
    a.write_all(b"x").unwrap();
    let got = poll_once(&mut p, &mut events, Some(LONG));
    assert_eq!(got.iter().map(Event::token).collect::<Vec<_>>(), [Token(9)]);
}

fn register_twice_is_already_exists<P: Poller>() {
    let (mut a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    let err = p.register(b.as_fd(), Token(2), Interest::WRITABLE, Mode::Level).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
    // The first registration is untouched.
    a.write_all(b"x").unwrap();
    let got = poll_once(&mut p, &mut events, Some(LONG));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].token(), Token(1));
    assert!(got[0].is_readable() && !got[0].is_writable(), "{got:?}");
}

fn deregister_unknown_is_not_found<P: Poller>() {
    let (_a, b) = pair();
    let mut p = new::<P>();
    let err = p.deregister(b.as_fd()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    p.deregister(b.as_fd()).unwrap();
    let err = p.deregister(b.as_fd()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "deregistered twice: {err}");
}

fn reregister_unknown_is_not_found<P: Poller>() {
    let (_a, b) = pair();
    let mut p = new::<P>();
    let err = p.reregister(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
}

fn closing_a_registered_fd_does_not_break_the_poller<P: Poller>() {
    let (a1, b1) = pair();
    let (mut a2, b2) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b1.as_fd(), Token(1), Interest::BOTH, Mode::Level).unwrap();
    p.register(b2.as_fd(), Token(2), Interest::READABLE, Mode::Level).unwrap();
    // Against the rules (deregister first), but it must not break anything.
    drop(b1);
    drop(a1);
    a2.write_all(b"x").unwrap();
    let got = poll_once(&mut p, &mut events, Some(LONG));
    assert_eq!(got.iter().map(Event::token).collect::<Vec<_>>(), [Token(2)], "{got:?}");
    drain(&b2);
    assert_quiet(&mut p, &mut events, "closed fd and drained fd");
    // New fds (likely reusing the closed numbers) register and report normally.
    let (mut a3, b3) = pair();
    p.register(b3.as_fd(), Token(3), Interest::READABLE, Mode::Level).unwrap();
    p.register(a3.as_fd(), Token(4), Interest::READABLE, Mode::Level).unwrap();
    a3.write_all(b"y").unwrap();
    let got = poll_once(&mut p, &mut events, Some(LONG));
    assert_eq!(got.iter().map(Event::token).collect::<Vec<_>>(), [Token(3)], "{got:?}");
}

fn fd_number_reuse_reports_the_new_token_never_the_old<P: Poller>() {
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    // Other tests open fds concurrently: retry until the number is really reused.
    for _attempt in 0..100 {
        let (mut a, b) = pair();
        p.register(b.as_fd(), Token(111), Interest::READABLE, Mode::Level).unwrap();
        a.write_all(b"old").unwrap();
        let old_fd = b.as_raw_fd();
        p.deregister(b.as_fd()).unwrap();
        drop(b);
        drop(a);
        let (c, d) = pair();
        let (mut writer, reused) = match (c.as_raw_fd(), d.as_raw_fd()) {
            (fd, _) if fd == old_fd => (d, c),
            (_, fd) if fd == old_fd => (c, d),
            _ => continue,
        };
        p.register(reused.as_fd(), Token(222), Interest::READABLE, Mode::Level).unwrap();
        assert_quiet(&mut p, &mut events, "the new fd has no data, the old token is gone");
        writer.write_all(b"new").unwrap();
        let got = poll_once(&mut p, &mut events, Some(LONG));
        assert_eq!(got.iter().map(Event::token).collect::<Vec<_>>(), [Token(222)], "{got:?}");
        assert_eq!(drain(&reused), b"new");
        return;
    }
    panic!("{}: the fd number was never reused in 100 attempts", P::NAME);
}

fn two_pollers_watch_the_same_fd<P: Poller>() {
    let (mut a, b) = pair();
    let mut p1 = new::<P>();
    let mut p2 = new::<P>();
    let mut events = Events::with_capacity(8);
    p1.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    p2.register(b.as_fd(), Token(2), Interest::READABLE, Mode::Level).unwrap();
    a.write_all(b"x").unwrap();
    wait_for(&mut p1, &mut events, Token(1), Event::is_readable);
    wait_for(&mut p2, &mut events, Token(2), Event::is_readable);
    p1.deregister(b.as_fd()).unwrap();
    assert_quiet(&mut p1, &mut events, "deregistered from p1");
    wait_for(&mut p2, &mut events, Token(2), Event::is_readable);
}

// ---------------------------------------------------------------------------
// Modes

fn level_fires_again_until_drained<P: Poller>() {
    let (mut a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    a.write_all(b"data").unwrap();
    for round in 0..3 {
        let got = poll_once(&mut p, &mut events, Some(LONG));
        assert_eq!(got.len(), 1, "round {round}: {got:?}");
        assert!(got[0].is_readable(), "round {round}: {got:?}");
    }
    assert_eq!(drain(&b), b"data");
    assert_quiet(&mut p, &mut events, "drained");
}

fn edge_does_not_fire_again_until_new_data<P: Poller>() {
    let (mut a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Edge).unwrap();
    a.write_all(b"one").unwrap();
    wait_for(&mut p, &mut events, Token(1), Event::is_readable);
    assert_quiet(&mut p, &mut events, "edge, not drained, no new data");
    a.write_all(b"two").unwrap();
    wait_for(&mut p, &mut events, Token(1), Event::is_readable);
    assert_eq!(drain(&b), b"onetwo");
    assert_quiet(&mut p, &mut events, "edge, drained");
}

fn edge_writable_fires_once<P: Poller>() {
    let (a, _b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(a.as_fd(), Token(1), Interest::WRITABLE, Mode::Edge).unwrap();
    wait_for(&mut p, &mut events, Token(1), Event::is_writable);
    assert_quiet(&mut p, &mut events, "edge writable already reported");
}

fn reregister_switches_between_edge_and_level<P: Poller>() {
    let (mut a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Edge).unwrap();
    a.write_all(b"x").unwrap();
    wait_for(&mut p, &mut events, Token(1), Event::is_readable);
    assert_quiet(&mut p, &mut events, "edge");
    p.reregister(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    for _ in 0..2 {
        wait_for(&mut p, &mut events, Token(1), Event::is_readable);
    }
    // Back to edge: the pending data is reported once more, then no more.
    p.reregister(b.as_fd(), Token(1), Interest::READABLE, Mode::Edge).unwrap();
    wait_for(&mut p, &mut events, Token(1), Event::is_readable);
    assert_quiet(&mut p, &mut events, "edge again");
}

/// Each edge is reported once even when more fds are ready, on both filters,
/// than half of the raw list a kqueue backend could size for the capacity.
fn many_ready_edge_fds_with_both_interests_are_all_reported<P: Poller>() {
    raise_nofile_limit();
    const N: usize = 300;
    let pairs: Vec<(UnixStream, UnixStream)> = (0..N).map(|_| pair()).collect();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(1024);
    for (i, (_, b)) in pairs.iter().enumerate() {
        p.register(b.as_fd(), Token(i), Interest::BOTH, Mode::Edge).unwrap();
    }
    let collect = |p: &mut P, events: &mut Events, want: fn(&Event) -> bool| {
        let mut seen = HashSet::new();
        let deadline = Instant::now() + LONG;
        while seen.len() < N && Instant::now() < deadline {
            for ev in poll_once(p, events, Some(Duration::from_millis(100))) {
                if want(&ev) {
                    seen.insert(ev.token());
                }
            }
        }
        seen.len()
    };
    assert_eq!(collect(&mut p, &mut events, Event::is_writable), N, "every writable edge");
    // Now every fd is readable as well as writable.
    for (a, _) in &pairs {
        let mut a: &UnixStream = a;
        a.write_all(b"!").unwrap();
    }
    assert_eq!(collect(&mut p, &mut events, Event::is_readable), N, "every readable edge");
    for (_, b) in &pairs {
        assert_eq!(drain(b), b"!");
    }
}

/// Regression (found on libkqueue with Berth's reactor, which re-arms a
/// connection whose reported readiness it did not use up): `reregister`
/// re-arms an edge registration, so readiness already reported and still there
/// is reported again (as `EPOLL_CTL_MOD` does). The kqueue backend re-added the
/// unchanged knotes with `EV_ADD`, which the kernels re-evaluate but libkqueue
/// does not: the fd was never reported again.
fn reregister_rearms_a_ready_edge_registration<P: Poller>() {
    let (mut a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::BOTH, Mode::Edge).unwrap();
    a.write_all(b"x").unwrap();
    wait_for(&mut p, &mut events, Token(1), Event::is_readable);
    assert_quiet(&mut p, &mut events, "edge, already reported");
    for round in 0..2 {
        p.reregister(b.as_fd(), Token(2), Interest::BOTH, Mode::Edge).unwrap();
        let ev = wait_for(&mut p, &mut events, Token(2), Event::is_readable);
        assert!(ev.is_writable(), "round {round}: both directions re-armed: {ev:?}");
        assert_quiet(&mut p, &mut events, "edge, reported again");
    }
    assert_eq!(drain(&b), b"x");
}

fn edge_is_unsupported_on_poll<P: Poller>() {
    assert!(!P::SUPPORTS_EDGE);
    let (mut a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    let err = p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Edge).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
    // Nothing was registered: a level registration is still possible...
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    let err = p.reregister(b.as_fd(), Token(2), Interest::READABLE, Mode::Edge).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
    // ...and a refused reregister leaves it as it was.
    a.write_all(b"x").unwrap();
    let got = poll_once(&mut p, &mut events, Some(LONG));
    assert_eq!(got.iter().map(Event::token).collect::<Vec<_>>(), [Token(1)]);
}

// ---------------------------------------------------------------------------
// Closing and errors

fn read_closed_on_peer_close<P: Poller>() {
    let (a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    drop(a);
    let ev = wait_for(&mut p, &mut events, Token(1), |_| true);
    assert!(ev.is_readable(), "{ev:?}");
    assert!(ev.is_read_closed(), "{ev:?}");
    assert_eq!((&b).read(&mut [0u8; 8]).unwrap(), 0, "EOF");
}

/// Waits until the peer's `shutdown(SHUT_WR)` on `token` is reported: as
/// read-closed together with readable where the backend can tell a half-close
/// (level-triggered, so data reported before the FIN arrives is reported again
/// with it), as readable alone where it cannot.
fn wait_for_half_close<P: Poller>(p: &mut P, events: &mut Events, token: Token) {
    if reports_half_close::<P>() {
        let ev = wait_for(p, events, token, Event::is_read_closed);
        assert!(ev.is_readable(), "{ev:?}");
    } else {
        wait_for(p, events, token, Event::is_readable);
    }
}

fn read_closed_on_shutdown_write_with_data_buffered<P: Poller>() {
    let (mut a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    a.write_all(b"last words").unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    wait_for_half_close(&mut p, &mut events, Token(1));
    // The data sent before the shutdown is still there, then EOF.
    let mut buf = [0u8; 32];
    assert_eq!((&b).read(&mut buf).unwrap(), 10);
    assert_eq!(&buf[..10], b"last words");
    assert_eq!((&b).read(&mut buf).unwrap(), 0);
    // Our write side still works: the peer only closed its own.
    (&b).write_all(b"reply").unwrap();
    let mut reply = [0u8; 5];
    a.set_nonblocking(false).unwrap();
    a.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"reply");
}

fn read_closed_on_tcp_shutdown_write_with_data_buffered<P: Poller>() {
    let (mut client, server) = tcp_pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(server.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    client.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    wait_for_half_close(&mut p, &mut events, Token(1));
    let mut all = Vec::new();
    let deadline = Instant::now() + LONG;
    loop {
        let mut buf = [0u8; 64];
        match (&server).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                wait_for(&mut p, &mut events, Token(1), Event::is_readable);
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    assert_eq!(all, b"GET / HTTP/1.0\r\n\r\n");
}

/// Regression (found on libkqueue, where Berth kept such connections until
/// their header timeout): the peer's data and FIN both arrived before an fd was
/// registered for reading and writing, and the one report of it must say
/// read-closed, or a caller that takes a short read as drained (as Berth
/// does, in edge mode) waits for an edge that never comes.
fn read_closed_with_both_interests_and_data_buffered<P: Poller>() {
    read_closed_with_both_interests::<P>(Mode::Level);
}

fn edge_read_closed_with_both_interests_and_data_buffered<P: Poller>() {
    read_closed_with_both_interests::<P>(Mode::Edge);
}

fn read_closed_with_both_interests<P: Poller>(mode: Mode) {
    let (mut client, server) = tcp_pair();
    client.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    // Let the FIN arrive before the registration.
    thread::sleep(Duration::from_millis(20));
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(server.as_fd(), Token(1), Interest::BOTH, mode).unwrap();
    wait_for_half_close(&mut p, &mut events, Token(1));
    assert_eq!(drain(&server), b"GET / HTTP/1.1\r\nHo");
}

fn read_closed_when_pipe_writer_closes<P: Poller>() {
    let (r, mut w) = pipe();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(r.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    w.write_all(b"tail").unwrap();
    drop(w);
    let ev = wait_for(&mut p, &mut events, Token(1), Event::is_read_closed);
    assert!(ev.is_readable(), "{ev:?}");
    assert_eq!(drain(&r), b"tail");
}

fn error_on_reset<P: Poller>() {
    let (client, server) = tcp_pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(server.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: `linger` is a valid struct linger of the given size; the fd is open.
    let rc = unsafe {
        libc::setsockopt(
            client.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "{}", io::Error::last_os_error());
    // close() with a zero linger sends RST instead of FIN.
    drop(client);
    let ev = wait_for(&mut p, &mut events, Token(1), Event::is_error);
    assert!(ev.is_readable() || ev.is_read_closed(), "{ev:?}");
    let err = (&server).read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
}

// Only instantiated where epoll exists.
#[cfg_attr(not(poller_epoll), allow(dead_code))]
fn regular_file_is_unsupported_on_epoll<P: Poller>() {
    let (path, file) = temp_file::<P>();
    let mut p = new::<P>();
    let err = p.register(file.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("regular files"), "a clear message: {err}");
    drop(file);
    std::fs::remove_file(path).unwrap();
}

fn regular_file_is_reported_ready<P: Poller>() {
    let (path, file) = temp_file::<P>();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(file.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    wait_for(&mut p, &mut events, Token(1), Event::is_readable);
    p.deregister(file.as_fd()).unwrap();
    drop(file);
    std::fs::remove_file(path).unwrap();
}

/// A small regular file with content, opened for reading.
fn temp_file<P: Poller>() -> (std::path::PathBuf, File) {
    let path = std::env::temp_dir().join(format!(
        "poller-conformance-{}-{}.txt",
        P::NAME,
        std::process::id()
    ));
    std::fs::write(&path, b"file content").unwrap();
    let file = File::open(&path).unwrap();
    (path, file)
}

// ---------------------------------------------------------------------------
// Timeouts and signals

fn zero_timeout_returns_at_once<P: Poller>() {
    let (_a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    let start = Instant::now();
    for _ in 0..10 {
        assert!(poll_once(&mut p, &mut events, Some(Duration::ZERO)).is_empty());
    }
    let took = start.elapsed();
    assert!(took < Duration::from_millis(100), "10 zero-timeout polls took {took:?}");
}

fn timeout_of_20ms_waits_at_least_20ms<P: Poller>() {
    let (_a, b) = pair();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
    let start = Instant::now();
    let got = poll_once(&mut p, &mut events, Some(Duration::from_millis(20)));
    let took = start.elapsed();
    assert!(got.is_empty(), "{got:?}");
    assert!(took >= Duration::from_millis(20), "woke early: {took:?}");
    assert!(took < Duration::from_millis(500), "overslept: {took:?}");
}

fn sub_millisecond_timeout_is_rounded_up<P: Poller>() {
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    // 100 µs rounds up to 1 ms: waiting less would make a caller's timer loop spin.
    let start = Instant::now();
    assert!(poll_once(&mut p, &mut events, Some(Duration::from_micros(100))).is_empty());
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1), "not rounded up: {took:?}");
    assert!(took < Duration::from_millis(500), "overslept: {took:?}");
}

fn empty_poller_times_out<P: Poller>() {
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    let start = Instant::now();
    assert!(poll_once(&mut p, &mut events, Some(Duration::from_millis(10))).is_empty());
    assert!(start.elapsed() >= Duration::from_millis(10));
}

fn signal_during_timed_poll_does_not_end_the_wait_early<P: Poller>() {
    install_sigusr1();
    let before = SIGUSR1_COUNT.load(Ordering::SeqCst);
    let (ready_tx, ready_rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let (_a, b) = pair();
        let mut p = new::<P>();
        let mut events = Events::with_capacity(8);
        p.register(b.as_fd(), Token(1), Interest::READABLE, Mode::Level).unwrap();
        ready_tx.send(()).unwrap();
        let start = Instant::now();
        let got = poll_once(&mut p, &mut events, Some(Duration::from_millis(300)));
        (start.elapsed(), got)
    });
    ready_rx.recv().unwrap();
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(40));
        signal_thread(&handle, libc::SIGUSR1);
    }
    let (took, got) = handle.join().unwrap();
    assert!(got.is_empty(), "{got:?}");
    assert!(took >= Duration::from_millis(300), "the signals ended the wait early: {took:?}");
    assert!(SIGUSR1_COUNT.load(Ordering::SeqCst) >= before + 3, "the signals were delivered");
}

fn signal_during_infinite_poll_keeps_waiting<P: Poller>() {
    install_sigusr1();
    let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
    let handle = thread::spawn(move || {
        let mut p = new::<P>();
        let mut events = Events::with_capacity(8);
        waker_tx.send(p.waker(Token(77)).unwrap()).unwrap();
        poll_once(&mut p, &mut events, None)
    });
    let waker = waker_rx.recv().unwrap();
    thread::sleep(Duration::from_millis(20));
    for _ in 0..3 {
        signal_thread(&handle, libc::SIGUSR1);
        thread::sleep(Duration::from_millis(20));
    }
    waker.wake().unwrap();
    let got = handle.join().unwrap();
    // An EINTR passed up would have ended the wait with no event or an error.
    assert_eq!(got.iter().map(Event::token).collect::<Vec<_>>(), [Token(77)], "{got:?}");
}

// ---------------------------------------------------------------------------
// Waker

fn waker_from_another_thread_interrupts_a_blocked_poll<P: Poller>() {
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    let waker = p.waker(Token(99)).unwrap();
    let start = Instant::now();
    let wake_thread = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        waker.wake().unwrap();
    });
    let got = poll_once(&mut p, &mut events, Some(Duration::from_secs(30)));
    let took = start.elapsed();
    wake_thread.join().unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].token(), Token(99));
    assert!(got[0].is_readable() && !got[0].is_writable(), "{got:?}");
    assert!(took < Duration::from_secs(10), "the wake did not interrupt: {took:?}");
}

fn many_wakes_coalesce_into_one_event<P: Poller>() {
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    let waker = p.waker(Token(99)).unwrap();
    let clones: Vec<Waker> = (0..4).map(|_| waker.clone()).collect();
    let threads: Vec<_> = clones
        .into_iter()
        .map(|w| thread::spawn(move || (0..250).for_each(|_| w.wake().unwrap())))
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let got = poll_once(&mut p, &mut events, Some(LONG));
    assert_eq!(got.iter().map(Event::token).collect::<Vec<_>>(), [Token(99)], "{got:?}");
    assert_quiet(&mut p, &mut events, "1000 wakes are one event");
}

fn waker_is_drained_and_rearms<P: Poller>() {
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    let waker = p.waker(Token(5)).unwrap();
    for round in 0..3 {
        waker.wake().unwrap();
        let got = poll_once(&mut p, &mut events, Some(LONG));
        assert_eq!(got.iter().map(Event::token).collect::<Vec<_>>(), [Token(5)], "{round}");
        assert_quiet(&mut p, &mut events, "drained by the poller");
    }
}

/// One waker per backend for the SIGUSR2 handler (set once per process).
static SIGNAL_WAKERS: [OnceLock<Waker>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];

extern "C" fn wake_from_handler(_: libc::c_int) {
    for waker in SIGNAL_WAKERS.iter().filter_map(OnceLock::get) {
        // Async-signal-safe: one write(2)/kevent(2), no allocation, no lock.
        let _ = waker.wake();
    }
}

fn waker_from_a_signal_handler<P: Poller>() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| install_handler(libc::SIGUSR2, wake_from_handler));
    let slot = match P::NAME {
        "epoll" => 0,
        "kqueue" => 1,
        _ => 2,
    };
    let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
    let handle = thread::spawn(move || {
        let mut p = new::<P>();
        let mut events = Events::with_capacity(8);
        waker_tx.send(p.waker(Token(42)).unwrap()).unwrap();
        poll_once(&mut p, &mut events, Some(Duration::from_secs(30)))
    });
    let waker = waker_rx.recv().unwrap();
    assert!(SIGNAL_WAKERS[slot].set(waker).is_ok(), "one test per backend sets the slot");
    thread::sleep(Duration::from_millis(20));
    signal_thread(&handle, libc::SIGUSR2);
    let got = handle.join().unwrap();
    assert_eq!(got.iter().map(Event::token).collect::<Vec<_>>(), [Token(42)], "{got:?}");
}

fn waker_token_is_fixed_at_creation<P: Poller>() {
    let mut p = new::<P>();
    let mut events = Events::with_capacity(8);
    let first = p.waker(Token(7)).unwrap();
    let again = p.waker(Token(7)).unwrap();
    let err = p.waker(Token(8)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
    again.wake().unwrap();
    first.wake().unwrap();
    let got = poll_once(&mut p, &mut events, Some(LONG));
    assert_eq!(got.iter().map(Event::token).collect::<Vec<_>>(), [Token(7)], "{got:?}");
    // A waker outliving its poller is harmless.
    drop(p);
    first.wake().unwrap();
}

// ---------------------------------------------------------------------------
// Scale and buffers

fn thousand_sockets_all_reported_exactly_once<P: Poller>() {
    raise_nofile_limit();
    const N: usize = 1000;
    let pairs: Vec<(UnixStream, UnixStream)> = (0..N).map(|_| pair()).collect();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(2 * N);
    for (i, (_, b)) in pairs.iter().enumerate() {
        p.register(b.as_fd(), Token(i), Interest::READABLE, Mode::Level).unwrap();
    }
    for (a, _) in &pairs {
        let mut a: &UnixStream = a;
        a.write_all(b"!").unwrap();
    }
    let mut seen: HashMap<Token, usize> = HashMap::new();
    let deadline = Instant::now() + LONG;
    while seen.len() < N && Instant::now() < deadline {
        for event in poll_once(&mut p, &mut events, Some(LONG)) {
            assert!(event.is_readable(), "{event:?}");
            *seen.entry(event.token()).or_default() += 1;
            // Drained: a level registration must not come back.
            let (_, b) = &pairs[event.token().0];
            assert_eq!(drain(b), b"!");
        }
    }
    assert_eq!(seen.len(), N, "every socket reported");
    assert!(seen.values().all(|&n| n == 1), "each exactly once");
    assert_quiet(&mut p, &mut events, "all drained");
}

fn small_event_buffer_delivers_the_rest_on_the_next_call<P: Poller>() {
    const N: usize = 10;
    let pairs: Vec<(UnixStream, UnixStream)> = (0..N).map(|_| pair()).collect();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(3);
    for (i, (a, b)) in pairs.iter().enumerate() {
        p.register(b.as_fd(), Token(i), Interest::READABLE, Mode::Level).unwrap();
        let mut a: &UnixStream = a;
        a.write_all(b"x").unwrap();
    }
    // Not drained, level-triggered: every fd stays ready, yet none is starved.
    let mut seen = HashSet::new();
    for call in 0..N.div_ceil(3) {
        let got = poll_once(&mut p, &mut events, Some(LONG));
        assert!(!got.is_empty() && got.len() <= 3, "call {call}: {got:?}");
        seen.extend(got.iter().map(Event::token));
    }
    assert_eq!(seen.len(), N, "all reported within {} calls: {seen:?}", N.div_ceil(3));
}

fn capacity_one_delivers_one_event_per_call<P: Poller>() {
    let pairs: Vec<(UnixStream, UnixStream)> = (0..3).map(|_| pair()).collect();
    let mut p = new::<P>();
    let mut events = Events::with_capacity(1);
    for (i, (a, b)) in pairs.iter().enumerate() {
        p.register(b.as_fd(), Token(i), Interest::BOTH, Mode::Level).unwrap();
        let mut a: &UnixStream = a;
        a.write_all(b"x").unwrap();
    }
    for _ in 0..5 {
        let got = poll_once(&mut p, &mut events, Some(LONG));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].is_readable() && got[0].is_writable(), "{got:?}");
    }
}
