//! Errors that end a request: the status to answer and the cause to log.
//!
//! A handler or the router returns an [`HttpError`]; the connection turns it
//! into the error page and, when [`HttpError::level`] says so, one error-log
//! line in nginx's shape: `open() "/srv/www/x" failed (13: Permission
//! denied)`, followed by the client, server, request and host. Every 403 and
//! 500 carries a cause, so none is answered without a line saying why.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::http::request::ParseError;
use crate::log::Level;

/// Why a request failed.
#[derive(Debug)]
pub enum Cause {
    /// The status says it all (405, 413 from `Content-Length`, a redirect
    /// target...): nothing is logged.
    Plain,
    /// The request head or body was malformed.
    Parse(ParseError),
    /// An OS call on a path failed.
    Io {
        /// The call, as nginx names it: `"open()"`, `"stat()"`, `"opendir()"`.
        op: &'static str,
        /// The path it was given.
        path: PathBuf,
        /// What it returned.
        err: io::Error,
    },
    /// A refusal decided by Berth itself, with its reason.
    Refused(String),
}

/// A failed request: the status to answer and its cause.
#[derive(Debug)]
pub struct HttpError {
    /// The status code to answer with.
    pub status: u16,
    /// Why.
    pub cause: Cause,
}

impl HttpError {
    /// An error whose status needs no explanation in the error log.
    pub fn plain(status: u16) -> HttpError {
        HttpError { status, cause: Cause::Plain }
    }

    /// A malformed request.
    pub fn parse(e: ParseError) -> HttpError {
        HttpError { status: e.status(), cause: Cause::Parse(e) }
    }

    /// A failed OS call `op` on `path`, with the status nginx answers for its
    /// errno (see [`io_status`]).
    pub fn io(op: &'static str, path: &Path, err: io::Error) -> HttpError {
        HttpError {
            status: io_status(&err),
            cause: Cause::Io { op, path: path.to_path_buf(), err },
        }
    }

    /// A refusal with `status` for `reason`.
    pub fn refused(status: u16, reason: impl Into<String>) -> HttpError {
        HttpError { status, cause: Cause::Refused(reason.into()) }
    }

    /// The error-log level of this error, or `None` when it is not logged.
    ///
    /// As nginx: a missing file (`ENOENT`, `ENOTDIR`) is not worth a line
    /// (`log_not_found` aside); a refused or broken request is an `error`;
    /// a failure of the server's own (500) is `crit`. Malformed requests are
    /// `info`, the level nginx gives to a client's mistakes. A failing CGI
    /// script (502, 504) is an `error`, as nginx logs an upstream's.
    pub fn level(&self) -> Option<Level> {
        match &self.cause {
            Cause::Plain => None,
            Cause::Parse(_) => Some(Level::Info),
            Cause::Io { err, .. } if is_not_found(err) => None,
            // The server's own failures (500, a full disk 507) are `crit`;
            // an upstream's (a CGI script's 502, 504) `error`, as nginx.
            Cause::Io { .. } | Cause::Refused(_) if matches!(self.status, 500 | 507) => {
                Some(Level::Crit)
            }
            Cause::Io { .. } | Cause::Refused(_) => Some(Level::Error),
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Cause::Plain => write!(f, "status {}", self.status),
            Cause::Parse(e) => write!(f, "client sent invalid request: {}", e.message()),
            Cause::Io { op, path, err } => {
                write!(f, "{op} \"{}\" failed (", path.display())?;
                match err.raw_os_error() {
                    Some(n) => write!(f, "{n}: {})", errno_text(err)),
                    None => write!(f, "{err})"),
                }
            }
            Cause::Refused(reason) => f.write_str(reason),
        }
    }
}

/// `ENOTDIR`, `ELOOP` and `ENAMETOOLONG`: the same numbers on Linux and
/// Android; macOS and the BSDs number the last two 62 and 63.
const ENOTDIR: i32 = 20;
#[cfg(any(target_os = "linux", target_os = "android"))]
const ELOOP: i32 = 40;
#[cfg(any(target_os = "linux", target_os = "android"))]
const ENAMETOOLONG: i32 = 36;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const ELOOP: i32 = 62;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const ENAMETOOLONG: i32 = 63;

fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(ENOTDIR)
}

/// The status for a failed file system call, as nginx maps errno
/// (`ngx_http_static_handler`): missing, not a directory or a name too long
/// -> 404; permission denied or a symlink loop -> 403; anything else -> 500.
pub fn io_status(e: &io::Error) -> u16 {
    match e.raw_os_error() {
        Some(ENOTDIR | ENAMETOOLONG) => return 404,
        Some(ELOOP) => return 403,
        _ => {}
    }
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::InvalidInput => 404,
        io::ErrorKind::PermissionDenied => 403,
        _ => 500,
    }
}

/// The OS's text for an error, without std's ` (os error N)` suffix.
fn errno_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text.get(..at).unwrap_or(&text).to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_to_status_table() {
        let cases = [
            (2, 404),            // ENOENT
            (ENOTDIR, 404),      // "/file/x"
            (ENAMETOOLONG, 404), // a 256-byte name
            (13, 403),           // EACCES
            (ELOOP, 403),        // a symlink loop
            (5, 500),            // EIO
        ];
        for (errno, status) in cases {
            assert_eq!(io_status(&io::Error::from_raw_os_error(errno)), status, "errno {errno}");
        }
    }

    #[test]
    fn io_cause_reads_like_nginx() {
        let e = HttpError::io("open()", Path::new("/srv/x"), io::Error::from_raw_os_error(13));
        assert_eq!(e.status, 403);
        assert_eq!(e.to_string(), "open() \"/srv/x\" failed (13: Permission denied)");
        assert_eq!(e.level(), Some(Level::Error));
    }

    #[test]
    fn levels() {
        let missing = HttpError::io("open()", Path::new("/x"), io::Error::from_raw_os_error(2));
        assert_eq!(missing.level(), None);
        let long =
            HttpError::io("open()", Path::new("/x"), io::Error::from_raw_os_error(ENAMETOOLONG));
        assert_eq!((long.status, long.level()), (404, Some(Level::Error)));
        let eio = HttpError::io("read()", Path::new("/x"), io::Error::from_raw_os_error(5));
        assert_eq!((eio.status, eio.level()), (500, Some(Level::Crit)));
        assert_eq!(HttpError::refused(502, "script").level(), Some(Level::Error));
        assert_eq!(HttpError::refused(504, "script").level(), Some(Level::Error));
        assert_eq!(HttpError::refused(507, "disk").level(), Some(Level::Crit));
        assert_eq!(HttpError::plain(405).level(), None);
        assert_eq!(HttpError::refused(403, "no").level(), Some(Level::Error));
        assert_eq!(HttpError::parse(ParseError::ObsFold).level(), Some(Level::Info));
    }
}
