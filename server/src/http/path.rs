//! Request path normalisation: percent-decoding once and dot-segment removal.
//!
//! Pure functions over bytes. The result is the path the router and the file
//! mapping see; it always starts with `/`, never contains `.` or `..`
//! segments, empty segments (`//`) or NUL, so joining it under a root can only
//! leave the root through a symlink (which the static handler checks).
//!
//! Dot-segments are removed as RFC 3986 §5.2.4 describes, except that a `..`
//! climbing above `/` is refused (a traversal attempt, answered 403) rather
//! than clamped; nginx refuses it too (with 400).

use std::fmt;

/// Why a request path was refused; [`PathError::status`] gives the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A NUL byte, literal or encoded (`%00`).
    Nul,
    /// An encoded slash (`%2F`) inside a segment.
    EncodedSlash,
    /// The decoded path is not UTF-8.
    NotUtf8,
    /// A `..` segment climbs above the root.
    AboveRoot,
}

impl PathError {
    /// The response status: 403 for traversal attempts (`..` above the root,
    /// an encoded `/`), 400 for malformed paths, 404 for a path that is not
    /// UTF-8 (well-formed, it just names no file Berth serves; nginx says 404).
    pub fn status(self) -> u16 {
        match self {
            PathError::AboveRoot | PathError::EncodedSlash => 403,
            PathError::NotUtf8 => 404,
            PathError::NotAbsolute | PathError::BadEscape | PathError::Nul => 400,
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "path does not start with \"/\"",
            PathError::BadEscape => "invalid percent-encoding",
            PathError::Nul => "NUL in path",
            PathError::EncodedSlash => "encoded \"/\" in path",
            PathError::NotUtf8 => "path is not UTF-8",
            PathError::AboveRoot => "path climbs above the root",
        })
    }
}

/// Decodes `%XX` escapes once (no `+` handling: that belongs to queries).
///
/// # Errors
/// [`PathError::BadEscape`] for a truncated or non-hex escape, [`PathError::Nul`]
/// for NUL, [`PathError::EncodedSlash`] for `%2F`.
pub fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(hex_value);
                let lo = raw.get(i + 2).copied().and_then(hex_value);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(PathError::BadEscape);
                };
                let c = hi << 4 | lo;
                match c {
                    0 => return Err(PathError::Nul),
                    b'/' => return Err(PathError::EncodedSlash),
                    _ => out.push(c),
                }
                i += 3;
            }
            0 => return Err(PathError::Nul),
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Percent-decodes `raw` once, then removes dot-segments (RFC 3986 §5.2.4) and
/// merges repeated slashes.
///
/// A trailing `/`, `/.` or `/..` leaves a trailing slash (the result names a
/// directory).
///
/// # Errors
/// See [`PathError`].
pub fn normalize(raw: &[u8]) -> Result<String, PathError> {
    if raw.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if is_plain(raw) {
        // The common case (no escape, nothing to remove): one copy.
        return String::from_utf8(raw.to_vec()).map_err(|_| PathError::NotUtf8);
    }
    let decoded = percent_decode(raw)?;
    let decoded = String::from_utf8(decoded).map_err(|_| PathError::NotUtf8)?;
    remove_dot_segments(&decoded).ok_or(PathError::AboveRoot)
}

/// Whether an absolute path is already normal: no escape, no NUL, no `.`
/// or `..` segment and no empty segment but a trailing one.
fn is_plain(raw: &[u8]) -> bool {
    if raw.iter().any(|&b| b == b'%' || b == 0) {
        return false;
    }
    let mut segments = raw.split(|&b| b == b'/').skip(1).peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        if seg == b"." || seg == b".." || (seg.is_empty() && !last) {
            return false;
        }
    }
    true
}

/// Removes `.` and `..` segments and empty segments from an absolute path;
/// `None` when a `..` would climb above `/`.
pub fn remove_dot_segments(path: &str) -> Option<String> {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in path.split('/').skip(1) {
        match seg {
            "" | "." => trailing_slash = true,
            ".." => {
                segments.pop()?;
                trailing_slash = true;
            }
            s => {
                segments.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// Percent-encodes a path for a `Location` header or an HTML link: every byte
/// outside the RFC 3986 unreserved set and `/` is escaped.
pub fn percent_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
        }
    }
    out
}

/// Percent-encodes one path segment strictly: every byte outside the RFC
/// 3986 unreserved set (`A-Z a-z 0-9 - . _ ~`) is escaped, `/` and `:`
/// included. Used for directory listing links, where a file name must never
/// be read as a scheme (`javascript:`), an authority or a second segment;
/// nginx's autoindex escapes `:` the same way.
pub fn percent_encode_segment(segment: &[u8]) -> String {
    let mut out = String::with_capacity(segment.len());
    for &b in segment {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_table() {
        let ok: &[(&str, &str)] = &[
            ("/", "/"),
            ("/index.html", "/index.html"),
            ("/a/b/c", "/a/b/c"),
            ("/a/b/", "/a/b/"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/a/b/../..", "/"),
            ("//a///b", "/a/b"),
            ("/a/%2e%2e/b", "/b"),
            ("/a/%2e/b", "/a/b"),
            ("/hello%20world.txt", "/hello world.txt"),
            ("/caf%C3%A9", "/caf\u{e9}"),
            ("/a..b/c", "/a..b/c"),
            ("/...", "/..."),
            ("/%25", "/%"),
        ];
        for (input, want) in ok {
            assert_eq!(normalize(input.as_bytes()).as_deref(), Ok(*want), "input {input}");
        }
    }

    #[test]
    fn plain_paths_take_the_short_way_to_the_same_answer() {
        let cases: &[&[u8]] = &[
            b"/",
            b"/a",
            b"/a/",
            b"/a/b.txt",
            b"//a",
            b"/a//b",
            b"/./a",
            b"/a/.",
            b"/a/..",
            b"/a/../b",
            b"/.a/..b/...",
            b"/a.",
            b"/\xff",
            b"/caf\xc3\xa9",
            b"/a\0",
        ];
        for raw in cases {
            let slow = percent_decode(raw)
                .and_then(|d| String::from_utf8(d).map_err(|_| PathError::NotUtf8))
                .and_then(|d| remove_dot_segments(&d).ok_or(PathError::AboveRoot));
            assert_eq!(normalize(raw), slow, "{:?}", String::from_utf8_lossy(raw));
        }
        assert!(is_plain(b"/a/b/") && is_plain(b"/"));
        assert!(!is_plain(b"/a//b") && !is_plain(b"/a/./b") && !is_plain(b"/%41"));
    }

    #[test]
    fn normalize_rejects() {
        let bad: &[(&[u8], PathError)] = &[
            (b"", PathError::NotAbsolute),
            (b"index.html", PathError::NotAbsolute),
            (b"*", PathError::NotAbsolute),
            (b"/a%2fb", PathError::EncodedSlash),
            (b"/a%2Fb", PathError::EncodedSlash),
            (b"/..%2f..%2fetc/passwd", PathError::EncodedSlash),
            (b"/a%00b", PathError::Nul),
            (b"/a\0b", PathError::Nul),
            (b"/a%", PathError::BadEscape),
            (b"/a%4", PathError::BadEscape),
            (b"/a%zz", PathError::BadEscape),
            (b"/%ff", PathError::NotUtf8),
            (b"/..", PathError::AboveRoot),
            (b"/../../etc/passwd", PathError::AboveRoot),
            (b"/a/../../etc/passwd", PathError::AboveRoot),
            (b"/%2e%2e/%2e%2e/etc/passwd", PathError::AboveRoot),
            (b"/%2E%2E/secret", PathError::AboveRoot),
            (b"/.%2e/secret", PathError::AboveRoot),
        ];
        for (input, want) in bad {
            assert_eq!(normalize(input), Err(*want), "input {:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(PathError::AboveRoot.status(), 403);
        assert_eq!(PathError::EncodedSlash.status(), 403);
        assert_eq!(PathError::Nul.status(), 400);
        assert_eq!(PathError::BadEscape.status(), 400);
    }

    #[test]
    fn non_utf8_path_is_404() {
        assert_eq!(normalize(b"/%e9"), Err(PathError::NotUtf8));
        assert_eq!(PathError::NotUtf8.status(), 404);
    }

    #[test]
    fn decode_is_done_once() {
        // %2525 decodes to %25, not to %.
        assert_eq!(normalize(b"/%252e%252e/x").as_deref(), Ok("/%2e%2e/x"));
    }

    #[test]
    fn listing_href_escapes_scheme_and_separators() {
        let cases: &[(&[u8], &str)] = &[
            (b"javascript:alert(1)", "javascript%3Aalert%281%29"),
            (b"a b/c", "a%20b%2Fc"),
            (b"<x>&\"'", "%3Cx%3E%26%22%27"),
            (b"Az09-._~", "Az09-._~"),
            (b"caf\xc3\xa9", "caf%C3%A9"),
            (b"\xe9", "%E9"),
        ];
        for (input, want) in cases {
            assert_eq!(percent_encode_segment(input), *want, "{input:?}");
        }
    }

    #[test]
    fn encode_round_trips() {
        for p in ["/a b/c", "/caf\u{e9}/x", "/100%/y", "/a\"<>/"] {
            let enc = percent_encode_path(p);
            assert!(enc.bytes().all(|b| b.is_ascii_graphic()), "{enc}");
            assert_eq!(normalize(enc.as_bytes()).as_deref(), Ok(p));
        }
    }
}
