//! One client connection: its socket, its read buffer, its output queue and
//! the [`Request`] in progress, and the state machine that moves them.
//!
//! The reactor calls [`Connection::drive`] at most once per loop iteration,
//! with what the poller reported for the socket in that iteration. `drive`
//! reads at most once (only when the socket was reported readable), moves
//! the request along (parse a head, route it, feed its body to its sink,
//! ask its handler, queue its response), and writes at most once (only when
//! the socket was reported writable). Every I/O result is checked; an error
//! ends this connection only.
//!
//! The request is not the connection (nginx frees the request at
//! keep-alive): a `Request` is made when a head has been parsed and is
//! dropped when its response is queued; the connection keeps the socket,
//! the buffers and the responses still going out, and writes each one's
//! access log line when its last byte has been sent.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use poller::{Interest, Mode};

use super::output::{Output, Written};
use super::request::{Request, Stage};
use crate::error::HttpError;
use crate::handlers::error_page::{closes_connection, error_reply};
use crate::handlers::session;
use crate::handlers::{is_streamed, Action, BodySink, Cx, Sources, StreamStep};
use crate::http::body::BodyDecoder;
use crate::http::cookie;
use crate::http::request::{parse_head, Head, HeadScan, Status, Version};
use crate::http::response::{self, ConnectionHeader, Framing, Reply, ReplyBody};
use crate::log::AccessRecord;
use crate::reactor::timer::TimerSlot;
use crate::router;
use crate::site::{Runtime, Site, READ_BUFFER_BYTES};

/// Files up to this size are read into the output buffer and sent with the
/// head in one `write`; larger ones go out with `sendfile`.
pub const SMALL_FILE_BYTES: u64 = 32 * 1024;
/// How long a closing connection keeps discarding unread input (nginx's
/// lingering close) so the client sees the response instead of a reset.
pub const LINGER: Duration = Duration::from_secs(2);

/// What the connection does with its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// Requests are read and answered.
    Open,
    /// No more requests: finish the output, then close.
    Closing,
    /// Output finished and write side shut: discard input until EOF.
    Linger,
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
    /// A handler prepares its reply or body (it keeps its own timers).
    Wait,
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

/// What the poller reported for the socket in the current iteration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reported {
    /// Readable (data, EOF or an error waiting).
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// The peer closed its side or the socket has an error: read to EOF.
    pub closed: bool,
}

/// What a connection is driven with.
pub struct Env<'a> {
    /// The site new requests are routed by.
    pub site: &'a Rc<Site>,
    /// Process-long state.
    pub rt: &'a mut Runtime,
    /// The reactor's event sources, for handlers.
    pub sources: &'a mut dyn Sources,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").finish_non_exhaustive()
    }
}

/// A response whose access log line waits for its last byte to be sent.
#[derive(Debug)]
struct Sending {
    record: LogRecord,
    /// Output offset (see [`Output::sent`]) where its body starts.
    body_start: u64,
    /// Output offset where it ends; `u64::MAX` while its stream goes on.
    end: u64,
}

/// The access log fields of a request, copied when its response is queued.
#[derive(Debug)]
struct LogRecord {
    line: Vec<u8>,
    referer: Option<Vec<u8>>,
    user_agent: Option<Vec<u8>>,
    status: u16,
}

/// A client connection.
#[derive(Debug)]
pub struct Connection {
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
    /// Largest size the read buffer may grow to.
    rbuf_max: usize,
    /// When the head being received is worth parsing again.
    scan: HeadScan,
    /// The request in progress (boxed: an idle connection stays small).
    req: Option<Box<Request>>,
    output: Output,
    sending: VecDeque<Sending>,
    /// What the poller reported this iteration (set by the reactor).
    pub reported: Reported,
    /// Readiness reported but not used up (edge-triggered backends): a
    /// fresh report must be asked for before the next read or write.
    read_open: bool,
    write_open: bool,
    /// Edge-triggered backends: the registration is level-triggered write
    /// interest for now, while a long file is sent (see
    /// [`Connection::registration`]).
    level_write: bool,
    /// The poller said the peer closed its side; read until EOF.
    eof_hint: bool,
    peer_eof: bool,
    linger_wanted: bool,
    /// A reload removed its address: close after the current response.
    detached: bool,
    /// `TCP_NODELAY` was set (see [`Connection::send`]).
    nodelay: bool,
    requests: u64,
    /// Deadline bookkeeping.
    pub timer: TimerSlot,
    phase: Option<Phase>,
    /// `requests` when the phase was last computed: a new request restarts it.
    phase_requests: u64,
    read_progress: bool,
    write_progress: bool,
    /// Loop iteration in which this connection was last driven.
    pub scheduled: u64,
    /// Interest registered (level-triggered backends; `None`: not watched).
    pub interest: Option<Interest>,
    /// A handler the unit tests put in place of the router's choice.
    #[cfg(test)]
    inject: Option<Box<dyn crate::handlers::Handler>>,
}

impl Connection {
    /// A new connection from `listener`, served by default by `server`,
    /// whose read buffer may grow to `rbuf_max` bytes (a head of the
    /// largest size allowed and some slack).
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        listener: usize,
        server: usize,
        rbuf_max: usize,
    ) -> Connection {
        Connection {
            stream,
            peer,
            listener,
            server,
            input: Input::Open,
            rbuf: Vec::new(),
            rstart: 0,
            rend: 0,
            rbuf_max,
            scan: HeadScan::default(),
            req: None,
            output: Output::default(),
            sending: VecDeque::new(),
            reported: Reported::default(),
            read_open: false,
            write_open: false,
            level_write: false,
            eof_hint: false,
            peer_eof: false,
            linger_wanted: false,
            detached: false,
            nodelay: false,
            requests: 0,
            timer: TimerSlot::default(),
            phase: None,
            phase_requests: 0,
            read_progress: false,
            write_progress: false,
            scheduled: 0,
            interest: None,
            #[cfg(test)]
            inject: None,
        }
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// The socket, the connection ending (after [`Connection::close`]).
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }

    /// Whether the connection wants to read its socket now.
    pub fn wants_read(&self) -> bool {
        match self.input {
            Input::Linger => true,
            Input::Closing => false,
            Input::Open if self.peer_eof => false,
            Input::Open => match &self.req {
                // Pipelined requests wait while responses are backlogged.
                None => !self.output.is_backlogged() && self.rbuf_has_room(),
                Some(r) if r.stage == Stage::Body => r.held.is_empty() && self.rbuf_has_room(),
                // A handler is at work: read ahead (the next request, or
                // the client's EOF) while the buffer has room.
                Some(_) => self.rbuf_has_room(),
            },
        }
    }

    /// Whether the connection wants to write its socket now.
    pub fn wants_write(&self) -> bool {
        self.output.wants_write()
    }

    /// The interest a level-triggered registration needs now (`None`: the
    /// socket need not be watched until the connection changes).
    pub fn level_interest(&self) -> Option<Interest> {
        match (self.wants_read(), self.wants_write()) {
            (true, true) => Some(Interest::BOTH),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        }
    }

    /// Edge-triggered backends: whether readiness that was reported and
    /// not used up is wanted now, so the registration must be re-armed for
    /// a fresh report (no edge would come otherwise). Clears the memory.
    fn take_rearm(&mut self) -> bool {
        let rearm =
            (self.read_open && self.wants_read()) || (self.write_open && self.wants_write());
        if rearm {
            self.read_open = false;
            self.write_open = false;
        }
        rearm
    }

    /// Edge-triggered backends: the registration the connection needs
    /// after a turn, if it must change (one `reregister`). Normally edge
    /// read and write interest, re-armed when readiness that was reported
    /// and not used up is wanted now (see `take_rearm`). While a long file
    /// is sent, level-triggered write interest only: the socket is
    /// reported every turn it is writable, so a file of 1 MiB costs two
    /// registration changes instead of a re-arm for each of its 16 calls.
    /// Reads wait meanwhile (what the client sends is read after, when the
    /// edge registration reports what is there).
    pub fn registration(&mut self) -> Option<(Interest, Mode)> {
        let level = self.output.sending_long_file();
        if level != self.level_write {
            self.level_write = level;
            self.read_open = false;
            self.write_open = false;
            return Some(if level {
                (Interest::WRITABLE, Mode::Level)
            } else {
                (Interest::BOTH, Mode::Edge)
            });
        }
        (!level && self.take_rearm()).then_some((Interest::BOTH, Mode::Edge))
    }

    fn rbuf_has_room(&self) -> bool {
        self.rend < self.rbuf.len() || self.rstart > 0 || self.rbuf.len() < self.rbuf_max
    }

    /// Whether an idle keep-alive connection can be closed at once.
    pub fn is_idle(&self) -> bool {
        self.input == Input::Open
            && self.req.is_none()
            && self.rstart == self.rend
            && self.output.is_empty()
    }

    /// One turn: at most one read, request processing, at most one write.
    pub fn drive(&mut self, env: &mut Env<'_>) -> Verdict {
        self.read_progress = false;
        self.write_progress = false;
        let reported = std::mem::take(&mut self.reported);
        if reported.closed {
            self.eof_hint = true;
        }
        if reported.read {
            if self.wants_read() {
                if self.rbuf.is_empty() {
                    self.rbuf = env.rt.take_buffer();
                }
                if self.read_once() == Verdict::Close {
                    return Verdict::Close;
                }
            } else {
                self.read_open = true;
            }
        }
        if self.input == Input::Linger {
            return if self.peer_eof { Verdict::Close } else { Verdict::Keep };
        }
        if self.process(env) == Verdict::Close {
            return Verdict::Close;
        }
        if reported.write {
            if self.output.wants_write() {
                if self.write_once(env) == Verdict::Close {
                    return Verdict::Close;
                }
                // Room for more: the next request, or more of a streamed
                // body (its handler may have stopped watching its source
                // while the queue was full, and waits to be asked).
                let room = self.output.is_empty() || self.output.stream_room() > 0;
                if room && self.process(env) == Verdict::Close {
                    return Verdict::Close;
                }
            } else {
                self.write_open = true;
            }
        }
        let verdict = self.settle(env.rt.shutting_down);
        if verdict == Verdict::Keep && self.is_idle() {
            // An idle keep-alive connection holds no buffer (nginx does the
            // same): memory returns to the baseline after load.
            self.release_buffers(env.rt);
        }
        verdict
    }

    /// A timer of a source owned by this connection's handler passed.
    pub fn on_source_timer(&mut self, env: &mut Env<'_>, key: super::slab::Key) -> Verdict {
        let Some(req) = self.req.as_mut() else { return Verdict::Keep };
        let Some(Action::Handler(h)) = req.action.as_mut() else { return Verdict::Keep };
        let site = Rc::clone(&req.site);
        let mut cx = Cx { site: &site, rt: env.rt, sources: env.sources };
        if let Err(e) = h.on_timer(&mut cx, key) {
            return self.fail(e, env);
        }
        self.process(env)
    }

    /// Returns the read buffer to the pool and drops large buffers.
    pub fn release_buffers(&mut self, rt: &mut Runtime) {
        if !self.rbuf.is_empty() && self.rstart == self.rend {
            rt.give_buffer(std::mem::take(&mut self.rbuf));
            self.rstart = 0;
            self.rend = 0;
        }
        if let Some(buf) = self.output.take_buffer() {
            rt.give_output_buffer(buf);
        }
    }

    /// Ends the connection: the handler in progress releases what it holds,
    /// responses still going out are logged with what was sent of them.
    pub fn close(&mut self, env: &mut Env<'_>) {
        if let Some(mut req) = self.req.take() {
            finish_handler(&mut req, env);
        }
        self.log_unfinished(env.rt);
        self.release_buffers(env.rt);
    }

    /// Decides what happens once output is drained; during a graceful stop
    /// an idle connection closes.
    fn settle(&mut self, shutting_down: bool) -> Verdict {
        if !self.output.is_empty() {
            return Verdict::Keep;
        }
        match self.input {
            Input::Closing => {
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
            // The peer is gone and no request is left to answer.
            Input::Open if self.peer_eof && self.req.is_none() => Verdict::Close,
            Input::Open if self.req.is_none() && self.rstart == self.rend && shutting_down => {
                Verdict::Close
            }
            // Its address is gone: what is buffered is not answered under
            // another site.
            Input::Open if self.req.is_none() && self.detached => Verdict::Close,
            _ => Verdict::Keep,
        }
    }

    /// One read into the free end of the read buffer, which grows (up to
    /// `max_buffer` bytes) only when unread input fills it: a head larger
    /// than the small first buffer.
    fn read_once(&mut self) -> Verdict {
        let max_buffer = self.rbuf_max;
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        } else if self.rend == self.rbuf.len() && self.rstart > 0 {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        if self.rend == self.rbuf.len() && self.rbuf.len() < max_buffer {
            let grown = self.rbuf.len().saturating_mul(2).clamp(READ_BUFFER_BYTES, max_buffer);
            self.rbuf.resize(grown, 0);
        }
        let Some(space) = self.rbuf.get_mut(self.rend..) else { return Verdict::Close };
        let room = space.len();
        if room == 0 {
            self.read_open = true;
            return Verdict::Keep;
        }
        match (&mut &self.stream).read(space) {
            Ok(0) => {
                self.peer_eof = true;
                self.read_open = false;
                Verdict::Keep
            }
            Ok(n) => {
                if self.input == Input::Linger {
                    // Lingering: the bytes are dropped.
                    self.rend = 0;
                } else {
                    self.rend += n;
                }
                self.read_progress = true;
                // A full read may have left more; with the peer's FIN seen,
                // read again to collect the EOF.
                self.read_open = n == room || self.eof_hint;
                Verdict::Keep
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.read_open = false;
                Verdict::Keep
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {
                self.read_open = true;
                Verdict::Keep
            }
            Err(_) => Verdict::Close,
        }
    }

    fn write_once(&mut self, env: &mut Env<'_>) -> Verdict {
        match self.output.write_to(&self.stream, self.input == Input::Closing) {
            Ok(Written { bytes, .. }) => {
                // A full write leaves readiness unused; a short one (or
                // EAGAIN) is re-armed too while output waits: the peer's
                // last ACK can free the buffer before the kernel marks the
                // socket as waiting for space, and then no edge ever comes
                // (seen as a download stalled at its first 64 KiB). The
                // re-arm (EPOLL_CTL_MOD) reports it if writable already.
                self.write_open = true;
                if bytes > 0 {
                    self.write_progress = true;
                    self.log_sent(env.rt);
                }
                Verdict::Keep
            }
            Err(_) => Verdict::Close,
        }
    }

    /// Writes the access log lines of the responses sent whole.
    fn log_sent(&mut self, rt: &mut Runtime) {
        let sent = self.output.sent();
        while self.sending.front().is_some_and(|s| s.end <= sent) {
            self.log_front(rt);
        }
    }

    /// The connection ends: writes the access log lines of the responses
    /// still going out, with what was sent of them.
    fn log_unfinished(&mut self, rt: &mut Runtime) {
        while !self.sending.is_empty() {
            self.log_front(rt);
        }
    }

    /// Writes the access log line of the oldest response going out.
    fn log_front(&mut self, rt: &mut Runtime) {
        let Some(s) = self.sending.pop_front() else { return };
        let body_bytes = self.output.sent().min(s.end).saturating_sub(s.body_start);
        let rec = AccessRecord {
            peer: self.peer,
            request_line: &s.record.line,
            status: s.record.status,
            body_bytes,
            referer: s.record.referer.as_deref(),
            user_agent: s.record.user_agent.as_deref(),
        };
        rt.log.access(&rec, &rt.clock.time_local, rt.clock.now);
    }

    /// Moves requests along while the output is not backlogged.
    fn process(&mut self, env: &mut Env<'_>) -> Verdict {
        loop {
            if self.input != Input::Open {
                return Verdict::Keep;
            }
            let Some(req) = self.req.as_mut() else {
                if self.output.is_backlogged() || self.detached {
                    return Verdict::Keep;
                }
                match self.parse(env) {
                    Progress::More => continue,
                    Progress::Blocked => return Verdict::Keep,
                    Progress::Close => return Verdict::Close,
                }
            };
            let step = match req.stage {
                Stage::Body => self.feed_body(env),
                Stage::Reply => self.ask_reply(env),
                Stage::Stream => self.pull_stream(env),
            };
            match step {
                Ok(Progress::More) => continue,
                Ok(Progress::Blocked) => return Verdict::Keep,
                Ok(Progress::Close) => return Verdict::Close,
                Err(e) => return self.fail(e, env),
            }
        }
    }

    /// Parses the head at the start of the unread input; routes it when
    /// complete.
    fn parse(&mut self, env: &mut Env<'_>) -> Progress {
        if self.rstart == self.rend {
            return Progress::Blocked;
        }
        let limits = &env.site.limits;
        let buf = self.rbuf.get(self.rstart..self.rend).unwrap_or_default();
        // Parsing after every read would be quadratic in a head that
        // trickles in; the scan says when it can decide.
        if !self.scan.should_parse(buf, limits) {
            return Progress::Blocked;
        }
        // Heads come from the runtime's pool: an idle connection holds none.
        let mut head = env.rt.take_head();
        let parsed = parse_head(buf, limits, &mut head);
        if let Ok(Status::Complete(n)) = parsed {
            self.start(n, head, env);
            return Progress::More;
        }
        env.rt.give_head(head);
        match parsed {
            Ok(Status::Complete(_)) => Progress::More,
            Ok(Status::Partial) if buf.len() >= limits.max_head => {
                let line = unparsed_line(buf).to_vec();
                self.refuse(HttpError::plain(431), &line, env);
                Progress::More
            }
            Ok(Status::Partial) => Progress::Blocked,
            Err(e) => {
                let line = unparsed_line(buf).to_vec();
                self.refuse(HttpError::parse(e), &line, env);
                Progress::More
            }
        }
    }

    /// Makes the request of the head `rbuf[rstart..rstart + n]`, parsed into
    /// `head`, and routes it.
    fn start(&mut self, n: usize, head: Head, env: &mut Env<'_>) {
        self.scan.reset();
        self.requests += 1;
        let mut raw = env.rt.take_raw();
        raw.extend_from_slice(self.rbuf.get(self.rstart..self.rstart + n).unwrap_or_default());
        self.rstart += n;

        let site = Rc::clone(env.site);
        #[allow(unused_mut)]
        let mut route = router::route(&site, &env.rt.cache, self.listener, &head, &raw, self.peer);
        #[cfg(test)]
        if let Some(h) = self.inject.take() {
            route.action = Ok(Action::Handler(h));
        }
        self.server = route.server;
        // `keepalive_timeout 0` turns keep-alive off (nginx): this response
        // says `Connection: close` and nothing after this request is read.
        let keepalive_off =
            site.config.servers.get(route.server).is_some_and(|s| s.timeouts.keepalive.is_zero());
        let http10 = head.version() == Version::Http10;
        let expect_continue = head.expect_continue() && !http10;
        let mut req = Request {
            head_only: head.method_kind() == crate::http::request::Method::Head,
            keep_alive: head.keep_alive()
                && !env.rt.shutting_down
                && !self.detached
                && !keepalive_off,
            http10,
            body: BodyDecoder::new(head.body(), route.body_limit),
            raw,
            head,
            site,
            server: route.server,
            at: route.at,
            stage: Stage::Reply,
            sink: BodySink::Discard,
            held: Vec::new(),
            action: None,
            set_cookie: None,
        };
        let session = track_session(&req, env.rt);
        let action = match route.action {
            Ok(a) => a,
            Err(e) => {
                log_cause(&e, &req, self.peer, env.rt);
                let host = req.host();
                Action::Reply(error_reply(
                    &req.site,
                    &env.rt.cache,
                    e.status,
                    self.listener,
                    host,
                    req.at,
                ))
            }
        };
        let action = match session {
            Ok(None) => action,
            Ok(Some(tracked)) => {
                req.set_cookie = tracked.set_cookie;
                let mut action = action;
                if let Action::Handler(h) = &mut action {
                    let site = Rc::clone(&req.site);
                    h.session(
                        &mut Cx { site: &site, rt: env.rt, sources: env.sources },
                        &tracked.id,
                    );
                }
                action
            }
            Err(e) => {
                log_cause(&e, &req, self.peer, env.rt);
                let host = req.host();
                let error =
                    error_reply(&req.site, &env.rt.cache, e.status, self.listener, host, req.at);
                if let Action::Handler(mut h) = action {
                    let site = Rc::clone(&req.site);
                    h.finish(&mut Cx { site: &site, rt: env.rt, sources: env.sources });
                }
                Action::Reply(error)
            }
        };
        let has_body = req.body.is_some();
        let read_body = match action {
            // A body is read and dropped before the reply, as nginx
            // discards it, so the connection stays usable; except when the
            // reply closes anyway, or the client waits for `100 Continue`
            // that a reply decided from the head will not send: then the
            // final status goes out at once and the body is never read.
            Action::Reply(reply) => {
                let read = has_body && !reply.close && !expect_continue;
                req.action = Some(Action::Reply(reply));
                read
            }
            Action::Handler(mut h) => {
                if has_body {
                    let site = Rc::clone(&req.site);
                    let mut cx = Cx { site: &site, rt: env.rt, sources: env.sources };
                    match h.sink(&mut cx) {
                        Ok(sink) => req.sink = sink,
                        Err(e) => {
                            h.finish(&mut cx);
                            req.body = None;
                            self.req = Some(Box::new(req));
                            self.fail(e, env);
                            return;
                        }
                    }
                }
                req.action = Some(Action::Handler(h));
                let takes_body = !matches!(req.sink, BodySink::Discard);
                if has_body && takes_body && expect_continue {
                    // RFC 9110 §10.1.1: the body will be taken, ask for it.
                    self.output.push(response::CONTINUE);
                }
                has_body && (takes_body || !expect_continue)
            }
        };
        if has_body && !read_body {
            // The body stays unread: the connection closes after the reply.
            req.keep_alive = false;
            req.body = None;
            self.linger_wanted = true;
        }
        if read_body {
            req.stage = Stage::Body;
        }
        self.req = Some(Box::new(req));
    }

    /// Feeds body bytes from the read buffer through the decoder to the sink.
    fn feed_body(&mut self, env: &mut Env<'_>) -> Result<Progress, HttpError> {
        let Some(req) = self.req.as_mut() else { return Ok(Progress::More) };
        let site = Rc::clone(&req.site);
        let mut cx = Cx { site: &site, rt: env.rt, sources: env.sources };
        // Bytes the sink pushed back last time go first.
        if !req.held.is_empty() {
            let held = std::mem::take(&mut req.held);
            let took = offer(req, &mut cx, &held);
            req.held = held;
            let took = took?;
            req.held.drain(..took.min(req.held.len()));
            if !req.held.is_empty() {
                return Ok(Progress::Blocked);
            }
        }
        let Some(decoder) = req.body.as_mut().filter(|d| !d.is_done()) else {
            req.body = None;
            self.end_body(env)?;
            return Ok(Progress::More);
        };
        let input = self.rbuf.get(self.rstart..self.rend).unwrap_or_default();
        if input.is_empty() {
            // The client went away before the end of its body (nginx:
            // "client prematurely closed connection"): nothing will come,
            // and the handler must not wait for the body timeout to
            // release what it holds (an upload's temporary file).
            if self.peer_eof {
                return Ok(Progress::Close);
            }
            return Ok(Progress::Blocked);
        }
        let mut scratch = std::mem::take(&mut cx.rt.scratch);
        let outcome = match decoder.decode(input, input.len(), &mut scratch) {
            Err(e) => Err(HttpError::parse(e)),
            Ok(d) => {
                let len = d.data.len();
                offer(req, &mut cx, d.data).map(|took| {
                    let took = took.min(len);
                    let mut used = d.used;
                    if took < len {
                        if let Some(BodyDecoder::Length(rest)) = req.body.as_mut() {
                            // Left unread in the buffer, not copied.
                            *rest += (len - took) as u64;
                            used -= len - took;
                        } else {
                            req.held.extend_from_slice(d.data.get(took..).unwrap_or_default());
                        }
                    }
                    (used, d.done && took == len, took < len)
                })
            }
        };
        cx.rt.scratch = scratch;
        let (used, done, pushed_back) = outcome?;
        self.rstart += used;
        if done {
            if let Some(r) = self.req.as_mut() {
                r.body = None;
            }
            self.end_body(env)?;
            return Ok(Progress::More);
        }
        if pushed_back || used == 0 || self.rstart == self.rend {
            return Ok(Progress::Blocked);
        }
        Ok(Progress::More)
    }

    /// The body is complete: the handler gets its sink back.
    fn end_body(&mut self, env: &mut Env<'_>) -> Result<(), HttpError> {
        let Some(req) = self.req.as_mut() else { return Ok(()) };
        req.stage = Stage::Reply;
        let sink = std::mem::take(&mut req.sink);
        if let Some(Action::Handler(h)) = req.action.as_mut() {
            let site = Rc::clone(&req.site);
            let mut cx = Cx { site: &site, rt: env.rt, sources: env.sources };
            h.body_end(&mut cx, sink)?;
        }
        Ok(())
    }

    /// Sends the reply when it is known.
    fn ask_reply(&mut self, env: &mut Env<'_>) -> Result<Progress, HttpError> {
        let Some(req) = self.req.as_mut() else { return Ok(Progress::More) };
        let reply = match req.action.as_mut() {
            Some(Action::Reply(_)) => match req.action.take() {
                Some(Action::Reply(r)) => r,
                _ => return Ok(Progress::More),
            },
            Some(Action::Handler(h)) => {
                let site = Rc::clone(&req.site);
                let mut cx = Cx { site: &site, rt: env.rt, sources: env.sources };
                match h.reply(&mut cx)? {
                    Some(r) => r,
                    None => return Ok(Progress::Blocked),
                }
            }
            None => return Ok(Progress::More),
        };
        self.send(reply, env);
        Ok(Progress::More)
    }

    /// Pulls more of a streamed body from the handler.
    fn pull_stream(&mut self, env: &mut Env<'_>) -> Result<Progress, HttpError> {
        let room = self.output.stream_room();
        if room == 0 {
            return Ok(Progress::Blocked);
        }
        let Some(req) = self.req.as_mut() else { return Ok(Progress::More) };
        let Some(Action::Handler(h)) = req.action.as_mut() else {
            self.output.stream_end();
            return Ok(self.complete(env));
        };
        let site = Rc::clone(&req.site);
        let mut cx = Cx { site: &site, rt: env.rt, sources: env.sources };
        let mut chunk = std::mem::take(&mut cx.rt.scratch);
        chunk.clear();
        let step = h.stream(&mut cx, &mut chunk, room);
        let produced = chunk.len();
        self.output.stream_push(&chunk);
        cx.rt.scratch = chunk;
        match step? {
            StreamStep::Done => {
                let whole = self.output.stream_end();
                if let Some(s) = self.sending.back_mut() {
                    s.end = self.output.queued();
                }
                if !whole {
                    // Fewer bytes than the Content-Length promised.
                    return Ok(Progress::Close);
                }
                Ok(self.complete(env))
            }
            StreamStep::More if produced == 0 => Ok(Progress::Blocked),
            StreamStep::More => Ok(Progress::More),
        }
    }

    /// Queues `reply` for the current request.
    fn send(&mut self, mut reply: Reply, env: &mut Env<'_>) {
        let Some(req) = self.req.as_mut() else { return };
        if matches!(reply.body, ReplyBody::File { len, .. } if len <= SMALL_FILE_BYTES) {
            reply = read_small_file(reply, req, self.peer, self.listener, env.rt);
        }
        if let Some(cookie) = req.set_cookie.take() {
            // Unless the handler set the session cookie itself (ending it).
            let own = reply.headers.iter().any(|(n, v)| {
                *n == "Set-Cookie"
                    && v.starts_with(session::COOKIE)
                    && v.get(session::COOKIE.len()..).is_some_and(|r| r.starts_with('='))
            });
            if !own {
                reply.headers.push(("Set-Cookie", cookie));
            }
        }
        let close = reply.close || !req.keep_alive || self.detached;
        let framing = Framing::of(&reply, req.http10);
        // A body that ends with the connection leaves nothing to keep alive.
        let close = close || (framing == Framing::Close && !req.head_only);
        let multi_write = matches!(reply.body, ReplyBody::File { .. } | ReplyBody::Stream { .. });
        if !self.nodelay && (!close || multi_write) {
            // As nginx's tcp_nodelay: set once the connection is kept alive
            // or a response goes out in several writes (a file after its
            // head, a stream), where Nagle's algorithm would hold a last
            // small segment for the peer's ACK. A single-write response on
            // a closing connection never needs it (one system call less).
            self.nodelay = true;
            if let Err(e) = platform::net::set_nodelay(std::os::fd::AsFd::as_fd(&self.stream), true)
            {
                let what = format!("setsockopt(TCP_NODELAY) failed: {e}");
                env.rt.error(crate::log::Level::Info, &what);
            }
        }
        let connection = if close {
            ConnectionHeader::Close
        } else if req.http10 {
            ConnectionHeader::KeepAlive
        } else {
            ConnectionHeader::None
        };
        if self.output.lacks_buffer() {
            self.output.provide_buffer(env.rt.take_output_buffer());
        }
        self.output.push_with(|out| {
            response::write_head(out, &reply, &env.rt.clock.date, connection, framing);
        });
        let body_start = self.output.queued();
        if close {
            req.keep_alive = false;
        }
        let streamed = is_streamed(&reply) && !req.head_only && !reply.is_bodiless_status();
        if !req.head_only && !reply.is_bodiless_status() {
            match reply.body {
                ReplyBody::Empty | ReplyBody::Stream { .. } => {}
                ReplyBody::Bytes(ref b) => self.output.push(b),
                ReplyBody::Shared { ref data, start, len } => {
                    self.output
                        .push(data.get(start..start.saturating_add(len)).unwrap_or_default());
                }
                ReplyBody::File { file, start, len } => self.output.push_file(file, start, len),
            }
            if streamed {
                self.output.push_stream(framing);
            }
        }
        if env.rt.log.access_enabled() {
            let record = LogRecord {
                line: req.line().to_vec(),
                referer: req.header(b"referer").map(<[u8]>::to_vec),
                user_agent: req.header(b"user-agent").map(<[u8]>::to_vec),
                status: reply.status,
            };
            let end = if streamed { u64::MAX } else { self.output.queued() };
            self.sending.push_back(Sending { record, body_start, end });
        }
        if streamed {
            req.stage = Stage::Stream;
            return;
        }
        self.complete(env);
    }

    /// The current request's response is queued whole: drop the request.
    fn complete(&mut self, env: &mut Env<'_>) -> Progress {
        let Some(mut req) = self.req.take() else { return Progress::More };
        finish_handler(&mut req, env);
        if !req.keep_alive {
            self.input = Input::Closing;
        }
        env.rt.give_raw(std::mem::take(&mut req.raw));
        env.rt.give_head(std::mem::take(&mut req.head));
        Progress::More
    }

    /// Answers a request that failed with `e`: the error page if no
    /// response was started, else the response is cut (the connection
    /// closes).
    fn fail(&mut self, e: HttpError, env: &mut Env<'_>) -> Verdict {
        let Some(req) = self.req.as_mut() else {
            self.refuse(e, b"", env);
            return Verdict::Keep;
        };
        log_cause(&e, req, self.peer, env.rt);
        if req.stage == Stage::Stream {
            if let Some(mut req) = self.req.take() {
                finish_handler(&mut req, env);
            }
            return Verdict::Close;
        }
        let mut reply =
            error_reply(&req.site, &env.rt.cache, e.status, self.listener, req.host(), req.at);
        // The body was not read to its end: nothing more can be parsed.
        if req.stage == Stage::Body || closes_connection(e.status) {
            reply.close = true;
            self.linger_wanted = true;
        }
        if let Some(Action::Handler(mut h)) = req.action.take() {
            let site = Rc::clone(&req.site);
            let mut cx = Cx { site: &site, rt: env.rt, sources: env.sources };
            h.finish(&mut cx);
        }
        req.stage = Stage::Reply;
        req.body = None;
        req.sink = BodySink::Discard;
        req.action = Some(Action::Reply(reply));
        self.process(env)
    }

    /// Answers an unparseable request (no `Request` exists) and stops
    /// reading requests.
    fn refuse(&mut self, e: HttpError, line: &[u8], env: &mut Env<'_>) {
        if let Some(level) = e.level() {
            let msg = format!(
                "{e}, client: {}, request: \"{}\"",
                self.peer.ip(),
                String::from_utf8_lossy(line)
            );
            env.rt.error(level, &msg);
        }
        let reply = error_reply(env.site, &env.rt.cache, e.status, self.listener, None, None);
        let body_start = {
            let date = &env.rt.clock.date;
            self.output.push_with(|out| {
                response::write_head(
                    out,
                    &reply,
                    date,
                    ConnectionHeader::Close,
                    Framing::of(&reply, false),
                );
            });
            self.output.queued()
        };
        if let Some(b) = reply_bytes(&reply) {
            self.output.push(b);
        }
        if env.rt.log.access_enabled() {
            let record = LogRecord {
                line: line.to_vec(),
                referer: None,
                user_agent: None,
                status: reply.status,
            };
            self.sending.push_back(Sending { record, body_start, end: self.output.queued() });
        }
        self.linger_wanted = true;
        self.input = Input::Closing;
    }

    /// Times out: 408 for a request being received, a quiet close otherwise.
    pub fn on_timeout(&mut self, env: &mut Env<'_>) -> Verdict {
        match self.phase {
            Some(Phase::Header) => {
                let line = unparsed_line(self.rbuf.get(self.rstart..self.rend).unwrap_or_default())
                    .to_vec();
                self.refuse(HttpError::plain(408), &line, env);
                // The client is not sending its request either: do not linger.
                self.linger_wanted = false;
                self.rstart = self.rend;
                Verdict::Keep
            }
            Some(Phase::Body) => {
                let v = self.fail(HttpError::plain(408), env);
                self.linger_wanted = false;
                self.rstart = self.rend;
                v
            }
            _ => Verdict::Close,
        }
    }

    /// The deadline phase now, and whether its timer must restart.
    pub fn deadline_phase(&mut self) -> (Phase, bool) {
        let phase = if self.input == Input::Linger {
            Phase::Linger
        } else if self.output.wants_write() {
            Phase::Send
        } else {
            match &self.req {
                Some(r) if r.stage == Stage::Body => Phase::Body,
                Some(_) => Phase::Wait,
                None if self.rstart < self.rend => Phase::Header,
                None if !self.output.is_empty() => Phase::Send,
                None => Phase::Idle,
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
    /// `None`: its address was removed; it closes after its current
    /// response and answers no further request.
    pub fn remap(&mut self, indices: Option<(usize, usize)>) {
        match indices {
            Some((listener, server)) => {
                self.listener = listener;
                self.server = server;
            }
            None => self.detached = true,
        }
    }
}

/// What a step of request processing achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Something changed: go on.
    More,
    /// Nothing more until an event.
    Blocked,
    /// The connection must close now.
    Close,
}

/// Offers body data to the request's sink (or its handler).
fn offer(req: &mut Request, cx: &mut Cx<'_>, data: &[u8]) -> Result<usize, HttpError> {
    match (&mut req.sink, req.action.as_mut()) {
        (BodySink::Handler, Some(Action::Handler(h))) => h.body(cx, data),
        (BodySink::Handler, _) => Ok(data.len()),
        (sink, _) => sink.write(cx, data),
    }
}

/// Lets the request's handler release what it holds.
/// Finds or starts the session of a request to a `session on` location.
fn track_session(req: &Request, rt: &mut Runtime) -> Result<Option<session::Tracked>, HttpError> {
    let Some(at) = req.at else { return Ok(None) };
    if !req.site.location(at).is_some_and(|l| l.session) {
        return Ok(None);
    }
    let config = &req.site.config;
    let presented = cookie::find(&req.head, &req.raw, session::COOKIE.as_bytes());
    let now = rt.clock.now;
    match rt.sessions.track(presented, now, config.session_timeout, config.session_max) {
        Ok(t) => Ok(Some(t)),
        Err(e) => Err(HttpError::io("getrandom()", Path::new("session id"), e)),
    }
}

fn finish_handler(req: &mut Request, env: &mut Env<'_>) {
    if let Some(Action::Handler(h)) = req.action.as_mut() {
        let site = Rc::clone(&req.site);
        let mut cx = Cx { site: &site, rt: env.rt, sources: env.sources };
        h.finish(&mut cx);
        // It may have changed files (an upload, a CGI script): a pipelined
        // request after it must see them as they are now.
        env.rt.cache.forget_stats();
    }
    req.action = None;
}

/// Logs why a request failed, as nginx does, when its cause is worth it.
fn log_cause(e: &HttpError, req: &Request, peer: SocketAddr, rt: &mut Runtime) {
    let Some(level) = e.level() else { return };
    let msg = format!(
        "{e}, client: {}, server: {}, request: \"{}\", host: \"{}\"",
        peer.ip(),
        req.site.server_name(req.server),
        String::from_utf8_lossy(req.line()),
        req.host().unwrap_or(""),
    );
    rt.error(level, &msg);
}

/// A small file range is read into memory before its head is written, so a
/// read that fails is answered 500 (and logged) rather than cut after a 200.
fn read_small_file(
    reply: Reply,
    req: &Request,
    peer: SocketAddr,
    listener: usize,
    rt: &mut Runtime,
) -> Reply {
    use std::os::unix::fs::FileExt;
    let Reply { status, content_type, validators, headers, fields, body, close } = reply;
    let ReplyBody::File { file, start, len } = body else {
        return Reply { status, content_type, validators, headers, fields, body, close };
    };
    let mut data = vec![0; usize::try_from(len).unwrap_or(0)];
    match file.read_exact_at(&mut data, start) {
        Ok(()) => Reply {
            status,
            content_type,
            validators,
            headers,
            fields,
            body: ReplyBody::Bytes(std::borrow::Cow::Owned(data)),
            close,
        },
        Err(e) => {
            let path =
                std::path::Path::new(std::str::from_utf8(req.head.path(&req.raw)).unwrap_or("?"));
            let e = HttpError::io("pread()", path, e);
            let err = HttpError { status: 500, cause: e.cause };
            log_cause(&err, req, peer, rt);
            error_reply(&req.site, &rt.cache, 500, listener, req.host(), req.at)
        }
    }
}

/// The bytes of an in-memory reply body.
fn reply_bytes(reply: &Reply) -> Option<&[u8]> {
    match &reply.body {
        ReplyBody::Bytes(b) => Some(b),
        ReplyBody::Shared { data, start, len } => data.get(*start..start.saturating_add(*len)),
        _ => None,
    }
}

/// The request line of unparsed input (for the log of a refused request):
/// leading empty lines skipped, up to the line end.
fn unparsed_line(buf: &[u8]) -> &[u8] {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let rest = buf.get(start..).unwrap_or_default();
    let end = rest.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(rest.len());
    rest.get(..end).unwrap_or_default()
}

/// Converts a duration from now.
pub fn deadline_after(now: Instant, d: Duration) -> Instant {
    // The configuration bounds durations (365 days), so this cannot
    // overflow; if it ever did, the deadline would be a year away rather
    // than already past (which would drop every connection).
    now.checked_add(d).or_else(|| now.checked_add(config::MAX_DURATION)).unwrap_or(now)
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
