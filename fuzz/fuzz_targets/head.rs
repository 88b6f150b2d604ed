//! The request head parser: no panic on any input; a complete parse is
//! stable (the same result when the buffer is fed again whole, and when it
//! is fed split at a point given by the input's first byte); accessors stay
//! within the buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::http::request::{parse_head, Head, Limits, Status};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut head = Head::new();
    let whole = parse_head(data, &limits, &mut head);
    if let Ok(Status::Complete(n)) = whole {
        assert!(n <= data.len());
        let _ = (head.method(data), head.target(data), head.path(data), head.query(data));
        let _ = (head.host(data), head.body(), head.keep_alive(), head.request_line(data));
        for (name, value) in head.headers(data) {
            assert!(!name.is_empty());
            let _ = value;
        }
    }
    // A prefix of the input never contradicts the whole: it is Partial, the
    // same error, or (only when the whole is complete) complete at the same
    // length.
    if let Some(&first) = data.first() {
        let cut = usize::from(first) % (data.len() + 1);
        let mut h2 = Head::new();
        let prefix = parse_head(&data[..cut], &limits, &mut h2);
        match (&prefix, &whole) {
            (Ok(Status::Partial), _) => {}
            (Err(a), Err(b)) => assert_eq!(a, b),
            (Ok(Status::Complete(a)), Ok(Status::Complete(b))) => assert_eq!(a, b),
            (p, w) => panic!("prefix {cut} gave {p:?}, whole gave {w:?}"),
        }
    }
});
