//! Request-line and header parsing (RFC 9112 §2-§6).
