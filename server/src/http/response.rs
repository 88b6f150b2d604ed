//! Responses: the [`Reply`] a handler returns, its head serialised into the
//! connection's write buffer, reason phrases and the built-in error pages.
//!
//! Pure: the reactor supplies the cached `Date` and decides `Connection`.

use std::borrow::Cow;
use std::fs::File;
use std::rc::Rc;

use super::conditional::Validators;

/// `Server` header value and the signature on built-in pages.
pub const SERVER: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));

/// The body of a [`Reply`].
#[derive(Debug)]
pub enum ReplyBody {
    /// No body (`Content-Length: 0`, or none at all for 1xx, 204 and 304).
    Empty,
    /// A body held in memory.
    Bytes(Cow<'static, [u8]>),
    /// `len` bytes from `start` of shared contents (a cached file).
    Shared {
        /// The whole contents.
        data: Rc<[u8]>,
        /// First byte to send.
        start: usize,
        /// How many bytes to send.
        len: usize,
    },
    /// `len` bytes of `file` from offset `start`.
    File {
        /// The open file.
        file: File,
        /// First byte to send.
        start: u64,
        /// How many bytes to send.
        len: u64,
    },
    /// A body the handler produces after the head (a CGI script's output),
    /// of the given length when it is known in advance.
    Stream {
        /// `Content-Length`, if known; else chunked (HTTP/1.1) or
        /// close-delimited (HTTP/1.0).
        len: Option<u64>,
    },
}

impl ReplyBody {
    /// The body's length in bytes, `None` for a stream of unknown length.
    pub fn len(&self) -> Option<u64> {
        match self {
            ReplyBody::Empty => Some(0),
            ReplyBody::Bytes(b) => Some(b.len() as u64),
            ReplyBody::Shared { len, .. } => Some(*len as u64),
            ReplyBody::File { len, .. } => Some(*len),
            ReplyBody::Stream { len } => *len,
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

/// A complete response decided by a handler, before serialisation.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// `Content-Type`, if the response has a body (borrowed for the
    /// built-in types, owned for those a configuration names).
    pub content_type: Option<Cow<'static, str>>,
    /// A file's validators, written as `Last-Modified` and `ETag` (with
    /// `Accept-Ranges: bytes` unless the status is 304); shared with the
    /// file cache, so a cached file's response formats nothing.
    pub validators: Option<Rc<Validators>>,
    /// Headers besides Date, Server, Connection, Content-Type,
    /// Content-Length and the validators.
    pub headers: Vec<(&'static str, String)>,
    /// Headers whose names are known only at run time (a CGI script's),
    /// written after [`Reply::headers`].
    pub fields: Vec<(String, String)>,
    /// The body.
    pub body: ReplyBody,
    /// Whether the connection must close after this response (e.g. 400).
    pub close: bool,
}

impl Reply {
    /// A reply with no extra header and no body.
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            content_type: None,
            validators: None,
            headers: Vec::new(),
            fields: Vec::new(),
            body: ReplyBody::Empty,
            close: false,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// The built-in HTML page for an error status.
    pub fn error(status: u16) -> Reply {
        let mut r = Reply::new(status);
        r.content_type = Some(Cow::Borrowed("text/html"));
        r.body = ReplyBody::Bytes(Cow::Owned(error_page(status).into_bytes()));
        r
    }

    /// A redirect to `location` with a small HTML body, as nginx sends.
    pub fn redirect(status: u16, location: String) -> Reply {
        let mut r = Reply::error(status);
        r.headers.push(("Location", location));
        r
    }

    /// Whether this status never carries a body or `Content-Length`
    /// (RFC 9110 §6.4.1, §15.3.5, §15.4.5).
    pub fn is_bodiless_status(&self) -> bool {
        self.status < 200 || self.status == 204 || self.status == 304
    }
}

/// How the `Connection` header is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionHeader {
    /// No header: HTTP/1.1 persistent by default.
    None,
    /// `Connection: keep-alive` (a kept-alive HTTP/1.0 client).
    KeepAlive,
    /// `Connection: close`.
    Close,
}

/// How a response body is delimited on the wire (RFC 9112 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all (HEAD keeps the headers of GET, 1xx/204/304 have none).
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked` (HTTP/1.1 only, length unknown).
    Chunked,
    /// Neither: the body ends when the connection closes (HTTP/1.0, length
    /// unknown).
    Close,
}

impl Framing {
    /// The framing of `reply` for a client speaking HTTP/1.0 (`http10`).
    pub fn of(reply: &Reply, http10: bool) -> Framing {
        if reply.is_bodiless_status() {
            return Framing::None;
        }
        match reply.body.len() {
            Some(n) => Framing::Length(n),
            None if http10 => Framing::Close,
            None => Framing::Chunked,
        }
    }
}

/// Writes the status line and headers of `reply` (through the blank line),
/// with `Content-Length` or `Transfer-Encoding` as `framing` says. A HEAD
/// response passes the framing of the GET it stands for.
pub fn write_head(
    out: &mut Vec<u8>,
    reply: &Reply,
    date: &str,
    connection: ConnectionHeader,
    framing: Framing,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_u64(out, u64::from(reply.status));
    out.push(b' ');
    out.extend_from_slice(reason(reply.status).as_bytes());
    out.extend_from_slice(b"\r\nServer: ");
    out.extend_from_slice(SERVER.as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(b"\r\n");
    if !reply.is_bodiless_status() {
        if let Some(t) = &reply.content_type {
            header(out, "Content-Type", t.as_bytes());
        }
    }
    match framing {
        Framing::None | Framing::Close => {}
        Framing::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            push_u64(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    if let Some(v) = &reply.validators {
        header(out, "Last-Modified", v.last_modified.as_bytes());
        header(out, "ETag", v.etag.as_bytes());
        if reply.status != 304 {
            out.extend_from_slice(b"Accept-Ranges: bytes\r\n");
        }
    }
    for (name, value) in &reply.headers {
        header(out, name, value.as_bytes());
    }
    for (name, value) in &reply.fields {
        header(out, name, value.as_bytes());
    }
    match connection {
        ConnectionHeader::None => {}
        ConnectionHeader::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        ConnectionHeader::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// The interim response sent for `Expect: 100-continue` (RFC 9110 §10.1.1).
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Appends one `name: value` header line.
pub fn header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The reason phrase of a status code (RFC 9110 §15).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

/// The built-in HTML page for a status (nginx's layout).
pub fn error_page(status: u16) -> String {
    // Built by hand, not with `format!`: every 404 pays for it.
    let mut code = Vec::with_capacity(3);
    push_u64(&mut code, u64::from(status));
    let code = std::str::from_utf8(&code).unwrap_or("");
    let reason = reason(status);
    let parts: [&str; 13] = [
        "<html>\r\n<head><title>",
        code,
        " ",
        reason,
        "</title></head>\r\n<body>\r\n<center><h1>",
        code,
        " ",
        reason,
        "</h1></center>\r\n<hr><center>",
        SERVER,
        "</center>\r\n",
        "</body>\r\n",
        "</html>\r\n",
    ];
    let mut page = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        page.push_str(part);
    }
    page
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Appends the decimal form of `n`.
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_page_is_nginx_layout() {
        let want = format!(
            "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>{}</center>\r\n</body>\r\n</html>\r\n",
            super::SERVER
        );
        assert_eq!(super::error_page(404), want);
        assert!(super::error_page(599).contains("<title>599 Server Error</title>"));
    }

    use super::*;

    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    fn head(reply: &Reply, conn: ConnectionHeader) -> String {
        let mut out = Vec::new();
        write_head(&mut out, reply, DATE, conn, Framing::of(reply, false));
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn ok_head() {
        let mut r = Reply::new(200);
        r.content_type = Some(Cow::Borrowed("text/html"));
        r.body = ReplyBody::Bytes(Cow::Borrowed(b"hello"));
        r.headers.push(("ETag", "\"1-5\"".into()));
        assert_eq!(
            head(&r, ConnectionHeader::None),
            format!(
                "HTTP/1.1 200 OK\r\nServer: {SERVER}\r\nDate: {DATE}\r\nContent-Type: text/html\r\n\
                 Content-Length: 5\r\nETag: \"1-5\"\r\n\r\n"
            )
        );
    }

    #[test]
    fn connection_headers() {
        let r = Reply::new(200);
        assert!(head(&r, ConnectionHeader::Close)
            .ends_with("Content-Length: 0\r\nConnection: close\r\n\r\n"));
        assert!(head(&r, ConnectionHeader::KeepAlive).ends_with("Connection: keep-alive\r\n\r\n"));
        assert!(!head(&r, ConnectionHeader::None).contains("Connection"));
    }

    #[test]
    fn not_modified_has_no_length() {
        let mut r = Reply::new(304);
        r.content_type = Some(Cow::Borrowed("text/html"));
        let h = head(&r, ConnectionHeader::None);
        assert!(h.starts_with("HTTP/1.1 304 Not Modified\r\n"));
        assert!(!h.contains("Content-Length") && !h.contains("Content-Type"), "{h}");
    }

    #[test]
    fn error_pages_for_every_listed_status() {
        for status in
            [400, 403, 404, 405, 408, 411, 413, 414, 415, 431, 500, 501, 502, 503, 504, 505, 507]
        {
            let r = Reply::error(status);
            let ReplyBody::Bytes(body) = &r.body else { panic!("error page body is in memory") };
            let body = String::from_utf8_lossy(body);
            let title = format!("{status} {}", reason(status));
            assert!(body.contains(&format!("<title>{title}</title>")), "{body}");
            assert_ne!(reason(status), "Client Error");
            assert_ne!(reason(status), "Server Error");
            assert_eq!(r.content_type.as_deref(), Some("text/html"));
        }
    }

    #[test]
    fn framing_table() {
        let stream = |len| {
            let mut r = Reply::new(200);
            r.body = ReplyBody::Stream { len };
            r
        };
        let cases = [
            (Reply::new(200), false, Framing::Length(0)),
            (Reply::new(304), false, Framing::None),
            (Reply::new(204), true, Framing::None),
            (stream(Some(7)), false, Framing::Length(7)),
            (stream(None), false, Framing::Chunked),
            (stream(None), true, Framing::Close),
        ];
        for (reply, http10, want) in cases {
            assert_eq!(Framing::of(&reply, http10), want, "{} {http10}", reply.status);
        }
        let h = head(&stream(None), ConnectionHeader::None);
        assert!(h.contains("\r\nTransfer-Encoding: chunked\r\n") && !h.contains("Content-Length"));
        let mut out = Vec::new();
        write_head(&mut out, &stream(None), DATE, ConnectionHeader::Close, Framing::Close);
        let h = String::from_utf8_lossy(&out);
        assert!(!h.contains("Content-Length") && !h.contains("Transfer-Encoding"), "{h}");
    }

    #[test]
    fn redirect_has_location() {
        let r = Reply::redirect(301, "/new".into());
        let h = head(&r, ConnectionHeader::None);
        assert!(h.starts_with("HTTP/1.1 301 Moved Permanently\r\n"), "{h}");
        assert!(h.contains("\r\nLocation: /new\r\n"), "{h}");
    }

    #[test]
    fn numbers_and_escaping() {
        let mut out = Vec::new();
        for n in [0u64, 7, 10, 1234567890, u64::MAX] {
            out.clear();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
        assert_eq!(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
