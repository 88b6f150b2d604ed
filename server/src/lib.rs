//! The Berth HTTP/1.1 server: reactor, HTTP engine and handlers.
//!
//! [`Server`] ([`reactor`]) is the event loop, generic over a
//! [`poller::Poller`] backend and statically dispatched: its event sources,
//! the connection and request state machines, timers and the output queue.
//! [`http`] is the wire format, pure and tested without sockets. [`router`]
//! turns a request head into an action through the configuration, and
//! [`handlers`] act (static files, listings, error pages; handlers that
//! answer later plug in there). [`site`] holds what a reload swaps and what
//! it keeps. It does not parse the configuration (crate `config`) nor make
//! raw OS calls (crates `poller` and `platform`). `docs/architecture.md`
//! follows one request through them.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
pub mod error;
pub mod handlers;
pub mod http;
pub mod log;
pub mod reactor;
pub mod router;
pub mod site;

pub use reactor::Server;

/// Loads nothing and binds everything: runs `config` on backend `P` until a
/// graceful stop.
///
/// # Errors
/// Startup failures (bind, logs, poller) and a failing poller.
pub fn serve<P: poller::Poller>(config: config::Config) -> std::io::Result<()> {
    Server::<P>::new(config)?.run()
}
