//! One request: what outlives the read buffer once its head is parsed.
//!
//! The connection parses a head in its read buffer, then copies it into a
//! `Request` (into a buffer the connection recycles, so no allocation in
//! the steady state), which owns from then on everything about the
//! exchange: the head and every header, the site it arrived under, its
//! route and handler, the body decoder and sink, and where it stands. The
//! connection drops it once its response is queued whole; the access log
//! line is written later, when the response's bytes have really gone out.

use std::rc::Rc;

use crate::handlers::{Action, BodySink};
use crate::http::body::BodyDecoder;
use crate::http::request::Head;
use crate::site::Site;

/// What a request waits for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// More body bytes from the client.
    Body,
    /// Its reply (at once for [`Action::Reply`], when the handler has it
    /// otherwise).
    Reply,
    /// More of a streamed body from its handler.
    Stream,
}

/// A request in progress on a connection.
#[derive(Debug)]
pub struct Request {
    /// The head's bytes, from its request line through the blank line.
    pub raw: Vec<u8>,
    /// The parsed head: spans into `raw`.
    pub head: Head,
    /// The site it arrived under (a reload does not change it).
    pub site: Rc<Site>,
    /// The server that answers it.
    pub server: usize,
    /// The (server, location) it was routed to, if routing got that far.
    pub at: Option<(usize, usize)>,
    /// HEAD: the response carries no body.
    pub head_only: bool,
    /// An HTTP/1.0 client (no chunked responses, keep-alive on request).
    pub http10: bool,
    /// Whether the connection may serve another request after this one.
    pub keep_alive: bool,
    /// What it waits for.
    pub stage: Stage,
    /// The body still to read, if any.
    pub body: Option<BodyDecoder>,
    /// Where the body goes.
    pub sink: BodySink,
    /// Decoded body bytes the sink has not taken yet (back-pressure).
    pub held: Vec<u8>,
    /// What answers it; `Action::Reply` is taken when sent.
    pub action: Option<Action>,
    /// A `Set-Cookie` value for the response (the session cookie).
    pub set_cookie: Option<String>,
}

impl Request {
    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.head.header(&self.raw, name)
    }

    /// The `Host` the request is for, if any and valid UTF-8.
    pub fn host(&self) -> Option<&str> {
        self.head.host(&self.raw).and_then(|h| std::str::from_utf8(h).ok())
    }

    /// The request line as parsed (for the logs).
    pub fn line(&self) -> &[u8] {
        self.head.request_line(&self.raw)
    }
}
