//! A TCP echo server written only against the `Poller` trait.
//!
//! ```text
//! cargo run -p poller --example echo -- <epoll|kqueue|poll|default> [ADDR]
//! ```
//!
//! ADDR defaults to `127.0.0.1:0`; the bound address is printed on the first line
//! of stdout (`listening on 127.0.0.1:PORT`). The backend is chosen at run time
//! and the server loop is statically dispatched (`serve::<P>`). Level-triggered,
//! one read or write per connection per event, output that does not fit the
//! socket buffer kept until the socket is writable again.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::ExitCode;

use poller::{Events, Interest, Mode, Poller, Token};

/// The listener's token; connection `i` of the slab has token `i + 1`.
const LISTENER: Token = Token(0);
/// Bytes read per readiness report.
const READ_CHUNK: usize = 16 * 1024;
/// A connection stops reading while this much echo is still unsent.
const MAX_PENDING: usize = 256 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = args.first().map(String::as_str).unwrap_or("default");
    let addr = args.get(1).map(String::as_str).unwrap_or("127.0.0.1:0");
    let addr: SocketAddr = match addr.parse() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("echo: bad address {addr:?}: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match backend {
        "default" => serve::<poller::DefaultPoller>(addr),
        #[cfg(poller_epoll)]
        "epoll" => serve::<poller::Epoll>(addr),
        #[cfg(poller_kqueue)]
        "kqueue" => serve::<poller::Kqueue>(addr),
        "poll" => serve::<poller::Poll>(addr),
        other => {
            eprintln!("echo: backend {other:?} is not available here (usage: echo BACKEND [ADDR])");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One client: its socket and the echo not yet written back.
struct Connection {
    stream: TcpStream,
    pending: Vec<u8>,
    /// The peer sent EOF: close once `pending` is written.
    read_closed: bool,
    /// What the poller watches for now (reregistered only when it changes).
    interest: Interest,
}

/// Runs the echo server on `addr` with backend `P` until an I/O error on the
/// listener or the poller.
fn serve<P: Poller>(addr: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let mut poller = P::new()?;
    poller.register(listener.as_fd(), LISTENER, Interest::READABLE, Mode::Level)?;
    println!("listening on {} ({})", listener.local_addr()?, P::NAME);
    io::stdout().flush()?;

    let mut connections: Vec<Option<Connection>> = Vec::new();
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        poller.poll(&mut events, None)?;
        for event in &events {
            if event.token() == LISTENER {
                accept_all(&mut poller, &listener, &mut connections)?;
                continue;
            }
            let index = event.token().0 - 1;
            let Some(Some(conn)) = connections.get_mut(index) else { continue };
            let keep = handle(conn, event.is_readable() || event.is_error(), &mut buf)
                .and_then(|keep| {
                    let next = interest(conn);
                    if keep && next != conn.interest {
                        poller.reregister(conn.stream.as_fd(), event.token(), next, Mode::Level)?;
                        conn.interest = next;
                    }
                    Ok(keep)
                })
                .unwrap_or(false);
            if !keep {
                // Deregister before the socket is closed (dropped).
                if let Some(conn) = connections.get_mut(index).and_then(Option::take) {
                    poller.deregister(conn.stream.as_fd())?;
                }
            }
        }
    }
}

/// Accepts every pending connection into a free slot of the slab.
fn accept_all<P: Poller>(
    poller: &mut P,
    listener: &TcpListener,
    connections: &mut Vec<Option<Connection>>,
) -> io::Result<()> {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // The client gave up before we accepted it: not the listener's fault.
            Err(e) if e.kind() == ErrorKind::ConnectionAborted => continue,
            Err(e) => return Err(e),
        };
        stream.set_nonblocking(true)?;
        let index = match connections.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                connections.push(None);
                connections.len() - 1
            }
        };
        poller.register(stream.as_fd(), Token(index + 1), Interest::READABLE, Mode::Level)?;
        if let Some(slot) = connections.get_mut(index) {
            *slot = Some(Connection {
                stream,
                pending: Vec::new(),
                read_closed: false,
                interest: Interest::READABLE,
            });
        }
    }
}

/// One read (if readable and there is room) and one write (if anything is
/// pending). Returns whether to keep the connection.
fn handle(conn: &mut Connection, readable: bool, buf: &mut [u8]) -> io::Result<bool> {
    if readable && !conn.read_closed && conn.pending.len() < MAX_PENDING {
        match conn.stream.read(buf) {
            Ok(0) => conn.read_closed = true,
            Ok(n) => conn.pending.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
    if !conn.pending.is_empty() {
        match conn.stream.write(&conn.pending) {
            Ok(n) => {
                conn.pending.drain(..n);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(!(conn.read_closed && conn.pending.is_empty()))
}

/// What to wait for next: room to write while echo is pending, data while there
/// is room to keep it.
fn interest(conn: &Connection) -> Interest {
    let wants_read = !conn.read_closed && conn.pending.len() < MAX_PENDING;
    match (wants_read, !conn.pending.is_empty()) {
        (true, true) => Interest::BOTH,
        (false, true) => Interest::WRITABLE,
        _ => Interest::READABLE,
    }
}
