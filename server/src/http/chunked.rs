//! Chunked transfer coding decoder (RFC 9112 §7.1).
