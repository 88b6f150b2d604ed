//! Validators and conditional requests (RFC 9110 §8.8, §13) for static files.
//!
//! The entity tag is nginx's: `"<mtime secs hex>-<size hex>"`. Pure logic; the
//! caller parses dates with `platform::httpdate` and passes seconds.

use std::fs::Metadata;
use std::time::{Duration, UNIX_EPOCH};

/// A file's validators (RFC 9110 §8.8), formatted for the response headers
/// once per file version (the file cache keeps them with its contents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// Modification time in whole seconds since the epoch.
    pub mtime_secs: u64,
    /// The entity tag (nginx's format).
    pub etag: String,
    /// The modification time as an IMF-fixdate.
    pub last_modified: String,
}

impl Validators {
    /// The validators of the file version `meta` describes.
    pub fn of(meta: &Metadata) -> Validators {
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        let mtime_secs = mtime.map_or(0, |d| d.as_secs());
        Validators {
            mtime_secs,
            etag: etag(mtime_secs, meta.len()),
            last_modified: platform::httpdate::fmt_http_date(
                UNIX_EPOCH + Duration::from_secs(mtime_secs),
            ),
        }
    }
}

/// The strong entity tag of a file, formatted as nginx does (`"5f5e1000-1a"`).
pub fn etag(mtime_secs: u64, size: u64) -> String {
    format!("\"{mtime_secs:x}-{size:x}\"")
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, RFC 9110
/// §13.1.2: `W/` prefixes are ignored; `*` matches any existing file).
pub fn none_match(header: &[u8], etag: &str) -> bool {
    let etag = etag.as_bytes();
    let etag = etag.strip_prefix(b"W/").unwrap_or(etag);
    header.split(|&b| b == b',').any(|tag| {
        let tag = trim(tag);
        tag == b"*" || tag.strip_prefix(b"W/").unwrap_or(tag) == etag
    })
}

/// Whether a file modified at `mtime_secs` is "not modified" for an
/// `If-Modified-Since` date of `since_secs` (RFC 9110 §13.1.3).
///
/// As nginx's default `if_modified_since exact`: only the date the server
/// itself sent as `Last-Modified` counts. Any other date, in particular one
/// in the future (which RFC 9110 §13.1.3 calls invalid), gets the full
/// response, so a client clock or a guessed date never yields a stale 304.
pub fn not_modified_since(mtime_secs: u64, since_secs: u64) -> bool {
    mtime_secs == since_secs
}

/// What `If-Range` says about honouring `Range` (RFC 9110 §13.1.5): an entity
/// tag must match strongly, a date must equal the modification time.
pub fn if_range_matches(
    header: &[u8],
    etag: &str,
    mtime_secs: u64,
    date_secs: Option<u64>,
) -> bool {
    let header = trim(header);
    if header.first() == Some(&b'"') {
        return header == etag.as_bytes();
    }
    if header.starts_with(b"W/") {
        return false;
    }
    date_secs == Some(mtime_secs)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(s.len());
    let end = s.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_is_nginx_format() {
        assert_eq!(etag(0x5f5e_1000, 26), "\"5f5e1000-1a\"");
        assert_eq!(etag(0, 0), "\"0-0\"");
    }

    #[test]
    fn if_none_match_table() {
        let tag = "\"5f-1a\"";
        let cases: &[(&str, bool)] = &[
            ("\"5f-1a\"", true),
            ("W/\"5f-1a\"", true),
            ("*", true),
            ("\"x\", \"5f-1a\"", true),
            ("\"x\" ,W/\"5f-1a\" ", true),
            ("\"5f-1b\"", false),
            ("5f-1a", false),
            ("", false),
            ("\"x\", \"y\"", false),
        ];
        for (header, want) in cases {
            assert_eq!(none_match(header.as_bytes(), tag), *want, "{header}");
        }
    }

    #[test]
    fn modified_since() {
        assert!(not_modified_since(100, 100));
        assert!(!not_modified_since(101, 100));
    }

    #[test]
    fn if_modified_since_in_the_future_is_ignored() {
        // 2099-01-01 against a file from 2020: nginx answers 200.
        assert!(!not_modified_since(1_600_000_000, 4_070_908_800));
        assert!(!not_modified_since(99, 100));
    }

    #[test]
    fn if_range_table() {
        let tag = "\"5f-1a\"";
        assert!(if_range_matches(b"\"5f-1a\"", tag, 95, None));
        assert!(!if_range_matches(b"\"5f-1b\"", tag, 95, None));
        assert!(!if_range_matches(b"W/\"5f-1a\"", tag, 95, None));
        assert!(if_range_matches(b"Sun, 06 Nov 1994 08:49:37 GMT", tag, 95, Some(95)));
        assert!(!if_range_matches(b"Sun, 06 Nov 1994 08:49:37 GMT", tag, 95, Some(96)));
        assert!(!if_range_matches(b"garbage", tag, 95, None));
    }
}
