//! The request body decoder: one type for `Content-Length` and chunked
//! bodies (RFC 9112 §6.3), fed from the connection's read buffer.
//!
//! Pure: it consumes bytes and hands out body data; what happens to the data
//! (a sink that discards, keeps, spools or pipes it) is the caller's.

use super::chunked::ChunkedDecoder;
use super::request::{BodyKind, ParseError};

/// Progress through a request body.
#[derive(Debug)]
pub enum BodyDecoder {
    /// Bytes still to come of a `Content-Length` body.
    Length(u64),
    /// A chunked body (the decoder enforces the body limit per chunk size).
    Chunked(ChunkedDecoder),
}

/// One step of [`BodyDecoder::decode`].
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Input bytes consumed (framing included).
    pub used: usize,
    /// Body data decoded from them.
    pub data: &'a [u8],
    /// Whether the body is complete.
    pub done: bool,
}

impl BodyDecoder {
    /// The decoder of a body delimited as `kind`, `None` when there is no
    /// body. `max_body` (0 = unlimited) is checked against each chunk size
    /// before its data is read; a `Content-Length` is checked by the caller
    /// before reading anything.
    pub fn new(kind: BodyKind, max_body: u64) -> Option<BodyDecoder> {
        match kind {
            BodyKind::None | BodyKind::Length(0) => None,
            BodyKind::Length(n) => Some(BodyDecoder::Length(n)),
            BodyKind::Chunked => {
                Some(BodyDecoder::Chunked(ChunkedDecoder::with_max_body(max_body)))
            }
        }
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        match self {
            BodyDecoder::Length(n) => *n == 0,
            BodyDecoder::Chunked(d) => d.is_done(),
        }
    }

    /// Decodes from `input`, the next bytes after what was used before.
    ///
    /// At most `max` body bytes are handed out (so a sink that can take
    /// only part of them leaves the rest in the caller's buffer); a
    /// `Content-Length` body is borrowed from `input` without a copy,
    /// chunked data is decoded into `scratch`.
    ///
    /// # Errors
    /// The chunk framing is invalid, or a chunk takes the body over its limit.
    pub fn decode<'a>(
        &mut self,
        input: &'a [u8],
        max: usize,
        scratch: &'a mut Vec<u8>,
    ) -> Result<Decoded<'a>, ParseError> {
        match self {
            BodyDecoder::Length(remaining) => {
                let take =
                    usize::try_from(*remaining).unwrap_or(usize::MAX).min(input.len()).min(max);
                *remaining -= take as u64;
                let data = input.get(..take).unwrap_or_default();
                Ok(Decoded { used: take, data, done: *remaining == 0 })
            }
            BodyDecoder::Chunked(decoder) => {
                scratch.clear();
                // Decoded data is never longer than its encoding, so
                // offering at most `max` input bytes bounds the data too.
                let input = input.get(..max.min(input.len())).unwrap_or_default();
                let (used, done) = decoder.decode(input, scratch)?;
                Ok(Decoded { used, data: scratch.as_slice(), done })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes, at most `max` body bytes per
    /// call, collecting the data until done.
    fn run(
        kind: BodyKind,
        input: &[u8],
        step: usize,
        max: usize,
    ) -> Result<(Vec<u8>, usize), ParseError> {
        let Some(mut d) = BodyDecoder::new(kind, 0) else { return Ok((Vec::new(), 0)) };
        let mut scratch = Vec::new();
        let (mut pos, mut body) = (0, Vec::new());
        let mut avail = 0;
        loop {
            avail = (avail + step).min(input.len());
            let piece = input.get(pos..avail).unwrap_or_default();
            let step_out = d.decode(piece, max, &mut scratch)?;
            body.extend_from_slice(step_out.data);
            pos += step_out.used;
            if step_out.done {
                return Ok((body, pos));
            }
            if avail == input.len() && step_out.used == 0 {
                return Err(ParseError::MissingChunkCrlf);
            }
        }
    }

    #[test]
    fn length_and_chunked_at_every_step_and_cap() {
        let chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /next";
        let plain = b"hello worldGET /next";
        for step in 1..=chunked.len() {
            for max in [1, 2, 3, 7, 64] {
                let got = run(BodyKind::Chunked, chunked, step, max);
                assert_eq!(got, Ok((b"hello world".to_vec(), chunked.len() - 9)), "{step} {max}");
                let got = run(BodyKind::Length(11), plain, step, max);
                assert_eq!(got, Ok((b"hello world".to_vec(), 11)), "{step} {max}");
            }
        }
    }

    #[test]
    fn no_body_has_no_decoder() {
        assert!(BodyDecoder::new(BodyKind::None, 0).is_none());
        assert!(BodyDecoder::new(BodyKind::Length(0), 0).is_none());
    }

    #[test]
    fn chunk_over_limit_fails_before_its_data() {
        let mut d = BodyDecoder::new(BodyKind::Chunked, 4).unwrap_or_else(|| unreachable!());
        let mut scratch = Vec::new();
        assert_eq!(d.decode(b"5\r\n", 64, &mut scratch), Err(ParseError::BodyTooLarge));
    }
}
