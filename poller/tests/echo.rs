//! Drives the `echo` example (built by `cargo test` with the other examples) on
//! every backend of the platform: several concurrent clients, small and large
//! messages, half-close, a client that resets, and clients arriving later.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

/// The compiled example: `<target>/<profile>/examples/echo`, next to `deps/`
/// where this test binary lives.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let bin = profile_dir.join("examples").join(format!("echo{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test -p poller` (which builds the examples) \
         or `cargo build -p poller --example echo` first",
        bin.display()
    );
    bin
}

/// A running echo server, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(backend: &str) -> Server {
        let mut child = Command::new(example_binary())
            .args([backend, "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        // "listening on 127.0.0.1:PORT (backend)"
        let rest = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}"));
        let (addr, name) = rest.trim().split_once(' ').unwrap();
        assert_eq!(name, format!("({backend})"));
        Server { child, addr: addr.parse().unwrap() }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream
    }

    fn assert_running(&mut self) {
        assert!(self.child.try_wait().unwrap().is_none(), "the echo server exited");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `data` from another thread, then half-closes; reads everything back
/// until the server closes. Writing and reading at once keeps a large message
/// from filling both directions' buffers.
fn echo_round_trip(server: &Server, data: Vec<u8>) -> Vec<u8> {
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        writer.write_all(&data).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    (&stream).read_to_end(&mut back).unwrap();
    sender.join().unwrap();
    back
}

/// Distinct bytes per client so that crossed streams would show.
fn pattern(client: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + client * 7) as u8).collect()
}

fn echoes_for(backend: &str) {
    let mut server = Server::start(backend);

    // Several clients at once, small to large messages.
    let sizes = [1, 100, 4096, 65_536, 300_000, 1 << 20, 10, 50_000];
    let server_ref = &server;
    thread::scope(|s| {
        let clients: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(client, &len)| {
                s.spawn(move || {
                    let data = pattern(client, len);
                    let back = echo_round_trip(server_ref, data.clone());
                    assert_eq!(back.len(), data.len(), "client {client}: length");
                    assert!(back == data, "client {client}: bytes differ");
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
    });
    server.assert_running();

    // Request/response on one connection, several times.
    let mut stream = server.connect();
    for round in 0..5 {
        let msg = format!("round {round}\n");
        stream.write_all(msg.as_bytes()).unwrap();
        let mut back = vec![0u8; msg.len()];
        stream.read_exact(&mut back).unwrap();
        assert_eq!(back, msg.as_bytes());
    }

    // A client that resets instead of closing does not take the server down.
    let rude = server.connect();
    rude.set_linger_zero();
    (&rude).write_all(b"bye").unwrap();
    drop(rude);
    thread::sleep(Duration::from_millis(50));
    server.assert_running();

    // The open connection still works, and a new client is served.
    stream.write_all(b"still here").unwrap();
    let mut back = [0u8; 10];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"still here");
    assert_eq!(echo_round_trip(&server, b"late client".to_vec()), b"late client");
    server.assert_running();
}

/// `SO_LINGER` 0: the close sends RST.
trait LingerZero {
    fn set_linger_zero(&self);
}

impl LingerZero for TcpStream {
    fn set_linger_zero(&self) {
        use std::os::fd::AsRawFd;
        let linger = libc::linger { l_onoff: 1, l_linger: 0 };
        // SAFETY: `linger` is a valid struct linger of the given size; the fd is open.
        let rc = unsafe {
            libc::setsockopt(
                self.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    }
}

#[cfg(poller_epoll)]
#[test]
fn echo_example_on_epoll() {
    echoes_for("epoll");
}

#[cfg(poller_kqueue)]
#[test]
fn echo_example_on_kqueue() {
    echoes_for("kqueue");
}

#[test]
fn echo_example_on_poll() {
    echoes_for("poll");
}

#[test]
fn unknown_backend_is_refused() {
    let status = Command::new(example_binary())
        .arg("select")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}
