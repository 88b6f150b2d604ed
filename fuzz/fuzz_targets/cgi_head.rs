//! The CGI response-header parser: no panic; a prefix of the input is "not
//! ended yet", the same error, or (when the whole is complete) the same
//! result; the body never starts past the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::handlers::cgi::head::parse;

fuzz_target!(|data: &[u8]| {
    let whole = parse(data);
    if let Ok(Some((head, n))) = &whole {
        assert!(*n <= data.len());
        let _ = (head.status(), head.local_redirect());
    }
    let Some(&first) = data.first() else { return };
    let cut = usize::from(first) % (data.len() + 1);
    match (parse(&data[..cut]), &whole) {
        (Ok(None), _) => {}
        (Err(a), Err(b)) => assert_eq!(&a, b),
        (Ok(Some(a)), Ok(Some(b))) => assert_eq!(&a, b),
        (p, w) => panic!("prefix {cut} gave {p:?}, whole gave {w:?}"),
    }
});
