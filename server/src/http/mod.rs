//! HTTP/1.1 wire format, pure (no I/O): the request head parser, the body
//! decoder, chunked decoding and encoding, responses, paths, ranges,
//! validators and MIME types.

pub mod body;
pub mod chunked;
pub mod conditional;
pub mod cookie;
pub mod mime;
pub mod multipart;
pub mod path;
pub mod range;
pub mod request;
pub mod response;
