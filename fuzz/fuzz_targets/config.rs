//! The configuration parser: no panic on any text; an error always has a
//! position inside the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = config::parse(text, std::path::Path::new("/nonexistent/fuzz/berth.conf"));
});
