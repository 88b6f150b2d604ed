//! The chunked body decoder: no panic; decoding the input in two pieces
//! (split where its first byte says) gives the same data, consumption and
//! outcome as decoding it whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::http::chunked::ChunkedDecoder;

fuzz_target!(|data: &[u8]| {
    let mut whole = ChunkedDecoder::with_max_body(1 << 20);
    let mut out_whole = Vec::new();
    let r_whole = whole.decode(data, &mut out_whole);

    let cut = data.first().map_or(0, |&b| usize::from(b) % (data.len() + 1));
    let mut split = ChunkedDecoder::with_max_body(1 << 20);
    let mut out_split = Vec::new();
    let r1 = split.decode(&data[..cut], &mut out_split);
    let r_split = match r1 {
        Ok((used, true)) => Ok((used, true)),
        Ok((used, false)) => split.decode(&data[used..], &mut out_split).map(|(u, d)| (used + u, d)),
        Err(e) => Err(e),
    };
    match (r_whole, r_split) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert_eq!(out_whole, out_split);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("whole {a:?}, split at {cut} {b:?}"),
    }
});
