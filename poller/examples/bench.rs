//! Events per second on every backend of the platform, side by side.
//!
//! ```text
//! cargo run --release -p poller --example bench [-- SECONDS_PER_CELL]
//! ```
//!
//! For 10, 1000 and 10000 Unix stream socket pairs (the last row as many as the
//! fd limit allows when it cannot be raised to 20016), each pair has one byte in
//! flight: whichever end holds it is readable, reads it and writes it back, which
//! makes the other end readable. So exactly one end of every pair is always
//! ready, and each event costs one read and one write. Both ends are registered
//! level-triggered; events are taken 1024 per `poll`. Prints a Markdown table.

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use poller::{Events, Interest, Mode, Poller, Token};

/// Pair counts measured (rows of the table).
const PAIR_COUNTS: [usize; 3] = [10, 1000, 10_000];
/// Events taken per `poll`.
const EVENTS_PER_POLL: usize = 1024;
/// File descriptors kept free for stdio and the poller itself.
const FD_RESERVE: u64 = 16;
/// Measuring time per cell unless given on the command line.
const DEFAULT_SECONDS: f64 = 2.0;

fn main() -> ExitCode {
    let seconds = match std::env::args().nth(1).map(|s| s.parse::<f64>()) {
        None => DEFAULT_SECONDS,
        Some(Ok(s)) if s > 0.0 && s.is_finite() => s,
        Some(_) => {
            eprintln!("usage: bench [SECONDS_PER_CELL]");
            return ExitCode::from(2);
        }
    };
    let per_cell = Duration::from_secs_f64(seconds);
    let fd_limit = match raise_nofile_limit(2 * PAIR_COUNTS[2] as u64 + FD_RESERVE) {
        Ok(limit) => limit,
        Err(e) => {
            eprintln!("bench: getrlimit/setrlimit: {e}");
            return ExitCode::FAILURE;
        }
    };

    let backends = backends();
    println!(
        "events per second, N ready ping-pong Unix socket pairs, {seconds} s per cell, \
         {EVENTS_PER_POLL} events per poll"
    );
    println!();
    print!("| pairs |");
    for (name, _) in &backends {
        print!(" {name} |");
    }
    if backends.len() == 2 {
        print!(" {} / {} |", backends[1].0, backends[0].0);
    }
    println!();
    print!("|---:|");
    for _ in 0..backends.len() + usize::from(backends.len() == 2) {
        print!("---:|");
    }
    println!();

    for wanted in PAIR_COUNTS {
        // Two fds per pair plus a few for stdio and the poller. Without the right
        // to raise the hard limit, the largest row runs with as many pairs as fit.
        let fit = usize::try_from(fd_limit.saturating_sub(FD_RESERVE) / 2).unwrap_or(usize::MAX);
        let pairs = wanted.min(fit);
        if pairs < wanted {
            print!("| {pairs} (fd limit {fd_limit}) |");
        } else {
            print!("| {pairs} |");
        }
        let mut rates = Vec::new();
        for (name, run) in &backends {
            match run(pairs, per_cell) {
                Ok(rate) => {
                    print!(" {} |", thousands(rate));
                    rates.push(rate);
                }
                Err(e) => {
                    eprintln!("bench: {name} with {pairs} pairs: {e}");
                    return ExitCode::FAILURE;
                }
            }
            io::stdout().flush().ok();
        }
        if let [first, second] = rates[..] {
            print!(" {:.2} |", second / first);
        }
        println!();
    }
    ExitCode::SUCCESS
}

/// A backend's name and its statically dispatched benchmark.
type Run = fn(usize, Duration) -> io::Result<f64>;

/// The backends of this platform, the native one first.
fn backends() -> Vec<(&'static str, Run)> {
    vec![
        #[cfg(poller_epoll)]
        (<poller::Epoll as Poller>::NAME, ping_pong::<poller::Epoll> as Run),
        #[cfg(poller_kqueue)]
        (<poller::Kqueue as Poller>::NAME, ping_pong::<poller::Kqueue> as Run),
        (<poller::Poll as Poller>::NAME, ping_pong::<poller::Poll> as Run),
    ]
}

/// Events handled per second with `pairs` ping-pong pairs on backend `P`.
fn ping_pong<P: Poller>(pairs: usize, duration: Duration) -> io::Result<f64> {
    let mut poller = P::new()?;
    let mut ends = Vec::with_capacity(2 * pairs);
    for _ in 0..pairs {
        let (a, b) = UnixStream::pair()?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        ends.push(a);
        ends.push(b);
    }
    for (i, end) in ends.iter().enumerate() {
        poller.register(end.as_fd(), Token(i), Interest::READABLE, Mode::Level)?;
    }
    // One byte in flight per pair: end 2i+1 is ready first.
    for pair in ends.chunks(2) {
        if let Some(mut a) = pair.first() {
            a.write_all(b"x")?;
        }
    }

    let mut events = Events::with_capacity(EVENTS_PER_POLL);
    let mut handled: u64 = 0;
    let mut byte = [0u8; 1];
    let start = Instant::now();
    while start.elapsed() < duration {
        poller.poll(&mut events, None)?;
        for event in &events {
            let Some(mut end) = ends.get(event.token().0) else { continue };
            match end.read(&mut byte) {
                // Send it back: the peer becomes the ready end.
                Ok(1) => end.write_all(&byte)?,
                Ok(_) => return Err(io::Error::new(ErrorKind::UnexpectedEof, "peer closed")),
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
            handled += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Deregister before the sockets close (the contract's rule).
    for end in &ends {
        poller.deregister(end.as_fd())?;
    }
    Ok(handled as f64 / elapsed)
}

/// Raises RLIMIT_NOFILE to at least `want` (the hard limit too, when allowed)
/// and returns the soft limit in effect.
fn raise_nofile_limit(want: u64) -> io::Result<u64> {
    // SAFETY: rlimit is plain integers; all zero is valid before getrlimit fills it.
    let mut rlim: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `rlim` is valid for writes of one rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let want = want as libc::rlim_t;
    if rlim.rlim_cur >= want {
        return Ok(rlim.rlim_cur as u64);
    }
    let mut raised = rlim;
    raised.rlim_cur = want;
    raised.rlim_max = raised.rlim_max.max(want);
    // SAFETY: `raised` is a valid rlimit for reads. Raising the hard limit needs
    // privileges: fall back to soft = hard.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return Ok(want as u64);
    }
    raised = rlim;
    raised.rlim_cur = rlim.rlim_max;
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(raised.rlim_cur as u64)
}

/// `1234567.8` as `1,234,568`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
