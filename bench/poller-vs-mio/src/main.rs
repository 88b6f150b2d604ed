//! Events per second of `poller` (its default backend) and mio on the same
//! ping-pong workload, in one run.
//!
//! ```text
//! cargo run --release -- [SECONDS_PER_CELL] [ROUNDS]
//! ```
//!
//! For 10, 1,000 and 8,000 Unix stream socket pairs, each pair has one byte in
//! flight: the end that holds it is readable, reads it and writes it back,
//! which makes the other end readable. Both libraries register both ends
//! edge-triggered for reading (mio is edge-triggered only) and do the same
//! work per event: one read into a 64-byte buffer (a short read drained the
//! socket) and one one-byte write. Events are taken 1024 per poll. The two
//! libraries take turns for ROUNDS rounds per size (ABBA order); the table
//! gives the mean events per second, the ratio of the means, and the median
//! of the rounds' ratios (steadier on a machine whose neighbours steal time).

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

const SIZES: [usize; 3] = [10, 1000, 8000];
const EVENTS: usize = 1024;

fn pairs(n: usize) -> io::Result<Vec<(UnixStream, UnixStream)>> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let (a, b) = UnixStream::pair()?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        v.push((a, b));
    }
    for (a, _) in &mut v {
        a.write_all(b"x")?;
    }
    Ok(v)
}

/// The work done for one readable end: read once, write the byte back.
fn bounce(s: &mut UnixStream) -> io::Result<()> {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => Err(ErrorKind::UnexpectedEof.into()),
        Ok(_) => s.write_all(b"x"),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e),
    }
}

fn run_poller(n: usize, d: Duration) -> io::Result<f64> {
    use poller::{Events, Interest, Mode, Poller};
    let mut socks: Vec<UnixStream> = pairs(n)?.into_iter().flat_map(|(a, b)| [a, b]).collect();
    let mut p = poller::DefaultPoller::new()?;
    for (i, s) in socks.iter().enumerate() {
        p.register(s.as_fd(), poller::Token(i), Interest::READABLE, Mode::Edge)?;
    }
    let mut events = Events::with_capacity(EVENTS);
    let (start, mut count) = (Instant::now(), 0u64);
    while start.elapsed() < d {
        p.poll(&mut events, Some(Duration::from_secs(1)))?;
        for ev in events.iter() {
            if let Some(s) = socks.get_mut(ev.token().0) {
                bounce(s)?;
                count += 1;
            }
        }
    }
    // The rate is taken before the clean-up, as mio's is (its sockets are
    // dropped after the clock stops).
    let rate = count as f64 / start.elapsed().as_secs_f64();
    for s in &socks {
        p.deregister(s.as_fd())?;
    }
    Ok(rate)
}

fn run_mio(n: usize, d: Duration) -> io::Result<f64> {
    use mio::net::UnixStream as MioStream;
    use mio::{Events, Interest, Poll, Token};
    let mut socks: Vec<MioStream> = pairs(n)?
        .into_iter()
        .flat_map(|(a, b)| [MioStream::from_std(a), MioStream::from_std(b)])
        .collect();
    let mut p = Poll::new()?;
    for (i, s) in socks.iter_mut().enumerate() {
        p.registry().register(s, Token(i), Interest::READABLE)?;
    }
    let mut events = Events::with_capacity(EVENTS);
    let (start, mut count) = (Instant::now(), 0u64);
    let mut buf = [0u8; 64];
    while start.elapsed() < d {
        p.poll(&mut events, Some(Duration::from_secs(1)))?;
        for ev in events.iter() {
            if let Some(s) = socks.get_mut(ev.token().0) {
                // The same work as `bounce`, on mio's stream type.
                match s.read(&mut buf) {
                    Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                    Ok(_) => s.write_all(b"x")?,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                count += 1;
            }
        }
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    let d = Duration::from_secs_f64(secs);
    println!("events per second, ping-pong Unix socket pairs, edge-triggered, {secs} s x {rounds} rounds per cell");
    println!();
    println!(
        "| pairs | poller ({}) | mio | poller / mio (means) | median of the rounds' ratios |",
        <poller::DefaultPoller as poller::Poller>::NAME
    );
    println!("|---:|---:|---:|---:|---:|");
    for n in SIZES {
        let (mut a, mut b, mut ratios) = (0.0, 0.0, Vec::with_capacity(rounds));
        for round in 0..rounds {
            // ABBA order: neither library always runs first (warm caches,
            // a neighbour's load that comes and goes).
            let (x, y) = if round % 2 == 0 {
                let x = run_poller(n, d)?;
                (x, run_mio(n, d)?)
            } else {
                let y = run_mio(n, d)?;
                (run_poller(n, d)?, y)
            };
            a += x;
            b += y;
            ratios.push(x / y);
        }
        let (a, b) = (a / rounds as f64, b / rounds as f64);
        ratios.sort_by(f64::total_cmp);
        let median = ratios.get(ratios.len() / 2).copied().unwrap_or(0.0);
        println!("| {n} | {a:.0} | {b:.0} | {:.3} | {median:.3} |", a / b);
    }
    Ok(())
}
