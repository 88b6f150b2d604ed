//! `poll` allocates nothing once set up, on every backend: with ready events,
//! with timeouts, and with a waker woken from another thread (`wake` allocates
//! nothing either). A counting global allocator counts, per thread, every
//! allocation made inside the measured calls.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use poller::{Events, Interest, Mode, Poller, Token};

/// The system allocator, counting allocations made by the current thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the thread-local may be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

/// Allocations made by this thread while running `f`.
fn allocations_in<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = f();
    (ALLOCATIONS.with(Cell::get) - before, result)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged,
// so `System`'s guarantees hold; counting touches only a const thread-local Cell,
// which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for `layout`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` came from this allocator (so from `System`) with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (so from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[cfg(poller_epoll)]
#[test]
fn epoll_poll_allocates_nothing() {
    poll_allocates_nothing::<poller::Epoll>();
}

#[cfg(poller_kqueue)]
#[test]
fn kqueue_poll_allocates_nothing() {
    poll_allocates_nothing::<poller::Kqueue>();
}

#[test]
fn poll_poll_allocates_nothing() {
    poll_allocates_nothing::<poller::Poll>();
}

#[test]
fn the_counter_counts() {
    let (n, v) = allocations_in(|| vec![1u8; 100]);
    assert_eq!((n, v.len()), (1, 100));
}

fn poll_allocates_nothing<P: Poller>() {
    const PAIRS: usize = 32;
    let mut p = P::new().unwrap();
    let mut events = Events::with_capacity(64);
    let pairs: Vec<(UnixStream, UnixStream)> =
        (0..PAIRS).map(|_| UnixStream::pair().unwrap()).collect();
    for (i, (a, b)) in pairs.iter().enumerate() {
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let interest = if i % 2 == 0 { Interest::READABLE } else { Interest::BOTH };
        p.register(b.as_fd(), Token(i), interest, Mode::Level).unwrap();
    }
    let waker = p.waker(Token(usize::MAX)).unwrap();
    // Setup ends with one `poll`: the backend sizes its raw buffer for `events`.
    p.poll(&mut events, Some(Duration::ZERO)).unwrap();

    // Ready events: half the fds readable, half readable and writable.
    for (a, _) in &pairs {
        let mut a: &UnixStream = a;
        a.write_all(b"x").unwrap();
    }
    let mut total = 0;
    for _ in 0..100 {
        let (n, result) = allocations_in(|| p.poll(&mut events, Some(Duration::ZERO)));
        result.unwrap();
        assert_eq!(events.len(), PAIRS, "every fd stays ready (level)");
        total += n;
    }
    assert_eq!(total, 0, "{}: allocations in 100 polls with events", P::NAME);

    // Timeouts: nothing ready.
    for (i, (_, b)) in pairs.iter().enumerate() {
        p.reregister(b.as_fd(), Token(i), Interest::READABLE, Mode::Level).unwrap();
        let mut buf = [0u8; 8];
        let mut b: &UnixStream = b;
        std::io::Read::read(&mut b, &mut buf).unwrap();
    }
    for _ in 0..5 {
        let (n, result) = allocations_in(|| p.poll(&mut events, Some(Duration::from_micros(500))));
        result.unwrap();
        assert!(events.is_empty());
        total += n;
    }
    assert_eq!(total, 0, "{}: allocations in polls that time out", P::NAME);

    // A waker woken from another thread, which counts its own allocations.
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let wake_thread = thread::spawn(move || {
        let mut in_wake = 0;
        while go_rx.recv().is_ok() {
            let (n, result) = allocations_in(|| waker.wake());
            result.unwrap();
            in_wake += n;
        }
        in_wake
    });
    for round in 0..20 {
        go_tx.send(()).unwrap();
        let (n, result) = allocations_in(|| p.poll(&mut events, Some(Duration::from_secs(10))));
        result.unwrap();
        total += n;
        let tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
        assert_eq!(tokens, [Token(usize::MAX)], "round {round}");
    }
    drop(go_tx);
    let in_wake = wake_thread.join().unwrap();
    assert_eq!(total, 0, "{}: allocations in polls woken by the waker", P::NAME);
    assert_eq!(in_wake, 0, "{}: allocations in Waker::wake", P::NAME);
}
