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

/// A duration: a bare number of seconds (as nginx) or one or more
/// number-unit parts, `500ms`, `30s`, `5m`, `1h`, `1d`, `1w`, `1h30m`.
/// Units are case-sensitive as in nginx. `None` when malformed or overflowing.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    if let Some(secs) = parse_digits(s) {
        return Some(Duration::from_secs(secs));
    }
    let mut total_ms: u64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let n = parse_digits(&rest[..end])?;
        rest = &rest[end..];
        let (unit_ms, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            let ms = match rest.as_bytes().first()? {
                b's' => 1_000,
                b'm' => 60_000,
                b'h' => 3_600_000,
                b'd' => 86_400_000,
                b'w' => 604_800_000,
                _ => return None,
            };
            (ms, 1)
        };
        rest = &rest[len..];
        total_ms = total_ms.checked_add(n.checked_mul(unit_ms)?)?;
    }
    Some(Duration::from_millis(total_ms))
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
        let ms = Duration::from_millis;
        let table: &[(&str, Option<Duration>)] = &[
            ("0", Some(ms(0))),
            ("75", Some(ms(75_000))),
            ("500ms", Some(ms(500))),
            ("30s", Some(ms(30_000))),
            ("5m", Some(ms(300_000))),
            ("1h", Some(ms(3_600_000))),
            ("1d", Some(ms(86_400_000))),
            ("1w", Some(ms(604_800_000))),
            ("1h30m", Some(ms(5_400_000))),
            ("1m500ms", Some(ms(60_500))),
            ("", None),
            ("s", None),
            ("10x", None),
            ("10S", None),
            ("1.5s", None),
            ("-1s", None),
            ("99999999999999999999s", None),
            ("999999999999999999d", None),
            ("10 s", None),
        ];
        for &(s, want) in table {
            assert_eq!(parse_duration(s), want, "duration {s:?}");
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
