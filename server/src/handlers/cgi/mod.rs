//! CGI/1.1 (RFC 3875): scripts chosen by file extension, run inside the one
//! event loop.
//!
//! - [`resolve`] finds the script in a request path (the first segment with
//!   a `cgi` extension that is a regular file) and splits `SCRIPT_NAME` from
//!   `PATH_INFO`; [`env`](mod@env) builds its environment and [`head`] parses its
//!   header block: both pure, tested as tables.
//! - [`Cgi`] is the [`Handler`]: it starts the script with
//!   `std::process::Command` in its own process group (its folder as working
//!   directory, the script as first argument of its interpreter), and owns
//!   the script's stdin, stdout and stderr pipes as non-blocking,
//!   level-triggered sources of the reactor, each read or written at most
//!   once per loop iteration, and only when reported.
//!
//! The body: a `Content-Length` body is written to stdin as it arrives
//! (taking less pushes back on the client); a chunked one is de-chunked into
//! a temporary file first, which becomes the script's stdin, so that
//! `CONTENT_LENGTH` is exact. A script that exits without reading its stdin
//! does not stall anything: the rest of the body is read and dropped. While
//! the body is being received, stdout and stderr are not watched (nothing
//! would read them in that stage); their pipe buffers hold what the script
//! prints meanwhile.
//!
//! The output: the header block is read and parsed; the body then streams
//! to the client through the connection, which pulls it while its queue has
//! room. When the queue is full the pipes are not watched, so a slow client
//! slows the script (its writes block) and nothing is buffered without
//! bound. `cgi_timeout` bounds how long the script may stay silent while it
//! is watched: 504 before its header, the response cut after it.
//!
//! Sessions: in a `session on` location the script also gets its session
//! as `BERTH_SESSION_*` variables, and sets values with `X-Berth-Session`
//! response headers, applied here and never passed on (see
//! [`super::session`]).
//!
//! The end: when the exchange ends early (timeout, client gone, error,
//! shutdown) the script's process group gets `SIGTERM`, and `SIGKILL`
//! [`KILL_GRACE`] later through the runtime's kill list. The pid is in
//! [`crate::site::Runtime::children`], which the reactor reaps on
//! `SIGCHLD`: no zombie is left.

pub mod env;
pub mod head;

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use config::Location;
use poller::Interest;

use super::sink::TempFileSink;
use super::{Action, BodySink, Cx, Handler, StreamStep};
use crate::error::HttpError;
use crate::http::request::{parse_head, BodyKind, Head, Limits, Method, Status};
use crate::http::response::{Reply, ReplyBody};
use crate::log::Level;
use crate::reactor::connection::deadline_after;
use crate::reactor::slab::Key;
use crate::site::Site;
use head::{CgiHead, MAX_CGI_HEAD_BYTES};

/// How long a script's process group has between `SIGTERM` and `SIGKILL`.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// Most internal redirects (`Location: /path`) one request may follow
/// (nginx's `NGX_HTTP_MAX_URI_CHANGES`).
pub const MAX_REDIRECTS: u8 = 10;
/// Bytes read from a script's stdout or stderr at once.
const READ_BYTES: usize = 16 * 1024;
/// A stderr line longer than this is logged in pieces.
const MAX_STDERR_LINE: usize = 2048;

/// A script found in a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The URL path up to and including the script (`SCRIPT_NAME`).
    pub script_name: String,
    /// The rest of the URL path (`PATH_INFO`), possibly empty.
    pub path_info: String,
    /// The script's file, symlinks resolved (`SCRIPT_FILENAME`).
    pub filename: PathBuf,
    /// `PATH_INFO` mapped through the root (`PATH_TRANSLATED`).
    pub path_translated: Option<PathBuf>,
    /// The interpreter, if the extension has one.
    pub interpreter: Option<PathBuf>,
}

/// Finds the script in the normalised request path `path` of `location`
/// (RFC 3875 §3.3): the first segment that ends in one of its `cgi`
/// extensions and names a regular file under `base`, the canonical mapping
/// base.
///
/// `Ok(None)`: no segment has a `cgi` extension, or those that have one are
/// folders: the path is not a script's (the static handler refuses any file
/// with a `cgi` extension, in any letter case).
///
/// # Errors
/// 404 when a segment with a `cgi` extension names nothing; 403 when the
/// script leads through a symlink out of `base`.
pub fn resolve(
    location: &Location,
    base: Option<&Path>,
    path: &str,
) -> Result<Option<Script>, HttpError> {
    let mut candidates = location.cgi_candidates(path).peekable();
    if candidates.peek().is_none() {
        return Ok(None);
    }
    let Some(base) = base else { return Err(HttpError::plain(404)) };
    for (end, handler) in candidates {
        let url = path.get(..end).unwrap_or(path);
        let rel = super::static_files::relative_path(location, url);
        let mapped = base.join(rel);
        let meta = match fs::metadata(&mapped) {
            Ok(m) => m,
            Err(e) => return Err(HttpError::io("stat()", &mapped, e)),
        };
        if meta.is_dir() {
            continue;
        }
        if !meta.is_file() {
            let why = format!("CGI script \"{}\" is not a regular file", mapped.display());
            return Err(HttpError::refused(403, why));
        }
        let real =
            fs::canonicalize(&mapped).map_err(|e| HttpError::io("realpath()", &mapped, e))?;
        if !real.starts_with(base) {
            let why = format!(
                "CGI script \"{}\" leads through a symlink to \"{}\", outside \"{}\"",
                mapped.display(),
                real.display(),
                base.display()
            );
            return Err(HttpError::refused(403, why));
        }
        let path_info = path.get(end..).unwrap_or("").to_string();
        let path_translated = (!path_info.is_empty())
            .then(|| location.mapping.path().join(path_info.trim_start_matches('/')));
        return Ok(Some(Script {
            script_name: url.to_string(),
            path_info,
            filename: real,
            path_translated,
            interpreter: handler.interpreter.clone(),
        }));
    }
    Ok(None)
}

/// What the router knows of a request that goes to a script.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The site it arrived under.
    pub site: &'a Site,
    /// The (server, location) it was routed to.
    pub at: (usize, usize),
    /// The config listener it came from.
    pub listener: usize,
    /// The client.
    pub peer: SocketAddr,
    /// Internal redirects followed so far.
    pub depth: u8,
}

/// The CGI handler for `head` (received in `buf`) if its path `path`
/// (normalised) names a script of `location`; `Ok(None)` when it does not.
///
/// # Errors
/// As [`resolve`].
pub fn handler(
    origin: Origin<'_>,
    location: &Location,
    head: &Head,
    buf: &[u8],
    path: &str,
) -> Result<Option<Action>, HttpError> {
    if location.cgi.is_empty() {
        return Ok(None);
    }
    let Some(script) = resolve(location, origin.site.base(origin.at), path)? else {
        return Ok(None);
    };
    let site = origin.site;
    let server_name = match site.config.servers.get(origin.at.0).and_then(|s| s.names.first()) {
        Some(name) if !name.is_empty() => name.clone(),
        _ => {
            let host = head.host(buf).map(String::from_utf8_lossy).unwrap_or_default();
            host_without_port(&host).to_string()
        }
    };
    let server_port = site.config.listeners.get(origin.listener).map_or(0, |l| l.addr.port());
    Ok(Some(Action::Handler(Box::new(Cgi {
        script,
        method: String::from_utf8_lossy(head.method(buf)).into_owned(),
        head_only: head.method_kind() == Method::Head,
        request_uri: head.target(buf).to_vec(),
        query: head.query(buf).unwrap_or_default().to_vec(),
        protocol: head.version().as_str(),
        headers: head.headers(buf).map(|(n, v)| (n.to_vec(), v.to_vec())).collect(),
        document_root: location.mapping.path().to_path_buf(),
        server_name,
        server_port,
        origin: (origin.listener, origin.peer, origin.depth),
        timeout: location.cgi_timeout,
        body: head.body(),
        child: None,
        stage: Stage::Start,
        stderr_line: Vec::new(),
        inner: None,
        session: None,
    }))))
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.split(':').next().unwrap_or(host)
}

/// Where the exchange with the script stands.
#[derive(Debug)]
enum Stage {
    /// Not started yet.
    Start,
    /// Started; its header block is being read.
    Header(Vec<u8>),
    /// The header was answered; the body streams. `pending` holds body
    /// bytes read with the header; `left` is what its `Content-Length`
    /// still allows, if it gave one.
    Body { pending: Vec<u8>, left: Option<u64> },
    /// The script's output ended (EOF, or its `Content-Length` reached).
    Done,
}

/// A pipe to or from the script, registered as a source.
#[derive(Debug)]
struct Pipe {
    file: File,
    key: Key,
    /// The interest it is watched for now.
    watched: Option<Interest>,
}

/// A running script.
#[derive(Debug)]
struct Child {
    pid: u32,
    stdin: Option<Pipe>,
    stdout: Option<Pipe>,
    stderr: Option<Pipe>,
    /// stdout reached EOF: the script is done with its output.
    eof: bool,
}

/// The CGI handler of one request.
#[derive(Debug)]
pub struct Cgi {
    script: Script,
    method: String,
    head_only: bool,
    request_uri: Vec<u8>,
    query: Vec<u8>,
    protocol: &'static str,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    document_root: PathBuf,
    server_name: String,
    server_port: u16,
    /// Listener, peer, internal redirects followed so far.
    origin: (usize, SocketAddr, u8),
    timeout: Duration,
    body: BodyKind,
    child: Option<Child>,
    stage: Stage,
    /// A stderr line not ended yet.
    stderr_line: Vec<u8>,
    /// What answers after an internal redirect to another script.
    inner: Option<Box<dyn Handler>>,
    /// The session id, in a `session on` location.
    session: Option<String>,
}

impl Cgi {
    /// The script's URL path, for log lines.
    fn name(&self) -> String {
        format!("\"{}\"", self.script.script_name)
    }

    /// Starts the script with `stdin`; `content_length` is the body's exact
    /// length when there is one.
    fn spawn(
        &mut self,
        cx: &mut Cx<'_>,
        stdin: Stdio,
        content_length: Option<u64>,
    ) -> Result<(), HttpError> {
        let meta = env::Meta {
            method: &self.method,
            request_uri: &self.request_uri,
            query: &self.query,
            protocol: self.protocol,
            script_name: &self.script.script_name,
            script_filename: &self.script.filename,
            path_info: &self.script.path_info,
            path_translated: self.script.path_translated.as_deref(),
            document_root: &self.document_root,
            server_name: &self.server_name,
            server_port: self.server_port,
            remote: self.origin.1,
            content_length,
        };
        let headers = self.headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice()));
        let mut vars = env::build(&meta, headers);
        if let Some(id) = &self.session {
            let session = cx.rt.sessions.cgi_env(id);
            vars.extend(session.into_iter().map(|(n, v)| (n, v.into_bytes())));
        }
        let filename = &self.script.filename;
        let mut cmd = match &self.script.interpreter {
            Some(interpreter) => {
                let mut c = Command::new(interpreter);
                c.arg(filename);
                c
            }
            None => Command::new(filename),
        };
        if let Some(dir) = filename.parent() {
            cmd.current_dir(dir);
        }
        cmd.env_clear()
            .envs(vars.iter().map(|(n, v)| (n, std::ffi::OsStr::from_bytes(v))))
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: a timeout or a shutdown signals the script and
            // everything it started, and a Ctrl-C at the server's terminal
            // is not also delivered to it.
            .process_group(0);
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        let pid = child.id();
        cx.rt.children.push(pid);
        let stdin = child.stdin.take().map(OwnedFd::from);
        let stdout = child.stdout.take().map(OwnedFd::from);
        let stderr = child.stderr.take().map(OwnedFd::from);
        // Dropping `child` neither waits nor kills: the reactor reaps `pid`.
        drop(child);
        let mut running = Child { pid, stdin: None, stdout: None, stderr: None, eof: false };
        let res = (|| {
            if let Some(fd) = stdin {
                running.stdin = Some(register(cx, fd, Some(Interest::WRITABLE))?);
            }
            if let Some(fd) = stdout {
                running.stdout = Some(register(cx, fd, None)?);
            }
            if let Some(fd) = stderr {
                running.stderr = Some(register(cx, fd, None)?);
            }
            Ok::<(), io::Error>(())
        })();
        self.child = Some(running);
        self.stage = Stage::Header(Vec::new());
        res.map_err(|e| {
            HttpError::refused(
                500,
                format!("cannot watch the pipes of CGI script {}: {e}", self.name()),
            )
        })
    }

    /// The 502 for a script that cannot be started, saying why.
    fn spawn_error(&self, e: io::Error) -> HttpError {
        let why = match &self.script.interpreter {
            Some(i) => format!(
                "cannot start interpreter \"{}\" for CGI script \"{}\": {}",
                i.display(),
                self.script.filename.display(),
                config::os_message(&e)
            ),
            None if e.kind() == ErrorKind::PermissionDenied => format!(
                "CGI script \"{}\" is not executable and its extension has no interpreter",
                self.script.filename.display()
            ),
            None => format!(
                "cannot execute CGI script \"{}\": {}",
                self.script.filename.display(),
                config::os_message(&e)
            ),
        };
        HttpError::refused(502, why)
    }

    /// Watches stdout and stderr for reading; the silence timer starts
    /// when stdout was not watched before.
    fn watch_output(&mut self, cx: &mut Cx<'_>) -> Result<(), HttpError> {
        let at = deadline_after(cx.rt.clock.now, self.timeout);
        let Some(child) = self.child.as_mut() else { return Ok(()) };
        if let Some(err) = child.stderr.as_mut() {
            set_watch(cx, err, Some(Interest::READABLE))?;
        }
        if let Some(out) = child.stdout.as_mut() {
            if out.watched.is_none() {
                set_watch(cx, out, Some(Interest::READABLE))?;
                cx.sources.set_timer(out.key, Some(at));
            }
        }
        Ok(())
    }

    /// Stops watching stdout and stderr (the client's queue is full): the
    /// script waits, and so does its silence timer.
    fn unwatch_output(&mut self, cx: &mut Cx<'_>) -> Result<(), HttpError> {
        let Some(child) = self.child.as_mut() else { return Ok(()) };
        for pipe in [child.stdout.as_mut(), child.stderr.as_mut()].into_iter().flatten() {
            set_watch(cx, pipe, None)?;
        }
        if let Some(out) = child.stdout.as_ref() {
            cx.sources.set_timer(out.key, None);
        }
        Ok(())
    }

    /// One read of stderr if it was reported: whole lines go to the error
    /// log with the script's name.
    fn drain_stderr(&mut self, cx: &mut Cx<'_>) {
        let Some(child) = self.child.as_mut() else { return };
        let Some(pipe) = child.stderr.as_mut() else { return };
        if !cx.sources.take_readable(pipe.key) {
            return;
        }
        let mut buf = [0u8; 4096];
        let n = match pipe.file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => return,
            Err(_) => 0,
        };
        let data = buf.get(..n).unwrap_or_default();
        if n == 0 {
            if let Some(pipe) = child.stderr.take() {
                cx.sources.deregister(pipe.key, pipe.file.as_fd());
            }
        }
        self.stderr_line.extend_from_slice(data);
        let name = self.script.script_name.clone();
        let mut log = |line: &[u8]| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                let msg = format!(
                    "CGI script \"{name}\" stderr: {}, client: {}",
                    String::from_utf8_lossy(line),
                    self.origin.1.ip()
                );
                cx.rt.error(Level::Error, &msg);
            }
        };
        while let Some(nl) = self.stderr_line.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.stderr_line.drain(..=nl).collect();
            log(line.get(..nl).unwrap_or_default());
        }
        if self.stderr_line.len() > MAX_STDERR_LINE || (n == 0 && !self.stderr_line.is_empty()) {
            let line = std::mem::take(&mut self.stderr_line);
            log(&line);
        }
    }

    /// One read of stdout if it was reported, appended to `out` (at most
    /// `max` bytes). `Ok(None)`: nothing to read now; `Ok(Some(0))`: EOF.
    fn read_stdout(
        &mut self,
        cx: &mut Cx<'_>,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<Option<usize>, HttpError> {
        let at = deadline_after(cx.rt.clock.now, self.timeout);
        let Some(child) = self.child.as_mut() else { return Ok(Some(0)) };
        let Some(pipe) = child.stdout.as_mut() else { return Ok(Some(0)) };
        if max == 0 || !cx.sources.take_readable(pipe.key) {
            return Ok(None);
        }
        let start = out.len();
        out.resize(start + max.min(READ_BYTES), 0);
        let res = pipe.file.read(out.get_mut(start..).unwrap_or_default());
        let n = match res {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                out.truncate(start);
                return Ok(None);
            }
            Err(e) => {
                out.truncate(start);
                let why = format!("reading the output of CGI script {} failed: {e}", self.name());
                return Err(HttpError::refused(502, why));
            }
        };
        out.truncate(start + n);
        if n == 0 {
            child.eof = true;
            if let Some(pipe) = child.stdout.take() {
                cx.sources.set_timer(pipe.key, None);
                cx.sources.deregister(pipe.key, pipe.file.as_fd());
            }
        } else {
            // Output: the script is not silent.
            cx.sources.set_timer(pipe.key, Some(at));
        }
        Ok(Some(n))
    }

    /// The reply for a complete header block.
    fn answer(
        &mut self,
        cx: &mut Cx<'_>,
        head: CgiHead,
        rest: Vec<u8>,
    ) -> Result<Option<Reply>, HttpError> {
        if let Some(target) = head.local_redirect() {
            let target = target.to_string();
            // The rest of its output is not for the client (RFC 3875 §6.2.2).
            self.release(cx, true);
            return self.redirect(cx, &target);
        }
        let status = head.status();
        let mut reply = Reply::new(status);
        reply.content_type = head.content_type.map(Cow::Owned);
        if let Some(head::Location::Client(url)) = &head.location {
            reply.headers.push(("Location", url.clone()));
        }
        if let Some(head::Location::Local(path)) = &head.location {
            // With a Status, a local Location is passed on as it is.
            reply.headers.push(("Location", path.clone()));
        }
        let (sets, fields): (Vec<_>, Vec<_>) = head
            .headers
            .into_iter()
            .partition(|(n, _)| n.eq_ignore_ascii_case(super::session::SET_HEADER));
        for (_, value) in sets {
            self.apply_session(cx, &value);
        }
        reply.fields = fields;
        let done = !self.child.as_ref().is_some_and(|c| !c.eof) && rest.is_empty();
        let len = head.content_length;
        reply.body = ReplyBody::Stream { len };
        self.stage = if done || len == Some(0) {
            Stage::Done
        } else {
            let mut pending = rest;
            if let Some(n) = len {
                pending.truncate(usize::try_from(n).unwrap_or(usize::MAX));
            }
            let left = len.map(|n| n - pending.len() as u64);
            Stage::Body { pending, left }
        };
        Ok(Some(reply))
    }

    /// Applies one `X-Berth-Session` header of the script to its session;
    /// one that cannot be applied is logged, the response goes on.
    fn apply_session(&self, cx: &mut Cx<'_>, value: &str) {
        let Some(id) = &self.session else {
            let why = format!(
                "CGI script {} sent \"{}\" outside a \"session on\" location: ignored",
                self.name(),
                super::session::SET_HEADER
            );
            cx.rt.error(Level::Warn, &why);
            return;
        };
        if let Err(e) = cx.rt.sessions.apply(id, value.as_bytes()) {
            let why = format!(
                "CGI script {} sent \"{}: {value}\", not applied: {e:?}",
                self.name(),
                super::session::SET_HEADER
            );
            cx.rt.error(Level::Warn, &why);
        }
    }

    /// Serves `target` (a local path with an optional query) as Berth
    /// would serve a `GET` of it (RFC 3875 §6.2.2).
    fn redirect(&mut self, cx: &mut Cx<'_>, target: &str) -> Result<Option<Reply>, HttpError> {
        let (listener, peer, depth) = self.origin;
        if depth >= MAX_REDIRECTS {
            let why = format!(
                "CGI script {} redirected internally more than {MAX_REDIRECTS} times",
                self.name()
            );
            return Err(HttpError::refused(500, why));
        }
        let method = if self.head_only { "HEAD" } else { "GET" };
        let host = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"host"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: ").into_bytes();
        raw.extend_from_slice(&host);
        raw.extend_from_slice(b"\r\n\r\n");
        let mut head = Head::new();
        match parse_head(&raw, &Limits::default(), &mut head) {
            Ok(Status::Complete(_)) => {}
            _ => {
                let why = format!("CGI script {} redirected to an invalid path", self.name());
                return Err(HttpError::refused(502, why));
            }
        }
        let route = crate::router::route_at_depth(
            cx.site,
            &cx.rt.cache,
            listener,
            &head,
            &raw,
            peer,
            depth + 1,
        );
        self.stage = Stage::Done;
        match route.action? {
            Action::Reply(reply) => Ok(Some(reply)),
            Action::Handler(mut inner) => {
                inner.body_end(cx, BodySink::Discard)?;
                let reply = inner.reply(cx);
                self.inner = Some(inner);
                reply
            }
        }
    }

    /// Closes every pipe; unless the script ended its output, its process
    /// group gets `SIGTERM` now and `SIGKILL` after [`KILL_GRACE`].
    fn release(&mut self, cx: &mut Cx<'_>, kill: bool) {
        let Some(mut child) = self.child.take() else { return };
        for pipe in
            [child.stdin.take(), child.stdout.take(), child.stderr.take()].into_iter().flatten()
        {
            cx.sources.set_timer(pipe.key, None);
            cx.sources.deregister(pipe.key, pipe.file.as_fd());
        }
        if kill && !child.eof {
            // The group exists while any of its processes does (its id is
            // not reused before), so the later SIGKILL cannot hit another.
            if platform::process::killpg(child.pid, platform::process::SIGTERM).is_ok() {
                let at = deadline_after(cx.rt.clock.now, KILL_GRACE);
                cx.rt.kills.push((child.pid, at));
            }
        }
    }
}

/// Registers the non-blocking pipe `fd` for `interest` (`None`: registered
/// later, when first watched).
fn register(cx: &mut Cx<'_>, fd: OwnedFd, interest: Option<Interest>) -> io::Result<Pipe> {
    platform::fd::set_nonblocking(fd.as_fd(), true)?;
    let file = File::from(fd);
    let key = cx.sources.register(file.as_fd(), interest.unwrap_or(Interest::READABLE))?;
    let mut pipe = Pipe { file, key, watched: Some(interest.unwrap_or(Interest::READABLE)) };
    if interest.is_none() {
        cx.sources.watch(key, pipe.file.as_fd(), None)?;
        pipe.watched = None;
    }
    Ok(pipe)
}

fn set_watch(cx: &mut Cx<'_>, pipe: &mut Pipe, want: Option<Interest>) -> Result<(), HttpError> {
    if pipe.watched == want {
        return Ok(());
    }
    cx.sources
        .watch(pipe.key, pipe.file.as_fd(), want)
        .map_err(|e| HttpError::refused(500, format!("cannot watch a CGI pipe: {e}")))?;
    pipe.watched = want;
    Ok(())
}

impl Handler for Cgi {
    fn sink(&mut self, cx: &mut Cx<'_>) -> Result<BodySink, HttpError> {
        match self.body {
            BodyKind::Chunked => {
                let spool = TempFileSink::create(&std::env::temp_dir())?;
                Ok(BodySink::TempFile(spool))
            }
            BodyKind::Length(n) => {
                self.spawn(cx, Stdio::piped(), Some(n))?;
                Ok(BodySink::Handler)
            }
            BodyKind::None => Ok(BodySink::Discard),
        }
    }

    fn session(&mut self, cx: &mut Cx<'_>, id: &str) {
        let _ = cx;
        self.session = Some(id.to_string());
    }

    fn body(&mut self, cx: &mut Cx<'_>, data: &[u8]) -> Result<usize, HttpError> {
        let Some(child) = self.child.as_mut() else { return Ok(data.len()) };
        let Some(pipe) = child.stdin.as_mut() else {
            // The script closed its stdin: the rest is dropped.
            return Ok(data.len());
        };
        if data.is_empty() {
            return Ok(0);
        }
        if !cx.sources.take_writable(pipe.key) {
            set_watch(cx, pipe, Some(Interest::WRITABLE))?;
            return Ok(0);
        }
        match pipe.file.write(data) {
            Ok(n) => {
                if n == data.len() {
                    // Level-triggered: an empty pipe would be reported
                    // writable at every turn until more body arrives.
                    set_watch(cx, pipe, None)?;
                }
                Ok(n)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                set_watch(cx, pipe, Some(Interest::WRITABLE))?;
                Ok(0)
            }
            Err(_) => {
                // EPIPE: the script does not read its stdin (it may have
                // answered already); the rest of the body is dropped.
                if let Some(pipe) = child.stdin.take() {
                    cx.sources.deregister(pipe.key, pipe.file.as_fd());
                }
                Ok(data.len())
            }
        }
    }

    fn body_end(&mut self, cx: &mut Cx<'_>, sink: BodySink) -> Result<(), HttpError> {
        if let Some(inner) = self.inner.as_mut() {
            return inner.body_end(cx, sink);
        }
        match sink {
            BodySink::TempFile(spool) => {
                let len = spool.len();
                let (file, path) = spool.keep()?;
                // Unlinked at once: the script reads it through its stdin.
                let _ = fs::remove_file(&path);
                self.spawn(cx, Stdio::from(file), Some(len))?;
            }
            _ => {
                if let Some(child) = self.child.as_mut() {
                    // The end of the body: the script reads EOF.
                    if let Some(pipe) = child.stdin.take() {
                        cx.sources.deregister(pipe.key, pipe.file.as_fd());
                    }
                }
            }
        }
        if self.child.is_some() {
            self.watch_output(cx)?;
        }
        Ok(())
    }

    fn reply(&mut self, cx: &mut Cx<'_>) -> Result<Option<Reply>, HttpError> {
        if let Some(inner) = self.inner.as_mut() {
            return inner.reply(cx);
        }
        if matches!(self.stage, Stage::Start) {
            // No body (or an empty one): stdin is /dev/null.
            let len = match self.body {
                BodyKind::Length(n) => Some(n),
                _ => None,
            };
            self.spawn(cx, Stdio::null(), len)?;
            self.watch_output(cx)?;
            return Ok(None);
        }
        self.drain_stderr(cx);
        let Stage::Header(mut buf) = std::mem::replace(&mut self.stage, Stage::Done) else {
            return Err(HttpError::refused(500, "CGI reply asked twice"));
        };
        // One byte past the limit is enough to tell a block too large.
        let max = (MAX_CGI_HEAD_BYTES + 1).saturating_sub(buf.len());
        let read = self.read_stdout(cx, &mut buf, max)?;
        match head::parse(&buf) {
            Ok(Some((head, n))) => {
                let rest = buf.split_off(n);
                return self.answer(cx, head, rest);
            }
            Err(e) => {
                let why = format!(
                    "CGI script {} sent an invalid header: {} (first bytes: \"{}\")",
                    self.name(),
                    e.message(),
                    String::from_utf8_lossy(buf.get(..buf.len().min(64)).unwrap_or_default())
                        .escape_debug()
                );
                return Err(HttpError::refused(502, why));
            }
            Ok(None) => {}
        }
        if read == Some(0) {
            let why = format!("CGI script {} ended before sending a valid header", self.name());
            return Err(HttpError::refused(502, why));
        }
        self.stage = Stage::Header(buf);
        Ok(None)
    }

    fn stream(
        &mut self,
        cx: &mut Cx<'_>,
        out: &mut Vec<u8>,
        room: usize,
    ) -> Result<StreamStep, HttpError> {
        if let Some(inner) = self.inner.as_mut() {
            return inner.stream(cx, out, room);
        }
        self.drain_stderr(cx);
        let (mut pending, mut left) = match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Body { pending, left } => (pending, left),
            other => {
                self.stage = other;
                return Ok(StreamStep::Done);
            }
        };
        let take = pending.len().min(room);
        out.extend(pending.drain(..take));
        if pending.is_empty() && left != Some(0) {
            let mut max = room - out.len();
            if let Some(n) = left {
                max = max.min(usize::try_from(n).unwrap_or(usize::MAX));
            }
            let start = out.len();
            let got = self.read_stdout(cx, out, max)?;
            if let Some(n) = left.as_mut() {
                *n -= (out.len() - start) as u64;
            }
            match got {
                Some(0) => return Ok(StreamStep::Done),
                None if max > 0 => self.watch_output(cx)?,
                _ => {}
            }
        }
        if pending.is_empty() && left == Some(0) {
            // Its Content-Length is reached: anything more is not sent.
            return Ok(StreamStep::Done);
        }
        if out.len() >= room {
            // The client's queue is full: stop reading (back-pressure)
            // until the connection asks again.
            self.unwatch_output(cx)?;
        }
        self.stage = Stage::Body { pending, left };
        Ok(StreamStep::More)
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, key: Key) -> Result<(), HttpError> {
        if let Some(inner) = self.inner.as_mut() {
            return inner.on_timer(cx, key);
        }
        let when = if matches!(self.stage, Stage::Header(_)) {
            "before its header"
        } else {
            "while sending its body"
        };
        let why = format!(
            "CGI script {} timed out {when} (silent for cgi_timeout {:?})",
            self.name(),
            self.timeout
        );
        let status = if matches!(self.stage, Stage::Header(_)) { 504 } else { 502 };
        Err(HttpError::refused(status, why))
    }

    fn finish(&mut self, cx: &mut Cx<'_>) {
        if let Some(mut inner) = self.inner.take() {
            inner.finish(cx);
        }
        self.drain_stderr(cx);
        self.release(cx, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "server { listen 1; root www; \
        location /cgi-bin { cgi .py /usr/bin/python3; cgi .cgi; } \
        location /alias/ { alias www/aliased/; cgi .sh /bin/sh; } }";

    #[test]
    fn script_resolution_table() {
        let dir = std::env::temp_dir().join(format!("berth-cgi-resolve-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for d in ["www/cgi-bin/dir.py", "www/aliased/sub", "outside"] {
            fs::create_dir_all(dir.join(d)).unwrap_or_else(|e| panic!("mkdir {d}: {e}"));
        }
        for f in [
            "www/cgi-bin/app.py",
            "www/cgi-bin/run.cgi",
            "www/cgi-bin/dir.py/in.py",
            "www/aliased/sub/t.sh",
            "outside/evil.py",
        ] {
            fs::write(dir.join(f), "x").unwrap_or_else(|e| panic!("write {f}: {e}"));
        }
        std::os::unix::fs::symlink(dir.join("outside/evil.py"), dir.join("www/cgi-bin/out.py"))
            .unwrap_or_else(|e| panic!("symlink: {e}"));
        std::os::unix::fs::symlink("app.py", dir.join("www/cgi-bin/in.py"))
            .unwrap_or_else(|e| panic!("symlink: {e}"));
        let config = config::parse(CONF, &dir.join("berth.conf")).unwrap_or_else(|e| panic!("{e}"));
        let site = Site::new(config);
        let www = fs::canonicalize(dir.join("www")).unwrap_or_else(|e| panic!("{e}"));
        // Path, location index, Ok((SCRIPT_NAME, PATH_INFO, file under www)) or status; None: not a script.
        type Want<'a> = Result<Option<(&'a str, &'a str, &'a str)>, u16>;
        let cases: &[(&str, usize, Want<'_>)] = &[
            ("/cgi-bin/app.py", 0, Ok(Some(("/cgi-bin/app.py", "", "cgi-bin/app.py")))),
            (
                "/cgi-bin/app.py/extra/path",
                0,
                Ok(Some(("/cgi-bin/app.py", "/extra/path", "cgi-bin/app.py"))),
            ),
            ("/cgi-bin/app.py/", 0, Ok(Some(("/cgi-bin/app.py", "/", "cgi-bin/app.py")))),
            (
                "/cgi-bin/run.cgi/x.py",
                0,
                Ok(Some(("/cgi-bin/run.cgi", "/x.py", "cgi-bin/run.cgi"))),
            ),
            // A folder with a cgi extension is skipped for the next segment.
            (
                "/cgi-bin/dir.py/in.py/i",
                0,
                Ok(Some(("/cgi-bin/dir.py/in.py", "/i", "cgi-bin/dir.py/in.py"))),
            ),
            ("/cgi-bin/dir.py/", 0, Ok(None)),
            // A symlink inside the root runs its target.
            ("/cgi-bin/in.py", 0, Ok(Some(("/cgi-bin/in.py", "", "cgi-bin/app.py")))),
            ("/cgi-bin/missing.py", 0, Err(404)),
            ("/cgi-bin/missing.py/x", 0, Err(404)),
            ("/cgi-bin/out.py", 0, Err(403)),
            ("/cgi-bin/readme.txt", 0, Ok(None)),
            ("/cgi-bin/APP.PY", 0, Ok(None)),
            ("/alias/sub/t.sh/p", 1, Ok(Some(("/alias/sub/t.sh", "/p", "aliased/sub/t.sh")))),
        ];
        for (path, loc, want) in cases {
            let location = site.location((0, *loc)).unwrap_or_else(|| panic!("location {loc}"));
            let got = resolve(location, site.base((0, *loc)), path);
            match (got, want) {
                (Ok(None), Ok(None)) => {}
                (Ok(Some(s)), Ok(Some((name, info, file)))) => {
                    assert_eq!(s.script_name, *name, "{path}");
                    assert_eq!(s.path_info, *info, "{path}");
                    assert_eq!(s.filename, www.join(file), "{path}");
                    assert_eq!(s.path_translated.is_some(), !info.is_empty(), "{path}");
                }
                (Err(e), Err(status)) => assert_eq!(e.status, *status, "{path}: {e}"),
                (got, want) => panic!("{path}: got {got:?}, want {want:?}"),
            }
        }
        let s = resolve(
            site.location((0, 0)).unwrap_or_else(|| panic!("loc")),
            site.base((0, 0)),
            "/cgi-bin/app.py/a/b",
        );
        let s = s.ok().flatten().unwrap_or_else(|| panic!("script"));
        assert_eq!(s.path_translated, Some(dir.join("www/a/b")));
        assert_eq!(s.interpreter, Some(PathBuf::from("/usr/bin/python3")));
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn host_without_port_table() {
        for (host, want) in
            [("a.test:8080", "a.test"), ("a.test", "a.test"), ("[::1]:80", "[::1]"), ("", "")]
        {
            assert_eq!(host_without_port(host), want);
        }
    }
}
