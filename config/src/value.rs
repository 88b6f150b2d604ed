//! Parsers for argument values: sizes, durations, listen addresses, and the
//! edit distance behind "did you mean".

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// A size in bytes: `512`, `64k`, `10m`, `1g` (suffix case-insensitive,
/// powers of 1024). `None` when malformed or when it overflows `u64`.
pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n = parse_digits(digits)?;
    n.checked_mul(1u64 << shift)
}

/// The longest duration the language accepts: a year. Deadlines are
/// computed as "now + duration"; a bound keeps them representable on every
/// platform (an overflowing deadline once meant "already expired").
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Why a duration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurationError {
    /// Not a duration at all.
    Malformed,
    /// Well formed, but over [`MAX_DURATION`].
    TooLarge,
}

/// A duration: a bare number of seconds (as nginx) or one or more
/// number-unit parts, `500ms`, `30s`, `5m`, `1h`, `1d`, `1w`, `1h30m`.
/// Units are case-sensitive as in nginx. At most [`MAX_DURATION`].
pub(crate) fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let total_ms = duration_ms(s)?;
    let d = Duration::from_millis(total_ms);
    if d > MAX_DURATION {
        return Err(DurationError::TooLarge);
    }
    Ok(d)
}

/// The milliseconds `s` stands for; `TooLarge` when they overflow `u64`.
fn duration_ms(s: &str) -> Result<u64, DurationError> {
    let number = |digits: &str| -> Result<u64, DurationError> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DurationError::Malformed);
        }
        digits.parse().map_err(|_| DurationError::TooLarge)
    };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return number(s)?.checked_mul(1000).ok_or(DurationError::TooLarge);
    }
    let mut total_ms: u64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(DurationError::Malformed);
    }
    while !rest.is_empty() {
        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let n = number(&rest[..end])?;
        rest = &rest[end..];
        let (unit_ms, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            let ms = match rest.as_bytes().first() {
                Some(b's') => 1_000,
                Some(b'm') => 60_000,
                Some(b'h') => 3_600_000,
                Some(b'd') => 86_400_000,
                Some(b'w') => 604_800_000,
                _ => return Err(DurationError::Malformed),
            };
            (ms, 1)
        };
        rest = &rest[len..];
        let part = n.checked_mul(unit_ms).ok_or(DurationError::TooLarge)?;
        total_ms = total_ms.checked_add(part).ok_or(DurationError::TooLarge)?;
    }
    Ok(total_ms)
}

/// Digits only, no sign, no overflow.
pub(crate) fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Why a `listen` argument was refused, worded as nginx words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListenError {
    /// Port missing, 0, over 65535 or not a number.
    InvalidPort,
    /// Host part neither an IP literal nor `localhost` / `*`.
    HostNotFound,
}

/// A `listen` address: `port`, `host:port`, `host`, `[v6]:port`, `[v6]`;
/// host is an IPv4 literal, `localhost` (127.0.0.1) or `*` (all addresses).
/// A bare port listens on 0.0.0.0; a bare host on port 80, as nginx.
pub(crate) fn parse_listen(s: &str) -> Result<SocketAddr, ListenError> {
    if let Some(rest) = s.strip_prefix('[') {
        let close = rest.find(']').ok_or(ListenError::HostNotFound)?;
        let ip: Ipv6Addr = rest[..close].parse().map_err(|_| ListenError::HostNotFound)?;
        let after = &rest[close + 1..];
        let port = if after.is_empty() {
            80
        } else {
            let p = after.strip_prefix(':').ok_or(ListenError::InvalidPort)?;
            parse_port(p)?
        };
        return Ok(SocketAddr::new(IpAddr::V6(ip), port));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), parse_port(s)?));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, parse_port(p)?),
        None => (s, 80),
    };
    let ip = match host {
        "localhost" => Ipv4Addr::LOCALHOST,
        "*" => Ipv4Addr::UNSPECIFIED,
        _ => host.parse::<Ipv4Addr>().map_err(|_| ListenError::HostNotFound)?,
    };
    Ok(SocketAddr::new(IpAddr::V4(ip), port))
}

fn parse_port(s: &str) -> Result<u16, ListenError> {
    match parse_digits(s) {
        Some(p @ 1..=65535) => u16::try_from(p).map_err(|_| ListenError::InvalidPort),
        _ => Err(ListenError::InvalidPort),
    }
}

/// Whether an absolute URI path is already in normal form: no `.` or `..`
/// segment and no empty segment (`//`), so it means what it says once the
/// server has normalised a request path the same way.
pub(crate) fn is_normal_path(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('/') else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.split('/').all(|seg| !matches!(seg, "" | "." | ".."))
}

/// Decodes `%XX` escapes of a location prefix once, as the server decodes
/// request paths, so that the prefix is compared with what requests become.
///
/// # Errors
/// Why the prefix can never match a decoded request path: a `%` without two
/// hex digits, an encoded `/` or NUL (requests carrying them are refused
/// before routing), or bytes that are not UTF-8.
pub(crate) fn decode_prefix(s: &str) -> Result<String, &'static str> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let raw = s.as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let hex = |j: usize| raw.get(j).and_then(|c| (*c as char).to_digit(16));
        let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
            return Err(
                "\"%\" must be followed by two hex digits (write \"%25\" for a literal \"%\")",
            );
        };
        let c = (hi << 4 | lo) as u8;
        match c {
            b'/' => {
                return Err("an encoded \"/\" (%2F) never matches: requests with it are refused")
            }
            0 => return Err("an encoded NUL (%00) never matches: requests with it are refused"),
            _ => out.push(c),
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| "its decoded bytes are not UTF-8")
}

/// Levenshtein distance over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if it is close: at most 2 edits and
/// fewer than half of the word's length (so `x` suggests nothing).
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let len = word.chars().count();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_ascii_lowercase(), c), c))
        .filter(|&(d, _)| d <= 2 && d * 2 < len.max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let table: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("512", Some(512)),
            ("64k", Some(64 << 10)),
            ("64K", Some(64 << 10)),
            ("10m", Some(10 << 20)),
            ("10M", Some(10 << 20)),
            ("1g", Some(1 << 30)),
            ("1G", Some(1 << 30)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("17179869184g", None),
            ("", None),
            ("k", None),
            ("-1", None),
            ("+1", None),
            ("1.5m", None),
            ("10mb", None),
            ("1t", None),
            (" 1", None),
        ];
        for &(s, want) in table {
            assert_eq!(parse_size(s), want, "size {s:?}");
        }
    }

    #[test]
    fn durations() {
        use DurationError::{Malformed, TooLarge};
        let ms = Duration::from_millis;
        let table: &[(&str, Result<Duration, DurationError>)] = &[
            ("0", Ok(ms(0))),
            ("75", Ok(ms(75_000))),
            ("500ms", Ok(ms(500))),
            ("30s", Ok(ms(30_000))),
            ("5m", Ok(ms(300_000))),
            ("1h", Ok(ms(3_600_000))),
            ("1d", Ok(ms(86_400_000))),
            ("1w", Ok(ms(604_800_000))),
            ("1h30m", Ok(ms(5_400_000))),
            ("1m500ms", Ok(ms(60_500))),
            ("365d", Ok(MAX_DURATION)),
            ("31536000", Ok(MAX_DURATION)),
            ("", Err(Malformed)),
            ("s", Err(Malformed)),
            ("10x", Err(Malformed)),
            ("10S", Err(Malformed)),
            ("1.5s", Err(Malformed)),
            ("-1s", Err(Malformed)),
            ("10 s", Err(Malformed)),
            ("1y", Err(Malformed)),
            // past the bound, and past u64 (the deadline overflow of issue 9)
            ("366d", Err(TooLarge)),
            ("31536001", Err(TooLarge)),
            ("365d1ms", Err(TooLarge)),
            ("10000000000000000000", Err(TooLarge)),
            ("18446744073709551616", Err(TooLarge)),
            ("99999999999999999999s", Err(TooLarge)),
            ("999999999999999999d", Err(TooLarge)),
        ];
        for &(s, want) in table {
            assert_eq!(parse_duration(s), want, "duration {s:?}");
        }
    }

    #[test]
    fn location_prefixes_decode_once() {
        let ok: &[(&str, &str)] = &[
            ("/a", "/a"),
            ("/a b", "/a b"),
            ("/a%20b", "/a b"),
            ("/%41%62", "/Ab"),
            ("/a%2520b", "/a%20b"),
            ("/caf%C3%A9", "/café"),
            ("/café", "/café"),
        ];
        for &(s, want) in ok {
            assert_eq!(decode_prefix(s).as_deref(), Ok(want), "{s}");
        }
        for bad in ["/a%", "/a%2", "/a%zz", "/a%2Fb", "/a%2fb", "/%00", "/%FF"] {
            assert!(decode_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listen_addresses() {
        let ok: &[(&str, &str)] = &[
            ("8080", "0.0.0.0:8080"),
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("localhost:81", "127.0.0.1:81"),
            ("localhost", "127.0.0.1:80"),
            ("*:82", "0.0.0.0:82"),
            ("10.0.0.1", "10.0.0.1:80"),
            ("[::1]:8080", "[::1]:8080"),
            ("[::]:9", "[::]:9"),
            ("[::1]", "[::1]:80"),
            ("65535", "0.0.0.0:65535"),
        ];
        for &(s, want) in ok {
            assert_eq!(parse_listen(s), Ok(want.parse().unwrap()), "listen {s:?}");
        }
        let bad: &[(&str, ListenError)] = &[
            ("0", ListenError::InvalidPort),
            ("70000", ListenError::InvalidPort),
            ("", ListenError::InvalidPort),
            ("127.0.0.1:", ListenError::InvalidPort),
            ("127.0.0.1:0", ListenError::InvalidPort),
            ("127.0.0.1:x", ListenError::InvalidPort),
            ("[::1]:0", ListenError::InvalidPort),
            ("[::1]x", ListenError::InvalidPort),
            ("example.com:80", ListenError::HostNotFound),
            ("1.2.3:80", ListenError::HostNotFound),
            ("[::1:80", ListenError::HostNotFound),
            ("[nope]:80", ListenError::HostNotFound),
            ("::1", ListenError::HostNotFound),
        ];
        for &(s, want) in bad {
            assert_eq!(parse_listen(s), Err(want), "listen {s:?}");
        }
    }

    #[test]
    fn normal_paths() {
        for ok in ["/", "/a", "/a/", "/a/b", "/a.b/c..d/", "/.well-known"] {
            assert!(is_normal_path(ok), "{ok}");
        }
        for bad in ["", "a", "//", "/a//b", "/./a", "/a/..", "/a/../b", "/.", "/a/./"] {
            assert!(!is_normal_path(bad), "{bad}");
        }
    }

    #[test]
    fn distances_and_suggestions() {
        assert_eq!(edit_distance("lisen", "listen"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        let names = ["listen", "root", "server", "return", "index"];
        assert_eq!(closest("lisen", names), Some("listen"));
        assert_eq!(closest("LISTEN", names), Some("listen"));
        assert_eq!(closest("roo", names), Some("root"));
        assert_eq!(closest("sever", names), Some("server"));
        assert_eq!(closest("x", names), None);
        assert_eq!(closest("banana", names), None);
    }
}
