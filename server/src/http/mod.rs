//! HTTP/1.1 wire format: pure parsing of requests and chunked bodies.

pub mod chunked;
pub mod conditional;
pub mod mime;
pub mod path;
pub mod range;
pub mod request;
pub mod response;
