//! What requests are served from: the [`Site`], derived from the
//! configuration and swapped whole by a reload, and the [`Runtime`], the
//! state that lives as long as the process (clock, logs, buffer pool, file
//! cache, children to reap, sessions) and survives reloads.
//!
//! A request keeps an `Rc<Site>` of the configuration it arrived under, so a
//! reload in the middle of it never makes it read another site's settings.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use config::{Config, Location};

use crate::handlers::cache::FileCache;
use crate::handlers::session::SessionStore;
use crate::handlers::static_files;
use crate::http::request::{Head, Limits};
use crate::log::{self, Level, Log};

/// Extra read buffer space beyond the head limit, so a body start fits too.
pub const READ_SLACK_BYTES: usize = 4 * 1024;
/// Size of a connection's first read buffer; it grows only for a head that
/// does not fit (nginx's `client_header_buffer_size` is 1 KiB), up to
/// [`Site::read_buffer_size`].
pub const READ_BUFFER_BYTES: usize = 2 * 1024;
/// Most idle read buffers kept for reuse (128 KiB).
pub const POOLED_BUFFERS: usize = 64;
/// Capacity of a connection's first output buffer: a response head and a
/// small body (a 1 KiB file and its head) in one allocation, taken from the
/// pool; it grows only for more (pipelined responses).
pub const OUTPUT_BUFFER_BYTES: usize = 4 * 1024;

/// Everything derived from one configuration.
#[derive(Debug)]
pub struct Site {
    /// The configuration.
    pub config: Config,
    /// Canonical mapping base of every location (`[server][location]`),
    /// `None` when it does not exist.
    pub bases: Vec<Vec<Option<PathBuf>>>,
    /// Request head limits.
    pub limits: Limits,
}

impl Site {
    /// The site of `config`, canonicalising every location's base.
    pub fn new(config: Config) -> Site {
        let bases = config
            .servers
            .iter()
            .map(|s| {
                s.locations
                    .iter()
                    .map(|l| std::fs::canonicalize(static_files::mapping_base(l)).ok())
                    .collect()
            })
            .collect();
        Site { config, bases, limits: Limits::default() }
    }

    /// Largest size of a connection's read buffer: a whole head of the
    /// largest size allowed, plus room for the start of a body or the next
    /// request.
    pub fn read_buffer_size(&self) -> usize {
        self.limits.max_head + READ_SLACK_BYTES
    }

    /// Location `at` = (server index, location index).
    pub fn location(&self, at: (usize, usize)) -> Option<&Location> {
        self.config.servers.get(at.0)?.locations.get(at.1)
    }

    /// The canonical mapping base of location `at`, if it exists.
    pub fn base(&self, at: (usize, usize)) -> Option<&Path> {
        self.bases.get(at.0)?.get(at.1)?.as_deref()
    }

    /// The first `server_name` of server `index`, for log lines.
    pub fn server_name(&self, index: usize) -> &str {
        let names = self.config.servers.get(index).map(|s| s.names.as_slice());
        names.and_then(<[String]>::first).map_or("", String::as_str)
    }
}

/// Process-long state shared by every connection.
#[derive(Debug)]
pub struct Runtime {
    /// The loop's clock and cached date strings.
    pub clock: Clock,
    /// Access and error logs (reopened by a reload).
    pub log: Log,
    /// Small files' contents.
    pub cache: FileCache,
    /// Scratch space for decoded chunked bodies.
    pub scratch: Vec<u8>,
    /// Graceful stop in progress: no more keep-alive.
    pub shutting_down: bool,
    /// Child processes started by handlers and not yet reaped; the reactor
    /// reaps them on `SIGCHLD` and at exit.
    pub children: Vec<u32>,
    /// Process groups sent `SIGTERM` (a CGI script cut short), each with
    /// when it gets `SIGKILL` if anything of it is left; the reactor sends
    /// them when due, and at exit.
    pub kills: Vec<(u32, Instant)>,
    /// Every live session (`session on`); kept across reloads.
    pub sessions: SessionStore,
    /// Read buffers of connections that went idle, for reuse.
    buffers: Vec<Vec<u8>>,
    /// Empty output buffers of connections that went idle, for reuse.
    out_buffers: Vec<Vec<u8>>,
    /// Parsed heads and head copies of finished requests, for reuse: a
    /// connection holds neither between requests.
    heads: Vec<Head>,
    raws: Vec<Vec<u8>>,
}

impl Runtime {
    /// A runtime writing to `log`.
    pub fn new(log: Log) -> Runtime {
        Runtime {
            clock: Clock::new(),
            log,
            cache: FileCache::default(),
            scratch: Vec::new(),
            shutting_down: false,
            children: Vec::new(),
            kills: Vec::new(),
            sessions: SessionStore::default(),
            buffers: Vec::new(),
            out_buffers: Vec::new(),
            heads: Vec::new(),
            raws: Vec::new(),
        }
    }

    /// A small read buffer of [`READ_BUFFER_BYTES`], from the pool when one
    /// is there.
    pub fn take_buffer(&mut self) -> Vec<u8> {
        match self.buffers.pop() {
            Some(b) => b,
            None => vec![0; READ_BUFFER_BYTES],
        }
    }

    /// Gives a read buffer back. The pool keeps at most [`POOLED_BUFFERS`],
    /// and only small ones: a buffer grown for a large head is freed, so idle
    /// memory returns to the baseline after load.
    pub fn give_buffer(&mut self, buf: Vec<u8>) {
        let small = buf.len() == READ_BUFFER_BYTES && buf.capacity() == READ_BUFFER_BYTES;
        if self.buffers.len() < POOLED_BUFFERS && small {
            self.buffers.push(buf);
        }
    }

    /// An empty output buffer with room for [`OUTPUT_BUFFER_BYTES`], from
    /// the pool when one is there.
    pub fn take_output_buffer(&mut self) -> Vec<u8> {
        match self.out_buffers.pop() {
            Some(b) => b,
            None => Vec::with_capacity(OUTPUT_BUFFER_BYTES),
        }
    }

    /// Gives an output buffer back (emptied). As with read buffers, at most
    /// [`POOLED_BUFFERS`] are kept, and only those of the first size.
    pub fn give_output_buffer(&mut self, mut buf: Vec<u8>) {
        if self.out_buffers.len() < POOLED_BUFFERS && buf.capacity() == OUTPUT_BUFFER_BYTES {
            buf.clear();
            self.out_buffers.push(buf);
        }
    }

    /// A head to parse into, from the pool when one is there.
    pub fn take_head(&mut self) -> Head {
        self.heads.pop().unwrap_or_default()
    }

    /// Gives a head back; at most [`POOLED_BUFFERS`] are kept, only small ones.
    pub fn give_head(&mut self, head: Head) {
        if self.heads.len() < POOLED_BUFFERS && head.is_small() {
            self.heads.push(head);
        }
    }

    /// An empty buffer for a request head's copy, from the pool when one is
    /// there.
    pub fn take_raw(&mut self) -> Vec<u8> {
        self.raws.pop().unwrap_or_default()
    }

    /// Gives a head copy's buffer back (emptied); at most
    /// [`POOLED_BUFFERS`] are kept, and only those of up to
    /// [`READ_BUFFER_BYTES`].
    pub fn give_raw(&mut self, mut raw: Vec<u8>) {
        if self.raws.len() < POOLED_BUFFERS && raw.capacity() <= READ_BUFFER_BYTES {
            raw.clear();
            self.raws.push(raw);
        }
    }

    /// Logs an error-log line.
    pub fn error(&mut self, level: Level, message: &str) {
        self.log.error(level, message, &self.clock.time_err, self.clock.now);
    }
}

/// The loop's notion of now, with the `Date` header and log timestamps
/// re-formatted at most once a second.
#[derive(Debug)]
pub struct Clock {
    /// Monotonic now.
    pub now: Instant,
    second: u64,
    /// IMF-fixdate for the `Date` header.
    pub date: String,
    /// Access log time.
    pub time_local: String,
    /// Error log time.
    pub time_err: String,
}

impl Clock {
    fn new() -> Clock {
        let mut c = Clock {
            now: Instant::now(),
            second: u64::MAX,
            date: String::new(),
            time_local: String::new(),
            time_err: String::new(),
        };
        c.update();
        c
    }

    /// Reads the clocks; re-formats the strings when the second changed.
    pub fn update(&mut self) {
        self.now = Instant::now();
        let wall = SystemTime::now();
        let second = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            self.date = platform::httpdate::fmt_http_date(wall);
            self.time_local = log::time_local(&self.date);
            self.time_err = log::time_err(&self.date);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_pool_keeps_only_small_buffers() {
        let log = Log::open(None, &config::LogTarget::Off).unwrap_or_else(|e| panic!("log: {e}"));
        let mut rt = Runtime::new(log);
        let mut grown = rt.take_buffer();
        assert_eq!(grown.len(), READ_BUFFER_BYTES);
        grown.resize(16 * 1024 + READ_SLACK_BYTES, 0);
        rt.give_buffer(grown);
        rt.give_buffer(vec![0; READ_BUFFER_BYTES]);
        assert_eq!(rt.buffers.len(), 1);
        assert!(rt.buffers.iter().all(|b| b.capacity() == READ_BUFFER_BYTES));
        for _ in 0..2 * POOLED_BUFFERS {
            rt.give_buffer(vec![0; READ_BUFFER_BYTES]);
        }
        assert_eq!(rt.buffers.len(), POOLED_BUFFERS);
        assert_eq!(rt.take_buffer().len(), READ_BUFFER_BYTES);

        let mut out = rt.take_output_buffer();
        assert_eq!((out.len(), out.capacity()), (0, OUTPUT_BUFFER_BYTES));
        out.extend_from_slice(b"queued");
        rt.give_output_buffer(out);
        let mut grown = Vec::with_capacity(8 * OUTPUT_BUFFER_BYTES);
        grown.push(1);
        rt.give_output_buffer(grown);
        assert_eq!(rt.out_buffers.len(), 1);
        assert!(rt.out_buffers.iter().all(|b| b.is_empty() && b.capacity() == OUTPUT_BUFFER_BYTES));
        for _ in 0..2 * POOLED_BUFFERS {
            rt.give_output_buffer(Vec::with_capacity(OUTPUT_BUFFER_BYTES));
        }
        assert_eq!(rt.out_buffers.len(), POOLED_BUFFERS);

        let mut raw = rt.take_raw();
        raw.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        rt.give_raw(raw);
        rt.give_raw(Vec::with_capacity(4 * READ_BUFFER_BYTES));
        assert_eq!(rt.raws.len(), 1);
        assert!(rt.take_raw().is_empty());
        let head = rt.take_head();
        rt.give_head(head);
        assert_eq!(rt.heads.len(), 1);
        for _ in 0..2 * POOLED_BUFFERS {
            rt.give_head(Head::new());
            rt.give_raw(Vec::new());
        }
        assert_eq!((rt.heads.len(), rt.raws.len()), (POOLED_BUFFERS, POOLED_BUFFERS));
    }
}
