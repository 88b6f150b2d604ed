//! Safe wrappers for the raw OS calls Berth needs beyond std.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
