//! The header block of a CGI script's output (RFC 3875 §6): pure, over the
//! bytes read so far, so it is fed at every split in its tests.
//!
//! Lines end in CRLF or a bare LF (scripts print `\n`); the block ends at
//! the first empty line. A valid block has at least one of `Status`,
//! `Content-Type` and `Location` (§6.2). `Status` is `NNN reason`;
//! `Location` is either a local path (`/...`, an internal redirect when no
//! `Status` is given, §6.2.2) or an absolute URL (a client redirect, 302
//! unless `Status` says otherwise, §6.2.3). Every other header is passed on,
//! except those the server writes itself or that would change the framing
//! (`Connection`, `Transfer-Encoding`, `Keep-Alive`, `Date`, `Server`).

/// The longest header block a script may print (nginx's
/// `fastcgi_buffer_size` is one page; 16 KiB is the request head's limit).
pub const MAX_CGI_HEAD_BYTES: usize = 16 * 1024;

/// Headers dropped from a script's output: Berth writes its own or frames
/// the body itself.
const DROPPED: [&str; 5] = ["connection", "transfer-encoding", "keep-alive", "date", "server"];

/// Where a `Location` header points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A path on this server (starts with `/`): served by Berth.
    Local(String),
    /// An absolute URL: sent to the client.
    Client(String),
}

/// A parsed CGI header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiHead {
    /// `Status`, if given.
    pub status: Option<u16>,
    /// `Content-Type`, if given.
    pub content_type: Option<String>,
    /// `Location`, if given.
    pub location: Option<Location>,
    /// `Content-Length`, if given.
    pub content_length: Option<u64>,
    /// Every other header, in order, as printed.
    pub headers: Vec<(String, String)>,
}

impl CgiHead {
    /// The status to answer: `Status`, else 302 for a client redirect,
    /// else 200.
    pub fn status(&self) -> u16 {
        match (self.status, &self.location) {
            (Some(s), _) => s,
            (None, Some(Location::Client(_))) => 302,
            (None, _) => 200,
        }
    }

    /// The local path to serve instead, when this is an internal redirect.
    pub fn local_redirect(&self) -> Option<&str> {
        match (&self.location, self.status) {
            (Some(Location::Local(path)), None) => Some(path),
            _ => None,
        }
    }
}

/// Why a header block is refused (the script's answer becomes 502).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Longer than [`MAX_CGI_HEAD_BYTES`] without its end.
    TooLarge,
    /// A line that is not `Name: value`.
    BadLine,
    /// A header continued on the next line (obs-fold, RFC 9112 §5.2).
    Folded,
    /// `Status` is not `NNN [reason]` with NNN in 100..=599.
    BadStatus,
    /// `Content-Length` is not a number, or given twice differently.
    BadLength,
    /// `Location` is neither a local path nor an absolute URL.
    BadLocation,
    /// `Status`, `Content-Type` or `Location` given twice.
    Duplicate,
    /// None of `Status`, `Content-Type` and `Location`.
    Missing,
}

impl HeadError {
    /// The reason for the error log.
    pub fn message(self) -> &'static str {
        match self {
            HeadError::TooLarge => "a header block longer than 16 KiB",
            HeadError::BadLine => "a header line that is not \"Name: value\"",
            HeadError::Folded => "a folded header line",
            HeadError::BadStatus => "an invalid \"Status\" header",
            HeadError::BadLength => "an invalid \"Content-Length\" header",
            HeadError::BadLocation => "an invalid \"Location\" header",
            HeadError::Duplicate => "a duplicate \"Status\", \"Content-Type\" or \"Location\"",
            HeadError::Missing => "no \"Status\", \"Content-Type\" or \"Location\" header",
        }
    }
}

/// Parses the header block at the start of `buf`.
///
/// `Ok(None)`: the block has not ended yet (read more). `Ok(Some((head,
/// n)))`: the block is `buf[..n]`; the body starts at `n`.
///
/// # Errors
/// A [`HeadError`] as soon as the bytes seen decide it: a complete line is
/// checked when it ends, and a block still open past
/// [`MAX_CGI_HEAD_BYTES`] is too large.
pub fn parse(buf: &[u8]) -> Result<Option<(CgiHead, usize)>, HeadError> {
    let mut head = CgiHead {
        status: None,
        content_type: None,
        location: None,
        content_length: None,
        headers: Vec::new(),
    };
    let mut at = 0;
    loop {
        let rest = buf.get(at..).unwrap_or_default();
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            if buf.len() > MAX_CGI_HEAD_BYTES {
                return Err(HeadError::TooLarge);
            }
            return Ok(None);
        };
        let end = at + nl + 1;
        if end > MAX_CGI_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
        let line = rest.get(..nl).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at = end;
        if line.is_empty() {
            if head.status.is_none() && head.content_type.is_none() && head.location.is_none() {
                return Err(HeadError::Missing);
            }
            return Ok(Some((head, at)));
        }
        field(&mut head, line)?;
    }
}

/// Takes one `Name: value` line into `head`.
fn field(head: &mut CgiHead, line: &[u8]) -> Result<(), HeadError> {
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err(HeadError::Folded);
    }
    let colon = line.iter().position(|&b| b == b':').ok_or(HeadError::BadLine)?;
    let (name, value) = (line.get(..colon).unwrap_or_default(), line.get(colon + 1..));
    let value = value.unwrap_or_default();
    if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
        return Err(HeadError::BadLine);
    }
    let value = trim(value);
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HeadError::BadLine);
    }
    // Latin-1 bytes beyond ASCII are kept as they are (lossy only for
    // invalid UTF-8, which a header value should not carry).
    let value = String::from_utf8_lossy(value).into_owned();
    let name = String::from_utf8_lossy(name).into_owned();
    match name.to_ascii_lowercase().as_str() {
        "status" => {
            if head.status.is_some() {
                return Err(HeadError::Duplicate);
            }
            head.status = Some(status(&value)?);
        }
        "content-type" => {
            if head.content_type.is_some() {
                return Err(HeadError::Duplicate);
            }
            head.content_type = Some(value);
        }
        "location" => {
            if head.location.is_some() {
                return Err(HeadError::Duplicate);
            }
            head.location = Some(location(value)?);
        }
        "content-length" => {
            let n = value.parse::<u64>().map_err(|_| HeadError::BadLength)?;
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HeadError::BadLength);
            }
            if head.content_length.is_some_and(|m| m != n) {
                return Err(HeadError::BadLength);
            }
            head.content_length = Some(n);
        }
        lower if DROPPED.contains(&lower) => {}
        _ => head.headers.push((name, value)),
    }
    Ok(())
}

/// `200 OK`, `404`: the code, 100..=599.
fn status(value: &str) -> Result<u16, HeadError> {
    let code = value.split([' ', '\t']).next().unwrap_or("");
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeadError::BadStatus);
    }
    match code.parse::<u16>() {
        Ok(n @ 100..=599) => Ok(n),
        _ => Err(HeadError::BadStatus),
    }
}

/// A local path (`/x?y`, not `//host`) or an absolute URL (`scheme:...`,
/// RFC 3986 §3.1).
fn location(value: String) -> Result<Location, HeadError> {
    if value.starts_with('/') && !value.starts_with("//") {
        return Ok(Location::Local(value));
    }
    let scheme = value.split(':').next().unwrap_or("");
    let valid_scheme = scheme.len() < value.len()
        && scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if valid_scheme {
        Ok(Location::Client(value))
    } else {
        Err(HeadError::BadLocation)
    }
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// RFC 9110 §5.6.2 tchar.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(
        status: Option<u16>,
        ctype: Option<&str>,
        location: Option<Location>,
        headers: &[(&str, &str)],
    ) -> CgiHead {
        CgiHead {
            status,
            content_type: ctype.map(str::to_string),
            location,
            content_length: None,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        }
    }

    /// Every prefix of `input` is undecided or gives what the whole gives
    /// (once the block or the error is in it); the whole gives `want`.
    fn check(input: &[u8], want: &Result<Option<(CgiHead, usize)>, HeadError>) {
        for split in 0..input.len() {
            let part = parse(&input[..split]);
            match (&part, want) {
                (Ok(None), _) => {}
                (got, want) if got == want => {}
                _ => panic!(
                    "{:?} cut at {split}: {part:?}, whole: {want:?}",
                    String::from_utf8_lossy(input)
                ),
            }
        }
        assert_eq!(&parse(input), want, "{:?}", String::from_utf8_lossy(input));
    }

    #[test]
    fn valid_blocks_table() {
        let local = |p: &str| Some(Location::Local(p.to_string()));
        let client = |p: &str| Some(Location::Client(p.to_string()));
        let cases: Vec<(&[u8], CgiHead, usize)> = vec![
            (b"Content-Type: text/html\r\n\r\nbody", head(None, Some("text/html"), None, &[]), 27),
            (b"Content-Type: text/plain\n\nbody", head(None, Some("text/plain"), None, &[]), 26),
            (b"content-type:text/plain\n\n", head(None, Some("text/plain"), None, &[]), 25),
            (
                b"Status: 404 Not Found\nContent-Type: text/plain\n\n",
                head(Some(404), Some("text/plain"), None, &[]),
                48,
            ),
            (b"Status: 204\n\n", head(Some(204), None, None, &[]), 13),
            (b"Location: /other?x=1\n\n", head(None, None, local("/other?x=1"), &[]), 22),
            (
                b"Location: https://example.test/\r\n\r\n",
                head(None, None, client("https://example.test/"), &[]),
                35,
            ),
            (
                b"Content-Type: text/plain\nX-A:  1 \nSet-Cookie: a=b\nServer: evil\nConnection: close\n\n",
                head(None, Some("text/plain"), None, &[("X-A", "1"), ("Set-Cookie", "a=b")]),
                82,
            ),
        ];
        for (input, want, n) in cases {
            check(input, &Ok(Some((want, n))));
        }
        let Ok(Some((h, _))) = parse(b"Content-Type: a/b\nContent-Length: 12\n\n") else {
            panic!("content-length")
        };
        assert_eq!(h.content_length, Some(12));
    }

    #[test]
    fn statuses_and_redirects() {
        let cases: &[(&[u8], u16, Option<&str>)] = &[
            (b"Content-Type: a/b\n\n", 200, None),
            (b"Status: 404 Nope\nContent-Type: a/b\n\n", 404, None),
            (b"Location: http://x.test/\n\n", 302, None),
            (b"Status: 301\nLocation: http://x.test/\n\n", 301, None),
            (b"Location: /here\n\n", 200, Some("/here")),
            // A Status makes a local Location a plain header for the client.
            (b"Status: 302\nLocation: /here\n\n", 302, None),
        ];
        for (input, status, local) in cases {
            let Ok(Some((h, _))) = parse(input) else { panic!("{input:?}") };
            assert_eq!((h.status(), h.local_redirect()), (*status, *local), "{input:?}");
        }
    }

    #[test]
    fn invalid_blocks_table() {
        let long = format!("Content-Type: a/b\nX-Long: {}\n\n", "x".repeat(MAX_CGI_HEAD_BYTES));
        let unterminated = "X: y\n".repeat(MAX_CGI_HEAD_BYTES / 5 + 1);
        let cases: &[(&[u8], HeadError)] = &[
            (b"\n", HeadError::Missing),
            (b"X-Only: 1\n\n", HeadError::Missing),
            (b"hello world\n\n", HeadError::BadLine),
            (b"<html>garbage\n", HeadError::BadLine),
            (b": empty name\n\n", HeadError::BadLine),
            (b"Bad Name: x\n\n", HeadError::BadLine),
            (b"X: a\x01b\n\n", HeadError::BadLine),
            (b"Content-Type: a/b\n folded\n\n", HeadError::Folded),
            (b"Status: abc\n\n", HeadError::BadStatus),
            (b"Status: 99\n\n", HeadError::BadStatus),
            (b"Status: 600 Big\n\n", HeadError::BadStatus),
            (b"Status: 2000\n\n", HeadError::BadStatus),
            (b"Content-Type: a/b\nContent-Length: x\n\n", HeadError::BadLength),
            (b"Content-Type: a/b\nContent-Length: -1\n\n", HeadError::BadLength),
            (b"Content-Type: a/b\nContent-Length: 1\nContent-Length: 2\n\n", HeadError::BadLength),
            (b"Location: //evil.test/\n\n", HeadError::BadLocation),
            (b"Location: nowhere\n\n", HeadError::BadLocation),
            (b"Status: 200\nStatus: 404\n\n", HeadError::Duplicate),
            (b"Content-Type: a\nContent-type: b\n\n", HeadError::Duplicate),
            (long.as_bytes(), HeadError::TooLarge),
            (unterminated.as_bytes(), HeadError::TooLarge),
        ];
        for (input, want) in cases {
            check(input, &Err(*want));
        }
        assert!(!HeadError::Missing.message().is_empty());
    }
}
