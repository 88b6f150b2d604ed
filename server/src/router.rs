//! From a parsed request head to a [`Reply`]: path normalisation, routing
//! through the configuration, body limits, `methods`, `return`, the refusal
//! of CGI scripts (not run yet, never sent as files), the static handler and
//! error pages (built-in or `error_page` files).

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use config::{Config, Location, Return};

use crate::cache::FileCache;
use crate::files::{self, FileRequest};
use crate::http::mime;
use crate::http::path::normalize;
use crate::http::request::{BodyKind, Head, Limits};
use crate::http::response::{Reply, ReplyBody};
use crate::log::{self, Log};

/// Methods a location can allow, in the order the `Allow` header lists them.
pub const KNOWN_METHODS: [&str; 7] = config::METHOD_NAMES;
/// Extra read buffer space beyond the head limit, so a body start fits too.
pub const READ_SLACK_BYTES: usize = 4 * 1024;
/// Size of a connection's first read buffer; it grows only for a head that
/// does not fit (nginx's `client_header_buffer_size` is 1 KiB), up to
/// [`Shared::read_buffer_size`].
pub const READ_BUFFER_BYTES: usize = 2 * 1024;
/// Most idle read buffers kept for reuse (128 KiB).
pub const POOLED_BUFFERS: usize = 64;
/// Body limit before a request is routed (nginx's default `client_max_body_size`).
const DEFAULT_BODY_LIMIT: u64 = 1 << 20;
/// Methods the static file handler implements.
const STATIC_METHODS: [&str; 2] = ["GET", "HEAD"];

/// State every connection's request handling reads or appends to.
#[derive(Debug)]
pub struct Shared {
    /// The configuration in force.
    pub config: Config,
    /// Canonical mapping base of every location (`[server][location]`),
    /// `None` when it does not exist.
    pub bases: Vec<Vec<Option<PathBuf>>>,
    /// Request head limits.
    pub limits: Limits,
    /// Access and error logs.
    pub log: Log,
    /// The loop's clock and cached date strings.
    pub clock: Clock,
    /// Scratch space for decoded chunked bodies that are discarded.
    pub scratch: Vec<u8>,
    /// Graceful stop in progress: no more keep-alive.
    pub shutting_down: bool,
    /// Read buffers of connections that went idle, for reuse.
    buffers: Vec<Vec<u8>>,
    /// Small files' contents.
    pub cache: FileCache,
}

impl Shared {
    /// Shared state for `config`, canonicalising every location's base.
    pub fn new(config: Config, log: Log) -> Shared {
        let bases = config
            .servers
            .iter()
            .map(|s| {
                s.locations
                    .iter()
                    .map(|l| std::fs::canonicalize(files::mapping_base(l)).ok())
                    .collect()
            })
            .collect();
        Shared {
            config,
            bases,
            limits: Limits::default(),
            log,
            clock: Clock::new(),
            scratch: Vec::new(),
            shutting_down: false,
            buffers: Vec::new(),
            cache: FileCache::default(),
        }
    }

    /// Largest size of a connection's read buffer: a whole head of the
    /// largest size allowed, plus room for the start of a body or the next
    /// request.
    pub fn read_buffer_size(&self) -> usize {
        self.limits.max_head + READ_SLACK_BYTES
    }

    /// A small read buffer of [`READ_BUFFER_BYTES`], from the pool when one
    /// is there.
    pub fn take_buffer(&mut self) -> Vec<u8> {
        match self.buffers.pop() {
            Some(b) => b,
            None => vec![0; READ_BUFFER_BYTES],
        }
    }

    /// Gives a read buffer back. The pool keeps at most [`POOLED_BUFFERS`],
    /// and only small ones: a buffer grown for a large head is freed, so idle
    /// memory returns to the baseline after load.
    pub fn give_buffer(&mut self, buf: Vec<u8>) {
        let small = buf.len() == READ_BUFFER_BYTES && buf.capacity() == READ_BUFFER_BYTES;
        if self.buffers.len() < POOLED_BUFFERS && small {
            self.buffers.push(buf);
        }
    }

    fn location(&self, at: (usize, usize)) -> Option<&Location> {
        self.config.servers.get(at.0)?.locations.get(at.1)
    }

    fn base(&self, at: (usize, usize)) -> Option<&std::path::Path> {
        self.bases.get(at.0)?.get(at.1)?.as_deref()
    }

    /// Logs an error line.
    pub fn error(&mut self, level: &str, message: &str) {
        self.log.error(level, message, &self.clock.time_err, self.clock.now);
    }
}

/// The loop's notion of now, with the `Date` header and log timestamps
/// re-formatted at most once a second.
#[derive(Debug)]
pub struct Clock {
    /// Monotonic now.
    pub now: Instant,
    second: u64,
    /// IMF-fixdate for the `Date` header.
    pub date: String,
    /// Access log time.
    pub time_local: String,
    /// Error log time.
    pub time_err: String,
}

impl Clock {
    fn new() -> Clock {
        let mut c = Clock {
            now: Instant::now(),
            second: u64::MAX,
            date: String::new(),
            time_local: String::new(),
            time_err: String::new(),
        };
        c.update();
        c
    }

    /// Reads the clocks; re-formats the strings when the second changed.
    pub fn update(&mut self) {
        self.now = Instant::now();
        let wall = SystemTime::now();
        let second = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            self.date = platform::httpdate::fmt_http_date(wall);
            self.time_local = log::time_local(&self.date);
            self.time_err = log::time_err(&self.date);
        }
    }
}

/// What to do with a request.
#[derive(Debug)]
pub struct Decision {
    /// The server that handled it (its timeouts apply from now on).
    pub server: usize,
    /// The response.
    pub reply: Reply,
    /// Whether the handler consumes a request body (and so earns a
    /// `100 Continue`); other bodies are read and dropped before the reply.
    pub consumes_body: bool,
    /// `client_max_body_size` (0 = unlimited), checked as a body is read.
    pub body_limit: u64,
    /// A line for the error log about this request (the caller adds the
    /// client's address), as nginx logs refused requests.
    pub note: Option<String>,
}

/// Decides the response to a parsed request (`buf` holds its head).
pub fn decide(sh: &Shared, listener: usize, head: &Head, buf: &[u8]) -> Decision {
    let host = head.host(buf).and_then(|h| std::str::from_utf8(h).ok());
    let default_server = sh.config.listeners.get(listener).map_or(0, |l| l.default_server);
    let refuse = |status: u16, at: Option<(usize, usize)>| Decision {
        server: at.map_or(default_server, |a| a.0),
        reply: error_reply(sh, status, listener, host, at),
        consumes_body: false,
        body_limit: at
            .and_then(|a| sh.location(a))
            .map_or(DEFAULT_BODY_LIMIT, |l| l.client_max_body_size),
        note: None,
    };

    // The parser rejects unknown methods (501); TRACE and CONNECT are known
    // but no location allows them, so they get 405 below, as in nginx.
    let Some(method) = head.method_kind().as_str() else {
        return refuse(501, None);
    };
    let path = match normalize(head.path(buf)) {
        Ok(p) => p,
        Err(e) => return refuse(e.status(), None),
    };
    let at = sh.config.route(listener, host, &path);
    let Some(location) = sh.location(at) else { return refuse(500, None) };

    let limit = location.client_max_body_size;
    if let BodyKind::Length(n) = head.body() {
        // Decided from Content-Length before reading any of the body.
        if limit > 0 && n > limit {
            return refuse(413, Some(at));
        }
    }
    if !location.methods.contains(method) {
        let mut d = refuse(405, Some(at));
        d.reply.headers.push(("Allow", allow(|m| location.methods.contains(m))));
        return d;
    }
    let answer = |reply| Decision {
        server: at.0,
        reply,
        consumes_body: false,
        body_limit: limit,
        note: None,
    };
    match &location.ret {
        Some(Return::Redirect { code, target }) => {
            return answer(Reply::redirect(*code, target.clone()));
        }
        // As nginx: a text is typed like a file of this path would be.
        Some(Return::Status { code, text: Some(text) }) => {
            let mut reply = Reply::new(*code);
            reply.content_type = Some(mime::for_location(location, &path));
            reply.body = ReplyBody::Bytes(Cow::Owned(text.clone().into_bytes()));
            return answer(reply);
        }
        // `return 404;`: the status's page, the location's error_page if any.
        Some(Return::Status { code, text: None }) if *code >= 400 => {
            return refuse(*code, Some(at));
        }
        Some(Return::Status { code, text: None }) => return answer(Reply::new(*code)),
        None => {}
    }
    if path.split('/').any(|segment| location.is_cgi_name(segment)) {
        // CGI does not run yet; the script must not be sent as a file either.
        let mut d = refuse(403, Some(at));
        d.note = Some(format!(
            "\"{path}\" is a CGI script (\"cgi\" in location \"{}\") and CGI is not \
             available yet: refused with 403",
            location.prefix
        ));
        return d;
    }
    if !STATIC_METHODS.contains(&method) {
        // nginx: POST (or PUT, DELETE...) to a static file is 405.
        let mut d = refuse(405, Some(at));
        d.reply.headers.push((
            "Allow",
            allow(|m| STATIC_METHODS.contains(&m) && location.methods.contains(m)),
        ));
        return d;
    }
    let req = FileRequest {
        path: &path,
        query: head.query(buf),
        if_none_match: head.header(buf, b"if-none-match"),
        if_modified_since: head.header(buf, b"if-modified-since"),
        range: head.header(buf, b"range"),
        if_range: head.header(buf, b"if-range"),
    };
    match files::serve(&req, location, sh.base(at), &sh.cache) {
        Ok(reply) => answer(reply),
        Err(status) => refuse(status, Some(at)),
    }
}

fn allow(mut pred: impl FnMut(&str) -> bool) -> String {
    let mut out = String::new();
    for m in KNOWN_METHODS {
        if pred(m) {
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(m);
        }
    }
    out
}

/// The response for an error `status`: the location's `error_page` file if
/// configured and servable (sent with the original status), else the built-in
/// page. `at` is the routed server and location; without it the listener's
/// default server (for `host`) and its `/` location are used.
pub fn error_reply(
    sh: &Shared,
    status: u16,
    listener: usize,
    host: Option<&str>,
    at: Option<(usize, usize)>,
) -> Reply {
    let at = at.unwrap_or_else(|| sh.config.route(listener, host, "/"));
    let mut reply =
        custom_page(sh, status, listener, host, at).unwrap_or_else(|| Reply::error(status));
    // As nginx: after these the connection is not kept alive.
    if matches!(status, 400 | 408 | 413 | 414 | 431 | 500 | 501 | 505) {
        reply.close = true;
    }
    reply
}

fn custom_page(
    sh: &Shared,
    status: u16,
    listener: usize,
    host: Option<&str>,
    at: (usize, usize),
) -> Option<Reply> {
    let uri = sh.location(at)?.error_page(status)?;
    let path = normalize(uri.as_bytes()).ok()?;
    let page_at = sh.config.route(listener, host, &path);
    let location = sh.location(page_at)?;
    let req = FileRequest { path: &path, ..FileRequest::default() };
    let mut reply = files::serve(&req, location, sh.base(page_at), &sh.cache).ok()?;
    if reply.status != 200 {
        return None;
    }
    reply.status = status;
    reply.headers.retain(|(name, _)| !matches!(*name, "ETag" | "Last-Modified" | "Accept-Ranges"));
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{parse_head, Status};
    use crate::http::response::ReplyBody;
    use std::fs;
    use std::path::Path;

    #[test]
    fn buffer_pool_keeps_only_small_buffers() {
        let dir = std::env::temp_dir().join(format!("berth-pool-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut sh = shared(&dir);
        let mut grown = sh.take_buffer();
        assert_eq!(grown.len(), READ_BUFFER_BYTES);
        grown.resize(sh.read_buffer_size(), 0);
        sh.give_buffer(grown);
        sh.give_buffer(vec![0; READ_BUFFER_BYTES]);
        assert_eq!(sh.buffers.len(), 1);
        assert!(sh.buffers.iter().all(|b| b.capacity() == READ_BUFFER_BYTES));
        for _ in 0..2 * POOLED_BUFFERS {
            sh.give_buffer(vec![0; READ_BUFFER_BYTES]);
        }
        assert_eq!(sh.buffers.len(), POOLED_BUFFERS);
        assert_eq!(sh.take_buffer().len(), READ_BUFFER_BYTES);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn allow_lists_in_fixed_order() {
        assert_eq!(allow(|m| m == "POST" || m == "GET"), "GET, POST");
        assert_eq!(allow(|_| true), "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH");
        assert_eq!(allow(|_| false), "");
    }

    const CONF: &str = "
        server {
            listen 127.0.0.1:8080;
            root www;
            error_page 404 /errors/404.html;
            location /ro { methods GET; }
            location /old { return 301 /new; }
            location /small { client_max_body_size 10; }
            location /gone { return 410; }
            location /hi { return 200 \"hi\\n\"; }
            location /hi.json { return 503 \"{}\"; }
            location /empty { return 200; }
            location /cgi { cgi .py; index index.py; }
        }
        server {
            listen 127.0.0.1:8080;
            server_name other.test;
            root other;
        }
    ";

    fn shared(dir: &Path) -> Shared {
        for d in ["www/sub", "www/errors", "www/ro", "www/cgi", "other"] {
            fs::create_dir_all(dir.join(d)).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        for (f, body) in [
            ("www/hello.txt", "hello"),
            ("www/errors/404.html", "custom 404"),
            ("www/ro/x.txt", "ro"),
            ("www/cgi/t.py", "SOURCE"),
            ("www/cgi/index.py", "SOURCE"),
            ("other/hello.txt", "other"),
        ] {
            fs::write(dir.join(f), body).unwrap_or_else(|e| panic!("write: {e}"));
        }
        let config =
            config::parse(CONF, &dir.join("berth.conf")).unwrap_or_else(|e| panic!("config: {e}"));
        let log = Log::open(None, &config::LogTarget::Off).unwrap_or_else(|e| panic!("log: {e}"));
        Shared::new(config, log)
    }

    fn body(reply: &Reply) -> Vec<u8> {
        match &reply.body {
            ReplyBody::Bytes(b) => b.to_vec(),
            ReplyBody::Shared { data, start, len } => {
                data.get(*start..start + len).unwrap_or_default().to_vec()
            }
            _ => Vec::new(),
        }
    }

    fn header<'r>(reply: &'r Reply, name: &str) -> Option<&'r str> {
        reply.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// Request head, status, whether it closes, a header it must carry, its body.
    type Case<'a> = (&'a str, u16, bool, Option<(&'a str, &'a str)>, Option<&'a str>);

    #[test]
    fn decisions_table() {
        let dir = std::env::temp_dir().join(format!("berth-router-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let sh = shared(&dir);
        let cases: &[Case<'_>] = &[
            ("GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 200, false, None, Some("hello")),
            ("HEAD /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 200, false, None, None),
            (
                "GET /hello.txt HTTP/1.1\r\nHost: Other.Test:8080\r\n\r\n",
                200,
                false,
                None,
                Some("other"),
            ),
            ("GET /missing HTTP/1.1\r\nHost: a\r\n\r\n", 404, false, None, Some("custom 404")),
            ("GET /missing HTTP/1.1\r\nHost: other.test\r\n\r\n", 404, false, None, None),
            ("GET /sub HTTP/1.1\r\nHost: a\r\n\r\n", 301, false, Some(("Location", "/sub/")), None),
            (
                "GET /sub?q=1 HTTP/1.1\r\nHost: a\r\n\r\n",
                301,
                false,
                Some(("Location", "/sub/?q=1")),
                None,
            ),
            ("GET /sub/ HTTP/1.1\r\nHost: a\r\n\r\n", 403, false, None, None),
            (
                "POST /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n",
                405,
                false,
                Some(("Allow", "GET, HEAD")),
                None,
            ),
            ("DELETE /ro/x.txt HTTP/1.1\r\nHost: a\r\n\r\n", 405, false, None, None),
            ("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405, false, None, None),
            ("GET /old HTTP/1.1\r\nHost: a\r\n\r\n", 301, false, Some(("Location", "/new")), None),
            (
                "POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n",
                413,
                true,
                None,
                None,
            ),
            (
                "POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n",
                405,
                false,
                None,
                None,
            ),
            ("GET /../hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 403, false, None, None),
            ("GET /%2e%2e/hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 403, false, None, None),
            ("GET /a%2fb HTTP/1.1\r\nHost: a\r\n\r\n", 403, false, None, None),
            ("GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", 400, true, None, None),
            ("GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400, true, None, None),
            ("GET /hello.txt/ HTTP/1.1\r\nHost: a\r\n\r\n", 404, false, None, None),
            (
                "GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=1-2\r\n\r\n",
                206,
                false,
                Some(("Content-Range", "bytes 1-2/5")),
                Some("el"),
            ),
            (
                "GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=9-\r\n\r\n",
                416,
                false,
                Some(("Content-Range", "bytes */5")),
                None,
            ),
            (
                "GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: *\r\n\r\n",
                304,
                false,
                None,
                None,
            ),
        ];
        let script = "\"/cgi/t.py\" is a CGI script (\"cgi\" in location \"/cgi\") and CGI is not \
                      available yet: refused with 403";
        // Request, status, Content-Type, body, error-log note.
        type Answer<'a> = (&'a str, u16, Option<&'a str>, Option<&'a str>, Option<&'a str>);
        let returns: &[Answer<'_>] = &[
            ("GET /gone/x HTTP/1.1\r\nHost: a\r\n\r\n", 410, Some("text/html"), None, None),
            (
                "GET /hi HTTP/1.1\r\nHost: a\r\n\r\n",
                200,
                Some("application/octet-stream"),
                Some("hi\n"),
                None,
            ),
            (
                "GET /hi.json HTTP/1.1\r\nHost: a\r\n\r\n",
                503,
                Some("application/json"),
                Some("{}"),
                None,
            ),
            ("GET /empty HTTP/1.1\r\nHost: a\r\n\r\n", 200, None, Some(""), None),
            (
                "GET /cgi/t.py HTTP/1.1\r\nHost: a\r\n\r\n",
                403,
                Some("text/html"),
                None,
                Some(script),
            ),
            ("POST /cgi/t.py/info HTTP/1.1\r\nHost: a\r\n\r\n", 403, Some("text/html"), None, None),
            ("GET /cgi/ HTTP/1.1\r\nHost: a\r\n\r\n", 403, Some("text/html"), None, None),
        ];
        for (raw, status, ctype, want_body, note) in returns {
            let mut head = Head::new();
            assert!(matches!(
                parse_head(raw.as_bytes(), &Limits::default(), &mut head),
                Ok(Status::Complete(_))
            ));
            let d = decide(&sh, 0, &head, raw.as_bytes());
            assert_eq!(d.reply.status, *status, "{raw}");
            assert_eq!(d.reply.content_type.as_deref(), *ctype, "{raw}");
            if let Some(b) = want_body {
                assert_eq!(body(&d.reply), b.as_bytes(), "{raw}");
            }
            assert!(!body(&d.reply).windows(6).any(|w| w == b"SOURCE"), "{raw}");
            if note.is_some() {
                assert_eq!(d.note.as_deref(), *note, "{raw}");
            }
        }
        for (raw, status, close, want_header, want_body) in cases {
            let raw = raw.as_bytes();
            let mut head = Head::new();
            let parsed = parse_head(raw, &Limits::default(), &mut head);
            assert!(matches!(parsed, Ok(Status::Complete(_))), "{raw:?}: {parsed:?}");
            let d = decide(&sh, 0, &head, raw);
            let what = String::from_utf8_lossy(raw);
            assert_eq!(d.reply.status, *status, "{what}");
            assert_eq!(d.reply.close, *close, "{what}");
            if let Some((name, value)) = want_header {
                assert_eq!(header(&d.reply, name), Some(*value), "{what}");
            }
            if let Some(b) = want_body {
                assert_eq!(body(&d.reply), b.as_bytes(), "{what}");
            }
        }
        let _ = fs::remove_dir_all(dir);
    }
}
