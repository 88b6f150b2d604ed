//! From a parsed request head to an [`Action`]: path normalisation, routing
//! through the configuration (server by address and `Host`, location by
//! longest prefix), body limits, `methods`, `return`, CGI scripts and the
//! static handler. Pure but for the file system look-ups of the handlers.

use std::borrow::Cow;
use std::net::SocketAddr;

use config::{Location, Return};

use crate::error::HttpError;
use crate::handlers::cache::FileCache;
use crate::handlers::cgi;
use crate::handlers::delete;
use crate::handlers::error_page::error_reply;
use crate::handlers::session::SessionPage;
use crate::handlers::static_files::{self, FileRequest};
use crate::handlers::upload::Upload;
use crate::handlers::Action;
use crate::http::mime;
use crate::http::multipart;
use crate::http::path::{normalize, PathError};
use crate::http::request::{BodyKind, Head};
use crate::http::response::{Reply, ReplyBody};
use crate::site::Site;

/// Methods a location can allow, in the order the `Allow` header lists them.
pub const KNOWN_METHODS: [&str; 7] = config::METHOD_NAMES;
/// Body limit before a request is routed (nginx's default `client_max_body_size`).
pub const DEFAULT_BODY_LIMIT: u64 = 1 << 20;

/// Where a request goes and what answers it.
#[derive(Debug)]
pub struct Route {
    /// The server that handles it (its timeouts apply from now on).
    pub server: usize,
    /// The (server, location) it matched, when routing got that far.
    pub at: Option<(usize, usize)>,
    /// The answer, or why the request fails.
    pub action: Result<Action, HttpError>,
    /// `client_max_body_size` (0 = unlimited), checked as a body is read.
    pub body_limit: u64,
}

/// Routes a parsed request whose head is `buf`, received on `listener`
/// from `peer`.
pub fn route(
    site: &Site,
    cache: &FileCache,
    listener: usize,
    head: &Head,
    buf: &[u8],
    peer: SocketAddr,
) -> Route {
    route_at_depth(site, cache, listener, head, buf, peer, 0)
}

/// [`route`] for a request made by `depth` internal redirects (a CGI
/// script's `Location: /path`).
pub fn route_at_depth(
    site: &Site,
    cache: &FileCache,
    listener: usize,
    head: &Head,
    buf: &[u8],
    peer: SocketAddr,
    depth: u8,
) -> Route {
    let host = head.host(buf).and_then(|h| std::str::from_utf8(h).ok());
    let default_server = site.config.listeners.get(listener).map_or(0, |l| l.default_server);
    let unrouted = |e: HttpError| Route {
        server: default_server,
        at: None,
        action: Err(e),
        body_limit: DEFAULT_BODY_LIMIT,
    };

    // The parser rejects unknown methods (501); TRACE and CONNECT are known
    // but no location allows them, so they get 405 below, as in nginx.
    let Some(method) = head.method_kind().as_str() else {
        return unrouted(HttpError::plain(501));
    };
    let path = match normalize(head.path(buf)) {
        Ok(p) => p,
        Err(e) => return unrouted(path_error(e, head.path(buf))),
    };
    let at = site.config.route(listener, host, &path);
    let Some(location) = site.location(at) else {
        return unrouted(HttpError::refused(500, "no location matched"));
    };
    let body_limit = location.client_max_body_size;
    let done = |action| Route { server: at.0, at: Some(at), action, body_limit };

    if let BodyKind::Length(n) = head.body() {
        // Decided from Content-Length before reading any of the body.
        if body_limit > 0 && n > body_limit {
            let why = format!(
                "client intended to send too large body: {n} bytes (client_max_body_size {body_limit})"
            );
            return done(Err(HttpError::refused(413, why)));
        }
    }
    if !location.methods.contains(method) {
        return done(Ok(not_allowed(site, cache, listener, host, at, |m| {
            location.methods.contains(m)
        })));
    }
    match &location.ret {
        Some(Return::Redirect { code, target }) => {
            return done(Ok(Action::Reply(Reply::redirect(*code, target.clone()))));
        }
        // As nginx: a text is typed like a file of this path would be.
        Some(Return::Status { code, text: Some(text) }) => {
            let mut reply = Reply::new(*code);
            reply.content_type = Some(mime::for_location(location, &path));
            reply.body = ReplyBody::Bytes(Cow::Owned(text.clone().into_bytes()));
            return done(Ok(Action::Reply(reply)));
        }
        // `return 404;`: the status's page, the location's error_page if any.
        Some(Return::Status { code, text: None }) if *code >= 400 => {
            return done(Err(HttpError::plain(*code)));
        }
        Some(Return::Status { code, text: None }) => {
            return done(Ok(Action::Reply(Reply::new(*code))));
        }
        None => {}
    }
    let origin = cgi::Origin { site, at, listener, peer, depth };
    match cgi::handler(origin, location, head, buf, &path) {
        Ok(Some(action)) => return done(Ok(action)),
        Ok(None) => {}
        Err(e) => return done(Err(e)),
    }
    if location.session_page && matches!(method, "GET" | "HEAD" | "POST") {
        let accept = head.header(buf, b"accept").unwrap_or_default();
        let page = SessionPage::new(method == "POST", wants_json(accept), &path);
        return done(Ok(Action::Handler(Box::new(page))));
    }
    match method {
        "GET" | "HEAD" => done(static_action(site, cache, location, at, head, buf, &path)),
        "DELETE" => {
            let deleted = delete::delete(location, site.base(at), &path).map(Action::Reply);
            cache.forget_stats();
            done(deleted)
        }
        "POST" => match &location.upload_store {
            Some(store) => done(upload_action(store, location, at, head, buf, &path)),
            None => done(Ok(not_allowed(site, cache, listener, host, at, |m| {
                is_served(location, m) && location.methods.contains(m)
            }))),
        },
        // An allowed method nothing here implements (PUT, or POST without
        // an upload store): 405 with what is served, as nginx for POST to a
        // static file.
        _ => done(Ok(not_allowed(site, cache, listener, host, at, |m| {
            is_served(location, m) && location.methods.contains(m)
        }))),
    }
}

/// The upload handler for a POST to a location with `upload_store`.
fn upload_action(
    store: &std::path::Path,
    location: &Location,
    at: (usize, usize),
    head: &Head,
    buf: &[u8],
    path: &str,
) -> Result<Action, HttpError> {
    let content_type = head.header(buf, b"content-type").unwrap_or_default();
    let boundary = multipart::boundary(content_type)
        .map_err(|e| HttpError::refused(400, format!("upload refused: {e}")))?;
    let json = wants_json(head.header(buf, b"accept").unwrap_or_default());
    let rel = path.get(location.prefix.len()..).unwrap_or("");
    let upload = Upload::new(store.to_path_buf(), at, rel, boundary.as_deref(), json);
    Ok(Action::Handler(Box::new(upload)))
}

/// Whether an `Accept` value asks for JSON rather than HTML.
fn wants_json(accept: &[u8]) -> bool {
    let has = |what: &[u8]| accept.windows(what.len()).any(|w| w.eq_ignore_ascii_case(what));
    has(b"application/json") && !has(b"text/html")
}

/// Whether a handler here implements `method`: GET and HEAD everywhere
/// (static files), DELETE, and POST where there is an upload store.
fn is_served(location: &Location, method: &str) -> bool {
    match method {
        "GET" | "HEAD" | "DELETE" => true,
        "POST" => location.upload_store.is_some() || location.session_page,
        _ => false,
    }
}

fn static_action(
    site: &Site,
    cache: &FileCache,
    location: &Location,
    at: (usize, usize),
    head: &Head,
    buf: &[u8],
    path: &str,
) -> Result<Action, HttpError> {
    let req = FileRequest {
        path,
        query: head.query(buf),
        if_none_match: head.header(buf, b"if-none-match"),
        if_modified_since: head.header(buf, b"if-modified-since"),
        range: head.header(buf, b"range"),
        if_range: head.header(buf, b"if-range"),
    };
    static_files::serve(&req, location, site.base(at), cache).map(Action::Reply)
}

/// 405 with the `Allow` header listing the methods `allowed` accepts.
fn not_allowed(
    site: &Site,
    cache: &FileCache,
    listener: usize,
    host: Option<&str>,
    at: (usize, usize),
    allowed: impl FnMut(&str) -> bool,
) -> Action {
    let mut reply = error_reply(site, cache, 405, listener, host, Some(at));
    reply.headers.push(("Allow", allow(allowed)));
    Action::Reply(reply)
}

/// The error for a request path that cannot be mapped; the refusals (403)
/// say why in the error log.
fn path_error(e: PathError, raw: &[u8]) -> HttpError {
    let raw = String::from_utf8_lossy(raw);
    match e {
        PathError::AboveRoot => {
            HttpError::refused(e.status(), format!("request path \"{raw}\" climbs above the root"))
        }
        PathError::EncodedSlash => {
            HttpError::refused(e.status(), format!("request path \"{raw}\" has an encoded \"/\""))
        }
        _ => HttpError::plain(e.status()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Cause;
    use crate::http::request::{parse_head, Limits, Status};
    use std::fs;
    use std::path::Path;

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
            location /del { methods GET PUT DELETE; }
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

    fn site(dir: &Path) -> Site {
        for d in ["www/sub", "www/errors", "www/ro", "www/del", "www/cgi", "other"] {
            fs::create_dir_all(dir.join(d)).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        for (f, body) in [
            ("www/hello.txt", "hello"),
            ("www/errors/404.html", "custom 404"),
            ("www/ro/x.txt", "ro"),
            ("www/del/x.txt", "x"),
            ("www/cgi/t.py", "SOURCE"),
            ("www/cgi/index.py", "SOURCE"),
            ("other/hello.txt", "other"),
        ] {
            fs::write(dir.join(f), body).unwrap_or_else(|e| panic!("write: {e}"));
        }
        let config =
            config::parse(CONF, &dir.join("berth.conf")).unwrap_or_else(|e| panic!("config: {e}"));
        Site::new(config)
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

    fn peer() -> std::net::SocketAddr {
        std::net::SocketAddr::from(([192, 0, 2, 7], 51000))
    }

    #[test]
    fn scripts_get_the_cgi_handler() {
        let dir = std::env::temp_dir().join(format!("berth-router-cgi-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let site = site(&dir);
        let cache = FileCache::default();
        for raw in [
            "GET /cgi/t.py HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /cgi/t.py/info?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
            "POST /cgi/t.py HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
        ] {
            let mut head = Head::new();
            let parsed = parse_head(raw.as_bytes(), &Limits::default(), &mut head);
            assert!(matches!(parsed, Ok(Status::Complete(_))), "{raw}");
            let r = route(&site, &cache, 0, &head, raw.as_bytes(), peer());
            assert!(matches!(r.action, Ok(Action::Handler(_))), "{raw}: {:?}", r.action);
        }
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn decisions_table() {
        let dir = std::env::temp_dir().join(format!("berth-router-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let site = site(&dir);
        let cache = FileCache::default();
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
            // Without `methods`: GET and HEAD only, never DELETE.
            (
                "DELETE /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n",
                405,
                false,
                Some(("Allow", "GET, HEAD")),
                None,
            ),
            (
                "PUT /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n",
                405,
                false,
                Some(("Allow", "GET, HEAD")),
                None,
            ),
            // Allowed but implemented by nothing: Allow lists what is served.
            (
                "PUT /del/x.txt HTTP/1.1\r\nHost: a\r\n\r\n",
                405,
                false,
                Some(("Allow", "GET, HEAD, DELETE")),
                None,
            ),
            ("DELETE /del/x.txt HTTP/1.1\r\nHost: a\r\n\r\n", 204, false, None, None),
            ("DELETE /del/x.txt HTTP/1.1\r\nHost: a\r\n\r\n", 404, false, None, None),
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
        // Request, status, Content-Type, body, error-log cause.
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
            // The index script is never run nor sent for a folder.
            ("GET /cgi/ HTTP/1.1\r\nHost: a\r\n\r\n", 403, Some("text/html"), None, None),
            ("GET /cgi/missing.py HTTP/1.1\r\nHost: a\r\n\r\n", 404, Some("text/html"), None, None),
            // Another letter case is not the script (404 here; a case-insensitive
            // file system finds the file and the static handler refuses it).
            ("GET /cgi/T.PY HTTP/1.1\r\nHost: a\r\n\r\n", 404, Some("text/html"), None, None),
        ];
        for (raw, status, ctype, want_body, why) in returns {
            let mut head = Head::new();
            let parsed = parse_head(raw.as_bytes(), &Limits::default(), &mut head);
            assert!(matches!(parsed, Ok(Status::Complete(_))), "{raw}");
            let r = route(&site, &cache, 0, &head, raw.as_bytes(), peer());
            let reply = match r.action {
                Ok(Action::Reply(reply)) => reply,
                Ok(Action::Handler(h)) => panic!("static route gave a handler: {h:?}"),
                Err(e) => {
                    if let Some(why) = why {
                        assert!(matches!(&e.cause, Cause::Refused(c) if c == why), "{raw}: {e}");
                    }
                    error_reply(&site, &cache, e.status, 0, None, r.at)
                }
            };
            assert_eq!(reply.status, *status, "{raw}");
            assert_eq!(reply.content_type.as_deref(), *ctype, "{raw}");
            if let Some(b) = want_body {
                assert_eq!(body(&reply), b.as_bytes(), "{raw}");
            }
            assert!(!body(&reply).windows(6).any(|w| w == b"SOURCE"), "{raw}");
        }
        for (raw, status, close, want_header, want_body) in cases {
            let raw = raw.as_bytes();
            let mut head = Head::new();
            let parsed = parse_head(raw, &Limits::default(), &mut head);
            assert!(matches!(parsed, Ok(Status::Complete(_))), "{raw:?}: {parsed:?}");
            let r = route(&site, &cache, 0, &head, raw, peer());
            let reply = match r.action {
                Ok(Action::Reply(reply)) => reply,
                Ok(Action::Handler(h)) => panic!("static route gave a handler: {h:?}"),
                Err(e) => error_reply(&site, &cache, e.status, 0, None, r.at),
            };
            let what = String::from_utf8_lossy(raw);
            assert_eq!(reply.status, *status, "{what}");
            assert_eq!(reply.close, *close, "{what}");
            if let Some((name, value)) = want_header {
                assert_eq!(header(&reply, name), Some(*value), "{what}");
            }
            if let Some(b) = want_body {
                assert_eq!(body(&reply), b.as_bytes(), "{what}");
            }
        }
        let _ = fs::remove_dir_all(dir);
    }
}
