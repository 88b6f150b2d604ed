//! Berth's nginx-style configuration language, parsed and validated into a model.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
