//! `multipart/form-data` (RFC 7578 over RFC 2046 §5.1), parsed incrementally.
//!
//! A pure state machine over byte chunks: [`Multipart::feed`] takes whatever
//! arrived, in any split (down to one byte at a time), and reports
//! [`Event`]s: a part starts (with its parsed headers), data of the part,
//! the part ends. It takes every byte it is given and holds at most one
//! part's header block (bounded by [`MAX_PART_HEAD_BYTES`]): part data is
//! never buffered, so memory does not grow with a file's size.
//!
//! The delimiter `CRLF--boundary` may straddle two chunks. Boundary
//! characters never include CR (RFC 2046 §5.1.1 `bchars`), so a delimiter
//! can only start at a CR: what is held between chunks is always a prefix of
//! the delimiter itself, and the parser keeps only its length.
//!
//! Not here: the `Content-Type` of the request is read by
//! [`boundary`]; what is done with the parts is the upload handler's.

use std::fmt;

/// Longest header block of one part (nginx's upload module and PHP are in
/// this range); past it the body is refused as malformed.
pub const MAX_PART_HEAD_BYTES: usize = 8 * 1024;
/// RFC 2046 §5.1.1: a boundary is 1 to 70 characters.
pub const MAX_BOUNDARY_BYTES: usize = 70;

/// What the parser found.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A part begins; its data follows.
    Start(PartHead),
    /// Data of the current part (a piece of it: a part's data comes in as
    /// many events as it takes).
    Data(&'a [u8]),
    /// The current part ended.
    End,
}

/// The headers of one part that matter to a form upload.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PartHead {
    /// `Content-Disposition: form-data; name="..."`.
    pub name: Option<String>,
    /// The `filename` parameter as sent (not sanitised): `Some` for a file
    /// input, even when empty.
    pub filename: Option<String>,
    /// The part's `Content-Type`.
    pub content_type: Option<String>,
}

/// Why a body is not valid multipart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultipartError {
    /// No delimiter line where one must be, or garbage after a delimiter.
    BadDelimiter,
    /// A part's header block is longer than [`MAX_PART_HEAD_BYTES`].
    HeadTooLarge,
    /// A part header is not `name: value`, or not UTF-8.
    BadHeader,
    /// The body ended before the close delimiter `--boundary--`.
    Truncated,
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MultipartError::BadDelimiter => "malformed multipart delimiter",
            MultipartError::HeadTooLarge => "multipart part header too large",
            MultipartError::BadHeader => "malformed multipart part header",
            MultipartError::Truncated => "multipart body ended before its close delimiter",
        })
    }
}

/// What `feed` returns when it stops early.
#[derive(Debug, PartialEq, Eq)]
pub enum FeedError<E> {
    /// The body is not valid multipart.
    Malformed(MultipartError),
    /// The event callback failed.
    Sink(E),
}

/// Where the parser is; named for what it expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter: ignored text (RFC 2046 preamble).
    Preamble,
    /// After `--boundary`: `--`, padding, or CRLF.
    DelimiterTail,
    /// After the delimiter's second `-`: must be `-` (close delimiter).
    CloseDash,
    /// After the delimiter line's CR: must be LF.
    DelimiterLf,
    /// A part's header block, up to the empty line.
    PartHead,
    /// A part's data, up to the next delimiter.
    PartData,
    /// After the close delimiter: ignored text.
    Epilogue,
}

/// An incremental `multipart/form-data` parser.
#[derive(Debug)]
pub struct Multipart {
    /// `CRLF--boundary`.
    delimiter: Vec<u8>,
    state: State,
    /// How many bytes of `delimiter` the last chunk ended with (in
    /// [`State::Preamble`] and [`State::PartData`]).
    matched: usize,
    /// The header block of the part being read.
    head: Vec<u8>,
}

impl Multipart {
    /// A parser for parts separated by `boundary` (from [`boundary`]).
    pub fn new(boundary: &[u8]) -> Multipart {
        let mut delimiter = Vec::with_capacity(boundary.len() + 4);
        delimiter.extend_from_slice(b"\r\n--");
        delimiter.extend_from_slice(boundary);
        // The body may open with the delimiter itself: as if a CRLF preceded.
        Multipart { delimiter, state: State::Preamble, matched: 2, head: Vec::new() }
    }

    /// Parses `input`, calling `on` for each event; takes every byte.
    ///
    /// # Errors
    /// The body is malformed, or `on` failed (its error is passed on).
    pub fn feed<E>(
        &mut self,
        mut input: &[u8],
        on: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), FeedError<E>> {
        while !input.is_empty() {
            input = match self.state {
                State::Preamble | State::PartData => self.scan(input, on)?,
                State::PartHead => self.part_head(input, on)?,
                State::Epilogue => &[],
                State::DelimiterTail | State::CloseDash | State::DelimiterLf => {
                    let (&b, rest) = input.split_first().unwrap_or((&0, &[]));
                    self.state = match (self.state, b) {
                        (State::DelimiterTail, b'-') => State::CloseDash,
                        // RFC 2046 §5.1.1: transport padding before the CRLF.
                        (State::DelimiterTail, b' ' | b'\t') => State::DelimiterTail,
                        (State::DelimiterTail, b'\r') => State::DelimiterLf,
                        (State::CloseDash, b'-') => State::Epilogue,
                        (State::DelimiterLf, b'\n') => {
                            self.head.clear();
                            State::PartHead
                        }
                        _ => return Err(FeedError::Malformed(MultipartError::BadDelimiter)),
                    };
                    rest
                }
            };
        }
        Ok(())
    }

    /// Checks the body ended where it may: after the close delimiter.
    ///
    /// # Errors
    /// [`MultipartError::Truncated`] otherwise.
    pub fn finish(&self) -> Result<(), MultipartError> {
        if self.state == State::Epilogue {
            Ok(())
        } else {
            Err(MultipartError::Truncated)
        }
    }

    /// Whether the close delimiter was seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Epilogue
    }

    /// Data (or preamble) up to the next delimiter; returns what is left.
    fn scan<'i, E>(
        &mut self,
        input: &'i [u8],
        on: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<&'i [u8], FeedError<E>> {
        let in_part = self.state == State::PartData;
        let delim = self.delimiter.as_slice();
        if self.matched > 0 {
            // Go on matching the delimiter the last chunk ended with.
            let want = delim.get(self.matched..).unwrap_or_default();
            let n = want.len().min(input.len());
            if input.get(..n) == want.get(..n) {
                if n == want.len() {
                    self.matched = 0;
                    self.delimiter_found(in_part, on)?;
                    return Ok(input.get(n..).unwrap_or_default());
                }
                self.matched += n;
                return Ok(&[]);
            }
            // Not a delimiter after all: the held bytes were data. None of
            // them but the first is a CR, so no delimiter starts inside them.
            let held = delim.get(..self.matched).unwrap_or_default();
            if in_part {
                on(Event::Data(held)).map_err(FeedError::Sink)?;
            }
            self.matched = 0;
        }
        let mut from = 0;
        while let Some(i) = input.get(from..).and_then(|s| s.iter().position(|&b| b == b'\r')) {
            let at = from + i;
            let rest = input.get(at..).unwrap_or_default();
            let n = rest.len().min(delim.len());
            if rest.get(..n) != delim.get(..n) {
                from = at + 1;
                continue;
            }
            let data = input.get(..at).unwrap_or_default();
            if in_part && !data.is_empty() {
                on(Event::Data(data)).map_err(FeedError::Sink)?;
            }
            if n < delim.len() {
                // The chunk ends inside what may be a delimiter.
                self.matched = n;
                return Ok(&[]);
            }
            self.delimiter_found(in_part, on)?;
            return Ok(rest.get(n..).unwrap_or_default());
        }
        if in_part {
            on(Event::Data(input)).map_err(FeedError::Sink)?;
        }
        Ok(&[])
    }

    fn delimiter_found<E>(
        &mut self,
        in_part: bool,
        on: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), FeedError<E>> {
        if in_part {
            on(Event::End).map_err(FeedError::Sink)?;
        }
        self.state = State::DelimiterTail;
        Ok(())
    }

    /// A part's header block; returns what is left after it.
    fn part_head<'i, E>(
        &mut self,
        input: &'i [u8],
        on: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<&'i [u8], FeedError<E>> {
        for (i, &b) in input.iter().enumerate() {
            if self.head.len() >= MAX_PART_HEAD_BYTES {
                return Err(FeedError::Malformed(MultipartError::HeadTooLarge));
            }
            self.head.push(b);
            // The block ends at an empty line; a part may have no headers.
            if self.head == b"\r\n" || self.head.ends_with(b"\r\n\r\n") {
                let head = parse_part_head(&self.head).map_err(FeedError::Malformed)?;
                self.head.clear();
                self.state = State::PartData;
                on(Event::Start(head)).map_err(FeedError::Sink)?;
                return Ok(input.get(i + 1..).unwrap_or_default());
            }
        }
        Ok(&[])
    }
}

/// The boundary of a `Content-Type: multipart/form-data; boundary=...`
/// value; `None` when the type is something else.
///
/// # Errors
/// A multipart type without a valid boundary (RFC 2046 §5.1.1).
pub fn boundary(content_type: &[u8]) -> Result<Option<Vec<u8>>, MultipartError> {
    let mut params = content_type.split(|&b| b == b';');
    let essence = params.next().unwrap_or_default().trim_ascii();
    if !essence.eq_ignore_ascii_case(b"multipart/form-data") {
        return Ok(None);
    }
    for p in params {
        let Some(eq) = p.iter().position(|&b| b == b'=') else { continue };
        let (name, value) = (p.get(..eq).unwrap_or_default(), p.get(eq + 1..).unwrap_or_default());
        if !name.trim_ascii().eq_ignore_ascii_case(b"boundary") {
            continue;
        }
        let value = value.trim_ascii();
        let value = match value {
            [b'"', inner @ .., b'"'] => inner,
            _ => value,
        };
        let valid = (1..=MAX_BOUNDARY_BYTES).contains(&value.len())
            && value.iter().all(|&b| b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b))
            && value.last() != Some(&b' ');
        return if valid { Ok(Some(value.to_vec())) } else { Err(MultipartError::BadDelimiter) };
    }
    Err(MultipartError::BadDelimiter)
}

/// Parses a part's header block (ending with the empty line).
fn parse_part_head(block: &[u8]) -> Result<PartHead, MultipartError> {
    let text = std::str::from_utf8(block).map_err(|_| MultipartError::BadHeader)?;
    let mut head = PartHead::default();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(MultipartError::BadHeader)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-disposition") {
            for (k, v) in disposition_params(value) {
                if k.eq_ignore_ascii_case("name") {
                    head.name = Some(v);
                } else if k.eq_ignore_ascii_case("filename") {
                    head.filename = Some(v);
                }
            }
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value.to_string());
        }
    }
    Ok(head)
}

/// The `key=value` parameters after `form-data;`. Values may be quoted;
/// inside quotes `\"` and `\\` are escapes (as curl sends them) and any
/// other backslash is itself (browsers send a Windows path's `\` bare).
fn disposition_params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = value.split_once(';').map_or("", |(_, r)| r);
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        let Some(eq) = rest.find('=') else { break };
        let key = rest.get(..eq).unwrap_or_default().trim().to_string();
        rest = rest.get(eq + 1..).unwrap_or_default().trim_start();
        let mut val = String::new();
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut chars = quoted.char_indices().peekable();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    '\\' if matches!(chars.peek(), Some((_, '"' | '\\'))) => {
                        if let Some((_, next)) = chars.next() {
                            val.push(next);
                        }
                    }
                    c => val.push(c),
                }
            }
            rest = quoted.get(end..).unwrap_or_default();
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            val.push_str(rest.get(..end).unwrap_or_default().trim());
            rest = rest.get(end..).unwrap_or_default();
        }
        out.push((key, val));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a whole parse produced, events flattened: parts with their data.
    #[derive(Debug, PartialEq, Eq)]
    struct Part {
        head: PartHead,
        data: Vec<u8>,
        ended: bool,
    }

    fn parse_in(chunks: &[&[u8]], boundary: &[u8]) -> Result<Vec<Part>, MultipartError> {
        let mut parser = Multipart::new(boundary);
        let mut parts: Vec<Part> = Vec::new();
        for chunk in chunks {
            let mut on = |e: Event<'_>| -> Result<(), ()> {
                match e {
                    Event::Start(head) => parts.push(Part { head, data: Vec::new(), ended: false }),
                    Event::Data(d) => match parts.last_mut() {
                        Some(p) if !p.ended => p.data.extend_from_slice(d),
                        _ => panic!("data outside a part"),
                    },
                    Event::End => match parts.last_mut() {
                        Some(p) if !p.ended => p.ended = true,
                        _ => panic!("end outside a part"),
                    },
                }
                Ok(())
            };
            match parser.feed(chunk, &mut on) {
                Ok(()) => {}
                Err(FeedError::Malformed(e)) => return Err(e),
                Err(FeedError::Sink(())) => unreachable!("the test sink never fails"),
            }
        }
        parser.finish()?;
        Ok(parts)
    }

    fn file(name: &str, filename: Option<&str>, data: &[u8]) -> Part {
        Part {
            head: PartHead {
                name: Some(name.into()),
                filename: filename.map(Into::into),
                content_type: filename.map(|_| "application/octet-stream".into()),
            },
            data: data.to_vec(),
            ended: true,
        }
    }

    /// Body, expected parts (or error).
    type Case = (Vec<u8>, Result<Vec<Part>, MultipartError>);

    fn cases() -> Vec<Case> {
        let every_byte: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        let mut binary = b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"b.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
        binary.extend_from_slice(&every_byte);
        binary.extend_from_slice(b"\r\n--XyZ--\r\n");
        vec![
            (
                b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n--XyZ\r\n\
                  Content-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\n\
                  Content-Type: application/octet-stream\r\n\r\nline1\r\nline2\r\n\r\n--XyZ--\r\n"
                    .to_vec(),
                Ok(vec![
                    Part {
                        head: PartHead { name: Some("a".into()), ..PartHead::default() },
                        data: b"value".to_vec(),
                        ended: true,
                    },
                    file("f", Some("x.txt"), b"line1\r\nline2\r\n"),
                ]),
            ),
            (binary, Ok(vec![file("f", Some("b.bin"), &every_byte)])),
            // Preamble, padding after a delimiter, epilogue; data that looks
            // like a delimiter but is not one.
            (
                b"preamble\r\n--XyZ  \r\nContent-Disposition: form-data; name=\"f\"; filename=\"e\"\r\n\
                  Content-Type: application/octet-stream\r\n\r\n\r\n--XyY\r\r\n--X\r\n--XyZ--epilogue"
                    .to_vec(),
                Ok(vec![file("f", Some("e"), b"\r\n--XyY\r\r\n--X")]),
            ),
            // An empty file and an empty filename.
            (
                b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\r\n\
                  Content-Type: application/octet-stream\r\n\r\n\r\n--XyZ--"
                    .to_vec(),
                Ok(vec![file("f", Some(""), b"")]),
            ),
            // Quoted escapes as curl sends them; a bare backslash stays.
            (
                b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\\\"b\\\\c\\d\"\r\n\
                  Content-Type: application/octet-stream\r\n\r\nz\r\n--XyZ--"
                    .to_vec(),
                Ok(vec![file("f", Some("a\"b\\c\\d"), b"z")]),
            ),
            // A part with no headers at all.
            (
                b"--XyZ\r\n\r\nq\r\n--XyZ--".to_vec(),
                Ok(vec![Part { head: PartHead::default(), data: b"q".to_vec(), ended: true }]),
            ),
            (b"--XyZ\r\n\r\nq\r\n--XyZ".to_vec(), Err(MultipartError::Truncated)),
            (b"--XyZ\r\n\r\nq".to_vec(), Err(MultipartError::Truncated)),
            (b"".to_vec(), Err(MultipartError::Truncated)),
            (b"--XyZx\r\n\r\nq\r\n--XyZ--".to_vec(), Err(MultipartError::BadDelimiter)),
            (b"--XyZ\r\nno colon\r\n\r\nq\r\n--XyZ--".to_vec(), Err(MultipartError::BadHeader)),
            (
                [b"--XyZ\r\nX: ".as_slice(), &[b'a'; MAX_PART_HEAD_BYTES], b"\r\n\r\n"].concat(),
                Err(MultipartError::HeadTooLarge),
            ),
        ]
    }

    #[test]
    fn multipart_table_at_every_split() {
        for (body, want) in cases() {
            let what = String::from_utf8_lossy(&body).into_owned();
            assert_eq!(parse_in(&[&body], b"XyZ"), want, "one piece: {what:?}");
            for split in 0..=body.len() {
                let (a, b) = body.split_at(split);
                assert_eq!(parse_in(&[a, b], b"XyZ"), want, "split at {split}: {what:?}");
            }
            let bytes: Vec<&[u8]> = body.chunks(1).collect();
            assert_eq!(parse_in(&bytes, b"XyZ"), want, "byte by byte: {what:?}");
        }
    }

    #[test]
    fn callback_error_stops_the_parse() {
        let mut parser = Multipart::new(b"b");
        let mut on = |e: Event<'_>| if matches!(e, Event::Start(_)) { Err("full") } else { Ok(()) };
        let got = parser.feed(b"--b\r\n\r\ndata", &mut on);
        assert_eq!(got, Err(FeedError::Sink("full")));
    }

    #[test]
    fn boundary_table() {
        /// Content-Type, the boundary it gives (or the error).
        type Case<'a> = (&'a [u8], Result<Option<&'a [u8]>, MultipartError>);
        let cases: &[Case<'_>] = &[
            (b"multipart/form-data; boundary=abc", Ok(Some(b"abc"))),
            (b"Multipart/Form-Data;boundary=\"a b:c\"", Ok(Some(b"a b:c"))),
            (b"multipart/form-data; charset=utf-8; BOUNDARY=x-y", Ok(Some(b"x-y"))),
            (b"text/plain", Ok(None)),
            (b"application/octet-stream; boundary=x", Ok(None)),
            (b"multipart/form-data", Err(MultipartError::BadDelimiter)),
            (b"multipart/form-data; boundary=", Err(MultipartError::BadDelimiter)),
            (b"multipart/form-data; boundary=\"a\rb\"", Err(MultipartError::BadDelimiter)),
            (b"multipart/form-data; boundary=\"ab \"", Err(MultipartError::BadDelimiter)),
        ];
        for (ct, want) in cases {
            let got = boundary(ct);
            assert_eq!(got.as_ref().map(|o| o.as_deref()), want.as_ref().map(|o| *o), "{ct:?}");
        }
        let long = [b"multipart/form-data; boundary=".as_slice(), &[b'a'; 71]].concat();
        assert_eq!(boundary(&long), Err(MultipartError::BadDelimiter));
    }
}
