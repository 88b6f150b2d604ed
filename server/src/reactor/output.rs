//! A connection's output: a queue of parts written in order, one write (or
//! `sendfile`) per loop iteration.
//!
//! Parts are bytes (response heads, small bodies, cached files copied in),
//! file ranges sent with `sendfile`, and streams whose bytes a handler
//! produces later (framed here: chunked, close-delimited or of a known
//! length). Bytes go straight into one reused buffer while nothing else is
//! queued, so the common response (head and small body) costs one `write`
//! and no allocation; behind a file or a stream they wait as a part of their
//! own (lighttpd's `chunkqueue`).
//!
//! It counts bytes queued and sent since the connection opened, so the
//! connection knows when each response has really gone out (for its access
//! log line) and how much of it.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, ErrorKind, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;

use crate::http::chunked::{encode_chunk, LAST_CHUNK};
use crate::http::response::Framing;

/// Responses are queued until the buffer holds this much (pipelining).
pub const PIPELINE_BYTES: usize = 64 * 1024;
/// Bytes one `sendfile` call is asked for (the fairness budget per loop
/// iteration): at most this much, rounded down to a segment boundary (on
/// loopback, whose MSS is 65,483 bytes, one segment a call), except a
/// file's last call, which may take up to one segment more rather than
/// leave a sliver for another turn. Larger calls (256 KiB, as lighttpd; 1
/// MiB) were measured slower on the machine of 2026-12-07, for the server
/// and the client alike (bench/README.md).
pub const SENDFILE_CHUNK: usize = 64 * 1024;
/// Most stream bytes waiting in the buffer before the handler is asked for
/// more (the back-pressure bound of a streamed body).
pub const STREAM_BYTES: usize = 16 * 1024;
/// A buffer larger than this is freed once drained.
pub const KEEP_BUFFER_BYTES: usize = 4 * PIPELINE_BYTES;

/// One queued part after the buffer.
#[derive(Debug)]
enum Part {
    /// Bytes queued behind a file or a stream.
    Bytes(Vec<u8>),
    /// `remaining` bytes of `file` from `offset`; `mss`: the socket's
    /// segment size, asked at the part's first call that needs it (0: not
    /// yet).
    File { file: File, offset: u64, remaining: u64, mss: u32 },
    /// A body its handler is still producing.
    Stream(Framing),
}

/// What one write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Bytes the socket took.
    pub bytes: usize,
    /// Whether the socket's readiness was used up (a short write or
    /// `EAGAIN`): a new readiness report will come when it drains.
    pub exhausted: bool,
}

/// The output queue of one connection.
#[derive(Debug, Default)]
pub struct Output {
    buf: Vec<u8>,
    pos: usize,
    parts: VecDeque<Part>,
    queued: u64,
    sent: u64,
    /// Where, in bytes sent, the socket's current segment starts: the end
    /// of the last write the kernel pushed (one without `MSG_MORE`).
    segment_start: u64,
}

impl Output {
    /// Bytes queued since the connection opened.
    pub fn queued(&self) -> u64 {
        self.queued
    }

    /// Bytes sent since the connection opened.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Whether everything queued was sent.
    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len() && self.parts.is_empty()
    }

    /// Whether the queue holds enough that no further response should be
    /// added: a file or a stream is queued, or the buffer is full.
    pub fn is_backlogged(&self) -> bool {
        !self.parts.is_empty() || self.buf.len() - self.pos >= PIPELINE_BYTES
    }

    /// Whether a write has something to do now (a stream waiting for its
    /// handler has not).
    pub fn wants_write(&self) -> bool {
        self.pos < self.buf.len()
            || matches!(self.parts.front(), Some(Part::Bytes(_) | Part::File { .. }))
    }

    /// Whether the next write is a file's and more than two calls of it
    /// remain: writability is then wanted every turn for a while, which a
    /// level-triggered registration gives without a re-arm a call.
    pub fn sending_long_file(&self) -> bool {
        self.pos == self.buf.len()
            && matches!(self.parts.front(), Some(Part::File { remaining, .. })
                if *remaining > 2 * SENDFILE_CHUNK as u64)
    }

    /// Whether a stream is queued (its handler still produces the body).
    pub fn has_stream(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Stream(_)))
    }

    /// Appends bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.queued += data.len() as u64;
        match self.parts.back_mut() {
            None => self.buf.extend_from_slice(data),
            Some(Part::Bytes(b)) => b.extend_from_slice(data),
            Some(_) => self.parts.push_back(Part::Bytes(data.to_vec())),
        }
    }

    /// Appends bytes written by `fill` into the buffer (a response head),
    /// without an intermediate copy when nothing else is queued.
    pub fn push_with(&mut self, fill: impl FnOnce(&mut Vec<u8>)) {
        let target = match self.parts.back_mut() {
            None => &mut self.buf,
            Some(Part::Bytes(b)) => b,
            Some(_) => {
                self.parts.push_back(Part::Bytes(Vec::new()));
                match self.parts.back_mut() {
                    Some(Part::Bytes(b)) => b,
                    _ => return,
                }
            }
        };
        let before = target.len();
        fill(target);
        self.queued += (target.len() - before) as u64;
    }

    /// Appends `len` bytes of `file` from `offset`, sent with `sendfile`.
    pub fn push_file(&mut self, file: File, offset: u64, len: u64) {
        if len > 0 {
            self.queued += len;
            self.parts.push_back(Part::File { file, offset, remaining: len, mss: 0 });
        }
    }

    /// Appends a stream framed as `framing`; its bytes come through
    /// [`Output::stream_push`] and it ends with [`Output::stream_end`].
    pub fn push_stream(&mut self, framing: Framing) {
        self.parts.push_back(Part::Stream(framing));
    }

    /// How many raw bytes the stream may take now: zero until everything
    /// queued before it has been sent, and while [`STREAM_BYTES`] of it wait.
    pub fn stream_room(&self) -> usize {
        match self.parts.front() {
            Some(Part::Stream(Framing::Length(n))) => {
                let room = STREAM_BYTES.saturating_sub(self.buf.len() - self.pos);
                usize::try_from(*n).map_or(room, |n| n.min(room))
            }
            Some(Part::Stream(_)) => STREAM_BYTES.saturating_sub(self.buf.len() - self.pos),
            _ => 0,
        }
    }

    /// Queues stream data (at most [`Output::stream_room`] bytes), framed;
    /// returns how many bytes were taken.
    pub fn stream_push(&mut self, data: &[u8]) -> usize {
        let take = data.len().min(self.stream_room());
        let Some(data) = data.get(..take) else { return 0 };
        if data.is_empty() {
            return 0;
        }
        let before = self.buf.len();
        match self.parts.front_mut() {
            Some(Part::Stream(Framing::Chunked)) => encode_chunk(data, &mut self.buf),
            Some(Part::Stream(Framing::Length(n))) => {
                *n -= data.len() as u64;
                self.buf.extend_from_slice(data);
            }
            Some(Part::Stream(_)) => self.buf.extend_from_slice(data),
            _ => return 0,
        }
        self.queued += (self.buf.len() - before) as u64;
        take
    }

    /// Ends the stream at the front of the queue: the last chunk for a
    /// chunked body. Returns false when a body of known length ended short
    /// (the connection must close: the client is owed bytes).
    pub fn stream_end(&mut self) -> bool {
        match self.parts.pop_front() {
            Some(Part::Stream(Framing::Chunked)) => {
                self.buf.extend_from_slice(LAST_CHUNK);
                self.queued += LAST_CHUNK.len() as u64;
                true
            }
            Some(Part::Stream(Framing::Length(n))) => n == 0,
            Some(Part::Stream(_)) => true,
            Some(other) => {
                self.parts.push_front(other);
                false
            }
            None => false,
        }
    }

    /// One `write` or `sendfile` to `socket`. A file is sent about
    /// [`SENDFILE_CHUNK`] bytes a call, each call but the last ending on a
    /// segment boundary (a whole number of the socket's MSS after what the
    /// current segment already holds; see `file_call`). `closing`: the connection
    /// closes (or shuts its write side) as soon as the queue is empty, so
    /// the queue's last bytes go with "more follows" (`MSG_MORE`) and leave
    /// in one segment with the FIN that `close` adds, as nginx's corked
    /// socket does: the client gets the response and the end of the
    /// connection at once, not in two segments and two wakeups.
    ///
    /// # Errors
    /// Any error but `EAGAIN` and `EINTR` (the connection must close), and a
    /// file that shrank while it was sent (`sendfile` returning 0).
    pub fn write_to(&mut self, socket: &TcpStream, closing: bool) -> io::Result<Written> {
        if self.pos == self.buf.len() {
            if let Some(Part::Bytes(_)) = self.parts.front() {
                if let Some(Part::Bytes(b)) = self.parts.pop_front() {
                    self.buf = b;
                    self.pos = 0;
                }
            }
        }
        if self.pos < self.buf.len() {
            let out = self.buf.get(self.pos..).unwrap_or_default();
            let len = out.len();
            // A head followed by a file: "more follows", so the head leaves
            // in one segment with the file's first bytes (sent next turn).
            let head_of_file = matches!(self.parts.front(), Some(Part::File { .. }));
            // The last bytes before the FIN: "more follows" too (see the doc).
            let more = head_of_file || (closing && self.parts.is_empty());
            let sent = if more {
                platform::net::send_more(socket.as_fd(), out)
            } else {
                (&mut &*socket).write(out)
            };
            let n = match sent {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) => return retryable(e),
            };
            self.pos += n;
            self.sent += n as u64;
            if !more {
                self.segment_start = self.sent;
            }
            if self.pos == self.buf.len() {
                self.buf.clear();
                self.pos = 0;
                if self.buf.capacity() > KEEP_BUFFER_BYTES {
                    self.buf = Vec::new();
                }
            }
            return Ok(Written { bytes: n, exhausted: n < len });
        }
        let Some(Part::File { file, offset, remaining, mss }) = self.parts.front_mut() else {
            return Ok(Written { bytes: 0, exhausted: false });
        };
        // The MSS is asked once a file, before its first call that is not
        // its last (which takes what remains, aligned or not): it grows
        // with the peer's window early in a connection's life, and a
        // `getsockopt` a call was one system call in three.
        if *mss == 0 && *remaining > SENDFILE_CHUNK as u64 {
            *mss = platform::net::tcp_mss(socket.as_fd()).unwrap_or(1).max(1);
        }
        let want = file_call(*remaining, self.sent - self.segment_start, *mss);
        let n = match platform::sendfile::sendfile(socket.as_fd(), file.as_fd(), *offset, want) {
            // The file shrank under us: the promised length cannot be sent.
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e) => return retryable(e),
        };
        *offset += n as u64;
        *remaining = remaining.saturating_sub(n as u64);
        self.sent += n as u64;
        self.segment_start = self.sent;
        if *remaining == 0 {
            self.parts.pop_front();
        }
        Ok(Written { bytes: n, exhausted: n < want })
    }

    /// Whether the buffer has no allocation (the connection was idle).
    pub fn lacks_buffer(&self) -> bool {
        self.buf.capacity() == 0
    }

    /// Gives the queue an empty buffer to write into (from the runtime's
    /// pool), when it has none.
    pub fn provide_buffer(&mut self, buf: Vec<u8>) {
        if self.buf.capacity() == 0 && buf.is_empty() {
            self.buf = buf;
        }
    }

    /// Takes the buffer away once everything was sent, for the pool: an idle
    /// keep-alive connection holds no output memory (nginx frees a request's
    /// buffers at keep-alive too).
    pub fn take_buffer(&mut self) -> Option<Vec<u8>> {
        (self.is_empty() && self.buf.capacity() > 0).then(|| std::mem::take(&mut self.buf))
    }
}

/// How much of a file with `remaining` bytes one `sendfile` asks for: all
/// of it when that is at most [`SENDFILE_CHUNK`]; else [`SENDFILE_CHUNK`]
/// or less, ending on a segment boundary so that its tail does not leave
/// as a short segment of its own (with `TCP_NODELAY`; on loopback's 64 KiB
/// segments a 64 KiB call was a full segment and a 53-byte one); or all of
/// it when less than a segment would be left for another call (one turn
/// less). `into`: bytes already in the current segment (a head held with
/// `MSG_MORE`).
fn file_call(remaining: u64, into: u64, mss: u32) -> usize {
    if remaining <= SENDFILE_CHUNK as u64 {
        return usize::try_from(remaining).unwrap_or(SENDFILE_CHUNK);
    }
    let want = aligned_chunk(SENDFILE_CHUNK, into, mss);
    if remaining.saturating_sub(want as u64) <= u64::from(mss) {
        usize::try_from(remaining).unwrap_or(want)
    } else {
        want
    }
}

/// The most bytes, at most `want`, that end a segment of `mss` bytes when
/// `into` bytes of the current segment are already written (held with
/// `MSG_MORE`); `want` itself when not even one segment fits.
fn aligned_chunk(want: usize, into: u64, mss: u32) -> usize {
    let mss = u64::from(mss.max(1));
    let into = into % mss;
    let end = (into + want as u64) / mss * mss;
    match usize::try_from(end.saturating_sub(into)) {
        Ok(n) if n > 0 => n,
        _ => want,
    }
}

/// `EAGAIN` and `EINTR` are no progress, not errors.
fn retryable(e: io::Error) -> io::Result<Written> {
    match e.kind() {
        ErrorKind::WouldBlock => Ok(Written { bytes: 0, exhausted: true }),
        ErrorKind::Interrupted => Ok(Written { bytes: 0, exhausted: false }),
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = l.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
        let c = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
        let (s, _) = l.accept().unwrap_or_else(|e| panic!("accept: {e}"));
        s.set_nonblocking(true).unwrap_or_else(|e| panic!("nonblocking: {e}"));
        (s, c)
    }

    fn drain(out: &mut Output, s: &TcpStream) {
        for _ in 0..100 {
            if !out.wants_write() {
                return;
            }
            out.write_to(s, false).unwrap_or_else(|e| panic!("write: {e}"));
        }
        panic!("output did not drain");
    }

    #[test]
    fn parts_go_out_in_order_with_stream_framing() {
        let (s, mut c) = pair();
        let dir = std::env::temp_dir().join(format!("berth-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let path = dir.join("f");
        std::fs::write(&path, b"0123456789").unwrap_or_else(|e| panic!("write: {e}"));
        let file = File::open(&path).unwrap_or_else(|e| panic!("open: {e}"));

        let mut out = Output::default();
        out.push(b"head1|");
        out.push_file(file, 2, 5);
        out.push(b"|head2|");
        out.push_stream(Framing::Chunked);
        assert!(out.is_backlogged());
        assert_eq!(out.stream_room(), 0, "the stream waits behind the file");
        drain(&mut out, &s);
        assert!(out.stream_room() > 0);
        assert!(!out.wants_write(), "a waiting stream has nothing to write");
        assert_eq!(out.stream_push(b"abc"), 3);
        assert!(out.stream_end());
        drain(&mut out, &s);
        assert!(out.is_empty());
        assert_eq!(out.sent(), out.queued());

        let want = b"head1|23456|head2|3\r\nabc\r\n0\r\n\r\n";
        let mut got = vec![0; want.len()];
        c.read_exact(&mut got).unwrap_or_else(|e| panic!("read: {e}"));
        assert_eq!(got, want);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Level-triggered write interest is asked for only while a file's
    /// calls are next and more than two of them remain: not while its
    /// head waits, not for its last two calls, not for a short file.
    #[test]
    fn a_long_file_is_sending_until_two_calls_remain() {
        let (s, mut c) = pair();
        let dir = std::env::temp_dir().join(format!("berth-output-long-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let path = dir.join("f");
        let len = 4 * SENDFILE_CHUNK;
        std::fs::write(&path, vec![7u8; len]).unwrap_or_else(|e| panic!("write: {e}"));
        let open = || File::open(&path).unwrap_or_else(|e| panic!("open: {e}"));

        let mut out = Output::default();
        out.push(b"head|");
        out.push_file(open(), 0, len as u64);
        assert!(!out.sending_long_file(), "the head goes first, edge-triggered");
        let mut long = Vec::new();
        while out.wants_write() {
            out.write_to(&s, false).unwrap_or_else(|e| panic!("write: {e}"));
            long.push(out.sending_long_file());
            let mut sink = vec![0; 2 * SENDFILE_CHUNK];
            let _ = c.read(&mut sink);
        }
        assert_eq!(long.first(), Some(&true), "after the head: {long:?}");
        assert_eq!(long.last(), Some(&false), "{long:?}");
        assert!(long.windows(2).all(|w| w[0] || !w[1]), "never back to long: {long:?}");

        let mut short = Output::default();
        short.push_file(open(), 0, 2 * SENDFILE_CHUNK as u64);
        assert!(!short.sending_long_file(), "two calls: edge re-arms are cheaper");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn file_calls_are_aligned_and_leave_no_sliver() {
        let mss = 65_483;
        // A 1 MiB file after a 235-byte head, call by call: one segment a
        // call (the first shares its segment with the head), and the last
        // takes the 1,083 bytes a seventeenth call would have sent alone.
        let len = 1 << 20;
        let mut remaining: u64 = len;
        let mut into = 235;
        let mut calls = Vec::new();
        while remaining > 0 {
            let n = file_call(remaining, into, mss);
            calls.push(n);
            remaining -= n as u64;
            into = 0;
        }
        let mut want = vec![65_248];
        want.extend([65_483; 14]);
        want.push(65_483 + 1_083);
        assert_eq!(calls, want);
        assert!(calls.iter().all(|&n| n <= SENDFILE_CHUNK + mss as usize));
        assert_eq!(calls.iter().sum::<usize>() as u64, len);
        // At most a call's budget: all of it at once, aligned or not.
        assert_eq!(file_call(65_536, 235, mss), 65_536);
        assert_eq!(file_call(700, 0, mss), 700);
        // A real network's MSS: 45 segments a call.
        assert_eq!(file_call(1 << 20, 0, 1_448), 45 * 1_448);
    }

    #[test]
    fn chunks_end_on_segment_boundaries() {
        // Loopback's MSS after a 235-byte head held with MSG_MORE.
        assert_eq!(aligned_chunk(262_144, 235, 65_483), 4 * 65_483 - 235);
        assert_eq!(aligned_chunk(262_144, 0, 65_483), 4 * 65_483);
        assert_eq!(aligned_chunk(262_144, 0, 1_448), 181 * 1_448);
        // `into` counts from the segment's start, whole segments before it
        // do not matter.
        assert_eq!(aligned_chunk(262_144, 65_483 + 10, 65_483), 4 * 65_483 - 10);
        // Smaller than a segment, or no MSS known: unchanged.
        assert_eq!(aligned_chunk(1_000, 0, 65_483), 1_000);
        assert_eq!(aligned_chunk(262_144, 7, 1), 262_144);
        assert_eq!(aligned_chunk(262_144, 7, 0), 262_144);
    }

    /// A closing connection's last bytes go with "more follows": they are
    /// delivered whole with the end of the connection, whether it closes or
    /// only shuts its write side (lingering close).
    #[test]
    fn last_bytes_before_close_arrive_with_the_eof() {
        for shut in [false, true] {
            let (s, mut c) = pair();
            let mut out = Output::default();
            out.push(b"HTTP/1.1 200 OK\r\n\r\nbody");
            let w = out.write_to(&s, true).unwrap_or_else(|e| panic!("write: {e}"));
            assert_eq!(w.bytes, 23);
            assert!(out.is_empty());
            if shut {
                s.shutdown(std::net::Shutdown::Write).unwrap_or_else(|e| panic!("shutdown: {e}"));
            } else {
                drop(s);
            }
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap_or_else(|e| panic!("read: {e}"));
            assert_eq!(got, b"HTTP/1.1 200 OK\r\n\r\nbody");
        }
    }

    #[test]
    fn stream_of_known_length_is_bounded_and_checked() {
        let mut out = Output::default();
        out.push_stream(Framing::Length(4));
        assert_eq!(out.stream_room(), 4);
        assert_eq!(out.stream_push(b"abcdef"), 4, "never more than the length promised");
        assert_eq!(out.stream_room(), 0);
        assert!(out.stream_end());

        out.push_stream(Framing::Length(4));
        assert_eq!(out.stream_push(b"ab"), 2);
        assert!(!out.stream_end(), "ending short is reported");
    }

    #[test]
    fn stream_room_pushes_back() {
        let mut out = Output::default();
        out.push_stream(Framing::Close);
        let big = vec![b'x'; 3 * STREAM_BYTES];
        assert_eq!(out.stream_push(&big), STREAM_BYTES);
        assert_eq!(out.stream_room(), 0, "a full stream buffer takes nothing more");
    }
}
