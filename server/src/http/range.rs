//! `Range` request header parsing (RFC 9110 §14), single byte ranges only.
//!
//! A request for several ranges is answered with the whole representation
//! (200), which RFC 9110 §14.2 allows; so is a header Berth does not
//! understand (another unit, bad syntax).

/// What to send for a `Range` header against a representation of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// Ignore the header: send the whole representation with 200.
    Whole,
    /// Send bytes `start..=end` with 206 and `Content-Range`.
    Partial {
        /// First byte offset.
        start: u64,
        /// Last byte offset (inclusive).
        end: u64,
    },
    /// No byte of the range exists: 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

/// Evaluates a `Range` header value against a representation of `size` bytes.
pub fn evaluate(value: &[u8], size: u64) -> RangeAnswer {
    let value = trim(value);
    let Some(spec) = strip_prefix_ignore_case(value, b"bytes=") else {
        return RangeAnswer::Whole;
    };
    let spec = trim(spec);
    if spec.contains(&b',') {
        // Several ranges: 200 with the whole body (RFC 9110 §14.2 permits it).
        return RangeAnswer::Whole;
    }
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return RangeAnswer::Whole;
    };
    let (first, last) = (trim(&spec[..dash]), trim(&spec[dash + 1..]));
    match (parse_u64(first), parse_u64(last)) {
        // bytes=-N: the last N bytes.
        (None, Some(n)) if first.is_empty() => {
            if n == 0 || size == 0 {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial { start: size.saturating_sub(n), end: size - 1 }
            }
        }
        // bytes=A-: from A to the end.
        (Some(a), None) if last.is_empty() => {
            if a >= size {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial { start: a, end: size - 1 }
            }
        }
        // bytes=A-B.
        (Some(a), Some(b)) => {
            if b < a {
                RangeAnswer::Whole
            } else if a >= size {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial { start: a, end: b.min(size - 1) }
            }
        }
        _ => RangeAnswer::Whole,
    }
}

/// A decimal offset, saturating at `u64::MAX`: a position past any file is
/// still a position (nginx answers `bytes=99999999999999999999-` with 416 and
/// clamps such a last-byte-pos to the end of the file).
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |acc, &d| acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(s.len());
    let end = s.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or_default()
}

fn strip_prefix_ignore_case<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeAnswer::*;

    #[test]
    fn table() {
        let cases: &[(&str, u64, RangeAnswer)] = &[
            ("bytes=0-0", 10, Partial { start: 0, end: 0 }),
            ("bytes=0-4", 10, Partial { start: 0, end: 4 }),
            ("bytes=2-", 10, Partial { start: 2, end: 9 }),
            ("bytes=-3", 10, Partial { start: 7, end: 9 }),
            ("bytes=-30", 10, Partial { start: 0, end: 9 }),
            ("bytes=5-100", 10, Partial { start: 5, end: 9 }),
            ("BYTES = 1-2", 10, Whole),
            ("Bytes=1-2", 10, Partial { start: 1, end: 2 }),
            (" bytes=1-2 ", 10, Partial { start: 1, end: 2 }),
            ("bytes=10-", 10, Unsatisfiable),
            ("bytes=10-20", 10, Unsatisfiable),
            ("bytes=-0", 10, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=-5", 0, Unsatisfiable),
            ("bytes=5-2", 10, Whole),
            ("bytes=0-1,3-4", 10, Whole),
            ("items=0-1", 10, Whole),
            ("bytes=", 10, Whole),
            ("bytes=-", 10, Whole),
            ("bytes=a-b", 10, Whole),
            ("bytes=1", 10, Whole),
            ("bytes=+1-2", 10, Whole),
        ];
        for (value, size, want) in cases {
            assert_eq!(evaluate(value.as_bytes(), *size), *want, "{value} of {size}");
        }
    }

    #[test]
    fn range_with_more_than_19_digits_saturates() {
        let cases: &[(&str, RangeAnswer)] = &[
            ("bytes=99999999999999999999-", Unsatisfiable),
            ("bytes=0-99999999999999999999", Partial { start: 0, end: 5 }),
            ("bytes=-99999999999999999999", Partial { start: 0, end: 5 }),
            ("bytes=18446744073709551615-", Unsatisfiable),
            ("bytes=00000000000000000000001-2", Partial { start: 1, end: 2 }),
        ];
        for (value, want) in cases {
            assert_eq!(evaluate(value.as_bytes(), 6), *want, "{value}");
        }
    }
}
