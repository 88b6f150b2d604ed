//! The Berth HTTP/1.1 server: reactor, HTTP engine and handlers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod http;
