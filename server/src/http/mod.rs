//! HTTP/1.1 wire format: pure parsing of requests and chunked bodies.

pub mod chunked;
pub mod request;
