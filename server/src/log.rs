//! The access log (combined log format) and the error log, buffered in memory.
//!
//! Lines are appended to a buffer and written out when it grows past
//! [`FLUSH_BYTES`], at most a second after the first unflushed line (the
//! reactor calls [`Log::tick`]) and on exit. With `access_log off` the access
//! side is `None` and costs one branch per request.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// Buffered bytes that trigger a write.
pub const FLUSH_BYTES: usize = 32 * 1024;
/// Longest time a line waits in the buffer.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Where a log goes.
#[derive(Debug)]
enum Sink {
    Stderr,
    File(File),
}

/// One buffered log destination.
#[derive(Debug)]
struct Buffered {
    sink: Sink,
    buf: Vec<u8>,
    since: Option<Instant>,
}

impl Buffered {
    fn new(sink: Sink) -> Buffered {
        Buffered { sink, buf: Vec::new(), since: None }
    }

    fn note(&mut self, now: Instant) {
        if self.since.is_none() {
            self.since = Some(now);
        }
        if self.buf.len() >= FLUSH_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        // A log that cannot be written must not take the server down; the
        // lines are dropped rather than kept growing.
        let _ = match &mut self.sink {
            Sink::Stderr => io::stderr().write_all(&self.buf),
            Sink::File(f) => f.write_all(&self.buf),
        };
        self.buf.clear();
        if self.buf.capacity() > 4 * FLUSH_BYTES {
            self.buf.shrink_to(FLUSH_BYTES);
        }
        self.since = None;
    }
}

/// Severity of an error-log line, nginx's levels from most to least severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The server cannot go on (startup, reload refused).
    Emerg,
    /// Action must be taken at once (the loop's own machinery failed).
    Alert,
    /// Critical conditions (descriptors exhausted, an unexpected OS error).
    Crit,
    /// A request failed for a reason worth an operator's look (403, 500).
    Error,
    /// Something is off but service goes on.
    Warn,
    /// Normal but significant (start, stop, reload).
    Notice,
    /// Informational (a client's connection failed).
    Info,
}

impl Level {
    /// The name written between brackets: `error`, `warn`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Emerg => "emerg",
            Level::Alert => "alert",
            Level::Crit => "crit",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Notice => "notice",
            Level::Info => "info",
        }
    }
}

/// The fields of one access log line.
#[derive(Debug, Clone, Copy)]
pub struct AccessRecord<'a> {
    /// Client address.
    pub peer: SocketAddr,
    /// The request line as received (`GET / HTTP/1.1`), or empty.
    pub request_line: &'a [u8],
    /// Status sent.
    pub status: u16,
    /// Body bytes sent.
    pub body_bytes: u64,
    /// `Referer`.
    pub referer: Option<&'a [u8]>,
    /// `User-Agent`.
    pub user_agent: Option<&'a [u8]>,
}

/// The server's logs.
#[derive(Debug)]
pub struct Log {
    access: Option<Buffered>,
    error: Option<Buffered>,
}

impl Log {
    /// Opens the configured logs (files in append mode, created if missing).
    ///
    /// # Errors
    /// When a log file cannot be opened.
    pub fn open(access: Option<&Path>, error: &config::LogTarget) -> io::Result<Log> {
        let access = match access {
            Some(p) => Some(Buffered::new(Sink::File(open_append(p)?))),
            None => None,
        };
        let error = match error {
            config::LogTarget::Off => None,
            config::LogTarget::Stderr => Some(Buffered::new(Sink::Stderr)),
            config::LogTarget::File(p) => Some(Buffered::new(Sink::File(open_append(p)?))),
        };
        Ok(Log { access, error })
    }

    /// Whether the access log is on (so callers can skip gathering fields).
    pub fn access_enabled(&self) -> bool {
        self.access.is_some()
    }

    /// Appends one combined-format line; `time_local` is like
    /// `06/Nov/1994:08:49:37 +0000`.
    pub fn access(&mut self, rec: &AccessRecord<'_>, time_local: &str, now: Instant) {
        let Some(a) = &mut self.access else { return };
        let b = &mut a.buf;
        let _ = write!(b, "{} - - [{time_local}] \"", rec.peer.ip());
        push_escaped(b, rec.request_line);
        let _ = write!(b, "\" {} {} \"", rec.status, rec.body_bytes);
        push_escaped(b, rec.referer.unwrap_or(b"-"));
        b.extend_from_slice(b"\" \"");
        push_escaped(b, rec.user_agent.unwrap_or(b"-"));
        b.extend_from_slice(b"\"\n");
        a.note(now);
    }

    /// Appends one error log line: `1994/11/06 08:49:37 [level] message`.
    pub fn error(&mut self, level: Level, message: &str, time_err: &str, now: Instant) {
        let Some(e) = &mut self.error else { return };
        let _ = writeln!(e.buf, "{time_err} [{}] {message}", level.as_str());
        e.note(now);
    }

    /// Flushes buffers whose oldest line is older than [`FLUSH_INTERVAL`].
    pub fn tick(&mut self, now: Instant) {
        for b in [&mut self.access, &mut self.error].into_iter().flatten() {
            if b.since.is_some_and(|s| now.duration_since(s) >= FLUSH_INTERVAL) {
                b.flush();
            }
        }
    }

    /// When the next [`Log::tick`] has work, for the poll timeout.
    pub fn next_flush(&self) -> Option<Instant> {
        [&self.access, &self.error]
            .into_iter()
            .flatten()
            .filter_map(|b| b.since.map(|s| s + FLUSH_INTERVAL))
            .min()
    }

    /// Writes everything buffered.
    pub fn flush(&mut self) {
        for b in [&mut self.access, &mut self.error].into_iter().flatten() {
            b.flush();
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Opens a log file for appending; the error names the file.
fn open_append(p: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(p).map_err(|e| {
        io::Error::new(e.kind(), format!("{}: {}", p.display(), config::os_message(&e)))
    })
}

/// Appends bytes with `"`, `\` and non-printable bytes escaped as `\xHH`
/// (nginx's log escaping), so a client cannot forge log lines.
fn push_escaped(out: &mut Vec<u8>, s: &[u8]) {
    for &c in s {
        if c == b'"' || c == b'\\' || !(0x20..0x7f).contains(&c) {
            let _ = write!(out, "\\x{c:02X}");
        } else {
            out.push(c);
        }
    }
}

/// `06/Nov/1994:08:49:37 +0000` from the IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn time_local(http_date: &str) -> String {
    match (http_date.get(5..7), http_date.get(8..11), http_date.get(12..16), http_date.get(17..25))
    {
        (Some(d), Some(m), Some(y), Some(t)) => format!("{d}/{m}/{y}:{t} +0000"),
        _ => http_date.to_string(),
    }
}

/// `1994/11/06 08:49:37` from the IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn time_err(http_date: &str) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = http_date.get(8..11).and_then(|m| MONTHS.iter().position(|&x| x == m));
    match (http_date.get(5..7), month, http_date.get(12..16), http_date.get(17..25)) {
        (Some(d), Some(m), Some(y), Some(t)) => format!("{y}/{:02}/{d} {t}", m + 1),
        _ => http_date.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    #[test]
    fn date_forms() {
        assert_eq!(time_local(DATE), "06/Nov/1994:08:49:37 +0000");
        assert_eq!(time_err(DATE), "1994/11/06 08:49:37");
    }

    #[test]
    fn combined_line_is_escaped() {
        let mut log = Log { access: Some(Buffered::new(Sink::Stderr)), error: None };
        let rec = AccessRecord {
            peer: "127.0.0.1:5555".parse().unwrap_or_else(|_| unreachable!()),
            request_line: b"GET /\"x\n HTTP/1.1",
            status: 200,
            body_bytes: 12,
            referer: None,
            user_agent: Some(b"curl/8"),
        };
        log.access(&rec, &time_local(DATE), Instant::now());
        let line = log.access.as_ref().map(|a| a.buf.clone()).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&line),
            "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /\\x22x\\x0A HTTP/1.1\" 200 12 \"-\" \"curl/8\"\n"
        );
        if let Some(a) = log.access.as_mut() {
            a.buf.clear();
        }
    }

    #[test]
    fn off_costs_nothing() {
        let mut log = Log { access: None, error: None };
        assert!(!log.access_enabled());
        let rec = AccessRecord {
            peer: "[::1]:1".parse().unwrap_or_else(|_| unreachable!()),
            request_line: b"",
            status: 400,
            body_bytes: 0,
            referer: None,
            user_agent: None,
        };
        log.access(&rec, "", Instant::now());
        assert_eq!(log.next_flush(), None);
    }
}
