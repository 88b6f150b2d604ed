//! One client connection: a state machine over its socket, its reused read
//! and write buffers and the HTTP exchange in progress.
//!
//! The reactor calls [`Conn::drive`] at most once per loop iteration, and only
//! for a connection the poller reported ready in that iteration or that is
//! known to be still ready from an earlier report (the ready list). `drive`
//! performs at most one `read` and one `write`/`sendfile` on the socket; every
//! result is checked, and an error ends this connection only.
//!
//! Readiness is remembered per direction (`readable`, `writable`) and cleared
//! only by `WouldBlock` or a short transfer, which is what edge-triggered
//! registrations require. On level-triggered poll(2), where connections are
//! registered for reading only, a socket counts as writable until a write
//! would block; only then is write interest added (DESIGN.md §6).

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use poller::Interest;

use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{parse_head, BodyKind, Head, HeadScan, Status, Version};
use crate::http::response::{self, ConnectionHeader, Reply, ReplyBody};
use crate::log::AccessRecord;
use crate::router::{self, Shared};
use crate::timer::TimerSlot;

/// Files up to this size are read into the write buffer and sent with the
/// head in one `write`; larger ones go out with `sendfile`.
pub const SMALL_FILE_BYTES: u64 = 32 * 1024;
/// Most bytes one `sendfile` call is asked for (the fairness budget).
pub const SENDFILE_CHUNK: usize = 1024 * 1024;
/// Pipelined requests are answered into the write buffer until it holds this much.
pub const PIPELINE_BYTES: usize = 64 * 1024;
/// A write buffer larger than this is freed when the connection goes idle.
pub const IDLE_WBUF_BYTES: usize = 4 * 1024;
/// How long a closing connection keeps discarding unread input (nginx's
/// lingering close) so the client sees the response instead of a reset.
pub const LINGER: Duration = Duration::from_secs(2);

/// What the connection expects from its input next.
#[derive(Debug)]
pub enum Input {
    /// A request head (possibly already partly buffered).
    Head,
    /// The rest of a request body, discarded.
    Body(BodyState),
    /// No more requests: finish the output, then close.
    Done,
    /// Output finished and write side shut: discard input until EOF.
    Linger,
}

/// Progress through a request body being discarded.
#[derive(Debug)]
pub enum BodyState {
    /// Bytes still to come of a `Content-Length` body.
    Length(u64),
    /// A chunked body (the decoder enforces the body limit).
    Chunked(ChunkedDecoder),
}

/// A reply decided before its request body was read.
#[derive(Debug)]
struct Pending {
    reply: Reply,
    /// Access log fields copied from the head (the head's bytes are gone by
    /// the time the body ends); `None` with `access_log off`.
    log: Option<PendingLog>,
    head_only: bool,
    connection: ConnectionHeader,
    close: bool,
}

/// Access log fields of a request whose reply waits for its body.
#[derive(Debug)]
struct PendingLog {
    line: Vec<u8>,
    referer: Option<Vec<u8>>,
    user_agent: Option<Vec<u8>>,
}

/// The file part of the output, after the write buffer.
#[derive(Debug)]
struct FileSend {
    file: File,
    offset: u64,
    remaining: u64,
}

/// Which deadline applies; a change of phase restarts the timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the first byte of a request.
    Idle,
    /// Part of a request head has arrived.
    Header,
    /// Reading a request body.
    Body,
    /// Output pending.
    Send,
    /// Lingering close.
    Linger,
}

/// What `drive` asks the reactor to do with the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep it.
    Keep,
    /// Close it now.
    Close,
}

/// A client connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// Index of the config listener it came from.
    listener: usize,
    /// Server whose timeouts apply (the last routed one).
    server: usize,
    input: Input,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    file: Option<FileSend>,
    head: Head,
    /// When the head being received is worth parsing again.
    scan: HeadScan,
    pending: Option<Pending>,
    /// Readiness remembered from the poller until an I/O call says otherwise.
    pub readable: bool,
    /// See `readable`.
    pub writable: bool,
    /// The poller said the peer closed its side; read until EOF.
    pub eof_hint: bool,
    peer_eof: bool,
    linger_wanted: bool,
    requests: u64,
    /// Deadline bookkeeping.
    pub timer: TimerSlot,
    phase: Option<Phase>,
    /// `requests` when the phase was last computed: a new request restarts it.
    phase_requests: u64,
    read_progress: bool,
    write_progress: bool,
    /// Loop iteration in which this connection was last scheduled.
    pub scheduled: u64,
    /// Already on the ready list for the next iteration.
    pub queued_next: bool,
    /// Interest registered (level-triggered backends only).
    pub interest: Interest,
}

impl Conn {
    /// A new connection from `listener`, served by default by `server`.
    ///
    /// `level`: the connection is registered level-triggered for reading
    /// only, so a fresh socket counts as writable and write interest is
    /// added only after a write would block (poll(2)); edge-triggered
    /// registrations learn writability from the poller's first report.
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        listener: usize,
        server: usize,
        level: bool,
    ) -> Conn {
        Conn {
            stream,
            peer,
            listener,
            server,
            input: Input::Head,
            rbuf: Vec::new(),
            rstart: 0,
            rend: 0,
            wbuf: Vec::new(),
            wpos: 0,
            file: None,
            head: Head::new(),
            scan: HeadScan::default(),
            pending: None,
            readable: false,
            writable: level,
            eof_hint: false,
            peer_eof: false,
            linger_wanted: false,
            requests: 0,
            timer: TimerSlot::default(),
            phase: None,
            phase_requests: 0,
            read_progress: false,
            write_progress: false,
            scheduled: 0,
            queued_next: false,
            interest: Interest::READABLE,
        }
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Whether bytes are waiting to be written.
    pub fn output_pending(&self) -> bool {
        self.wpos < self.wbuf.len() || self.file.is_some()
    }

    fn output_backlogged(&self) -> bool {
        self.file.is_some() || self.wbuf.len() - self.wpos >= PIPELINE_BYTES
    }

    fn wants_read(&self) -> bool {
        match self.input {
            Input::Head | Input::Body(_) => !self.peer_eof && !self.output_backlogged(),
            Input::Linger => true,
            Input::Done => false,
        }
    }

    /// Whether an idle keep-alive connection can be closed at once (shutdown).
    pub fn is_idle(&self) -> bool {
        matches!(self.input, Input::Head) && self.rstart == self.rend && !self.output_pending()
    }

    /// Whether the connection has work it can do without a new event.
    pub fn needs_turn(&self) -> bool {
        (self.readable && self.wants_read()) || (self.writable && self.output_pending())
    }

    /// The interest a level-triggered registration needs now.
    pub fn level_interest(&self) -> Interest {
        if self.output_pending() && !self.writable {
            Interest::WRITABLE
        } else {
            Interest::READABLE
        }
    }

    /// One turn: at most one read, then request processing, then at most one write.
    pub fn drive(&mut self, sh: &mut Shared) -> Verdict {
        self.read_progress = false;
        self.write_progress = false;
        if self.readable && self.wants_read() {
            if self.rbuf.is_empty() {
                self.rbuf = sh.take_buffer();
            }
            if self.read_once(sh.read_buffer_size()) == Verdict::Close {
                return Verdict::Close;
            }
        }
        if matches!(self.input, Input::Linger) {
            return if self.peer_eof { Verdict::Close } else { Verdict::Keep };
        }
        self.process(sh);
        if self.output_pending() && self.writable && self.write_once() == Verdict::Close {
            return Verdict::Close;
        }
        if !self.output_pending() {
            self.process(sh);
        }
        let verdict = self.settle(sh.shutting_down);
        if verdict == Verdict::Keep && self.is_idle() {
            // An idle keep-alive connection holds no buffer (nginx does the
            // same): memory returns to the baseline after load.
            self.release_buffers(sh);
        }
        verdict
    }

    /// Returns the read buffer to the shared pool and drops a large write buffer.
    pub fn release_buffers(&mut self, sh: &mut Shared) {
        if !self.rbuf.is_empty() {
            sh.give_buffer(std::mem::take(&mut self.rbuf));
            self.rstart = 0;
            self.rend = 0;
        }
        if self.wbuf.capacity() > IDLE_WBUF_BYTES {
            self.wbuf = Vec::new();
        }
    }

    /// Decides what happens once output is drained; during a graceful stop an
    /// idle connection closes.
    fn settle(&mut self, shutting_down: bool) -> Verdict {
        if self.output_pending() {
            return Verdict::Keep;
        }
        match self.input {
            Input::Done => {
                // Unanswered input (a refused body, pipelined requests after
                // `Connection: close`) would turn the close into a reset.
                let unread = self.linger_wanted || self.rstart < self.rend;
                if unread && !self.peer_eof {
                    // Half-close and keep reading so the client gets the
                    // response rather than a reset (nginx lingering_close).
                    if self.stream.shutdown(Shutdown::Write).is_err() {
                        return Verdict::Close;
                    }
                    self.input = Input::Linger;
                    self.rstart = 0;
                    self.rend = 0;
                    Verdict::Keep
                } else {
                    Verdict::Close
                }
            }
            // The peer is gone and no complete request is left to answer.
            Input::Head | Input::Body(_) if self.peer_eof => Verdict::Close,
            Input::Head if shutting_down && self.rstart == self.rend => Verdict::Close,
            _ => Verdict::Keep,
        }
    }

    /// One read into the free end of the read buffer, which grows (up to
    /// `max_buffer` bytes) only when unread input fills it: a head larger
    /// than the small first buffer.
    fn read_once(&mut self, max_buffer: usize) -> Verdict {
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        } else if self.rend == self.rbuf.len() && self.rstart > 0 {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        if self.rend == self.rbuf.len() && self.rbuf.len() < max_buffer {
            let grown =
                self.rbuf.len().saturating_mul(2).clamp(router::READ_BUFFER_BYTES, max_buffer);
            self.rbuf.resize(grown, 0);
        }
        let Some(space) = self.rbuf.get_mut(self.rend..) else { return Verdict::Close };
        let room = space.len();
        if room == 0 {
            return Verdict::Keep;
        }
        match self.stream.read(space) {
            Ok(0) => {
                self.peer_eof = true;
                self.readable = false;
                Verdict::Keep
            }
            Ok(n) => {
                if matches!(self.input, Input::Linger) {
                    // Lingering: the bytes are dropped.
                    self.rend = 0;
                } else {
                    self.rend += n;
                }
                self.read_progress = true;
                // A short read drained the socket; with the peer's FIN seen,
                // read again to collect the EOF.
                if n < room && !self.eof_hint {
                    self.readable = false;
                }
                Verdict::Keep
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.readable = false;
                Verdict::Keep
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Verdict::Keep,
            Err(_) => Verdict::Close,
        }
    }

    fn write_once(&mut self) -> Verdict {
        if self.wpos < self.wbuf.len() {
            let Some(out) = self.wbuf.get(self.wpos..) else { return Verdict::Close };
            let len = out.len();
            match self.stream.write(out) {
                Ok(0) => return Verdict::Close,
                Ok(n) => {
                    self.wpos += n;
                    self.write_progress = true;
                    if n < len {
                        self.writable = false;
                    }
                    if self.wpos >= self.wbuf.len() {
                        self.wbuf.clear();
                        self.wpos = 0;
                        if self.wbuf.capacity() > 4 * PIPELINE_BYTES {
                            self.wbuf.shrink_to(PIPELINE_BYTES);
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Verdict::Close,
            }
            return Verdict::Keep;
        }
        let Some(f) = &mut self.file else { return Verdict::Keep };
        let want = usize::try_from(f.remaining).unwrap_or(usize::MAX).min(SENDFILE_CHUNK);
        match platform::sendfile::sendfile(self.stream.as_fd(), f.file.as_fd(), f.offset, want) {
            // The file shrank under us: the promised length cannot be sent.
            Ok(0) => return Verdict::Close,
            Ok(n) => {
                f.offset += n as u64;
                f.remaining = f.remaining.saturating_sub(n as u64);
                self.write_progress = true;
                if n < want {
                    self.writable = false;
                }
                if f.remaining == 0 {
                    self.file = None;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => self.writable = false,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Verdict::Close,
        }
        Verdict::Keep
    }

    /// Parses and answers buffered requests while the output is not backlogged.
    fn process(&mut self, sh: &mut Shared) {
        loop {
            if self.output_backlogged() {
                return;
            }
            match &mut self.input {
                Input::Head => {
                    if self.rstart == self.rend {
                        return;
                    }
                    let buf = self.rbuf.get(self.rstart..self.rend).unwrap_or_default();
                    // Parsing after every read would be quadratic in a head
                    // that trickles in; the scan says when it can decide.
                    if !self.scan.should_parse(buf, &sh.limits) {
                        return;
                    }
                    match parse_head(buf, &sh.limits, &mut self.head) {
                        Ok(Status::Complete(n)) => self.on_head(n, sh),
                        Ok(Status::Partial) => {
                            if buf.len() >= sh.limits.max_head {
                                self.fail(431, sh, b"");
                            }
                            return;
                        }
                        Err(e) => {
                            let line = request_line(buf);
                            let line = line.to_vec();
                            self.fail(e.status(), sh, &line);
                            return;
                        }
                    }
                }
                Input::Body(state) => {
                    let avail = self.rbuf.get(self.rstart..self.rend).unwrap_or_default();
                    let finished = match state {
                        BodyState::Length(remaining) => {
                            let take = (*remaining).min(avail.len() as u64);
                            self.rstart += take as usize;
                            *remaining -= take;
                            *remaining == 0
                        }
                        BodyState::Chunked(decoder) => {
                            sh.scratch.clear();
                            match decoder.decode(avail, &mut sh.scratch) {
                                Ok((used, done)) => {
                                    self.rstart += used;
                                    if !done && used == 0 {
                                        return;
                                    }
                                    done
                                }
                                Err(e) => {
                                    let line = self.take_pending_line();
                                    self.fail(e.status(), sh, &line);
                                    return;
                                }
                            }
                        }
                    };
                    if !finished {
                        if self.rstart == self.rend {
                            return;
                        }
                        continue;
                    }
                    self.input = Input::Head;
                    if let Some(p) = self.pending.take() {
                        if let Some(l) = &p.log {
                            let (referer, ua) = (l.referer.as_deref(), l.user_agent.as_deref());
                            self.log_access(sh, &p.reply, p.head_only, &l.line, referer, ua);
                        }
                        self.queue(p.reply, p.head_only, p.connection, p.close, sh);
                    }
                }
                Input::Done | Input::Linger => return,
            }
        }
    }

    /// Answers a request whose head is `rbuf[rstart..rstart + n]`.
    fn on_head(&mut self, n: usize, sh: &mut Shared) {
        self.scan.reset();
        let start = self.rstart;
        let Some(buf) = self.rbuf.get(start..start + n) else {
            self.fail(400, sh, b"");
            return;
        };
        self.requests += 1;
        let head = &self.head;
        let method = head.method(buf);
        let head_only = method == b"HEAD";
        let body = head.body();
        let keep_alive = head.keep_alive() && !sh.shutting_down;
        let http10 = matches!(head.version(), Version::Http10);

        let decision = router::decide(sh, self.listener, head, buf);
        self.server = decision.server;
        if let Some(note) = &decision.note {
            sh.error("error", &format!("{note}, client: {}", self.peer.ip()));
        }
        // `keepalive_timeout 0` turns keep-alive off (nginx): this response
        // says `Connection: close` and nothing after this request is read.
        let keepalive_off =
            sh.config.servers.get(decision.server).is_some_and(|s| s.timeouts.keepalive.is_zero());
        let keep_alive = keep_alive && !keepalive_off;
        let mut reply = decision.reply;
        let has_body = !matches!(body, BodyKind::None | BodyKind::Length(0));
        let expect_continue = head.expect_continue() && !http10;
        // A body is read before the reply (and dropped unless the handler
        // consumes it), as nginx discards it, so the connection stays usable;
        // except when the reply closes anyway, or the client waits for
        // `100 Continue` that a refusing handler will not send: then the
        // final status goes out at once and the body is never read.
        let read_body = has_body && !reply.close && (decision.consumes_body || !expect_continue);
        let body_unread = has_body && !read_body;
        let close = reply.close || !keep_alive || body_unread;
        reply.close = close;
        let connection = if close {
            ConnectionHeader::Close
        } else if http10 {
            ConnectionHeader::KeepAlive
        } else {
            ConnectionHeader::None
        };

        let mut pending_log = None;
        if sh.log.access_enabled() {
            let line = request_line(buf);
            let referer = head.header(buf, b"referer");
            let user_agent = head.header(buf, b"user-agent");
            if read_body {
                pending_log = Some(PendingLog {
                    line: line.to_vec(),
                    referer: referer.map(<[u8]>::to_vec),
                    user_agent: user_agent.map(<[u8]>::to_vec),
                });
            } else {
                self.log_access(sh, &reply, head_only, line, referer, user_agent);
            }
        }
        self.rstart += n;

        if read_body {
            if expect_continue {
                // RFC 9110 §10.1.1: the body will be accepted, so ask for it.
                self.wbuf.extend_from_slice(response::CONTINUE);
            }
            let state = match body {
                // The limit is checked against each chunk size before its
                // data is read: an oversized chunk is 413 at once.
                BodyKind::Chunked => {
                    BodyState::Chunked(ChunkedDecoder::with_max_body(decision.body_limit))
                }
                BodyKind::Length(len) => BodyState::Length(len),
                BodyKind::None => BodyState::Length(0),
            };
            self.input = Input::Body(state);
            self.pending = Some(Pending { reply, log: pending_log, head_only, connection, close });
            return;
        }
        if body_unread {
            self.linger_wanted = true;
        }
        self.queue(reply, head_only, connection, close, sh);
    }

    /// Drops the reply waiting for a body, keeping its request line for the log.
    fn take_pending_line(&mut self) -> Vec<u8> {
        self.pending.take().and_then(|p| p.log).map(|l| l.line).unwrap_or_default()
    }

    /// Appends the access log line of a reply.
    fn log_access(
        &self,
        sh: &mut Shared,
        reply: &Reply,
        head_only: bool,
        line: &[u8],
        referer: Option<&[u8]>,
        user_agent: Option<&[u8]>,
    ) {
        let body_bytes = if head_only || reply.is_bodiless_status() { 0 } else { reply.body.len() };
        let rec = AccessRecord {
            peer: self.peer,
            request_line: line,
            status: reply.status,
            body_bytes,
            referer,
            user_agent,
        };
        sh.log.access(&rec, &sh.clock.time_local, sh.clock.now);
    }

    /// Answers an unparseable or failed request and stops reading requests.
    fn fail(&mut self, status: u16, sh: &mut Shared, line: &[u8]) {
        let reply = router::error_reply(sh, status, self.listener, None, None);
        if sh.log.access_enabled() {
            self.log_access(sh, &reply, false, line, None, None);
        }
        self.linger_wanted = true;
        self.queue(reply, false, ConnectionHeader::Close, true, sh);
    }

    /// Times out: 408 for a request in progress, a quiet close otherwise.
    pub fn on_timeout(&mut self, sh: &mut Shared) -> Verdict {
        match self.phase {
            Some(Phase::Header) | Some(Phase::Body) => {
                let line = self.take_pending_line();
                self.fail(408, sh, &line);
                // The client is not reading its request either: do not linger.
                self.linger_wanted = false;
                Verdict::Keep
            }
            _ => Verdict::Close,
        }
    }

    /// Serialises `reply` into the write buffer (and the file part).
    fn queue(
        &mut self,
        reply: Reply,
        head_only: bool,
        connection: ConnectionHeader,
        close: bool,
        sh: &mut Shared,
    ) {
        let mark = self.wbuf.len();
        response::write_head(&mut self.wbuf, &reply, &sh.clock.date, connection);
        if close {
            self.input = Input::Done;
        }
        if head_only || reply.is_bodiless_status() {
            return;
        }
        match reply.body {
            ReplyBody::Empty => {}
            ReplyBody::Bytes(b) => self.wbuf.extend_from_slice(&b),
            ReplyBody::Shared { data, start, len } => {
                let part = data.get(start..start.saturating_add(len)).unwrap_or_default();
                self.wbuf.extend_from_slice(part);
            }
            ReplyBody::File { file, start, len } if len <= SMALL_FILE_BYTES => {
                let at = self.wbuf.len();
                self.wbuf.resize(at + len as usize, 0);
                let ok = match self.wbuf.get_mut(at..) {
                    Some(dst) => file.read_exact_at(dst, start).is_ok(),
                    None => false,
                };
                if !ok {
                    // The file changed since it was measured: answer 500 instead.
                    self.wbuf.truncate(mark);
                    let r = Reply::error(500);
                    response::write_head(
                        &mut self.wbuf,
                        &r,
                        &sh.clock.date,
                        ConnectionHeader::Close,
                    );
                    if let ReplyBody::Bytes(b) = &r.body {
                        self.wbuf.extend_from_slice(b);
                    }
                    self.input = Input::Done;
                }
            }
            ReplyBody::File { file, start, len } => {
                self.file = Some(FileSend { file, offset: start, remaining: len });
            }
        }
    }

    /// The deadline phase now, and whether its timer must restart.
    pub fn phase_now(&mut self) -> (Phase, bool) {
        let phase = if self.output_pending() {
            Phase::Send
        } else {
            match self.input {
                Input::Linger => Phase::Linger,
                Input::Body(_) => Phase::Body,
                Input::Head if self.rstart < self.rend => Phase::Header,
                _ => Phase::Idle,
            }
        };
        // A fresh connection's Idle deadline is already client_header
        // (nginx's client_header_timeout from accept): its first bytes must
        // not restart it, or a slowloris client holds it twice as long.
        let first_head =
            self.requests == 0 && self.phase == Some(Phase::Idle) && phase == Phase::Header;
        let changed =
            (self.phase != Some(phase) && !first_head) || self.phase_requests != self.requests;
        self.phase = Some(phase);
        self.phase_requests = self.requests;
        let restart = changed
            || (phase == Phase::Send && self.write_progress)
            || (phase == Phase::Body && self.read_progress);
        (phase, restart)
    }

    /// Whether any request was received on this connection.
    pub fn served_any(&self) -> bool {
        self.requests > 0
    }

    /// The server whose timeouts apply.
    pub fn server(&self) -> usize {
        self.server
    }

    /// Index into `Config::listeners` of the listener it was accepted on.
    pub fn listener(&self) -> usize {
        self.listener
    }

    /// Points the connection at another listener index and server index, for
    /// a reloaded configuration whose indices differ from the old one's.
    pub fn remap(&mut self, listener: usize, server: usize) {
        self.listener = listener;
        self.server = server;
    }
}

/// The request line at the start of `buf` (for logs), without CRLF.
fn request_line(buf: &[u8]) -> &[u8] {
    let end = buf.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(buf.len());
    buf.get(..end.min(1024)).unwrap_or_default()
}

/// The instant `d` from now. The configuration bounds durations (365 days),
/// so this cannot overflow; if it ever did, the deadline would be a year
/// away rather than already past (which would drop every connection).
pub fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).or_else(|| now.checked_add(config::MAX_DURATION)).unwrap_or(now)
}
