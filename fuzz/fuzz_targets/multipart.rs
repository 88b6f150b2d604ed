//! The multipart parser: no panic; parsing in two pieces (split where the
//! input's first byte says) reports the same parts, data and outcome as
//! parsing whole. The input's second byte picks the boundary's length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::http::multipart::{Event, Multipart};

/// Parses `pieces` in turn; returns what was seen, flattened, and whether it
/// ended well.
fn parse(boundary: &[u8], pieces: &[&[u8]]) -> (Vec<String>, Vec<u8>, Result<(), String>) {
    let mut parser = Multipart::new(boundary);
    let (mut heads, mut data) = (Vec::new(), Vec::new());
    for piece in pieces {
        let mut on = |e: Event<'_>| -> Result<(), ()> {
            match e {
                Event::Start(h) => heads.push(format!("{h:?}")),
                Event::Data(d) => data.extend_from_slice(d),
                Event::End => heads.push("end".into()),
            }
            Ok(())
        };
        if let Err(e) = parser.feed(piece, &mut on) {
            return (heads, data, Err(format!("{e:?}")));
        }
    }
    (heads, data, parser.finish().map_err(|e| format!("{e:?}")))
}

fuzz_target!(|input: &[u8]| {
    let (Some(&cut), Some(&len)) = (input.first(), input.get(1)) else { return };
    let boundary = &b"----berthfuzzboundary"[..1 + usize::from(len) % 20];
    let body = &input[2..];
    let cut = usize::from(cut) % (body.len() + 1);
    let whole = parse(boundary, &[body]);
    let split = parse(boundary, &[&body[..cut], &body[cut..]]);
    assert_eq!(whole, split, "split at {cut}");
});
