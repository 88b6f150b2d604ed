//! Request-head parsing (RFC 9112 §2-§6, RFC 9110).
//!
//! [`parse_head`] reads the request line and the header section of an
//! HTTP/1.0 or HTTP/1.1 request from the connection's buffer. It is
//! incremental: bytes may arrive in any split, and a head that is not complete
//! yet gives [`Status::Partial`], never an error. It is stateless between
//! calls (the result depends only on the bytes and the [`Limits`]), so the
//! caller simply calls it again on the grown buffer. It never copies the head:
//! [`Head`] records index ranges into the caller's buffer, and the accessors
//! take that buffer back. The only allocation is `Head`'s vector of header
//! ranges, whose capacity is kept from one request to the next.
//!
//! Besides syntax it computes the framing and connection semantics the
//! server needs before it reads a body: `Host` (RFC 9112 §3.2), the body
//! length from `Content-Length` / `Transfer-Encoding` (RFC 9112 §6),
//! persistence (RFC 9112 §9.3) and `Expect: 100-continue` (RFC 9110 §10.1.1).
//! Every failure is a [`ParseError`] whose [`ParseError::status`] is the
//! response status code.
//!
//! Where the RFCs leave a choice this module does what nginx does: bare LF
//! line endings are accepted, any number of empty lines before the request
//! line is skipped, duplicate `Content-Length` / `Transfer-Encoding` lines are
//! rejected, `Transfer-Encoding` on HTTP/1.0 is rejected, expectations other
//! than `100-continue` are ignored.
//!
//! It does not read sockets, decode bodies (see [`super::chunked`]),
//! percent-decode or normalize paths, or route requests.

use std::fmt;
use std::slice;

/// Default limit of the request head (request line and header fields,
/// through the blank line), in bytes: 16 KiB.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 16 * 1024;

/// Default limit of the request target, in bytes: 8 KiB.
pub const DEFAULT_MAX_URI_BYTES: usize = 8 * 1024;

/// Default limit of the number of header fields: 100.
pub const DEFAULT_MAX_HEADERS: usize = 100;

/// Size limits applied while parsing a request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes from the start of the buffer through the blank line ending the
    /// head (empty lines before the request line count). A buffer longer than
    /// this without a complete head is [`ParseError::HeadTooLarge`] (431) at
    /// once, without waiting for the end.
    pub max_head: usize,
    /// Bytes of the request target. A longer target is
    /// [`ParseError::UriTooLong`] (414) as soon as it is seen to be longer.
    pub max_uri: usize,
    /// Number of header fields. One more is [`ParseError::TooManyHeaders`] (431).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: DEFAULT_MAX_HEAD_BYTES,
            max_uri: DEFAULT_MAX_URI_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
        }
    }
}

/// Outcome of a parse that did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// Parsing finished with this value.
    Complete(T),
    /// The input ends before the item does: read more and call again.
    Partial,
}

impl<T> Status<T> {
    /// Whether this is `Complete`.
    pub fn is_complete(&self) -> bool {
        matches!(self, Status::Complete(_))
    }

    /// Whether this is `Partial`.
    pub fn is_partial(&self) -> bool {
        matches!(self, Status::Partial)
    }
}

/// Why a request (head or chunked body) is invalid.
///
/// [`ParseError::status`] is the one mapping to the response status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// The method is not a token (400).
    InvalidMethod,
    /// The method is a token but not one the server implements (501).
    UnknownMethod,
    /// The request line is not `method SP target SP version` ending in a line
    /// break, or bare CR appears before it (400).
    InvalidRequestLine,
    /// The request target has a forbidden byte or form (400).
    InvalidTarget,
    /// The request target is longer than [`Limits::max_uri`] (414).
    UriTooLong,
    /// The version is not `HTTP/DIGIT.DIGIT` followed by the line end (400).
    InvalidVersion,
    /// A well-formed version other than HTTP/1.0 and HTTP/1.1 (505).
    UnsupportedVersion,
    /// A field name is empty, has a non-token byte or no colon (400).
    InvalidHeaderName,
    /// Whitespace between a field name and its colon (400).
    WhitespaceBeforeColon,
    /// A line folded onto the previous one (obs-fold), or whitespace between
    /// the request line and the first field (400).
    ObsFold,
    /// A field value holds NUL or a CR that does not end the line (400).
    InvalidHeaderValue,
    /// The head is longer than [`Limits::max_head`] (431).
    HeadTooLarge,
    /// More than [`Limits::max_headers`] fields (431).
    TooManyHeaders,
    /// An HTTP/1.1 request without `Host` (400).
    MissingHost,
    /// More than one `Host` field (400).
    DuplicateHost,
    /// A `Host` value that is not `host [":" port]` (400).
    InvalidHost,
    /// A `Content-Length` value that is not digits or overflows (400).
    InvalidContentLength,
    /// More than one `Content-Length` field (400).
    DuplicateContentLength,
    /// More than one `Transfer-Encoding` field (400).
    DuplicateTransferEncoding,
    /// Both `Content-Length` and `Transfer-Encoding`: request smuggling (400).
    ContentLengthWithTransferEncoding,
    /// `Transfer-Encoding` in an HTTP/1.0 request (400).
    TransferEncodingOnHttp10,
    /// `Transfer-Encoding` empty, `chunked` twice or `chunked` not last (400).
    InvalidTransferEncoding,
    /// A transfer coding other than `chunked` (501).
    UnknownTransferCoding,
    /// A chunk size that is not hexadecimal digits (400).
    InvalidChunkSize,
    /// A chunk size of more than 16 hex digits, beyond `u64` (400).
    ChunkSizeOverflow,
    /// A chunk extension with a control byte, or bytes after the size that
    /// do not start an extension (400).
    InvalidChunkExtension,
    /// A chunk-size line longer than its limit (400).
    ChunkLineTooLong,
    /// CRLF missing after a chunk-size line, chunk data or the trailer (400).
    MissingChunkCrlf,
    /// A malformed trailer field (400).
    InvalidTrailer,
    /// The trailer section is longer than its limit (400).
    TrailerTooLarge,
    /// The decoded body exceeds the caller's maximum (413).
    BodyTooLarge,
}

impl ParseError {
    /// The HTTP status code to answer this error with.
    ///
    /// # Examples
    ///
    /// ```
    /// use server::http::request::ParseError;
    /// assert_eq!(ParseError::UriTooLong.status(), 414);
    /// assert_eq!(ParseError::UnknownMethod.status(), 501);
    /// ```
    pub fn status(self) -> u16 {
        use ParseError::*;
        match self {
            UnknownMethod | UnknownTransferCoding => 501,
            UnsupportedVersion => 505,
            UriTooLong => 414,
            HeadTooLarge | TooManyHeaders => 431,
            BodyTooLarge => 413,
            InvalidMethod
            | InvalidRequestLine
            | InvalidTarget
            | InvalidVersion
            | InvalidHeaderName
            | WhitespaceBeforeColon
            | ObsFold
            | InvalidHeaderValue
            | MissingHost
            | DuplicateHost
            | InvalidHost
            | InvalidContentLength
            | DuplicateContentLength
            | DuplicateTransferEncoding
            | ContentLengthWithTransferEncoding
            | TransferEncodingOnHttp10
            | InvalidTransferEncoding
            | InvalidChunkSize
            | ChunkSizeOverflow
            | InvalidChunkExtension
            | ChunkLineTooLong
            | MissingChunkCrlf
            | InvalidTrailer
            | TrailerTooLarge => 400,
        }
    }

    /// A short description for the error log, in nginx's words where nginx
    /// has them (`client sent invalid method`).
    pub fn message(self) -> &'static str {
        use ParseError::*;
        match self {
            InvalidMethod => "client sent invalid method",
            UnknownMethod => "client sent unknown method",
            InvalidRequestLine => "client sent invalid request line",
            InvalidTarget => "client sent invalid request target",
            UriTooLong => "client sent too long URI",
            InvalidVersion => "client sent invalid HTTP version",
            UnsupportedVersion => "client sent unsupported HTTP version",
            InvalidHeaderName => "client sent invalid header line",
            WhitespaceBeforeColon => "client sent whitespace before colon in header line",
            ObsFold => "client sent folded header line",
            InvalidHeaderValue => "client sent invalid header value",
            HeadTooLarge => "client sent too large request header",
            TooManyHeaders => "client sent too many header lines",
            MissingHost => "client sent HTTP/1.1 request without \"Host\" header",
            DuplicateHost => "client sent duplicate \"Host\" header",
            InvalidHost => "client sent invalid host header",
            InvalidContentLength => "client sent invalid \"Content-Length\" header",
            DuplicateContentLength => "client sent duplicate \"Content-Length\" header",
            DuplicateTransferEncoding => "client sent duplicate \"Transfer-Encoding\" header",
            ContentLengthWithTransferEncoding => {
                "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time"
            }
            TransferEncodingOnHttp10 => {
                "client sent HTTP/1.0 request with \"Transfer-Encoding\" header"
            }
            InvalidTransferEncoding => "client sent invalid \"Transfer-Encoding\" header",
            UnknownTransferCoding => "client sent unknown \"Transfer-Encoding\"",
            InvalidChunkSize => "client sent invalid chunk size",
            ChunkSizeOverflow => "client sent too large chunk size",
            InvalidChunkExtension => "client sent invalid chunk extension",
            ChunkLineTooLong => "client sent too long chunk size line",
            MissingChunkCrlf => "client sent chunk without CRLF",
            InvalidTrailer => "client sent invalid trailer line",
            TrailerTooLarge => "client sent too large trailer section",
            BodyTooLarge => "client intended to send too large chunked body",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ParseError {}

/// A request method (RFC 9110 §9). Methods are case-sensitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// `PATCH`
    Patch,
    /// `TRACE`
    Trace,
    /// `CONNECT`
    Connect,
    /// Any other token. [`parse_head`] rejects such requests with
    /// [`ParseError::UnknownMethod`], so a parsed [`Head`] never has it; it
    /// comes only from [`Method::from_bytes`].
    Other,
}

impl Method {
    /// The method named by `name`, compared case-sensitively (RFC 9110 §9.1).
    pub fn from_bytes(name: &[u8]) -> Method {
        match name {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"PATCH" => Method::Patch,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            _ => Method::Other,
        }
    }

    /// The method's name; `None` for `Other`.
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
            Method::Other => return None,
        })
    }
}

/// The protocol version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0
    Http10,
    /// HTTP/1.1
    Http11,
}

impl Version {
    /// `"HTTP/1.0"` or `"HTTP/1.1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyKind {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body.
    None,
    /// `Content-Length: n` (possibly 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`: decode with
    /// [`ChunkedDecoder`](super::chunked::ChunkedDecoder).
    Chunked,
}

/// A parsed request head: index ranges into the caller's buffer plus the
/// semantics computed from the fields.
///
/// Reuse one per connection: [`parse_head`] resets it and keeps the
/// capacity of its field vector. The accessors are meaningful after
/// `parse_head` returned `Complete`, and must be given the same buffer
/// (they return empty slices, never panic, when given a shorter one).
#[derive(Clone, Debug)]
pub struct Head {
    line: Span,
    method: Span,
    method_kind: Method,
    target: Span,
    path: Span,
    query: Option<Span>,
    host: Option<Span>,
    version: Version,
    fields: Vec<Field>,
    body: BodyKind,
    keep_alive: bool,
    expect_continue: bool,
    head_len: usize,
}

impl Default for Head {
    fn default() -> Self {
        Head::new()
    }
}

impl Head {
    /// Room kept for header fields, in fields: a head that needed more is
    /// not worth keeping for reuse (see [`Head::is_small`]).
    pub const KEPT_FIELDS: usize = 32;

    /// Whether this head's field list is small enough to keep for reuse.
    pub fn is_small(&self) -> bool {
        self.fields.capacity() <= Head::KEPT_FIELDS
    }

    /// An empty head, ready for [`parse_head`].
    pub fn new() -> Head {
        Head {
            line: Span::EMPTY,
            method: Span::EMPTY,
            method_kind: Method::Other,
            target: Span::EMPTY,
            path: Span::EMPTY,
            query: None,
            host: None,
            version: Version::Http11,
            fields: Vec::new(),
            body: BodyKind::None,
            keep_alive: false,
            expect_continue: false,
            head_len: 0,
        }
    }

    /// The request line as parsed, without leading empty lines and without
    /// its line end (`GET / HTTP/1.1`): what the access log shows.
    pub fn request_line<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.line.get(buf)
    }

    /// The method as sent.
    pub fn method<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.method.get(buf)
    }

    /// The method, classified.
    pub fn method_kind(&self) -> Method {
        self.method_kind
    }

    /// The request target as sent: `/path?query`, `*`, or
    /// `http://authority/path?query`.
    pub fn target<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.target.get(buf)
    }

    /// The path of the target, still percent-encoded: from the first `/` up
    /// to `?` or the end; `*` for `OPTIONS *`; `/` for an absolute-form
    /// target without a path (`http://host`, RFC 9112 §3.2.2).
    pub fn path<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        if self.path.is_empty() {
            b"/"
        } else {
            self.path.get(buf)
        }
    }

    /// The query after `?` (possibly empty), or `None` without `?`.
    pub fn query<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.query.map(|q| q.get(buf))
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields in order, as (name, value) with the value trimmed
    /// of surrounding whitespace. Names keep the client's case.
    pub fn headers<'h, 'b>(&'h self, buf: &'b [u8]) -> Headers<'h, 'b> {
        Headers { fields: self.fields.iter(), buf }
    }

    /// The number of header fields.
    pub fn header_count(&self) -> usize {
        self.fields.len()
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
        self.headers(buf).find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// The host the request is for, port included if sent: the authority of
    /// an absolute-form target, which wins over the `Host` field (RFC 9112
    /// §3.2.2), else the `Host` value (possibly empty, RFC 9112 §3.2);
    /// `None` for HTTP/1.0 without either.
    pub fn host<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.host.map(|h| h.get(buf))
    }

    /// How the body is delimited.
    pub fn body(&self) -> BodyKind {
        self.body
    }

    /// Whether the connection may stay open after the response (RFC 9112
    /// §9.3): HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive` and without `close`.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Whether an HTTP/1.1 client sent `Expect: 100-continue` and waits for
    /// `100 Continue` before the body (RFC 9110 §10.1.1).
    pub fn expect_continue(&self) -> bool {
        self.expect_continue
    }

    /// The length of the head in the buffer, through the blank line, leading
    /// empty lines included: the `n` of `Complete(n)`. The body or the next
    /// request starts at this index.
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    fn reset(&mut self) {
        self.line = Span::EMPTY;
        self.method = Span::EMPTY;
        self.method_kind = Method::Other;
        self.target = Span::EMPTY;
        self.path = Span::EMPTY;
        self.query = None;
        self.host = None;
        self.version = Version::Http11;
        self.fields.clear();
        self.body = BodyKind::None;
        self.keep_alive = false;
        self.expect_continue = false;
        self.head_len = 0;
    }
}

/// Iterator over a [`Head`]'s fields, from [`Head::headers`].
#[derive(Clone, Debug)]
pub struct Headers<'h, 'b> {
    fields: slice::Iter<'h, Field>,
    buf: &'b [u8],
}

impl<'b> Iterator for Headers<'_, 'b> {
    type Item = (&'b [u8], &'b [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        self.fields.next().map(|f| (f.name.get(self.buf), f.value.get(self.buf)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.fields.size_hint()
    }
}

impl ExactSizeIterator for Headers<'_, '_> {}

/// Parses the request head at the start of `buf` into `head`.
///
/// Returns `Complete(n)` when `buf[..n]` is a whole head (through the blank
/// line; a body or a pipelined request may follow), `Partial` when more bytes
/// are needed. Call it again with the same, grown, buffer after `Partial`.
/// A prefix of a valid head is always `Partial`, and an error is reported as
/// soon as the bytes seen decide it, so a buffer that already exceeds
/// [`Limits::max_head`] or a target that exceeds [`Limits::max_uri`] fails
/// before the head ends.
///
/// # Errors
///
/// A [`ParseError`] when the head is invalid or over a limit; answer with
/// [`ParseError::status`] and close the connection.
///
/// # Examples
///
/// ```
/// use server::http::request::{parse_head, BodyKind, Head, Limits, Status};
///
/// let buf = b"POST /up?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello";
/// let mut head = Head::new();
/// assert_eq!(parse_head(&buf[..20], &Limits::default(), &mut head), Ok(Status::Partial));
/// assert_eq!(parse_head(buf, &Limits::default(), &mut head), Ok(Status::Complete(63)));
/// assert_eq!(head.path(buf), b"/up");
/// assert_eq!(head.query(buf), Some(&b"x=1"[..]));
/// assert_eq!(head.host(buf), Some(&b"example.com"[..]));
/// assert_eq!(head.body(), BodyKind::Length(5));
/// assert!(head.keep_alive());
/// ```
pub fn parse_head(
    buf: &[u8],
    limits: &Limits,
    head: &mut Head,
) -> Result<Status<usize>, ParseError> {
    head.reset();
    // Only the first `max_head` bytes are looked at: a head that has not
    // ended within them is too large, whatever follows.
    let window = buf.get(..limits.max_head).unwrap_or(buf);
    match parse_window(window, limits, head)? {
        Status::Complete(n) => Ok(Status::Complete(n)),
        Status::Partial if buf.len() > limits.max_head => Err(ParseError::HeadTooLarge),
        Status::Partial => Ok(Status::Partial),
    }
}

/// Longest method the parser knows plus its SP (`OPTIONS `, `CONNECT `) and
/// one byte: a target over [`Limits::max_uri`] is seen by [`parse_head`]
/// once the buffer is `max_uri` plus this long (without empty lines first).
const URI_CHECK_SLACK: usize = 10;

/// Decides when to run [`parse_head`] again on a head that grows between
/// reads.
///
/// `parse_head` is stateless, so calling it after every read costs time
/// quadratic in the head's length when it arrives in small pieces. A
/// `HeadScan` remembers how far the bytes were looked at and answers `true`
/// only when parsing can change the outcome, so a head costs a bounded number
/// of parses plus one linear scan:
/// - the first bytes (an invalid method or request line fails at once);
/// - an end-of-head marker (`\n\r\n` or `\n\n`) in the new bytes, searched
///   from two bytes before them so a marker split across reads is found;
/// - the buffer doubled since the last parse (other errors are still found
///   early while the total work stays linear);
/// - the buffer first reaching the point where an over-long target is
///   visible (414 as early as before) and reaching [`Limits::max_head`]
///   (431).
///
/// Feed it the same buffer as `parse_head` (the head's bytes from its start)
/// and [`HeadScan::reset`] it when a head is complete.
///
/// # Examples
///
/// ```
/// use server::http::request::{HeadScan, Limits};
///
/// let limits = Limits::default();
/// let mut scan = HeadScan::default();
/// let head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
/// assert!(scan.should_parse(&head[..20], &limits)); // first bytes
/// assert!(!scan.should_parse(&head[..30], &limits)); // nothing new decided
/// assert!(!scan.should_parse(&head[..30], &limits)); // no new bytes
/// assert!(scan.should_parse(&head[..], &limits)); // the head ended
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadScan {
    /// Bytes already searched for the end of the head.
    scanned: usize,
    /// Buffer length at the last parse; 0 before the first.
    parsed: usize,
}

impl HeadScan {
    /// Forgets the head: the next bytes start a new one.
    pub fn reset(&mut self) {
        *self = HeadScan::default();
    }

    /// Whether `buf`, the head received so far, should be parsed now.
    pub fn should_parse(&mut self, buf: &[u8], limits: &Limits) -> bool {
        let len = buf.len();
        if len <= self.scanned {
            return false;
        }
        let ended = buf.get(self.scanned.saturating_sub(2)..).is_some_and(has_head_end);
        self.scanned = len;
        let uri_mark = limits.max_uri.saturating_add(URI_CHECK_SLACK);
        let due = ended
            || self.parsed == 0
            || len >= self.parsed.saturating_mul(2)
            || len >= limits.max_head
            || (self.parsed < uri_mark && len >= uri_mark);
        if due {
            self.parsed = len;
        }
        due
    }
}

/// Whether `b` contains the blank line that ends a head (`\n\r\n` or `\n\n`).
fn has_head_end(b: &[u8]) -> bool {
    b.windows(2)
        .enumerate()
        .any(|(i, w)| w == b"\n\n" || (w == b"\n\r" && b.get(i + 2) == Some(&b'\n')))
}

/// A range of the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    const EMPTY: Span = Span { start: 0, end: 0 };

    fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    fn is_empty(self) -> bool {
        self.start >= self.end
    }

    fn get(self, buf: &[u8]) -> &[u8] {
        buf.get(self.start..self.end).unwrap_or_default()
    }
}

/// One header field: name and trimmed value.
#[derive(Clone, Copy, Debug)]
struct Field {
    name: Span,
    value: Span,
}

/// Unwraps a `Complete` step or returns `Partial` from the caller.
macro_rules! ready {
    ($step:expr) => {
        match $step? {
            Status::Complete(v) => v,
            Status::Partial => return Ok(Status::Partial),
        }
    };
}

fn parse_window(b: &[u8], limits: &Limits, head: &mut Head) -> Result<Status<usize>, ParseError> {
    let pos = ready!(skip_empty_lines(b));
    let pos = ready!(parse_request_line(b, pos, limits, head));
    let pos = ready!(parse_fields(b, pos, limits, head));
    apply_field_semantics(b, head)?;
    head.head_len = pos;
    Ok(Status::Complete(pos))
}

/// RFC 9112 §2.2: "a server that is expecting to receive and parse a
/// request-line SHOULD ignore at least one empty line (CRLF) received prior
/// to the request-line". nginx skips any number; the head limit bounds them.
fn skip_empty_lines(b: &[u8]) -> Result<Status<usize>, ParseError> {
    let mut pos = 0;
    loop {
        match b.get(pos) {
            None => return Ok(Status::Partial),
            Some(b'\n') => pos += 1,
            Some(b'\r') => match b.get(pos + 1) {
                None => return Ok(Status::Partial),
                Some(b'\n') => pos += 2,
                Some(_) => return Err(ParseError::InvalidRequestLine),
            },
            Some(_) => return Ok(Status::Complete(pos)),
        }
    }
}

/// RFC 9112 §3: `request-line = method SP request-target SP HTTP-version`,
/// with exactly one SP each. §3 lets a recipient split on any whitespace
/// instead but warns that "lenient parsing can result in request smuggling
/// security vulnerabilities"; Berth keeps to the grammar.
fn parse_request_line(
    b: &[u8],
    start: usize,
    limits: &Limits,
    head: &mut Head,
) -> Result<Status<usize>, ParseError> {
    // RFC 9110 §9.1: method = token.
    let mut pos = start;
    while b.get(pos).is_some_and(|&c| is_tchar(c)) {
        pos += 1;
    }
    match b.get(pos) {
        None => return Ok(Status::Partial),
        Some(b' ') if pos > start => {}
        Some(_) => return Err(ParseError::InvalidMethod),
    }
    let method = Span::new(start, pos);
    let kind = Method::from_bytes(method.get(b));
    if kind == Method::Other {
        // RFC 9110 §9.1: "An origin server that receives a request method that
        // is unrecognized or not implemented SHOULD respond with 501".
        return Err(ParseError::UnknownMethod);
    }
    head.method = method;
    head.method_kind = kind;

    // RFC 9112 §3.2: the target is a URI form; controls and spaces are never
    // part of it. Bytes >= 0x80 are accepted as nginx does (raw UTF-8).
    let target_start = pos + 1;
    let mut pos = target_start;
    loop {
        // RFC 9112 §3: a server that receives a target longer than it wishes
        // to parse MUST respond with 414.
        if pos - target_start > limits.max_uri {
            return Err(ParseError::UriTooLong);
        }
        match b.get(pos) {
            None => return Ok(Status::Partial),
            Some(&c) if is_target_byte(c) => pos += 1,
            Some(b' ') if pos > target_start => break,
            // Double SP, or no version (an HTTP/0.9 request line).
            Some(b' ' | b'\r' | b'\n') => return Err(ParseError::InvalidRequestLine),
            Some(_) => return Err(ParseError::InvalidTarget),
        }
    }
    parse_target(b, Span::new(target_start, pos), kind, head)?;

    let version_start = pos + 1;
    let version_end = version_start + 8;
    let version = ready!(parse_version(b, version_start));
    // The request line ends right after the version.
    let end = match b.get(version_end) {
        None => return Ok(Status::Partial),
        Some(b'\n') => version_end + 1,
        Some(b'\r') => match b.get(version_end + 1) {
            None => return Ok(Status::Partial),
            Some(b'\n') => version_end + 2,
            Some(_) => return Err(ParseError::InvalidRequestLine),
        },
        Some(_) => return Err(ParseError::InvalidVersion),
    };
    head.version = version.ok_or(ParseError::UnsupportedVersion)?;
    head.line = Span::new(start, version_end);
    Ok(Status::Complete(end))
}

/// RFC 9112 §2.3: `HTTP-version = "HTTP" "/" DIGIT "." DIGIT`, case-sensitive.
/// `Some` for 1.0 and 1.1, `None` for other well-formed versions (505, RFC
/// 9110 §15.6.6), decided by the caller only once the line end is seen so
/// that `HTTP/2.0x` stays a 400.
fn parse_version(b: &[u8], start: usize) -> Result<Status<Option<Version>>, ParseError> {
    // '0' stands for any DIGIT.
    const SHAPE: &[u8; 8] = b"HTTP/0.0";
    for (i, &want) in SHAPE.iter().enumerate() {
        let Some(&c) = b.get(start + i) else {
            return Ok(Status::Partial);
        };
        let ok = if want == b'0' { c.is_ascii_digit() } else { c == want };
        if !ok {
            return Err(ParseError::InvalidVersion);
        }
    }
    Ok(Status::Complete(match b.get(start + 5..start + 8) {
        Some(b"1.1") => Some(Version::Http11),
        Some(b"1.0") => Some(Version::Http10),
        _ => None,
    }))
}

/// Splits the target into path, query and, for absolute-form, host.
fn parse_target(b: &[u8], target: Span, method: Method, head: &mut Head) -> Result<(), ParseError> {
    head.target = target;
    let t = target.get(b);
    match t.first() {
        // RFC 9112 §3.2.1: origin-form = absolute-path [ "?" query ].
        Some(b'/') => split_path_query(b, target.start, target.end, head),
        // RFC 9112 §3.2.4: asterisk-form is only for OPTIONS.
        Some(b'*') if t.len() == 1 => {
            if method != Method::Options {
                return Err(ParseError::InvalidTarget);
            }
            head.path = target;
        }
        // RFC 9112 §3.2.2: absolute-form; authority-form (§3.2.3, CONNECT
        // only) is for proxies and rejected here with everything else.
        _ => {
            let scheme_len = t.iter().position(|&c| c == b':').ok_or(ParseError::InvalidTarget)?;
            let scheme = t.get(..scheme_len).unwrap_or_default();
            if !scheme.eq_ignore_ascii_case(b"http") && !scheme.eq_ignore_ascii_case(b"https") {
                return Err(ParseError::InvalidTarget);
            }
            if t.get(scheme_len + 1..scheme_len + 3) != Some(b"//") {
                return Err(ParseError::InvalidTarget);
            }
            let auth_start = target.start + scheme_len + 3;
            let auth_len = b
                .get(auth_start..target.end)
                .unwrap_or_default()
                .iter()
                .position(|&c| c == b'/' || c == b'?')
                .unwrap_or(target.end - auth_start);
            let authority = Span::new(auth_start, auth_start + auth_len);
            // RFC 9110 §4.2.1: an http URI with an empty host "MUST" be
            // rejected; §4.2.4: userinfo is deprecated and a recipient
            // "SHOULD" treat it as an error ('@' is not a host byte).
            if authority.is_empty() || !is_valid_host(authority.get(b)) {
                return Err(ParseError::InvalidTarget);
            }
            head.host = Some(authority);
            split_path_query(b, authority.end, target.end, head);
        }
    }
    Ok(())
}

/// Sets path (`start..` up to `?`) and query (after `?`). An empty path is
/// reported as `/` by [`Head::path`].
fn split_path_query(b: &[u8], start: usize, end: usize, head: &mut Head) {
    let rest = b.get(start..end).unwrap_or_default();
    // RFC 9110 §4.2.5: a fragment is never part of a request target; a
    // client that sends one anyway has it dropped, as nginx does.
    let end = start + rest.iter().position(|&c| c == b'#').unwrap_or(rest.len());
    let rest = rest.get(..end - start).unwrap_or_default();
    match rest.iter().position(|&c| c == b'?') {
        Some(q) => {
            head.path = Span::new(start, start + q);
            head.query = Some(Span::new(start + q + 1, end));
        }
        None => head.path = Span::new(start, end),
    }
}

/// RFC 9112 §5: `field-line = field-name ":" OWS field-value OWS`, each
/// line ending in CRLF (or bare LF, as nginx accepts), then an empty line.
fn parse_fields(
    b: &[u8],
    mut pos: usize,
    limits: &Limits,
    head: &mut Head,
) -> Result<Status<usize>, ParseError> {
    loop {
        match b.get(pos) {
            None => return Ok(Status::Partial),
            Some(b'\n') => return Ok(Status::Complete(pos + 1)),
            Some(b'\r') => {
                return match b.get(pos + 1) {
                    None => Ok(Status::Partial),
                    Some(b'\n') => Ok(Status::Complete(pos + 2)),
                    Some(_) => Err(ParseError::InvalidHeaderName),
                }
            }
            // RFC 9112 §5.2: a server "MUST either reject a message containing
            // obs-fold ... by sending a 400"; §2.2: whitespace between the
            // start-line and the first field likewise.
            Some(b' ' | b'\t') => return Err(ParseError::ObsFold),
            Some(_) => {}
        }
        if head.fields.len() >= limits.max_headers {
            return Err(ParseError::TooManyHeaders);
        }

        // RFC 9110 §5.1: field-name = token.
        let name_start = pos;
        while b.get(pos).is_some_and(|&c| is_tchar(c)) {
            pos += 1;
        }
        match b.get(pos) {
            None => return Ok(Status::Partial),
            Some(b':') if pos > name_start => {}
            // RFC 9112 §5.1: "A server MUST reject, with a response status
            // code of 400 (Bad Request), any received request message that
            // contains whitespace between a header field name and colon."
            Some(b' ' | b'\t') => return Err(ParseError::WhitespaceBeforeColon),
            Some(_) => return Err(ParseError::InvalidHeaderName),
        }
        let name = Span::new(name_start, pos);
        pos += 1;

        // RFC 9112 §5.1: OWS around the value is not part of it.
        while matches!(b.get(pos), Some(b' ' | b'\t')) {
            pos += 1;
        }
        let value_start = pos;
        let mut value_end = pos;
        loop {
            match b.get(pos) {
                None => return Ok(Status::Partial),
                Some(b'\n') => {
                    pos += 1;
                    break;
                }
                Some(b'\r') => match b.get(pos + 1) {
                    None => return Ok(Status::Partial),
                    Some(b'\n') => {
                        pos += 2;
                        break;
                    }
                    // RFC 9110 §5.5: CR, LF and NUL in a value are
                    // "invalid and dangerous"; the recipient MUST reject or
                    // replace them. Other controls pass, as in nginx.
                    Some(_) => return Err(ParseError::InvalidHeaderValue),
                },
                Some(0) => return Err(ParseError::InvalidHeaderValue),
                Some(b' ' | b'\t') => pos += 1,
                Some(_) => {
                    pos += 1;
                    value_end = pos;
                }
            }
        }
        head.fields.push(Field { name, value: Span::new(value_start, value_end) });
    }
}

/// Computes host, body framing, persistence and 100-continue from the fields.
fn apply_field_semantics(b: &[u8], head: &mut Head) -> Result<(), ParseError> {
    let mut host = None;
    let mut content_length = None;
    let mut transfer_encoding = None;
    let mut close = false;
    let mut keep_alive = false;
    let mut expect_continue = false;

    for field in &head.fields {
        let name = field.name.get(b);
        let value = field.value.get(b);
        if name.eq_ignore_ascii_case(b"host") {
            // RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request)
            // status code to any HTTP/1.1 request message that lacks a Host
            // header field and to any request message that contains more than
            // one Host header field line or a Host header field with an
            // invalid field value."
            if host.is_some() {
                return Err(ParseError::DuplicateHost);
            }
            if !is_valid_host(value) {
                return Err(ParseError::InvalidHost);
            }
            host = Some(field.value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            // RFC 9110 §8.6 would allow repeated identical values; nginx
            // rejects any repetition, and so does Berth (a list is not digits).
            if content_length.is_some() {
                return Err(ParseError::DuplicateContentLength);
            }
            content_length = Some(parse_content_length(value)?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // nginx treats Transfer-Encoding as a unique field; one line
            // keeps the framing unambiguous.
            if transfer_encoding.is_some() {
                return Err(ParseError::DuplicateTransferEncoding);
            }
            transfer_encoding = Some(value);
        } else if name.eq_ignore_ascii_case(b"connection") {
            // RFC 9110 §7.6.1: Connection = #connection-option, case-insensitive.
            for option in list_elements(value) {
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            // RFC 9110 §10.1.1; other expectations are ignored, as in nginx.
            expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
        }
    }

    let version = head.version;
    if version == Version::Http11 && host.is_none() {
        return Err(ParseError::MissingHost);
    }
    // RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host.
    if head.host.is_none() {
        head.host = host;
    }

    head.body = match (transfer_encoding, content_length) {
        (Some(te), content_length) => {
            // RFC 9112 §6.1: "A server or client that receives an HTTP/1.0
            // message containing a Transfer-Encoding header field MUST treat
            // the message as if the framing is faulty"; nginx answers 400.
            if version == Version::Http10 {
                return Err(ParseError::TransferEncodingOnHttp10);
            }
            // RFC 9112 §6.1: Content-Length with Transfer-Encoding "ought to
            // be handled as an error" (request smuggling); nginx answers 400.
            if content_length.is_some() {
                return Err(ParseError::ContentLengthWithTransferEncoding);
            }
            parse_transfer_encoding(te)?
        }
        (None, Some(n)) => BodyKind::Length(n),
        // RFC 9112 §6.3: a request with neither has no body.
        (None, None) => BodyKind::None,
    };

    // RFC 9112 §9.3: persistence.
    head.keep_alive = match version {
        Version::Http11 => !close,
        Version::Http10 => keep_alive && !close,
    };
    // RFC 9110 §10.1.1: "A server that receives a 100-continue expectation in
    // an HTTP/1.0 request MUST ignore that expectation."
    head.expect_continue = expect_continue && version == Version::Http11;
    Ok(())
}

/// RFC 9110 §8.6: `Content-Length = 1*DIGIT`; overflow is invalid.
fn parse_content_length(value: &[u8]) -> Result<u64, ParseError> {
    if value.is_empty() {
        return Err(ParseError::InvalidContentLength);
    }
    value.iter().try_fold(0u64, |n, &c| {
        if !c.is_ascii_digit() {
            return Err(ParseError::InvalidContentLength);
        }
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(c - b'0')))
            .ok_or(ParseError::InvalidContentLength)
    })
}

/// RFC 9112 §6.1: `Transfer-Encoding = #transfer-coding`. Only `chunked` is
/// implemented (RFC 9112 §7.1).
fn parse_transfer_encoding(value: &[u8]) -> Result<BodyKind, ParseError> {
    let mut chunked = false;
    let mut unknown = false;
    for coding in list_elements(value) {
        // RFC 9112 §6.3: "If a Transfer-Encoding header field is present in a
        // request and the chunked transfer coding is not the final encoding
        // ... the server MUST respond with the 400"; §7: "A sender MUST NOT
        // apply the chunked transfer coding more than once".
        if chunked {
            return Err(ParseError::InvalidTransferEncoding);
        }
        if coding.eq_ignore_ascii_case(b"chunked") {
            chunked = true;
        } else {
            unknown = true;
        }
    }
    if unknown {
        // RFC 9112 §6.1: "A server that receives a request message with a
        // transfer coding it does not understand SHOULD respond with 501".
        Err(ParseError::UnknownTransferCoding)
    } else if chunked {
        Ok(BodyKind::Chunked)
    } else {
        Err(ParseError::InvalidTransferEncoding)
    }
}

/// The non-empty elements of a comma-separated list, trimmed of OWS
/// (RFC 9110 §5.6.1: recipients skip empty elements).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&c| c == b',').map(trim_ows).filter(|e| !e.is_empty())
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 9110 §7.2: `Host = uri-host [ ":" port ]`; the bytes of RFC 3986
/// reg-name, IP-literal, IPv4address and port. Empty is valid (RFC 9112 §3.2).
fn is_valid_host(host: &[u8]) -> bool {
    host.iter().all(|&c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
            )
    })
}

/// RFC 9110 §5.6.2: `tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
/// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA`.
pub(crate) fn is_tchar(c: u8) -> bool {
    // A table: every byte of every method and field name goes through here.
    TCHAR[c as usize]
}

/// [`is_tchar`] for every byte, built at compile time from the rule.
static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        table[c] = tchar_by_rule(c as u8);
        c += 1;
    }
    table
};

const fn tchar_by_rule(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// A byte allowed in a request target: visible ASCII or obs-text, not SP,
/// not a control.
fn is_target_byte(c: u8) -> bool {
    c > b' ' && c != 0x7f
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use BodyKind::{Chunked, Length};
    use ParseError::*;
    use Version::{Http10, Http11};

    #[test]
    fn tchar_table_follows_the_rule() {
        for c in 0..=255u8 {
            assert_eq!(is_tchar(c), tchar_by_rule(c), "{c:#x}");
        }
        assert!(is_tchar(b'G') && is_tchar(b'~') && !is_tchar(b' ') && !is_tchar(b':'));
    }

    /// What a good case must parse to.
    #[derive(Clone, Copy, Debug)]
    struct Parsed {
        method: &'static str,
        kind: Method,
        target: &'static str,
        path: &'static str,
        query: Option<&'static str>,
        version: Version,
        host: Option<&'static str>,
        body: BodyKind,
        keep_alive: bool,
        expect_continue: bool,
        headers: usize,
        /// The head's length; `None`: the whole input.
        len: Option<usize>,
    }

    /// `GET / HTTP/1.1` with `Host: h`; cases change what differs.
    const GET: Parsed = Parsed {
        method: "GET",
        kind: Method::Get,
        target: "/",
        path: "/",
        query: None,
        version: Http11,
        host: Some("h"),
        body: BodyKind::None,
        keep_alive: true,
        expect_continue: false,
        headers: 1,
        len: None,
    };

    const HTTP10: Parsed =
        Parsed { version: Http10, host: None, keep_alive: false, headers: 0, ..GET };

    const POST: Parsed = Parsed { method: "POST", kind: Method::Post, headers: 2, ..GET };

    #[derive(Clone, Copy, Debug)]
    enum Want {
        Ok(Parsed),
        Err(ParseError),
    }

    /// Cases parsed with the default limits.
    const CASES: &[(&str, &[u8], Want)] = &[
        // Request line.
        ("minimal", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", Want::Ok(GET)),
        ("bare lf as nginx", b"GET / HTTP/1.1\nHost: h\n\n", Want::Ok(GET)),
        ("mixed line ends", b"GET / HTTP/1.1\r\nHost: h\n\r\n", Want::Ok(GET)),
        ("one leading crlf", b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", Want::Ok(GET)),
        ("several leading empty lines", b"\r\n\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", Want::Ok(GET)),
        (
            "path and query",
            b"GET /a/b.html?x=1&y HTTP/1.1\r\nHost: h\r\n\r\n",
            Want::Ok(Parsed {
                target: "/a/b.html?x=1&y",
                path: "/a/b.html",
                query: Some("x=1&y"),
                ..GET
            }),
        ),
        (
            "empty query",
            b"GET /a? HTTP/1.1\r\nHost: h\r\n\r\n",
            Want::Ok(Parsed { target: "/a?", path: "/a", query: Some(""), ..GET }),
        ),
        (
            "raw utf-8 and odd visible bytes in target",
            b"GET /caf\xc3\xa9/{x}|\"# HTTP/1.1\r\nHost: h\r\n\r\n",
            Want::Ok(Parsed { target: "/caf\u{e9}/{x}|\"#", path: "/caf\u{e9}/{x}|\"", ..GET }),
        ),
        (
            "head method",
            b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n",
            Want::Ok(Parsed { method: "HEAD", kind: Method::Head, target: "/x", path: "/x", ..GET }),
        ),
        (
            "delete method",
            b"DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n",
            Want::Ok(Parsed {
                method: "DELETE",
                kind: Method::Delete,
                target: "/x",
                path: "/x",
                ..GET
            }),
        ),
        (
            "options asterisk",
            b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
            Want::Ok(Parsed {
                method: "OPTIONS",
                kind: Method::Options,
                target: "*",
                path: "*",
                ..GET
            }),
        ),
        (
            "absolute form: authority wins over host",
            b"GET http://example.com:8080/p/q?r=1 HTTP/1.1\r\nHost: other\r\n\r\n",
            Want::Ok(Parsed {
                target: "http://example.com:8080/p/q?r=1",
                path: "/p/q",
                query: Some("r=1"),
                host: Some("example.com:8080"),
                ..GET
            }),
        ),
        (
            "absolute form without path, scheme case-insensitive",
            b"GET HTTPS://example.com HTTP/1.1\r\nHost: x\r\n\r\n",
            Want::Ok(Parsed { target: "HTTPS://example.com", host: Some("example.com"), ..GET }),
        ),
        (
            "absolute form with query and no path",
            b"GET http://e?x HTTP/1.1\r\nHost: e\r\n\r\n",
            Want::Ok(Parsed { target: "http://e?x", query: Some("x"), host: Some("e"), ..GET }),
        ),
        ("http/1.0 without host", b"GET / HTTP/1.0\r\n\r\n", Want::Ok(HTTP10)),
        (
            "http/1.0 keep-alive",
            b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            Want::Ok(Parsed { keep_alive: true, headers: 1, ..HTTP10 }),
        ),
        (
            "http/1.0 close wins over keep-alive",
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            Want::Ok(Parsed { headers: 1, ..HTTP10 }),
        ),
        (
            "http/1.1 connection close in a list",
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade,  CLOSE \r\n\r\n",
            Want::Ok(Parsed { keep_alive: false, headers: 2, ..GET }),
        ),
        (
            "connection over two lines",
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nconnection: close\r\n\r\n",
            Want::Ok(Parsed { keep_alive: false, headers: 3, ..GET }),
        ),
        // Fields.
        (
            "value trimmed of ows",
            b"GET / HTTP/1.1\r\nHost: \t h \t\r\n\r\n",
            Want::Ok(GET),
        ),
        ("empty host value", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Want::Ok(Parsed { host: Some(""), ..GET })),
        (
            "ip-literal host with port",
            b"GET / HTTP/1.1\r\nhOsT: [::1]:8080\r\n\r\n",
            Want::Ok(Parsed { host: Some("[::1]:8080"), ..GET }),
        ),
        (
            "token names and obs-text values",
            b"GET / HTTP/1.1\r\nHost: h\r\nX-!#$%&'*+-.^_`|~: a  b\xff\x01\r\nEmpty:\r\n\r\n",
            Want::Ok(Parsed { headers: 3, ..GET }),
        ),
        (
            "content-length",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
            Want::Ok(Parsed { body: Length(5), len: Some(47), ..POST }),
        ),
        (
            "content-length zero",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            Want::Ok(Parsed { body: Length(0), ..POST }),
        ),
        (
            "content-length leading zeros",
            b"POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 007\r\n\r\n",
            Want::Ok(Parsed { body: Length(7), ..POST }),
        ),
        (
            "content-length u64::MAX",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n",
            Want::Ok(Parsed { body: Length(u64::MAX), ..POST }),
        ),
        (
            "chunked",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            Want::Ok(Parsed { body: Chunked, len: Some(56), ..POST }),
        ),
        (
            "chunked case-insensitive with empty list elements",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , CHUNKED ,\r\n\r\n",
            Want::Ok(Parsed { body: Chunked, ..POST }),
        ),
        (
            "expect 100-continue",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\n",
            Want::Ok(Parsed { body: Length(5), expect_continue: true, headers: 3, ..POST }),
        ),
        (
            "expect 100-continue ignored on http/1.0",
            b"POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
            Want::Ok(Parsed {
                method: "POST",
                kind: Method::Post,
                body: Length(5),
                headers: 2,
                ..HTTP10
            }),
        ),
        (
            "other expectations ignored as nginx",
            b"GET / HTTP/1.1\r\nHost: h\r\nExpect: something\r\n\r\n",
            Want::Ok(Parsed { headers: 2, ..GET }),
        ),
        (
            "pipelined: the first head only",
            b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
            Want::Ok(Parsed { target: "/a", path: "/a", len: Some(28), ..GET }),
        ),
        // Methods.
        ("unknown method", b"FOO / HTTP/1.1\r\nHost: h\r\n\r\n", Want::Err(UnknownMethod)),
        ("methods are case-sensitive", b"get / HTTP/1.1\r\nHost: h\r\n\r\n", Want::Err(UnknownMethod)),
        ("method with a non-token byte", b"GE(T / HTTP/1.1\r\n\r\n", Want::Err(InvalidMethod)),
        ("tls handshake", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", Want::Err(InvalidMethod)),
        ("leading space", b" GET / HTTP/1.1\r\nHost: h\r\n\r\n", Want::Err(InvalidMethod)),
        ("empty request line", b"\r\n\r\n \r\n", Want::Err(InvalidMethod)),
        ("bare cr before the request line", b"\rGET / HTTP/1.1\r\n\r\n", Want::Err(InvalidRequestLine)),
        // Target.
        ("two spaces after the method", b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", Want::Err(InvalidRequestLine)),
        ("http/0.9 request line", b"GET /\r\n\r\n", Want::Err(InvalidRequestLine)),
        ("control byte in target", b"GET /a\x01b HTTP/1.1\r\n\r\n", Want::Err(InvalidTarget)),
        ("tab in target", b"GET /a\tb HTTP/1.1\r\n\r\n", Want::Err(InvalidTarget)),
        ("del in target", b"GET /a\x7f HTTP/1.1\r\n\r\n", Want::Err(InvalidTarget)),
        ("relative target", b"GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", Want::Err(InvalidTarget)),
        ("asterisk without options", b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", Want::Err(InvalidTarget)),
        ("absolute form with userinfo", b"GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", Want::Err(InvalidTarget)),
        ("absolute form with empty host", b"GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", Want::Err(InvalidTarget)),
        ("absolute form, other scheme", b"GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", Want::Err(InvalidTarget)),
        ("absolute form without slashes", b"GET http:h/ HTTP/1.1\r\nHost: h\r\n\r\n", Want::Err(InvalidTarget)),
        ("authority form", b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", Want::Err(InvalidTarget)),
        // Version.
        ("version with junk", b"GET / HTTP/1.1x\r\nHost: h\r\n\r\n", Want::Err(InvalidVersion)),
        ("version with trailing space", b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", Want::Err(InvalidVersion)),
        ("lowercase version", b"GET / http/1.1\r\nHost: h\r\n\r\n", Want::Err(InvalidVersion)),
        ("version without dot", b"GET / HTTP/11\r\nHost: h\r\n\r\n", Want::Err(InvalidVersion)),
        ("two-digit version", b"GET / HTTP/1.10\r\nHost: h\r\n\r\n", Want::Err(InvalidVersion)),
        ("junk after a future version", b"GET / HTTP/2.0x\r\n\r\n", Want::Err(InvalidVersion)),
        ("bare cr after the version", b"GET / HTTP/1.1\rHost: h\r\n\r\n", Want::Err(InvalidRequestLine)),
        ("http/2.0", b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", Want::Err(UnsupportedVersion)),
        ("http/1.2", b"GET / HTTP/1.2\r\n\r\n", Want::Err(UnsupportedVersion)),
        ("http/0.9 with version", b"GET / HTTP/0.9\n\n", Want::Err(UnsupportedVersion)),
        // Field syntax.
        ("space before colon", b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", Want::Err(WhitespaceBeforeColon)),
        ("tab before colon", b"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", Want::Err(WhitespaceBeforeColon)),
        ("space inside a name", b"GET / HTTP/1.1\r\nHo st: h\r\n\r\n", Want::Err(WhitespaceBeforeColon)),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", Want::Err(ObsFold)),
        ("whitespace before the first field", b"GET / HTTP/1.1\r\n Host: h\r\n\r\n", Want::Err(ObsFold)),
        ("field without colon", b"GET / HTTP/1.1\r\nHost\r\n\r\n", Want::Err(InvalidHeaderName)),
        ("empty field name", b"GET / HTTP/1.1\r\n: h\r\n\r\n", Want::Err(InvalidHeaderName)),
        ("non-token byte in a name", b"GET / HTTP/1.1\r\nX\"y: h\r\n\r\n", Want::Err(InvalidHeaderName)),
        ("bare cr ending the head", b"GET / HTTP/1.1\r\nHost: h\r\n\rX", Want::Err(InvalidHeaderName)),
        ("nul in a value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", Want::Err(InvalidHeaderValue)),
        ("bare cr in a value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", Want::Err(InvalidHeaderValue)),
        // Host.
        ("missing host on 1.1", b"GET / HTTP/1.1\r\nX: y\r\n\r\n", Want::Err(MissingHost)),
        (
            "missing host on 1.1 with absolute form",
            b"GET http://h/ HTTP/1.1\r\n\r\n",
            Want::Err(MissingHost),
        ),
        ("two hosts", b"GET / HTTP/1.1\r\nHost: h\r\nhost: h\r\n\r\n", Want::Err(DuplicateHost)),
        ("two hosts on 1.0", b"GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n", Want::Err(DuplicateHost)),
        ("slash in host", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Want::Err(InvalidHost)),
        ("space in host", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Want::Err(InvalidHost)),
        ("userinfo in host", b"GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", Want::Err(InvalidHost)),
        // Content-Length.
        (
            "content-length with a letter",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5a\r\n\r\n",
            Want::Err(InvalidContentLength),
        ),
        (
            "content-length with a sign",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n",
            Want::Err(InvalidContentLength),
        ),
        (
            "negative content-length",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
            Want::Err(InvalidContentLength),
        ),
        (
            "empty content-length",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:  \r\n\r\n",
            Want::Err(InvalidContentLength),
        ),
        (
            "content-length list of equal values",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n",
            Want::Err(InvalidContentLength),
        ),
        (
            "content-length list of different values",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,6\r\n\r\n",
            Want::Err(InvalidContentLength),
        ),
        (
            "content-length overflow",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n",
            Want::Err(InvalidContentLength),
        ),
        (
            "two equal content-lengths as nginx",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            Want::Err(DuplicateContentLength),
        ),
        (
            "two different content-lengths",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n",
            Want::Err(DuplicateContentLength),
        ),
        // Transfer-Encoding.
        (
            "content-length then transfer-encoding",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            Want::Err(ContentLengthWithTransferEncoding),
        ),
        (
            "transfer-encoding then content-length",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            Want::Err(ContentLengthWithTransferEncoding),
        ),
        (
            "transfer-encoding on http/1.0 as nginx",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            Want::Err(TransferEncodingOnHttp10),
        ),
        (
            "unknown coding",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
            Want::Err(UnknownTransferCoding),
        ),
        (
            "unknown coding before chunked",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            Want::Err(UnknownTransferCoding),
        ),
        (
            "chunked with a parameter",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
            Want::Err(UnknownTransferCoding),
        ),
        (
            "chunked not final",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            Want::Err(InvalidTransferEncoding),
        ),
        (
            "chunked twice",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            Want::Err(InvalidTransferEncoding),
        ),
        (
            "empty transfer-encoding",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,\r\n\r\n",
            Want::Err(InvalidTransferEncoding),
        ),
        (
            "transfer-encoding on two lines as nginx",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            Want::Err(DuplicateTransferEncoding),
        ),
    ];

    /// Small limits so that the cases stay readable.
    const SMALL: Limits = Limits { max_head: 64, max_uri: 16, max_headers: 3 };

    /// Cases parsed with [`SMALL`].
    const LIMIT_CASES: &[(&str, &[u8], Want)] = &[
        (
            "target of exactly max_uri",
            b"GET /234567890123456 HTTP/1.1\r\nHost: h\r\n\r\n",
            Want::Ok(Parsed { target: "/234567890123456", path: "/234567890123456", ..GET }),
        ),
        ("target one over max_uri", b"GET /2345678901234567 HTTP/1.1\r\nHost: h\r\n\r\n", Want::Err(UriTooLong)),
        (
            "head of exactly max_head",
            b"GET / HTTP/1.1\r\nHost: h\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
            Want::Ok(Parsed { headers: 2, ..GET }),
        ),
        (
            "head one over max_head",
            b"GET / HTTP/1.1\r\nHost: h\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
            Want::Err(HeadTooLarge),
        ),
        (
            "leading empty lines count toward max_head",
            b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.0\r\n\r\n",
            Want::Err(HeadTooLarge),
        ),
        (
            "max_headers fields",
            b"GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
            Want::Ok(Parsed { headers: 3, ..HTTP10 }),
        ),
        ("one field over max_headers", b"GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", Want::Err(TooManyHeaders)),
        (
            "a complete head followed by more than max_head",
            b"GET / HTTP/1.0\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
            Want::Ok(Parsed { len: Some(18), ..HTTP10 }),
        ),
    ];

    /// Owned copy of everything a parse produced, to compare parses.
    #[derive(Debug, PartialEq)]
    struct Snapshot {
        len: usize,
        head_len: usize,
        method: Vec<u8>,
        kind: Method,
        target: Vec<u8>,
        path: Vec<u8>,
        query: Option<Vec<u8>>,
        version: Version,
        host: Option<Vec<u8>>,
        body: BodyKind,
        keep_alive: bool,
        expect_continue: bool,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
    }

    /// Parses `buf`; `Ok(None)` is `Partial`.
    fn parse(buf: &[u8], limits: &Limits, head: &mut Head) -> Result<Option<Snapshot>, ParseError> {
        Ok(match parse_head(buf, limits, head)? {
            Status::Partial => None,
            Status::Complete(len) => Some(Snapshot {
                len,
                head_len: head.head_len(),
                method: head.method(buf).to_vec(),
                kind: head.method_kind(),
                target: head.target(buf).to_vec(),
                path: head.path(buf).to_vec(),
                query: head.query(buf).map(<[u8]>::to_vec),
                version: head.version(),
                host: head.host(buf).map(<[u8]>::to_vec),
                body: head.body(),
                keep_alive: head.keep_alive(),
                expect_continue: head.expect_continue(),
                headers: head.headers(buf).map(|(n, v)| (n.to_vec(), v.to_vec())).collect(),
            }),
        })
    }

    fn check_parsed(name: &str, input: &[u8], got: &Snapshot, want: &Parsed) {
        let len = want.len.unwrap_or(input.len());
        assert_eq!(got.len, len, "{name}: length");
        assert_eq!(got.head_len, len, "{name}: head_len");
        assert_eq!(got.method, want.method.as_bytes(), "{name}: method");
        assert_eq!(got.kind, want.kind, "{name}: method kind");
        assert_eq!(got.target, want.target.as_bytes(), "{name}: target");
        assert_eq!(got.path, want.path.as_bytes(), "{name}: path");
        assert_eq!(got.query.as_deref(), want.query.map(str::as_bytes), "{name}: query");
        assert_eq!(got.version, want.version, "{name}: version");
        assert_eq!(got.host.as_deref(), want.host.map(str::as_bytes), "{name}: host");
        assert_eq!(got.body, want.body, "{name}: body");
        assert_eq!(got.keep_alive, want.keep_alive, "{name}: keep_alive");
        assert_eq!(got.expect_continue, want.expect_continue, "{name}: expect_continue");
        assert_eq!(got.headers.len(), want.headers, "{name}: header count");
    }

    /// Checks one case: the one-shot parse gives `want`; every prefix is
    /// `Partial` or the same result; the input split at every byte and fed
    /// in two calls (reusing a dirty `Head`) ends as the one-shot parse.
    fn check(name: &str, input: &[u8], limits: &Limits, want: Want, reused: &mut Head) {
        let one_shot = parse(input, limits, &mut Head::new());
        match (&one_shot, want) {
            (Ok(Some(got)), Want::Ok(want)) => check_parsed(name, input, got, &want),
            (Err(got), Want::Err(want)) => assert_eq!(*got, want, "{name}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }

        for k in 0..input.len() {
            let prefix = parse(&input[..k], limits, reused);
            match &one_shot {
                Ok(Some(full)) if k >= full.len => {
                    assert_eq!(
                        prefix.as_ref().ok().and_then(Option::as_ref),
                        Some(full),
                        "{name}: prefix {k}"
                    )
                }
                Ok(_) => assert_eq!(prefix, Ok(None), "{name}: prefix {k} of a valid head"),
                Err(e) => assert!(
                    prefix == Ok(None) || prefix == Err(*e),
                    "{name}: prefix {k} gave {prefix:?}, the whole {e:?}"
                ),
            }
        }

        for k in 0..=input.len() {
            let _ = parse(&input[..k], limits, reused);
            assert_eq!(parse(input, limits, reused), one_shot, "{name}: split at {k}");
        }
    }

    #[test]
    fn table_default_limits() {
        assert!(CASES.len() >= 40);
        let mut reused = Head::new();
        for &(name, input, want) in CASES {
            check(name, input, &Limits::default(), want, &mut reused);
        }
    }

    #[test]
    fn table_small_limits() {
        let mut reused = Head::new();
        for &(name, input, want) in LIMIT_CASES {
            check(name, input, &SMALL, want, &mut reused);
        }
    }

    /// Runs the cases with Bare LF line ends in place of every CRLF: the
    /// result is the same (lengths aside), as nginx accepts them.
    #[test]
    fn bare_lf_everywhere_parses_like_crlf() {
        let mut head = Head::new();
        for &(name, input, want) in CASES {
            let Want::Ok(want) = want else { continue };
            if want.len.is_some() || input.windows(2).filter(|w| w == b"\r\n").count() == 0 {
                continue;
            }
            let lf: Vec<u8> = String::from_utf8_lossy(input).replace("\r\n", "\n").into_bytes();
            if lf.contains(&b'\r') || !input.is_ascii() {
                continue;
            }
            let got = parse(&lf, &Limits::default(), &mut head);
            match got {
                Ok(Some(got)) => check_parsed(name, &lf, &got, &want),
                other => panic!("{name} with bare LF: {other:?}"),
            }
        }
    }

    /// Feeds `input` one byte at a time, parsing only when `HeadScan` says
    /// so; the first decided result and the number of parses.
    fn gated(input: &[u8], limits: &Limits) -> (Result<Option<Snapshot>, ParseError>, usize) {
        let mut scan = HeadScan::default();
        let mut head = Head::new();
        let mut parses = 0;
        for k in 1..=input.len() {
            if scan.should_parse(&input[..k], limits) {
                parses += 1;
                match parse(&input[..k], limits, &mut head) {
                    Ok(None) => {}
                    decided => return (decided, parses),
                }
            }
        }
        (Ok(None), parses)
    }

    #[test]
    fn head_scan_decides_what_parsing_every_read_decides() {
        let tables = [(CASES, Limits::default()), (LIMIT_CASES, SMALL)];
        for (cases, limits) in tables {
            for &(name, input, _) in cases {
                let one_shot = parse(input, &limits, &mut Head::new());
                // Without the end of the head (empty lines before the
                // request line do not end it), an error may wait for more
                // bytes or the limit; every other outcome is the same.
                let start = input.iter().position(|&c| c != b'\r' && c != b'\n');
                let ended = start.is_some_and(|i| has_head_end(&input[i..]));
                if !ended && !matches!(one_shot, Err(ParseError::UriTooLong)) {
                    continue;
                }
                let (got, _) = gated(input, &limits);
                assert_eq!(got, one_shot, "{name}");
            }
        }
    }

    #[test]
    fn quadratic_reparse_of_a_growing_head_is_avoided() {
        // A 16 KiB head arriving one byte at a time is parsed a handful of
        // times, not once per byte.
        let mut input = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        while input.len() < 16_000 {
            input.extend_from_slice(b"X-Filler: 0123456789abcdef0123456789abcdef\r\n");
        }
        input.extend_from_slice(b"\r\n");
        let limits = Limits { max_head: 32 * 1024, max_headers: 1000, ..Limits::default() };
        let (got, parses) = gated(&input, &limits);
        assert!(matches!(got, Ok(Some(_))), "{got:?}");
        assert!(parses <= 16, "{parses} parses");
    }

    #[test]
    fn head_scan_finds_a_marker_split_across_reads() {
        let limits = Limits::default();
        for end in [&b"\r\n\r\n"[..], b"\n\n", b"\r\n\n", b"\n\r\n"] {
            let mut input = b"GET / HTTP/1.1\r\nHost: some.host.name".to_vec();
            let body = input.len();
            input.extend_from_slice(end);
            for cut in body..input.len() {
                let mut scan = HeadScan::default();
                assert!(scan.should_parse(&input[..body - 8], &limits));
                let _ = scan.should_parse(&input[..cut], &limits);
                assert!(scan.should_parse(&input, &limits), "{end:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn head_scan_reaches_the_limits_early() {
        // A target over max_uri: 414 as soon as it is visible, not at max_head.
        let mut input = b"GET /".to_vec();
        input.resize(SMALL.max_uri + 12, b'a');
        let (got, _) = gated(&input, &SMALL);
        assert_eq!(got, Err(ParseError::UriTooLong));
        // A head that never ends: 431 once it passes max_head.
        let mut input = b"GET / HTTP/1.1\r\nX: ".to_vec();
        input.resize(SMALL.max_head + 1, b'a');
        let (got, _) = gated(&input, &SMALL);
        assert_eq!(got, Err(ParseError::HeadTooLarge));
    }

    #[test]
    fn fragment_in_target_is_stripped() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("GET /hello.txt#frag HTTP/1.1\r\nHost: h\r\n\r\n", "/hello.txt", None),
            ("GET /a?x=1#f?g HTTP/1.1\r\nHost: h\r\n\r\n", "/a", Some("x=1")),
            ("GET /#x HTTP/1.1\r\nHost: h\r\n\r\n", "/", None),
            ("GET http://h/p#x HTTP/1.1\r\nHost: h\r\n\r\n", "/p", None),
        ];
        for (raw, path, query) in cases {
            let raw = raw.as_bytes();
            let mut head = Head::new();
            let got = parse_head(raw, &Limits::default(), &mut head);
            assert!(matches!(got, Ok(Status::Complete(_))), "{got:?}");
            assert_eq!(head.path(raw), path.as_bytes(), "{:?}", String::from_utf8_lossy(raw));
            assert_eq!(
                head.query(raw),
                query.map(str::as_bytes),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn head_too_large_is_decided_before_the_head_ends() {
        let mut input = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
        input.resize(200, b'a');
        let mut head = Head::new();
        for k in 0..=SMALL.max_head {
            assert_eq!(parse_head(&input[..k], &SMALL, &mut head), Ok(Status::Partial), "{k}");
        }
        for k in SMALL.max_head + 1..=input.len() {
            assert_eq!(parse_head(&input[..k], &SMALL, &mut head), Err(HeadTooLarge), "{k}");
        }

        let limits = Limits::default();
        let mut big = b"GET / HTTP/1.1\r\nHost: h\r\nCookie: ".to_vec();
        big.resize(DEFAULT_MAX_HEAD_BYTES, b'c');
        assert_eq!(parse_head(&big, &limits, &mut head), Ok(Status::Partial));
        big.push(b'c');
        assert_eq!(parse_head(&big, &limits, &mut head), Err(HeadTooLarge));
        assert_eq!(HeadTooLarge.status(), 431);
    }

    #[test]
    fn uri_too_long_is_decided_from_the_target_alone() {
        let mut input = b"GET /".to_vec();
        input.resize(100, b'u');
        let mut head = Head::new();
        // "GET " then max_uri target bytes: still possible.
        let last_partial = 4 + SMALL.max_uri;
        for k in 0..=last_partial {
            assert_eq!(parse_head(&input[..k], &SMALL, &mut head), Ok(Status::Partial), "{k}");
        }
        for k in last_partial + 1..=input.len() {
            assert_eq!(parse_head(&input[..k], &SMALL, &mut head), Err(UriTooLong), "{k}");
        }

        let limits = Limits::default();
        let mut target = b"GET /".to_vec();
        target.resize(4 + DEFAULT_MAX_URI_BYTES, b'u');
        assert_eq!(parse_head(&target, &limits, &mut head), Ok(Status::Partial));
        target.push(b'u');
        assert_eq!(parse_head(&target, &limits, &mut head), Err(UriTooLong));
        assert_eq!(UriTooLong.status(), 414);
    }

    #[test]
    fn too_many_headers_is_decided_at_the_extra_field() {
        let input = b"GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD";
        let mut head = Head::new();
        assert_eq!(parse_head(&input[..input.len() - 1], &SMALL, &mut head), Ok(Status::Partial));
        assert_eq!(parse_head(input, &SMALL, &mut head), Err(TooManyHeaders));

        let mut many = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 1..DEFAULT_MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        let at_limit = many.len();
        many.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_head(&many, &Limits::default(), &mut head),
            Ok(Status::Complete(at_limit + 2))
        );
        assert_eq!(head.header_count(), DEFAULT_MAX_HEADERS);
        many.truncate(at_limit);
        many.extend_from_slice(b"X-extra: v\r\n\r\n");
        assert_eq!(parse_head(&many, &Limits::default(), &mut head), Err(TooManyHeaders));
    }

    #[test]
    fn pipelined_requests_parse_one_after_another() {
        let buf: &[u8] = b"GET /one HTTP/1.1\r\nHost: h\r\n\r\n\
            POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
            \r\nGET /three HTTP/1.0\r\nConnection: close\r\n\r\n\
            GET /fo";
        let limits = Limits::default();
        let mut head = Head::new();
        let mut rest = buf;
        let mut seen = Vec::new();
        loop {
            match parse_head(rest, &limits, &mut head) {
                Ok(Status::Complete(n)) => {
                    assert_eq!(n, head.head_len());
                    seen.push((head.path(rest).to_vec(), head.body(), head.keep_alive()));
                    let body = match head.body() {
                        BodyKind::Length(len) => len as usize,
                        _ => 0,
                    };
                    rest = &rest[n + body..];
                }
                Ok(Status::Partial) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(
            seen,
            vec![
                (b"/one".to_vec(), BodyKind::None, true),
                (b"/two".to_vec(), BodyKind::Length(5), true),
                (b"/three".to_vec(), BodyKind::None, false),
            ]
        );
        assert_eq!(rest, b"GET /fo");
    }

    #[test]
    fn header_lookup_is_case_insensitive_and_keeps_order() {
        let buf = b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nAccept:  */* \r\n\r\n";
        let mut head = Head::new();
        assert!(parse_head(buf, &Limits::default(), &mut head).unwrap().is_complete());
        assert_eq!(head.header(buf, b"x-A"), Some(&b"1"[..]));
        assert_eq!(head.header(buf, b"ACCEPT"), Some(&b"*/*"[..]));
        assert_eq!(head.header(buf, b"missing"), None);
        let names: Vec<&[u8]> = head.headers(buf).map(|(n, _)| n).collect();
        assert_eq!(names, [&b"Host"[..], b"X-A", b"x-a", b"Accept"]);
        assert_eq!(head.headers(buf).len(), 4);
    }

    #[test]
    fn accessors_given_a_shorter_buffer_return_empty_slices() {
        let buf = b"GET /path?q HTTP/1.1\r\nHost: example\r\nX: y\r\n\r\n";
        let mut head = Head::new();
        assert!(parse_head(buf, &Limits::default(), &mut head).unwrap().is_complete());
        let short = &buf[..3];
        assert_eq!(head.method(short), b"GET");
        assert_eq!(head.target(short), b"");
        assert_eq!(head.query(short), Some(&b""[..]));
        assert_eq!(head.host(short), Some(&b""[..]));
        assert!(head.headers(short).all(|(n, v)| n.is_empty() && v.is_empty()));
    }

    #[test]
    fn every_error_maps_to_its_status() {
        let table: &[(ParseError, u16)] = &[
            (InvalidMethod, 400),
            (UnknownMethod, 501),
            (InvalidRequestLine, 400),
            (InvalidTarget, 400),
            (UriTooLong, 414),
            (InvalidVersion, 400),
            (UnsupportedVersion, 505),
            (InvalidHeaderName, 400),
            (WhitespaceBeforeColon, 400),
            (ObsFold, 400),
            (InvalidHeaderValue, 400),
            (HeadTooLarge, 431),
            (TooManyHeaders, 431),
            (MissingHost, 400),
            (DuplicateHost, 400),
            (InvalidHost, 400),
            (InvalidContentLength, 400),
            (DuplicateContentLength, 400),
            (DuplicateTransferEncoding, 400),
            (ContentLengthWithTransferEncoding, 400),
            (TransferEncodingOnHttp10, 400),
            (InvalidTransferEncoding, 400),
            (UnknownTransferCoding, 501),
            (InvalidChunkSize, 400),
            (ChunkSizeOverflow, 400),
            (InvalidChunkExtension, 400),
            (ChunkLineTooLong, 400),
            (MissingChunkCrlf, 400),
            (InvalidTrailer, 400),
            (TrailerTooLarge, 400),
            (BodyTooLarge, 413),
        ];
        for &(error, status) in table {
            assert_eq!(error.status(), status, "{error:?}");
            assert!(error.to_string().starts_with("client "), "{error:?}");
        }
    }

    #[test]
    fn method_names_round_trip() {
        for name in ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"]
        {
            assert_eq!(Method::from_bytes(name.as_bytes()).as_str(), Some(name));
        }
        assert_eq!(Method::from_bytes(b"PROPFIND"), Method::Other);
        assert_eq!(Method::Other.as_str(), None);
    }

    /// Seeded random inputs, garbage and near-HTTP alike: no panic, a
    /// complete head lies inside the buffer and its accessors work, and a
    /// random split point never changes the result.
    #[test]
    fn random_bytes_never_panic() {
        const FRAGMENTS: &[&[u8]] = &[
            b"GET",
            b"POST",
            b"OPTIONS",
            b" ",
            b"/",
            b"/a?b",
            b"*",
            b"http://h",
            b" HTTP/1.1",
            b" HTTP/1.0",
            b"HTTP/2.0",
            b"\r\n",
            b"\n",
            b"\r",
            b"\t",
            b"\0",
            b"Host: h",
            b"Host",
            b":",
            b"Content-Length: ",
            b"Transfer-Encoding: ",
            b"chunked",
            b"gzip",
            b",",
            b"Connection: ",
            b"close",
            b"keep-alive",
            b"Expect: 100-continue",
            b"0",
            b"9",
            b"99999999999999999999",
        ];
        let mut rng = XorShift::new(0x5eed_1234);
        let mut head = Head::new();
        let mut other = Head::new();
        let limits = [SMALL, Limits::default(), Limits { max_head: 0, max_uri: 0, max_headers: 0 }];
        for i in 0..20_000 {
            let mut input = rng.input(FRAGMENTS, 24);
            if i % 3 == 0 {
                // Start most inputs like a request so they get further.
                let mut line = b"GET / HTTP/1.1\r\n".to_vec();
                line.append(&mut input);
                input = line;
            }
            let limits = &limits[i % limits.len()];
            let one_shot = parse(&input, limits, &mut head);
            if let Ok(Some(snapshot)) = &one_shot {
                assert!(snapshot.len <= input.len() && snapshot.len <= limits.max_head);
                let _ = head.header(&input, b"host");
            }
            let k = rng.below(input.len() + 1);
            let _ = parse(&input[..k], limits, &mut other);
            assert_eq!(parse(&input, limits, &mut other), one_shot, "{input:?}");
        }
    }

    /// Marsaglia's xorshift64, seeded, std-only: the random tests here and
    /// in `chunked` use it.
    #[derive(Debug)]
    pub(crate) struct XorShift(u64);

    impl XorShift {
        /// A generator from `seed` (0 is replaced, xorshift needs a non-zero state).
        pub(crate) fn new(seed: u64) -> XorShift {
            XorShift(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
        }

        /// The next 64 random bits.
        pub(crate) fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        /// A number in `0..n` (`n > 0`).
        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }

        /// Up to `max_pieces` pieces, each either one of `fragments` or a run of
        /// random bytes, so that inputs reach deep parser states as well as
        /// garbage ones.
        pub(crate) fn input(&mut self, fragments: &[&[u8]], max_pieces: usize) -> Vec<u8> {
            let mut out = Vec::new();
            for _ in 0..self.below(max_pieces + 1) {
                if self.below(4) == 0 {
                    for _ in 0..=self.below(8) {
                        out.push(self.next_u64() as u8);
                    }
                } else {
                    out.extend_from_slice(fragments[self.below(fragments.len())]);
                }
            }
            out
        }
    }
}
