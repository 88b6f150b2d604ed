//! The Berth HTTP/1.1 server: reactor, HTTP engine and handlers.
//!
//! [`Server`] is the event loop, generic over a [`poller::Poller`] backend and
//! statically dispatched. Pure pieces (path normalisation, MIME types, ranges,
//! validators, response formatting, the request parser) live in [`http`] and
//! are tested without sockets; [`conn`] is the per-connection state machine,
//! [`router`] turns a request into a reply through the configuration and
//! [`files`] serves the file system. It does not parse the configuration
//! (crate `config`) nor make raw OS calls (crates `poller` and `platform`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cache;
pub mod cli;
pub mod conn;
pub mod files;
pub mod http;
pub mod log;
pub mod router;
pub mod server;
pub mod slab;
pub mod timer;

pub use server::Server;

/// Loads nothing and binds everything: runs `config` on backend `P` until a
/// graceful stop.
///
/// # Errors
/// Startup failures (bind, logs, poller) and a failing poller.
pub fn serve<P: poller::Poller>(config: config::Config) -> std::io::Result<()> {
    Server::<P>::new(config)?.run()
}
