//! The action: what answers a request once the router has chosen.
//!
//! Two shapes of answer:
//! - a [`Reply`] decided from the head alone (static files, listings,
//!   redirects, error pages): the router builds it at once and the
//!   connection sends it after reading (and dropping) any body;
//! - a [`Handler`] that answers later: it chooses a [`BodySink`] for the
//!   body, is told when the body has ended, and is asked for its reply until
//!   it has one (lighttpd's `HANDLER_WAIT_FOR_EVENT`). It may own event
//!   sources (pipes) registered through [`Cx::sources`]; their readiness and
//!   timers wake the connection, which asks the handler again. A reply whose
//!   body is [`ReplyBody::Stream`] is then pulled with
//!   [`Handler::stream`], with back-pressure from the client's socket.
//!
//! A new handler plugs in by implementing [`Handler`] and being returned by
//! [`crate::router::route`] as [`Action::Handler`]; see
//! `docs/architecture.md`.

pub mod cache;
pub mod cgi;
pub mod delete;
pub mod error_page;
pub mod listing;
pub mod session;
pub mod sink;
pub mod static_files;
pub mod upload;

use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use poller::Interest;

use crate::error::HttpError;
use crate::http::response::{Reply, ReplyBody};
use crate::reactor::slab::Key;
use crate::site::{Runtime, Site};

pub use sink::BodySink;

/// What the router decided for a request.
#[derive(Debug)]
pub enum Action {
    /// Answer with this reply once the body, if any, is read and dropped.
    Reply(Reply),
    /// Let this handler take the body and answer when it is ready.
    Handler(Box<dyn Handler>),
}

/// What a handler's [`Handler::stream`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStep {
    /// More may come: ask again when one of its sources is ready.
    More,
    /// The body is complete.
    Done,
}

/// Event sources a handler owns, reached through the reactor (mio's
/// `Registry`). Every source belongs to the connection whose handler
/// registered it: its readiness and its timer wake that connection.
///
/// Sources are watched level-triggered with the interest the handler asks
/// for; `watch(.., None)` stops watching (back-pressure) without forgetting
/// the source. [`Sources::take_readable`] and [`Sources::take_writable`]
/// are true only when the poller reported the source in the current loop
/// iteration and it was not used yet in it: the one-read-one-write rule of
/// DESIGN.md §6 holds for pipes as for sockets.
pub trait Sources {
    /// Registers `fd` (non-blocking) for `interest`.
    ///
    /// # Errors
    /// The poller's error, or a full source table.
    fn register(&mut self, fd: BorrowedFd<'_>, interest: Interest) -> io::Result<Key>;
    /// Changes what `key` (whose fd is `fd`) is watched for; `None` stops
    /// watching it until the next call.
    ///
    /// # Errors
    /// The poller's error.
    fn watch(&mut self, key: Key, fd: BorrowedFd<'_>, interest: Option<Interest>)
        -> io::Result<()>;
    /// Forgets `key`; call it before closing `fd`.
    fn deregister(&mut self, key: Key, fd: BorrowedFd<'_>);
    /// Whether `key` may be read now (see the trait docs); marks it read.
    fn take_readable(&mut self, key: Key) -> bool;
    /// Whether `key` may be written now (see the trait docs); marks it written.
    fn take_writable(&mut self, key: Key) -> bool;
    /// Sets (or with `None` clears) the deadline of `key`; when it passes,
    /// [`Handler::on_timer`] is called with `key`.
    fn set_timer(&mut self, key: Key, at: Option<Instant>);
}

/// What a handler is given whenever it is called.
pub struct Cx<'a> {
    /// The site the request arrived under.
    pub site: &'a Site,
    /// Process-long state: clock, logs, cache, children to reap.
    pub rt: &'a mut Runtime,
    /// The reactor's event sources.
    pub sources: &'a mut dyn Sources,
}

impl fmt::Debug for Cx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cx").finish_non_exhaustive()
    }
}

/// A handler that answers after the head: it may take the request body and
/// wait for events before it replies.
///
/// Every method is called by the connection that owns the request, at most
/// once per loop iteration and only when something changed (body bytes
/// arrived, a source of the handler was reported, a timer passed, the
/// client's socket took output). A handler that waits for anything but the
/// client must set a timer on one of its sources: the connection itself has
/// no deadline while a handler prepares its reply.
pub trait Handler: fmt::Debug {
    /// Where the request body goes; called once, after the head, only when
    /// the request has a body. Anything but [`BodySink::Discard`] earns an
    /// `Expect: 100-continue` client its `100 Continue`.
    ///
    /// # Errors
    /// The request is refused with this error before its body is read.
    fn sink(&mut self, cx: &mut Cx<'_>) -> Result<BodySink, HttpError> {
        let _ = cx;
        Ok(BodySink::Discard)
    }

    /// Takes body data when the sink is [`BodySink::Handler`]; returns how
    /// many bytes it took. Taking fewer is back-pressure: the rest is offered
    /// again later, and the socket is not read meanwhile.
    ///
    /// # Errors
    /// The request fails with this error (the body is not read further).
    fn body(&mut self, cx: &mut Cx<'_>, data: &[u8]) -> Result<usize, HttpError> {
        let _ = cx;
        Ok(data.len())
    }

    /// The body has ended (or there was none); `sink` is the sink with
    /// everything it took.
    ///
    /// # Errors
    /// The request fails with this error.
    fn body_end(&mut self, cx: &mut Cx<'_>, sink: BodySink) -> Result<(), HttpError> {
        let _ = (cx, sink);
        Ok(())
    }

    /// The reply, once it is known; `None` while the handler waits.
    ///
    /// # Errors
    /// The request fails with this error page.
    fn reply(&mut self, cx: &mut Cx<'_>) -> Result<Option<Reply>, HttpError>;

    /// Appends at most `room` more body bytes of a [`ReplyBody::Stream`]
    /// reply to `out` (raw data: the connection frames it).
    ///
    /// # Errors
    /// The response is cut: the connection closes.
    fn stream(
        &mut self,
        cx: &mut Cx<'_>,
        out: &mut Vec<u8>,
        room: usize,
    ) -> Result<StreamStep, HttpError> {
        let _ = (cx, out, room);
        Ok(StreamStep::Done)
    }

    /// The request belongs to the session `id` (in a `session on`
    /// location), found or started before any other call but
    /// [`Handler::sink`]; its data is in `cx.rt.sessions`.
    fn session(&mut self, cx: &mut Cx<'_>, id: &str) {
        let _ = (cx, id);
    }

    /// The timer of the handler's source `key` passed.
    ///
    /// # Errors
    /// The request fails (before the reply) or is cut (after it).
    fn on_timer(&mut self, cx: &mut Cx<'_>, key: Key) -> Result<(), HttpError> {
        let _ = (cx, key);
        Ok(())
    }

    /// The exchange ends early (client gone, error, shutdown) or is done:
    /// release every source, child and file the handler holds. Called
    /// exactly once, last.
    fn finish(&mut self, cx: &mut Cx<'_>) {
        let _ = cx;
    }
}

/// Whether a reply's body is produced by its handler after the head.
pub fn is_streamed(reply: &Reply) -> bool {
    matches!(reply.body, ReplyBody::Stream { .. })
}
