//! Chunked transfer coding decoder (RFC 9112 §7.1).
//!
//! [`ChunkedDecoder`] is a byte-driven state machine: feed it whatever part
//! of the body has arrived and it appends the chunk data to the caller's
//! vector, consuming everything it is given until the body ends. It never
//! fails on a short input; a body split at any byte decodes exactly as in one
//! piece. Chunk extensions are checked for stray control bytes and ignored,
//! trailer fields are checked for shape and discarded. Size lines, trailers
//! and (optionally) the decoded body are bounded.
//!
//! Line endings are strict CRLF here, unlike the request head: lenient
//! chunk framing (bare LF, bare CR, junk after the data) is where request
//! smuggling between a proxy and an origin hides, so anything but CRLF is
//! an error.
//!
//! It does no I/O and does not know about `Content-Length` bodies.

use std::io::Write;

use super::request::{is_tchar, ParseError};

/// Maximum length of a chunk-size line (size and extensions, CRLF
/// excluded), in bytes; nothing here needs more, and the bound keeps a
/// client from streaming extension bytes forever.
pub const MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;

/// Maximum length of the trailer section (all trailer lines with their
/// CRLFs, the final CRLF excluded), in bytes.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Decoder of one chunked body. Create one per body.
///
/// # Examples
///
/// ```
/// use server::http::chunked::ChunkedDecoder;
///
/// let mut decoder = ChunkedDecoder::new();
/// let mut body = Vec::new();
/// assert_eq!(decoder.decode(b"5\r\nhel", &mut body), Ok((6, false)));
/// assert_eq!(decoder.decode(b"lo\r\n0\r\n\r\nGET /", &mut body), Ok((9, true)));
/// assert_eq!(body, b"hello");
/// ```
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// The chunk size being read, then the data bytes still to come.
    size: u64,
    /// Hex digits of the current size.
    digits: u32,
    /// Bytes of the current size line.
    line_len: usize,
    /// Bytes of the trailer section so far.
    trailer_len: usize,
    /// Body bytes decoded so far.
    decoded: u64,
    /// Maximum body size; 0 = unlimited.
    max_body: u64,
}

/// What the decoder expects next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// A hex digit of the chunk size (the first one is required).
    Size,
    /// Whitespace, `;` starting an extension, or the CR ending the size line.
    ExtensionStart,
    /// Extension bytes (ignored) or the CR ending the size line.
    Extension,
    /// The LF ending the size line.
    SizeLf,
    /// `size` more bytes of chunk data.
    Data,
    /// The CR after chunk data.
    DataCr,
    /// The LF after chunk data.
    DataLf,
    /// A trailer field name, or the CR of the final empty line.
    Trailer,
    /// More of a trailer field name, or its colon.
    TrailerName,
    /// Trailer field value bytes (ignored), or the CR ending the line.
    TrailerValue,
    /// The LF ending a trailer line.
    TrailerLf,
    /// The LF of the final empty line.
    EndLf,
    /// Nothing: the body is complete.
    Done,
    /// Nothing: the body was invalid; the error repeats.
    Failed(ParseError),
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body, with no limit on its decoded size.
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size,
            size: 0,
            digits: 0,
            line_len: 0,
            trailer_len: 0,
            decoded: 0,
            max_body: 0,
        }
    }

    /// A decoder that fails with [`ParseError::BodyTooLarge`] (413) as soon as
    /// a chunk size would take the decoded body over `max_body` bytes, before
    /// the chunk's data is read. `0` means unlimited, like nginx's
    /// `client_max_body_size 0`.
    pub fn with_max_body(max_body: u64) -> ChunkedDecoder {
        ChunkedDecoder { max_body, ..ChunkedDecoder::new() }
    }

    /// Body bytes decoded so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// Whether the whole body, trailer section included, has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input`, the next bytes of the body, appending chunk data to
    /// `out`.
    ///
    /// Returns `(consumed, done)`. While the body is not finished the whole
    /// input is consumed (`consumed == input.len()`, `done == false`): a
    /// partial size line or CRLF is remembered, not left in `input`. Once
    /// the final CRLF is seen it returns `done == true` and `consumed` stops
    /// right after it; bytes beyond (a pipelined request) are left to the
    /// caller. Further calls return `(0, true)`.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] (400, or 413 for [`ParseError::BodyTooLarge`]) when the
    /// chunk framing is invalid or over a limit; the same error is returned
    /// by every later call. Bytes decoded before the error are in `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(usize, bool), ParseError> {
        let mut pos = 0;
        while let Some(&c) = input.get(pos) {
            match self.state {
                State::Done => break,
                State::Failed(e) => return Err(e),
                State::Data => {
                    let avail = input.len() - pos;
                    let n = usize::try_from(self.size).map_or(avail, |size| size.min(avail));
                    out.extend_from_slice(input.get(pos..pos + n).unwrap_or_default());
                    pos += n;
                    self.size -= n as u64;
                    self.decoded += n as u64;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                }
                _ => {
                    if let Err(e) = self.step(c) {
                        self.state = State::Failed(e);
                        return Err(e);
                    }
                    pos += 1;
                }
            }
        }
        match self.state {
            State::Failed(e) => Err(e),
            state => Ok((pos, state == State::Done)),
        }
    }

    /// Advances over one byte of framing (every state but `Data`).
    fn step(&mut self, c: u8) -> Result<(), ParseError> {
        match self.state {
            // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF;
            // chunk-size = 1*HEXDIG.
            State::Size => {
                if c != b'\r' {
                    self.count_line_byte()?;
                }
                if let Some(d) = hex_value(c) {
                    // Only significant digits can overflow (17 of them do);
                    // leading zeros are bounded by the line length, and
                    // nginx accepts them too.
                    self.digits = self.digits.saturating_add(1);
                    self.size = self
                        .size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(d))
                        .ok_or(ParseError::ChunkSizeOverflow)?;
                } else if self.digits == 0 {
                    return Err(ParseError::InvalidChunkSize);
                } else {
                    self.state = match c {
                        b'\r' => State::SizeLf,
                        b' ' | b'\t' => State::ExtensionStart,
                        b';' => State::Extension,
                        b'\n' => return Err(ParseError::MissingChunkCrlf),
                        _ => return Err(ParseError::InvalidChunkSize),
                    };
                }
            }
            // RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name
            // [ BWS "=" BWS chunk-ext-val ] ); "A recipient MUST ignore
            // unrecognized chunk extensions."
            State::ExtensionStart => {
                if c != b'\r' {
                    self.count_line_byte()?;
                }
                self.state = match c {
                    b' ' | b'\t' => State::ExtensionStart,
                    b';' => State::Extension,
                    b'\r' => State::SizeLf,
                    b'\n' => return Err(ParseError::MissingChunkCrlf),
                    _ => return Err(ParseError::InvalidChunkExtension),
                };
            }
            State::Extension => {
                if c != b'\r' {
                    self.count_line_byte()?;
                }
                match c {
                    b'\r' => self.state = State::SizeLf,
                    b'\n' => return Err(ParseError::MissingChunkCrlf),
                    b'\t' => {}
                    c if c < b' ' || c == 0x7f => return Err(ParseError::InvalidChunkExtension),
                    _ => {}
                }
            }
            State::SizeLf => {
                if c != b'\n' {
                    return Err(ParseError::MissingChunkCrlf);
                }
                if self.size == 0 {
                    // RFC 9112 §7.1: last-chunk = 1*("0") [ chunk-ext ] CRLF,
                    // then trailer-section CRLF.
                    self.state = State::Trailer;
                } else {
                    // `decoded` never exceeds `max_body`: checked here first.
                    if self.max_body != 0 && self.size > self.max_body.saturating_sub(self.decoded)
                    {
                        return Err(ParseError::BodyTooLarge);
                    }
                    self.state = State::Data;
                }
            }
            State::DataCr => {
                if c != b'\r' {
                    return Err(ParseError::MissingChunkCrlf);
                }
                self.state = State::DataLf;
            }
            State::DataLf => {
                if c != b'\n' {
                    return Err(ParseError::MissingChunkCrlf);
                }
                self.state = State::Size;
                self.size = 0;
                self.digits = 0;
                self.line_len = 0;
            }
            // RFC 9112 §7.1.2: trailer-section = *( field-line CRLF ); the
            // fields are discarded (nothing here uses them), only checked to
            // be field lines: field-name ":" field-value.
            State::Trailer => {
                if c == b'\r' {
                    self.state = State::EndLf;
                } else if is_tchar(c) {
                    self.count_trailer_byte()?;
                    self.state = State::TrailerName;
                } else {
                    // Includes obs-fold (SP/HTAB first) and bare LF.
                    return Err(ParseError::InvalidTrailer);
                }
            }
            State::TrailerName => {
                self.count_trailer_byte()?;
                if c == b':' {
                    self.state = State::TrailerValue;
                } else if !is_tchar(c) {
                    return Err(ParseError::InvalidTrailer);
                }
            }
            State::TrailerValue => {
                self.count_trailer_byte()?;
                match c {
                    b'\r' => self.state = State::TrailerLf,
                    // RFC 9110 §5.5: NUL, CR and LF are never part of a value.
                    0 | b'\n' => return Err(ParseError::InvalidTrailer),
                    _ => {}
                }
            }
            State::TrailerLf => {
                self.count_trailer_byte()?;
                if c != b'\n' {
                    return Err(ParseError::MissingChunkCrlf);
                }
                self.state = State::Trailer;
            }
            State::EndLf => {
                if c != b'\n' {
                    return Err(ParseError::MissingChunkCrlf);
                }
                self.state = State::Done;
            }
            // `decode` handles these itself and never steps them.
            State::Data | State::Done | State::Failed(_) => {}
        }
        Ok(())
    }

    fn count_line_byte(&mut self) -> Result<(), ParseError> {
        self.line_len += 1;
        if self.line_len > MAX_CHUNK_LINE_BYTES {
            return Err(ParseError::ChunkLineTooLong);
        }
        Ok(())
    }

    fn count_trailer_byte(&mut self) -> Result<(), ParseError> {
        self.trailer_len += 1;
        if self.trailer_len > MAX_TRAILER_BYTES {
            return Err(ParseError::TrailerTooLarge);
        }
        Ok(())
    }
}

fn hex_value(c: u8) -> Option<u64> {
    match c {
        b'0'..=b'9' => Some(u64::from(c - b'0')),
        b'a'..=b'f' => Some(u64::from(c - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(c - b'A' + 10)),
        _ => None,
    }
}

/// The last chunk and the empty trailer section that end a chunked body
/// (RFC 9112 §7.1).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Appends `data` as one chunk: its size in hex, CRLF, the data, CRLF
/// (RFC 9112 §7.1). Empty data appends nothing (a zero-size chunk would end
/// the body).
///
/// # Examples
///
/// ```
/// let mut out = Vec::new();
/// server::http::chunked::encode_chunk(b"hello, world", &mut out);
/// assert_eq!(out, b"c\r\nhello, world\r\n");
/// ```
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::tests::XorShift;
    use ParseError::*;

    /// How feeding a whole input ends.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Outcome {
        /// The body ended after `consumed` bytes of input.
        Done { body: Vec<u8>, consumed: usize },
        /// The input ended first.
        More { body: Vec<u8> },
        /// The framing is invalid; `body` is what was decoded before.
        Failed { body: Vec<u8>, error: ParseError },
    }

    /// Expected outcome of a case, with borrowed body bytes.
    #[derive(Clone, Copy, Debug)]
    enum Want {
        Done(&'static [u8], usize),
        More(&'static [u8]),
        Err(ParseError),
    }

    /// Decodes `input` delivered in `pieces` the way a connection does:
    /// append each piece to a buffer, decode it, drop what was consumed.
    fn feed<'a>(mut decoder: ChunkedDecoder, pieces: impl Iterator<Item = &'a [u8]>) -> Outcome {
        let mut pending = Vec::new();
        let mut body = Vec::new();
        let mut consumed = 0;
        for piece in pieces {
            pending.extend_from_slice(piece);
            match decoder.decode(&pending, &mut body) {
                Err(error) => {
                    assert_eq!(decoder.decode(b"more", &mut Vec::new()), Err(error), "sticky");
                    return Outcome::Failed { body, error };
                }
                Ok((n, true)) => {
                    assert!(n <= pending.len());
                    assert!(decoder.is_done());
                    assert_eq!(decoder.decode(b"more", &mut body), Ok((0, true)));
                    assert_eq!(decoder.decoded_len(), body.len() as u64);
                    return Outcome::Done { body, consumed: consumed + n };
                }
                Ok((n, false)) => {
                    assert_eq!(n, pending.len(), "an unfinished body consumes all input");
                    consumed += n;
                    pending.clear();
                }
            }
        }
        assert_eq!(decoder.decoded_len(), body.len() as u64);
        Outcome::More { body }
    }

    fn outcome(want: Want) -> Outcome {
        match want {
            Want::Done(body, consumed) => Outcome::Done { body: body.to_vec(), consumed },
            Want::More(body) => Outcome::More { body: body.to_vec() },
            Want::Err(error) => Outcome::Failed { body: Vec::new(), error },
        }
    }

    /// Checks a case in one piece, split at every byte, and one byte at a
    /// time. For errors the body decoded before the error is not compared
    /// with `want`, only between the ways of feeding.
    fn check(name: &str, decoder: &ChunkedDecoder, input: &[u8], want: Want) {
        let one_shot = feed(decoder.clone(), std::iter::once(input));
        match (&one_shot, outcome(want)) {
            (Outcome::Failed { error, .. }, Outcome::Failed { error: want, .. }) => {
                assert_eq!(*error, want, "{name}")
            }
            (got, want) => assert_eq!(*got, want, "{name}"),
        }
        for k in 0..=input.len() {
            let (a, b) = input.split_at(k);
            let split = feed(decoder.clone(), [a, b].into_iter());
            assert_eq!(split, one_shot, "{name}: split at {k}");
        }
        let bytes = feed(decoder.clone(), input.chunks(1));
        assert_eq!(bytes, one_shot, "{name}: one byte at a time");
    }

    const CASES: &[(&str, &[u8], Want)] = &[
        ("last chunk only", b"0\r\n\r\n", Want::Done(b"", 5)),
        ("one chunk", b"5\r\nhello\r\n0\r\n\r\n", Want::Done(b"hello", 15)),
        (
            "several chunks",
            b"3\r\nabc\r\n2\r\nde\r\n1\r\nf\r\n0\r\n\r\n",
            Want::Done(b"abcdef", 26),
        ),
        (
            "hex digits in both cases",
            b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n",
            Want::Done(b"0123456789abcdefghij", 35),
        ),
        ("leading zeros", b"0005\r\nhello\r\n000\r\n\r\n", Want::Done(b"hello", 20)),
        ("sixteen digits", b"0000000000000003\r\nabc\r\n0\r\n\r\n", Want::Done(b"abc", 28)),
        (
            "extensions ignored",
            b"5;name=value;x\r\nhello\r\n0;last\r\n\r\n",
            Want::Done(b"hello", 33),
        ),
        (
            "extension with bws and a quoted value",
            b"5 \t; a = \"q v\"\r\nhello\r\n0\r\n\r\n",
            Want::Done(b"hello", 28),
        ),
        ("trailer fields consumed", b"0\r\nX-Sum: abc\r\nY:\r\n\r\n", Want::Done(b"", 21)),
        ("data holding crlf and nul", b"4\r\n\r\n\0\n\r\n0\r\n\r\n", Want::Done(b"\r\n\0\n", 14)),
        (
            "pipelined request after the body",
            b"2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
            Want::Done(b"hi", 12),
        ),
        ("cut in the data", b"5\r\nhel", Want::More(b"hel")),
        ("cut in the trailer", b"0\r\nX: y\r\n", Want::More(b"")),
        ("largest size, cut", b"ffffffffffffffff\r\nabc", Want::More(b"abc")),
        ("empty size line", b"\r\n", Want::Err(InvalidChunkSize)),
        ("non-hex size", b"g\r\n", Want::Err(InvalidChunkSize)),
        ("junk after the size", b"5x\r\nhello\r\n", Want::Err(InvalidChunkSize)),
        ("0x prefix", b"0x5\r\nhello\r\n", Want::Err(InvalidChunkSize)),
        ("negative size", b"-1\r\n", Want::Err(InvalidChunkSize)),
        ("space before the size", b" 5\r\nhello\r\n", Want::Err(InvalidChunkSize)),
        (
            "leading zeros beyond sixteen digits",
            b"00000000000000005\r\nhello\r\n0\r\n\r\n",
            Want::Done(b"hello", 31),
        ),
        ("seventeen significant digits", b"10000000000000005\r\n", Want::Err(ChunkSizeOverflow)),
        ("size beyond u64", b"10000000000000000\r\n", Want::Err(ChunkSizeOverflow)),
        ("bare lf after the size", b"5\nhello\r\n0\r\n\r\n", Want::Err(MissingChunkCrlf)),
        ("cr then junk after the size", b"5\rxhello", Want::Err(MissingChunkCrlf)),
        ("data longer than the size", b"5\r\nhelloX\r\n0\r\n\r\n", Want::Err(MissingChunkCrlf)),
        ("data followed by bare lf", b"5\r\nhello\n0\r\n\r\n", Want::Err(MissingChunkCrlf)),
        ("data followed by cr and junk", b"5\r\nhello\rX", Want::Err(MissingChunkCrlf)),
        ("control byte in an extension", b"5;a\x01\r\nhello\r\n", Want::Err(InvalidChunkExtension)),
        ("bare lf in an extension", b"5;a\nhello\r\n", Want::Err(MissingChunkCrlf)),
        ("junk after the size's whitespace", b"5 x\r\nhello\r\n", Want::Err(InvalidChunkExtension)),
        ("obs-fold in the trailer", b"0\r\nX: a\r\n b\r\n\r\n", Want::Err(InvalidTrailer)),
        ("trailer without colon", b"0\r\nXa\r\n\r\n", Want::Err(InvalidTrailer)),
        ("bare lf in the trailer", b"0\r\nX: a\n\r\n", Want::Err(InvalidTrailer)),
        ("nul in a trailer value", b"0\r\nX: a\0\r\n\r\n", Want::Err(InvalidTrailer)),
        ("bare lf as the final line", b"0\r\n\n", Want::Err(InvalidTrailer)),
        ("cr then junk as the final line", b"0\r\n\rx", Want::Err(MissingChunkCrlf)),
        ("cr then junk after a trailer", b"0\r\nX: a\rb\r\n\r\n", Want::Err(MissingChunkCrlf)),
    ];

    #[test]
    fn table() {
        assert!(CASES.len() >= 20);
        for &(name, input, want) in CASES {
            check(name, &ChunkedDecoder::new(), input, want);
        }
    }

    #[test]
    fn bodies_decoded_before_an_error_are_kept() {
        let mut body = Vec::new();
        let mut decoder = ChunkedDecoder::new();
        assert_eq!(decoder.decode(b"3\r\nabc\r\nzz", &mut body), Err(InvalidChunkSize));
        assert_eq!(body, b"abc");
        assert!(!decoder.is_done());
    }

    #[test]
    fn max_body_is_enforced_before_the_data() {
        let input: &[u8] = b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
        check(
            "exactly the maximum",
            &ChunkedDecoder::with_max_body(6),
            input,
            Want::Done(b"abcdef", 21),
        );
        check("unlimited", &ChunkedDecoder::with_max_body(0), input, Want::Done(b"abcdef", 21));
        check("one over", &ChunkedDecoder::with_max_body(5), input, Want::Err(BodyTooLarge));
        check(
            "huge chunk size",
            &ChunkedDecoder::with_max_body(1 << 20),
            b"ffffffffffffffff\r\n",
            Want::Err(BodyTooLarge),
        );

        // The second size line is refused before its data arrives.
        let mut decoder = ChunkedDecoder::with_max_body(5);
        let mut body = Vec::new();
        assert_eq!(decoder.decode(b"3\r\nabc\r\n3\r", &mut body), Ok((10, false)));
        assert_eq!(decoder.decoded_len(), 3);
        assert_eq!(decoder.decode(b"\n", &mut body), Err(BodyTooLarge));
        assert_eq!(body, b"abc");
        assert_eq!(BodyTooLarge.status(), 413);
    }

    #[test]
    fn size_line_is_bounded() {
        let mut ok = b"1;".to_vec();
        ok.resize(MAX_CHUNK_LINE_BYTES, b'e');
        ok.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        let consumed = ok.len();
        let ok: &'static [u8] = ok.leak();
        check("size line at the limit", &ChunkedDecoder::new(), ok, Want::Done(b"x", consumed));

        let mut long = b"1;".to_vec();
        long.resize(MAX_CHUNK_LINE_BYTES + 1, b'e');
        long.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        check(
            "size line over the limit",
            &ChunkedDecoder::new(),
            &long,
            Want::Err(ChunkLineTooLong),
        );
    }

    #[test]
    fn trailer_section_is_bounded() {
        let mut input = b"0\r\n".to_vec();
        while input.len() < MAX_TRAILER_BYTES {
            input.extend_from_slice(b"X-Filler: 0123456789abcdef0123456789abcdef\r\n");
        }
        input.extend_from_slice(b"\r\n");
        let mut decoder = ChunkedDecoder::new();
        assert_eq!(decoder.decode(&input, &mut Vec::new()), Err(TrailerTooLarge));

        let mut input = b"0\r\nX: ".to_vec();
        input.resize(3 + MAX_TRAILER_BYTES - 2, b'v');
        input.extend_from_slice(b"\r\n\r\n");
        let mut decoder = ChunkedDecoder::new();
        assert_eq!(decoder.decode(&input, &mut Vec::new()), Ok((input.len(), true)));
    }

    /// Seeded random inputs: no panic, and one piece, a random split and
    /// one byte at a time always agree.
    #[test]
    fn random_bytes_never_panic() {
        const FRAGMENTS: &[&[u8]] = &[
            b"0",
            b"1",
            b"5",
            b"a",
            b"F",
            b"ffffffffffffffff",
            b"\r\n",
            b"\r",
            b"\n",
            b";",
            b"ext=1",
            b" ",
            b"\t",
            b"hello",
            b"X-T",
            b":",
            b"\0",
        ];
        let mut rng = XorShift::new(0xc0ff_ee00);
        for i in 0..5_000 {
            let input = rng.input(FRAGMENTS, 20);
            let decoder = ChunkedDecoder::with_max_body(if i % 2 == 0 { 0 } else { 64 });
            let one_shot = feed(decoder.clone(), std::iter::once(&input[..]));
            if let Outcome::Done { consumed, .. } = one_shot {
                assert!(consumed <= input.len());
            }
            let (a, b) = input.split_at(rng.below(input.len() + 1));
            assert_eq!(feed(decoder.clone(), [a, b].into_iter()), one_shot, "{input:?}");
            assert_eq!(feed(decoder, input.chunks(1)), one_shot, "{input:?}");
        }
    }
}
