//! Cookies: the `Cookie` request header read as browsers send it
//! (RFC 6265 §5.4, §4.2.1), and `Set-Cookie` values written as §4.1.1 asks.
//!
//! Reading is lenient, as every server is: pairs are split on `;`,
//! surrounding whitespace trimmed, a value in double quotes unquoted, and
//! junk (a pair without `=`, an empty name) skipped without failing the
//! request. A request may carry several `Cookie` headers; [`Cookies`] walks
//! them all in order. Pure: no I/O, no allocation.

use crate::http::request::Head;

/// The cookie pairs of one `Cookie` header value, in order.
#[derive(Debug, Clone)]
pub struct Pairs<'b> {
    rest: &'b [u8],
}

/// Every cookie pair of a request, through all its `Cookie` headers.
#[derive(Debug, Clone)]
pub struct Cookies<'h, 'b> {
    headers: crate::http::request::Headers<'h, 'b>,
    current: Pairs<'b>,
}

/// The pairs of one `Cookie` header value.
pub fn pairs(value: &[u8]) -> Pairs<'_> {
    Pairs { rest: value }
}

/// Every cookie of the request `head` (whose bytes are `buf`).
pub fn cookies<'h, 'b>(head: &'h Head, buf: &'b [u8]) -> Cookies<'h, 'b> {
    Cookies { headers: head.headers(buf), current: pairs(b"") }
}

/// The value of the first cookie named `name` in the request.
pub fn find<'b>(head: &Head, buf: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
    cookies(head, buf).find(|(n, _)| *n == name).map(|(_, v)| v)
}

impl<'b> Iterator for Pairs<'b> {
    type Item = (&'b [u8], &'b [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() {
            let end = self.rest.iter().position(|&b| b == b';').unwrap_or(self.rest.len());
            let pair = self.rest.get(..end).unwrap_or_default();
            self.rest = self.rest.get(end + 1..).unwrap_or_default();
            let Some(eq) = pair.iter().position(|&b| b == b'=') else { continue };
            let name = trim(pair.get(..eq).unwrap_or_default());
            let value = trim(pair.get(eq + 1..).unwrap_or_default());
            let value = match value {
                [b'"', inner @ .., b'"'] => inner,
                v => v,
            };
            if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
                continue;
            }
            return Some((name, value));
        }
        None
    }
}

impl<'b> Iterator for Cookies<'_, 'b> {
    type Item = (&'b [u8], &'b [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(pair) = self.current.next() {
                return Some(pair);
            }
            let (_, value) = self.headers.find(|(n, _)| n.eq_ignore_ascii_case(b"cookie"))?;
            self.current = pairs(value);
        }
    }
}

/// A `Set-Cookie` value: `name=value` and the attributes, each `; `-joined
/// (RFC 6265 §4.1.1). `max_age` 0 expires the cookie at once.
///
/// # Panics
/// If `name` is not a token or `value` has a byte a cookie value cannot
/// hold: both come from the server itself, never from a client.
pub fn set_cookie(name: &str, value: &str, max_age: u64, attributes: &str) -> String {
    assert!(!name.is_empty() && name.bytes().all(is_token), "cookie name {name:?} must be a token");
    assert!(value.bytes().all(is_cookie_octet), "cookie value {value:?} has a forbidden byte");
    let mut out = format!("{name}={value}; Max-Age={max_age}");
    if max_age == 0 {
        // For clients that ignore Max-Age 0 (RFC 6265 §5.2.2 says it expires).
        out.push_str("; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
    }
    if !attributes.is_empty() {
        out.push_str("; ");
        out.push_str(attributes);
    }
    out
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(s.len());
    let end = s.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or_default()
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 6265 §4.1.1 `cookie-octet`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{parse_head, Limits, Status};

    #[test]
    fn pairs_table() {
        type Case<'a> = (&'a [u8], &'a [(&'a [u8], &'a [u8])]);
        let cases: &[Case<'_>] = &[
            (b"a=1", &[(b"a", b"1")]),
            (b"a=1; b=2", &[(b"a", b"1"), (b"b", b"2")]),
            (b"a=1;b=2;", &[(b"a", b"1"), (b"b", b"2")]),
            (b"  a = 1 ;\tb=2  ", &[(b"a", b"1"), (b"b", b"2")]),
            (b"q=\"quoted value\"", &[(b"q", b"quoted value")]),
            (b"q=\"", &[(b"q", b"\"")]),
            (b"e=", &[(b"e", b"")]),
            (b"x=a=b", &[(b"x", b"a=b")]),
            // Junk is skipped, the rest kept.
            (b"junk; a=1; =nameless; b c=2; d=4", &[(b"a", b"1"), (b"d", b"4")]),
            (b";;;", &[]),
            (b"", &[]),
            (b"BERTHSID=0123abcd", &[(b"BERTHSID", b"0123abcd")]),
        ];
        for (value, want) in cases {
            let got: Vec<(&[u8], &[u8])> = pairs(value).collect();
            assert_eq!(got, *want, "{:?}", String::from_utf8_lossy(value));
        }
    }

    #[test]
    fn every_cookie_header_is_read() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; b=2\r\nAccept: */*\r\n\
                    cookie: c=3\r\nCOOKIE: junk\r\nCookie: a=4\r\n\r\n";
        let mut head = Head::new();
        let parsed = parse_head(raw, &Limits::default(), &mut head);
        assert!(matches!(parsed, Ok(Status::Complete(_))), "{parsed:?}");
        let all: Vec<(&[u8], &[u8])> = cookies(&head, raw).collect();
        let want: &[(&[u8], &[u8])] = &[(b"a", b"1"), (b"b", b"2"), (b"c", b"3"), (b"a", b"4")];
        assert_eq!(all, want);
        assert_eq!(find(&head, raw, b"a"), Some(&b"1"[..]));
        assert_eq!(find(&head, raw, b"c"), Some(&b"3"[..]));
        assert_eq!(find(&head, raw, b"zz"), None);
    }

    #[test]
    fn set_cookie_table() {
        let cases: &[(&str, &str, u64, &str, &str)] = &[
            ("A", "1", 60, "", "A=1; Max-Age=60"),
            (
                "BERTHSID",
                "ab12",
                3600,
                "Path=/; HttpOnly; SameSite=Lax",
                "BERTHSID=ab12; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax",
            ),
            (
                "BERTHSID",
                "",
                0,
                "Path=/",
                "BERTHSID=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
            ),
        ];
        for (name, value, age, attrs, want) in cases {
            assert_eq!(set_cookie(name, value, *age, attrs), *want);
        }
    }
}
