//! Helpers for black-box tests that start the real `berth` binary.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
