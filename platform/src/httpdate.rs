//! HTTP dates (RFC 9110 §5.6.7): formatting and parsing, pure arithmetic.
//!
//! [`fmt_http_date`] and [`write_http_date`] produce the preferred
//! IMF-fixdate form, `Sun, 06 Nov 1994 08:49:37 GMT`, always 29 bytes.
//! [`parse_http_date`] accepts it and the two obsolete forms every recipient
//! must still understand: RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and C's
//! asctime (`Sun Nov  6 08:49:37 1994`). Dates are proleptic Gregorian in
//! GMT, converted with Howard Hinnant's days-from-civil algorithms, without
//! libc time functions, locales or time zones.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The length in bytes of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const HTTP_DATE_LEN: usize = 29;

/// Seconds since the epoch of `0000-01-01 00:00:00 GMT`, the earliest
/// instant with a four-digit year.
const MIN_UNIX_SECONDS: i64 = -62_167_219_200;
/// Seconds since the epoch of `9999-12-31 23:59:59 GMT`, the latest instant
/// with a four-digit year.
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;
const SECONDS_PER_DAY: i64 = 86_400;

/// RFC 9110 §5.6.7 `day-name`, indexed from Sunday.
const DAY_NAMES: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
/// RFC 850 `day-name-l`, indexed from Sunday.
const LONG_DAY_NAMES: [&[u8]; 7] =
    [b"Sunday", b"Monday", b"Tuesday", b"Wednesday", b"Thursday", b"Friday", b"Saturday"];
/// RFC 9110 §5.6.7 `month`, indexed from January.
const MONTH_NAMES: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Formats `t` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
///
/// Sub-second precision is dropped (rounding towards the past). Instants
/// outside the years 0000 to 9999, which the four-digit format cannot
/// express, are clamped to `Sat, 01 Jan 0000 00:00:00 GMT` and
/// `Fri, 31 Dec 9999 23:59:59 GMT`. See RFC 9110 §5.6.7 and
/// [`write_http_date`] for a version that does not allocate.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use platform::httpdate::fmt_http_date;
///
/// let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
/// assert_eq!(fmt_http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
pub fn fmt_http_date(t: SystemTime) -> String {
    let mut buf = [0u8; HTTP_DATE_LEN];
    write_http_date(t, &mut buf);
    buf.iter().map(|&b| char::from(b)).collect()
}

/// Writes `t` as an IMF-fixdate into `out` (29 ASCII bytes), without
/// allocating.
///
/// Same rules as [`fmt_http_date`]: whole seconds, clamped to the years 0000
/// to 9999.
///
/// # Examples
///
/// ```
/// use std::time::UNIX_EPOCH;
/// use platform::httpdate::{write_http_date, HTTP_DATE_LEN};
///
/// let mut buf = [0u8; HTTP_DATE_LEN];
/// write_http_date(UNIX_EPOCH, &mut buf);
/// assert_eq!(&buf, b"Thu, 01 Jan 1970 00:00:00 GMT");
/// ```
pub fn write_http_date(t: SystemTime, out: &mut [u8; HTTP_DATE_LEN]) {
    let secs = unix_seconds(t).clamp(MIN_UNIX_SECONDS, MAX_UNIX_SECONDS);
    let days = secs.div_euclid(SECONDS_PER_DAY);
    let time = secs.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01, day 0, was a Thursday (index 4 counting from Sunday).
    let weekday = (days + 4).rem_euclid(7) as usize;

    out[0..3].copy_from_slice(DAY_NAMES[weekday]);
    out[3..5].copy_from_slice(b", ");
    put_digits(&mut out[5..7], day.into());
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTH_NAMES[month as usize - 1]);
    out[11] = b' ';
    put_digits(&mut out[12..16], year);
    out[16] = b' ';
    put_digits(&mut out[17..19], time / 3600);
    out[19] = b':';
    put_digits(&mut out[20..22], time / 60 % 60);
    out[22] = b':';
    put_digits(&mut out[23..25], time % 60);
    out[25..29].copy_from_slice(b" GMT");
}

/// Parses an HTTP date in any of the three forms of RFC 9110 §5.6.7.
///
/// Accepted, exactly (case-sensitive, single spaces, no surrounding
/// whitespace: strip the field's OWS first):
/// - IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
/// - RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`; the two-digit year is read
///   as RFC 9110 requires: a year more than 50 years in the future means the
///   most recent past year with the same last two digits.
/// - asctime: `Sun Nov  6 08:49:37 1994` (day padded with a space or a zero)
///
/// Returns `None` for anything else, including impossible dates (Feb 30,
/// Feb 29 outside leap years, hour 24, minute 60). Seconds may be `60`, the
/// leap second the grammar allows, which reads as the next second. The day
/// name must be a real one but need not match the date, as in nginx: it is
/// redundant, and rejecting the date over it would only make caches miss.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use platform::httpdate::parse_http_date;
///
/// let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
/// assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
/// assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
/// assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(t));
/// assert_eq!(parse_http_date("Sun, 30 Feb 1994 08:49:37 GMT"), None);
/// ```
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    parse_http_date_in(s.as_bytes(), current_year())
}

/// A calendar date and time of day in GMT, as written in the text; not yet
/// checked to exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DateTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl DateTime {
    /// Seconds since the Unix epoch, or `None` if no such date or time exists.
    fn unix_seconds(&self) -> Option<i64> {
        let valid = (1..=12).contains(&self.month)
            && (1..=days_in_month(self.year, self.month)).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            // RFC 9110 §5.6.7: second = 2DIGIT, 00-60 (60 being a leap second).
            && self.second <= 60;
        if !valid {
            return None;
        }
        let days = days_from_civil(self.year, self.month, self.day);
        let time = i64::from(self.hour * 3600 + self.minute * 60 + self.second);
        Some(days * SECONDS_PER_DAY + time)
    }
}

/// [`parse_http_date`] with the current year given, so that RFC 850's
/// two-digit years are testable.
fn parse_http_date_in(b: &[u8], current_year: i64) -> Option<SystemTime> {
    let date = parse_imf_fixdate(b)
        .or_else(|| parse_rfc850(b, current_year))
        .or_else(|| parse_asctime(b))?;
    system_time_from_unix(date.unix_seconds()?)
}

/// `IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT`, with
/// `date1 = day SP month SP year`: `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_imf_fixdate(b: &[u8]) -> Option<DateTime> {
    if b.len() != HTTP_DATE_LEN || &b[3..5] != b", " || b[7] != b' ' || b[11] != b' ' {
        return None;
    }
    if b[16] != b' ' || &b[25..] != b" GMT" {
        return None;
    }
    DAY_NAMES.iter().position(|name| &b[..3] == *name)?;
    let (hour, minute, second) = parse_time(&b[17..25])?;
    Some(DateTime {
        year: parse_digits(&b[12..16])?.into(),
        month: parse_month(&b[8..11])?,
        day: parse_digits(&b[5..7])?,
        hour,
        minute,
        second,
    })
}

/// `rfc850-date = day-name-l "," SP date2 SP time-of-day SP GMT`, with
/// `date2 = day "-" month "-" 2DIGIT`: `Sunday, 06-Nov-94 08:49:37 GMT`.
fn parse_rfc850(b: &[u8], current_year: i64) -> Option<DateTime> {
    let comma = b.iter().position(|&c| c == b',')?;
    let (name, rest) = b.split_at(comma);
    LONG_DAY_NAMES.iter().position(|long| name == *long)?;
    // ", DD-Mon-YY HH:MM:SS GMT"
    if rest.len() != 24 || &rest[..2] != b", " || rest[4] != b'-' || rest[8] != b'-' {
        return None;
    }
    if rest[11] != b' ' || &rest[20..] != b" GMT" {
        return None;
    }
    let (hour, minute, second) = parse_time(&rest[12..20])?;
    Some(DateTime {
        year: rfc850_year(parse_digits(&rest[9..11])?.into(), current_year),
        month: parse_month(&rest[5..8])?,
        day: parse_digits(&rest[2..4])?,
        hour,
        minute,
        second,
    })
}

/// `asctime-date = day-name SP date3 SP time-of-day SP year`, with
/// `date3 = month SP ( 2DIGIT / ( SP DIGIT ) )`: `Sun Nov  6 08:49:37 1994`.
fn parse_asctime(b: &[u8]) -> Option<DateTime> {
    if b.len() != 24 || b[3] != b' ' || b[7] != b' ' || b[10] != b' ' || b[19] != b' ' {
        return None;
    }
    DAY_NAMES.iter().position(|name| &b[..3] == *name)?;
    let day = match b[8] {
        b' ' => parse_digits(&b[9..10])?,
        _ => parse_digits(&b[8..10])?,
    };
    let (hour, minute, second) = parse_time(&b[11..19])?;
    Some(DateTime {
        year: parse_digits(&b[20..24])?.into(),
        month: parse_month(&b[4..7])?,
        day,
        hour,
        minute,
        second,
    })
}

/// RFC 9110 §5.6.7: "Recipients of a timestamp value in rfc850-date format,
/// which uses a two-digit year, MUST interpret a timestamp that appears to be
/// more than 50 years in the future as representing the most recent year in
/// the past that had the same last two digits." Judged by year, so the
/// result is the one year in `current_year - 49 ..= current_year + 50` with
/// those last two digits.
fn rfc850_year(two_digits: i64, current_year: i64) -> i64 {
    let year = current_year - current_year.rem_euclid(100) + two_digits;
    if year > current_year + 50 {
        year - 100
    } else if year <= current_year - 50 {
        year + 100
    } else {
        year
    }
}

/// `time-of-day = hour ":" minute ":" second`, each two digits.
fn parse_time(b: &[u8]) -> Option<(u32, u32, u32)> {
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    Some((parse_digits(&b[0..2])?, parse_digits(&b[3..5])?, parse_digits(&b[6..8])?))
}

/// A case-sensitive month name to 1..=12.
fn parse_month(b: &[u8]) -> Option<u32> {
    let index = MONTH_NAMES.iter().position(|name| b == *name)?;
    u32::try_from(index + 1).ok()
}

/// A non-empty run of ASCII digits (at most 4 here) to its value.
fn parse_digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
}

/// Writes `value` as exactly `out.len()` decimal digits, zero-padded.
/// `value` is non-negative and fits (the callers clamp it).
fn put_digits(out: &mut [u8], mut value: i64) {
    for slot in out.iter_mut().rev() {
        // `rem_euclid(10)` is 0..=9, so the cast cannot truncate.
        *slot = b'0' + value.rem_euclid(10) as u8;
        value /= 10;
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1..=12) of `year`; 0 for a month out of range.
fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..=12, day
/// 1..=31), by Howard Hinnant's `days_from_civil`: count in 400-year eras
/// of 146 097 days, with years starting in March so the leap day is last.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400); // 0..=399
    let month_from_march = i64::from((month + 9) % 12); // March = 0
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: `(year, month 1..=12, day 1..=31)` of
/// a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468; // days since 0000-03-01
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097); // 0..=146_096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11
                                                        // Both results are small and positive: the casts cannot truncate.
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month =
        if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whole seconds since the Unix epoch, rounded towards the past; saturates
/// at the `i64` range.
fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            if before.subsec_nanos() > 0 {
                -secs - 1
            } else {
                -secs
            }
        }
    }
}

fn system_time_from_unix(secs: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

/// The current Gregorian year in GMT, from the system clock.
fn current_year() -> i64 {
    let days = unix_seconds(SystemTime::now()).div_euclid(SECONDS_PER_DAY);
    civil_from_days(days).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> SystemTime {
        system_time_from_unix(secs).unwrap()
    }

    /// `(seconds since the epoch, IMF-fixdate)`, cross-checked with GNU
    /// `date -u -d @SECONDS`.
    const KNOWN: &[(i64, &str)] = &[
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (68_169_600, "Tue, 29 Feb 1972 00:00:00 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (1_709_208_000, "Thu, 29 Feb 2024 12:00:00 GMT"),
        (946_684_799, "Fri, 31 Dec 1999 23:59:59 GMT"),
        (946_684_800, "Sat, 01 Jan 2000 00:00:00 GMT"),
        (1_000_000_000, "Sun, 09 Sep 2001 01:46:40 GMT"),
        (1_234_567_890, "Fri, 13 Feb 2009 23:31:30 GMT"),
        (2_147_483_647, "Tue, 19 Jan 2038 03:14:07 GMT"),
        (2_147_483_648, "Tue, 19 Jan 2038 03:14:08 GMT"),
        (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 GMT"),
        (4_107_542_399, "Sun, 28 Feb 2100 23:59:59 GMT"),
        (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
        (32_503_680_000, "Wed, 01 Jan 3000 00:00:00 GMT"),
        (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
        (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
        (-62_167_219_200, "Sat, 01 Jan 0000 00:00:00 GMT"),
    ];

    #[test]
    fn formats_known_timestamps() {
        for &(secs, text) in KNOWN {
            assert_eq!(fmt_http_date(at(secs)), text, "{secs}");
            let mut buf = [0u8; HTTP_DATE_LEN];
            write_http_date(at(secs), &mut buf);
            assert_eq!(&buf[..], text.as_bytes(), "{secs}");
        }
    }

    #[test]
    fn parses_known_timestamps() {
        for &(secs, text) in KNOWN {
            assert_eq!(parse_http_date(text), Some(at(secs)), "{text}");
        }
    }

    #[test]
    fn rfc9110_example_in_all_three_forms() {
        let t = at(784_111_777);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(parse_http_date("Sun Nov 06 08:49:37 1994"), Some(t));
    }

    #[test]
    fn obsolete_forms_of_other_dates() {
        let cases: &[(&str, i64)] = &[
            ("Tuesday, 29-Feb-00 00:00:00 GMT", 951_782_400),
            ("Friday, 31-Dec-99 23:59:59 GMT", 946_684_799),
            ("Thursday, 29-Feb-24 12:00:00 GMT", 1_709_208_000),
            ("Tue Feb 29 00:00:00 2000", 951_782_400),
            ("Thu Jan  1 00:00:00 1970", 0),
            ("Tue Jan 19 03:14:08 2038", 2_147_483_648),
            ("Fri Dec 31 23:59:59 9999", 253_402_300_799),
        ];
        for &(text, secs) in cases {
            assert_eq!(parse_http_date_in(text.as_bytes(), 2026), Some(at(secs)), "{text}");
        }
    }

    #[test]
    fn rfc850_two_digit_years_follow_the_fifty_year_rule() {
        // (current year, two digits, expected year)
        let cases = [
            (2026, 94, 1994),
            (2026, 76, 2076), // exactly 50 years ahead: not "more than 50"
            (2026, 77, 1977),
            (2026, 0, 2000),
            (2026, 26, 2026),
            (2026, 70, 2070),
            (2080, 30, 2130),
            (2080, 31, 2031),
            (1999, 49, 2049),
            (1999, 50, 1950),
        ];
        for (now, yy, expected) in cases {
            assert_eq!(rfc850_year(yy, now), expected, "{yy} in {now}");
        }
        let parsed = parse_http_date_in(b"Thursday, 01-Jan-70 00:00:00 GMT", 1990);
        assert_eq!(parsed, Some(at(0)));
    }

    #[test]
    fn leap_second_reads_as_the_next_second() {
        let t = parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT");
        assert_eq!(t, parse_http_date("Sun, 01 Jan 2017 00:00:00 GMT"));
        assert!(t.is_some());
    }

    #[test]
    fn weekday_must_be_a_name_but_need_not_match() {
        let t = Some(at(784_111_777));
        assert_eq!(parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT"), t);
        assert_eq!(parse_http_date("Xyz, 06 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sunny, 06-Nov-94 08:49:37 GMT"), None);
    }

    #[test]
    fn rejects_invalid_dates_and_syntax() {
        let bad = [
            "",
            "GMT",
            "Sun, 30 Feb 1994 08:49:37 GMT",
            "Thu, 29 Feb 2001 00:00:00 GMT",
            "Mon, 29 Feb 2100 00:00:00 GMT",
            "Thu, 29 Feb 1900 00:00:00 GMT",
            "Sat, 31 Apr 2000 00:00:00 GMT",
            "Sat, 00 Jan 2000 00:00:00 GMT",
            "Sat, 32 Jan 2000 00:00:00 GMT",
            "Sat, 01 Jan 2000 24:00:00 GMT",
            "Sat, 01 Jan 2000 23:60:00 GMT",
            "Sat, 01 Jan 2000 23:59:61 GMT",
            "Sat, 01 Foo 2000 00:00:00 GMT",
            "Sat, 01 jan 2000 00:00:00 GMT",
            "sat, 01 Jan 2000 00:00:00 GMT",
            "Sat, 01 Jan 2000 00:00:00 gmt",
            "Sat, 01 Jan 2000 00:00:00 UTC",
            "Sat, 01 Jan 2000 00:00:00 +0000",
            "Sat, 1 Jan 2000 00:00:00 GMT",
            "Sat,  1 Jan 2000 00:00:00 GMT",
            "Sat, 01 Jan 00 00:00:00 GMT",
            "Sat, 01 Jan 2000 0:00:00 GMT",
            "Sat, 01 Jan 2000 00-00-00 GMT",
            "Sat 01 Jan 2000 00:00:00 GMT",
            " Sat, 01 Jan 2000 00:00:00 GMT",
            "Sat, 01 Jan 2000 00:00:00 GMT ",
            "Sat, 01 Jan 2000 00:00:00 GMTX",
            "Sat, +1 Jan 2000 00:00:00 GMT",
            "Sat, 01 Jan -200 00:00:00 GMT",
            "Sat, 01 Jan 2000 00:00:0\u{e9} GMT",
            "Saturday, 31-Feb-99 00:00:00 GMT",
            "Saturday, 01-Jan-2000 00:00:00 GMT",
            "Saturday 01-Jan-00 00:00:00 GMT",
            "Saturday, 01 Jan 00 00:00:00 GMT",
            "Sat, 01-Jan-00 00:00:00 GMT",
            "Sat Feb 30 00:00:00 2000",
            "Sat Jan 1 00:00:00 2000",
            "Sat Jan  1 00:00:00 2000 GMT",
            "Sat Jan  1 00:00:00 00",
            "Sat Jan 0 00:00:00 2000",
            "Sat Jan  0 00:00:00 2000",
            "2000-01-01T00:00:00Z",
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        ];
        for text in bad {
            assert_eq!(parse_http_date(text), None, "{text:?} must be rejected");
        }
    }

    #[test]
    fn every_truncation_and_byte_change_is_handled_without_panic() {
        let forms: [&[u8]; 3] = [
            b"Sun, 06 Nov 1994 08:49:37 GMT",
            b"Sunday, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 1994",
        ];
        for form in forms {
            for end in 0..form.len() {
                assert_eq!(parse_http_date_in(&form[..end], 2026), None);
                assert_eq!(parse_http_date_in(&form[end + 1..], 2026), None);
            }
            for i in 0..form.len() {
                for byte in [b' ', b'0', b'9', b'x', b',', b':', 0, 0xff] {
                    let mut changed = form.to_vec();
                    changed[i] = byte;
                    // Either a valid date or None, never a panic.
                    let _ = parse_http_date_in(&changed, 2026);
                }
            }
        }
    }

    #[test]
    fn every_day_of_some_years_is_valid_exactly_when_it_exists() {
        // An independent leap rule and month table.
        for year in [1900i64, 1970, 1996, 1999, 2000, 2023, 2024, 2100, 2400] {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let lengths = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            for (m, &len) in lengths.iter().enumerate() {
                let month = std::str::from_utf8(MONTH_NAMES[m]).unwrap();
                for day in 1..=31 {
                    let text = format!("Mon, {day:02} {month} {year:04} 12:00:00 GMT");
                    let parsed = parse_http_date(&text);
                    assert_eq!(parsed.is_some(), day <= len, "{text}");
                    if let Some(t) = parsed {
                        // Formatting gives the same date back (with the true weekday).
                        assert_eq!(fmt_http_date(t)[5..], text[5..], "{text}");
                    }
                }
            }
        }
    }

    #[test]
    fn consecutive_days_are_86400_seconds_apart() {
        let mut previous = parse_http_date("Sat, 01 Jan 1601 00:00:00 GMT").unwrap();
        for _ in 0..(366 * 5) {
            let next = previous + Duration::from_secs(86_400);
            let text = fmt_http_date(next);
            assert_eq!(&text[17..], "00:00:00 GMT");
            assert_eq!(parse_http_date(&text), Some(next));
            previous = next;
        }
    }

    #[test]
    fn format_then_parse_round_trips() {
        // A stride coprime with 86 400 and 7 visits varied times and weekdays.
        let mut secs = MIN_UNIX_SECONDS;
        while secs <= MAX_UNIX_SECONDS {
            let t = at(secs);
            let text = fmt_http_date(t);
            assert_eq!(text.len(), HTTP_DATE_LEN);
            assert_eq!(parse_http_date(&text), Some(t), "{secs} -> {text}");
            secs += 987_654_321;
        }
    }

    #[test]
    fn subseconds_round_towards_the_past() {
        let t = UNIX_EPOCH + Duration::from_millis(999);
        assert_eq!(fmt_http_date(t), "Thu, 01 Jan 1970 00:00:00 GMT");
        let t = UNIX_EPOCH - Duration::from_millis(1);
        assert_eq!(fmt_http_date(t), "Wed, 31 Dec 1969 23:59:59 GMT");
    }

    #[test]
    fn out_of_range_times_are_clamped() {
        let late = at(MAX_UNIX_SECONDS) + Duration::from_secs(86_400 * 400);
        assert_eq!(fmt_http_date(late), "Fri, 31 Dec 9999 23:59:59 GMT");
        let early = at(MIN_UNIX_SECONDS) - Duration::from_secs(1);
        assert_eq!(fmt_http_date(early), "Sat, 01 Jan 0000 00:00:00 GMT");
    }

    #[test]
    fn now_formats_and_parses_back() {
        let now = SystemTime::now();
        let parsed = parse_http_date(&fmt_http_date(now)).unwrap();
        let diff = now.duration_since(parsed).unwrap();
        assert!(diff < Duration::from_secs(1));
        assert!(current_year() >= 2024);
    }
}
