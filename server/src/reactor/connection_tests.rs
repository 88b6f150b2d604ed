//! The connection and request state machines driven directly over a
//! loopback socket pair, without a poller: each test says what the poller
//! "reported" and calls `drive`, as the reactor does once per iteration.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::BorrowedFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use poller::Interest;

use super::*;
use crate::handlers::{Handler, StreamStep};
use crate::log::Log;
use crate::reactor::slab::{Key, Slab};

/// Sources with nothing behind them: no handler here registers a pipe.
#[derive(Debug, Default)]
struct NoSources(Slab<()>);

impl Sources for NoSources {
    fn register(&mut self, _: BorrowedFd<'_>, _: Interest) -> std::io::Result<Key> {
        self.0.insert(()).map_err(|()| std::io::ErrorKind::OutOfMemory.into())
    }
    fn watch(&mut self, _: Key, _: BorrowedFd<'_>, _: Option<Interest>) -> std::io::Result<()> {
        Ok(())
    }
    fn deregister(&mut self, key: Key, _: BorrowedFd<'_>) {
        self.0.remove(key);
    }
    fn take_readable(&mut self, _: Key) -> bool {
        false
    }
    fn take_writable(&mut self, _: Key) -> bool {
        false
    }
    fn set_timer(&mut self, _: Key, _: Option<Instant>) {}
}

/// A connection over a loopback pair, with the site and runtime it is
/// driven with.
struct Rig {
    conn: Connection,
    client: TcpStream,
    site: Rc<Site>,
    rt: Runtime,
    sources: NoSources,
    _dir: std::path::PathBuf,
}

impl Rig {
    fn new(tag: &str) -> Rig {
        let dir = std::env::temp_dir().join(format!("berth-conn-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("www")).unwrap_or_else(|e| panic!("mkdir: {e}"));
        std::fs::write(dir.join("www/a.txt"), "hello").unwrap_or_else(|e| panic!("write: {e}"));
        let text = "server { listen 127.0.0.1:1; root www; client_max_body_size 0; }";
        let config =
            config::parse(text, &dir.join("berth.conf")).unwrap_or_else(|e| panic!("config: {e}"));
        let site = Rc::new(Site::new(config));
        let log = Log::open(None, &config::LogTarget::Off).unwrap_or_else(|e| panic!("log: {e}"));
        let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = l.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
        let client = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
        let (server, peer) = l.accept().unwrap_or_else(|e| panic!("accept: {e}"));
        server.set_nonblocking(true).unwrap_or_else(|e| panic!("nonblocking: {e}"));
        client
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap_or_else(|e| panic!("timeout: {e}"));
        let conn = Connection::new(server, peer, 0, 0, site.read_buffer_size());
        Rig { conn, client, site, rt: Runtime::new(log), sources: NoSources::default(), _dir: dir }
    }

    /// One iteration in which the poller reported the socket readable and
    /// writable.
    fn drive(&mut self) -> Verdict {
        self.conn.reported = Reported { read: true, write: true, closed: false };
        let mut env = Env { site: &self.site, rt: &mut self.rt, sources: &mut self.sources };
        self.conn.drive(&mut env)
    }

    /// Drives until the socket is read empty (each read is one iteration).
    fn drive_all(&mut self) {
        for _ in 0..64 {
            assert_eq!(self.drive(), Verdict::Keep);
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.client.write_all(bytes).unwrap_or_else(|e| panic!("send: {e}"));
        // Loopback delivery is immediate, but let the kernel settle.
        std::thread::sleep(Duration::from_millis(5));
    }

    /// What the reactor does on `Verdict::Close`: the connection releases
    /// what it holds and its socket closes. The socket is shut down rather
    /// than dropped (the rig keeps the connection); either way the kernel
    /// sends what a last write held back with "more follows" (`MSG_MORE`),
    /// which an open socket may keep until its next write.
    fn close(&mut self) {
        let mut env = Env { site: &self.site, rt: &mut self.rt, sources: &mut self.sources };
        self.conn.close(&mut env);
        let _ = self.conn.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Everything the client can read within the read timeout.
    fn received(&mut self) -> String {
        let mut out = Vec::new();
        let mut buf = [0; 64 * 1024];
        loop {
            match self.client.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(_) => break,
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A handler whose reply waits for `ready`, whose body sink takes at most
/// `per_call` bytes a call, and whose reply body is streamed from `chunks`.
#[derive(Debug, Default)]
struct Later {
    state: Rc<RefCell<LaterState>>,
}

#[derive(Debug, Default)]
struct LaterState {
    ready: bool,
    per_call: usize,
    body: Vec<u8>,
    body_ended: bool,
    chunks: Vec<Vec<u8>>,
    stream_calls: usize,
    streamed: bool,
    finished: bool,
}

impl Handler for Later {
    fn sink(&mut self, _: &mut Cx<'_>) -> Result<BodySink, HttpError> {
        Ok(BodySink::Handler)
    }
    fn body(&mut self, _: &mut Cx<'_>, data: &[u8]) -> Result<usize, HttpError> {
        let mut s = self.state.borrow_mut();
        let take = data.len().min(s.per_call);
        s.body.extend_from_slice(data.get(..take).unwrap_or_default());
        Ok(take)
    }
    fn body_end(&mut self, _: &mut Cx<'_>, _: BodySink) -> Result<(), HttpError> {
        self.state.borrow_mut().body_ended = true;
        Ok(())
    }
    fn reply(&mut self, _: &mut Cx<'_>) -> Result<Option<Reply>, HttpError> {
        let s = self.state.borrow();
        if !s.ready {
            return Ok(None);
        }
        let mut r = Reply::new(200);
        r.content_type = Some(std::borrow::Cow::Borrowed("text/plain"));
        r.body = if s.streamed {
            ReplyBody::Stream { len: None }
        } else {
            ReplyBody::Bytes(std::borrow::Cow::Owned(s.body.clone()))
        };
        Ok(Some(r))
    }
    fn stream(
        &mut self,
        _: &mut Cx<'_>,
        out: &mut Vec<u8>,
        room: usize,
    ) -> Result<StreamStep, HttpError> {
        let mut s = self.state.borrow_mut();
        s.stream_calls += 1;
        if s.chunks.is_empty() {
            return Ok(StreamStep::Done);
        }
        let chunk = s.chunks.remove(0);
        let take = chunk.len().min(room);
        out.extend_from_slice(chunk.get(..take).unwrap_or_default());
        if take < chunk.len() {
            s.chunks.insert(0, chunk.get(take..).unwrap_or_default().to_vec());
        }
        Ok(StreamStep::More)
    }
    fn finish(&mut self, _: &mut Cx<'_>) {
        self.state.borrow_mut().finished = true;
    }
}

fn later(rig: &mut Rig, state: LaterState) -> Rc<RefCell<LaterState>> {
    let state = Rc::new(RefCell::new(state));
    rig.conn.inject = Some(Box::new(Later { state: Rc::clone(&state) }));
    state
}

#[test]
fn head_in_pieces_is_answered_once_whole() {
    let mut rig = Rig::new("pieces");
    for piece in [&b"GET /a.t"[..], b"xt HTTP/1.1\r\nHo", b"st: x\r\n"] {
        rig.send(piece);
        rig.drive();
        assert_eq!(rig.conn.deadline_phase().0, Phase::Header);
    }
    assert_eq!(rig.received(), "", "nothing before the head ends");
    rig.send(b"\r\n");
    rig.drive();
    let got = rig.received();
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with("\r\n\r\nhello"), "{got}");
    assert!(rig.conn.is_idle());
}

#[test]
fn pipelined_requests_are_answered_in_order_in_one_turn() {
    let mut rig = Rig::new("pipeline");
    rig.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nHEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    rig.drive();
    let got = rig.received();
    let statuses: Vec<&str> =
        got.match_indices("HTTP/1.1 ").filter_map(|(i, _)| got.get(i + 9..i + 12)).collect();
    assert_eq!(statuses, ["200", "404", "200"], "{got}");
    assert!(got.ends_with("\r\n\r\n"), "HEAD ends with its head: {got}");
}

#[test]
fn handler_answers_later() {
    let mut rig = Rig::new("later");
    let state = later(&mut rig, LaterState::default());
    rig.send(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    rig.drive();
    assert_eq!(rig.received(), "", "no reply before the handler has one");
    assert_eq!(rig.conn.deadline_phase().0, Phase::Wait);
    assert!(rig.conn.wants_read(), "reads ahead while the handler works");
    state.borrow_mut().ready = true;
    rig.drive();
    let got = rig.received();
    assert!(
        got.starts_with("HTTP/1.1 200 OK\r\n") && got.contains("Content-Length: 0\r\n"),
        "{got}"
    );
    assert!(state.borrow().finished, "the handler is finished once its reply is queued");
    assert!(rig.conn.is_idle());
}

#[test]
fn sink_that_pushes_back_stops_reading_and_loses_nothing() {
    let mut rig = Rig::new("pushback");
    let state = later(&mut rig, LaterState { ready: true, per_call: 0, ..LaterState::default() });
    let body: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let mut req = format!("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len())
        .into_bytes();
    req.extend_from_slice(&body);
    rig.send(&req);
    rig.drive();
    assert!(!state.borrow().body_ended);
    // A sink that takes nothing: the rest waits in the buffer, and what the
    // buffer cannot hold stays in the socket.
    rig.drive();
    assert_eq!(rig.received(), "");
    state.borrow_mut().per_call = 7;
    for _ in 0..2000 {
        if state.borrow().body_ended {
            break;
        }
        rig.drive();
    }
    assert!(state.borrow().body_ended, "the body ends once the sink takes it");
    assert_eq!(state.borrow().body, body, "every byte, in order");
    let got = rig.received();
    assert!(
        got.starts_with("HTTP/1.1 200 OK\r\n") && got.contains("Content-Length: 5000\r\n"),
        "{got}"
    );
}

#[test]
fn chunked_body_reaches_the_sink_decoded() {
    let mut rig = Rig::new("chunked-in");
    let state = later(&mut rig, LaterState { ready: true, per_call: 3, ..LaterState::default() });
    rig.send(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    rig.drive_all();
    assert_eq!(state.borrow().body, b"hello world");
    let got = rig.received();
    assert!(got.ends_with("\r\n\r\nhello world"), "{got}");
}

#[test]
fn streamed_reply_is_chunked_for_http11_and_close_delimited_for_http10() {
    let mut rig = Rig::new("stream11");
    let chunks = vec![b"abc".to_vec(), b"defg".to_vec()];
    later(&mut rig, LaterState { ready: true, streamed: true, chunks, ..LaterState::default() });
    rig.send(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    rig.drive_all();
    let got = rig.received();
    assert!(got.contains("Transfer-Encoding: chunked\r\n"), "{got}");
    assert!(got.ends_with("\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"), "{got}");
    assert!(rig.conn.is_idle(), "kept alive after a chunked body");

    let mut rig = Rig::new("stream10");
    let chunks = vec![b"abc".to_vec()];
    later(&mut rig, LaterState { ready: true, streamed: true, chunks, ..LaterState::default() });
    rig.send(b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let mut closed = false;
    for _ in 0..16 {
        if rig.drive() == Verdict::Close {
            closed = true;
            break;
        }
    }
    assert!(closed, "a close-delimited body ends with the connection");
    rig.close();
    let got = rig.received();
    assert!(got.contains("Connection: close\r\n") && got.ends_with("\r\n\r\nabc"), "{got}");
    assert!(!got.contains("Transfer-Encoding") && !got.contains("Content-Length"), "{got}");
}

#[test]
fn output_that_blocks_stops_pulling_the_stream() {
    let mut rig = Rig::new("blocks");
    let chunks = vec![vec![b'x'; 64 * 1024]; 256];
    let state = later(
        &mut rig,
        LaterState { ready: true, streamed: true, chunks, ..LaterState::default() },
    );
    rig.send(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    // The client reads nothing: the socket's buffers fill, writes stop
    // making progress, and the handler is no longer asked for more.
    let mut calls = Vec::new();
    for _ in 0..400 {
        rig.drive();
        calls.push(state.borrow().stream_calls);
    }
    let tail = calls.get(300..).unwrap_or_default();
    assert!(tail.windows(2).all(|w| w[0] == w[1]), "the handler is pulled while output blocks");
    assert!(rig.conn.wants_write(), "output is pending");
    assert!(state.borrow().chunks.len() > 10, "the stream did not run ahead of the client");
}
