//! Where a request body goes: the sinks a handler chooses from.
//!
//! The connection decodes the body (one [`crate::http::body::BodyDecoder`]
//! for `Content-Length` and chunked) and offers the data to the sink; a sink
//! that takes less than it is offered pushes back, and the connection stops
//! reading the socket until it takes more. Nothing is buffered without
//! bound: memory is capped, a file takes what the disk takes, a pipe takes
//! what the kernel's pipe buffer takes.

use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::Cx;
use crate::error::HttpError;
use crate::reactor::slab::Key;

/// `ENOSPC` and `EDQUOT`: the disk (or the user's quota) is full; 507 as
/// WebDAV servers answer (RFC 4918 §11.5). The same numbers on Linux; macOS
/// and the BSDs have ENOSPC 28 too, EDQUOT 69.
const ENOSPC: i32 = 28;
#[cfg(any(target_os = "linux", target_os = "android"))]
const EDQUOT: i32 = 122;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const EDQUOT: i32 = 69;

/// Whether `e` says the disk (or the user's quota) is full.
pub fn is_disk_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
}

/// A request body's destination.
#[derive(Debug, Default)]
pub enum BodySink {
    /// Read and dropped (the connection stays usable).
    #[default]
    Discard,
    /// Kept in memory, up to a bound.
    Memory(MemorySink),
    /// Spooled to a temporary file.
    TempFile(TempFileSink),
    /// Written to a pipe (a CGI script's stdin).
    Pipe(PipeSink),
    /// Taken piece by piece by [`super::Handler::body`] (a parser that acts
    /// as data arrives, such as multipart uploads).
    Handler,
}

/// A body kept in memory, at most `max` bytes.
#[derive(Debug)]
pub struct MemorySink {
    /// The bytes taken so far.
    pub data: Vec<u8>,
    max: usize,
}

impl MemorySink {
    /// A sink that fails with 413 past `max` bytes.
    pub fn new(max: usize) -> MemorySink {
        MemorySink { data: Vec::new(), max }
    }
}

/// A body spooled to a file created with `O_EXCL` and mode 0600 in a
/// folder; the file is removed when the sink is dropped unless
/// [`TempFileSink::keep`] took it.
#[derive(Debug)]
pub struct TempFileSink {
    file: Option<File>,
    path: PathBuf,
    written: u64,
}

impl TempFileSink {
    /// Creates a new temporary file in `dir` named `.berth-<random>.tmp`.
    ///
    /// # Errors
    /// When no file can be created there (`open()` with its errno).
    pub fn create(dir: &Path) -> Result<TempFileSink, HttpError> {
        let mut last = None;
        for _ in 0..4 {
            let mut id = [0u8; 8];
            if let Err(e) = platform::random::random_bytes(&mut id) {
                return Err(HttpError::io("getrandom()", dir, e));
            }
            let name = format!(".berth-{:016x}.tmp", u64::from_le_bytes(id));
            let path = dir.join(name);
            let opened =
                OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path);
            match opened {
                Ok(file) => return Ok(TempFileSink { file: Some(file), path, written: 0 }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(HttpError::io("open()", &path, e)),
            }
        }
        let e = last.unwrap_or_else(|| io::Error::from(ErrorKind::AlreadyExists));
        Err(HttpError::io("open()", dir, e))
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.written
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the file, rewound to its start, and its path; the caller now
    /// owns both (and removes or links the file itself).
    ///
    /// # Errors
    /// When the file cannot be rewound.
    pub fn keep(mut self) -> Result<(File, PathBuf), HttpError> {
        let Some(mut file) = self.file.take() else {
            return Err(HttpError::refused(500, "temporary file taken twice"));
        };
        let path = std::mem::take(&mut self.path);
        if let Err(e) = file.seek(SeekFrom::Start(0)) {
            let _ = std::fs::remove_file(&path);
            return Err(HttpError::io("lseek()", &path, e));
        }
        Ok((file, path))
    }
}

impl Drop for TempFileSink {
    fn drop(&mut self) {
        if self.file.take().is_some() && !self.path.as_os_str().is_empty() {
            // A cut-off or refused body leaves nothing behind.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A body written to a non-blocking pipe registered as source `key`.
#[derive(Debug)]
pub struct PipeSink {
    /// The pipe's source key.
    pub key: Key,
    /// The write end.
    pub pipe: File,
}

impl BodySink {
    /// Offers `data`; returns how many bytes the sink took (fewer is
    /// back-pressure). [`BodySink::Handler`] is fed by the connection
    /// through the handler and takes nothing here.
    ///
    /// # Errors
    /// 413 past a memory sink's bound, 507 when the disk is full, 500 for
    /// another write failure, 502 when a pipe's reader is gone.
    pub fn write(&mut self, cx: &mut Cx<'_>, data: &[u8]) -> Result<usize, HttpError> {
        match self {
            BodySink::Discard => Ok(data.len()),
            BodySink::Memory(m) => {
                if m.data.len().saturating_add(data.len()) > m.max {
                    return Err(HttpError::plain(413));
                }
                m.data.extend_from_slice(data);
                Ok(data.len())
            }
            BodySink::TempFile(t) => {
                let Some(file) = t.file.as_mut() else { return Ok(0) };
                match file.write_all(data) {
                    Ok(()) => {
                        t.written += data.len() as u64;
                        Ok(data.len())
                    }
                    Err(e) => {
                        let full = is_disk_full(&e);
                        let mut err = HttpError::io("write()", &t.path, e);
                        if full {
                            err.status = 507;
                        }
                        Err(err)
                    }
                }
            }
            BodySink::Pipe(p) => {
                if data.is_empty() || !cx.sources.take_writable(p.key) {
                    return Ok(0);
                }
                match p.pipe.write(data) {
                    Ok(n) => Ok(n),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(0),
                    Err(e) if e.kind() == ErrorKind::Interrupted => Ok(0),
                    Err(e) => {
                        let why = format!("writing the request body to a pipe failed: {e}");
                        Err(HttpError::refused(502, why))
                    }
                }
            }
            BodySink::Handler => Ok(0),
        }
    }

    /// The pipe source this sink writes to, if it is one.
    pub fn pipe_fd(&self) -> Option<(Key, std::os::fd::BorrowedFd<'_>)> {
        match self {
            BodySink::Pipe(p) => Some((p.key, p.pipe.as_fd())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_is_removed_unless_kept() {
        let dir = std::env::temp_dir().join(format!("berth-sink-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let t = TempFileSink::create(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = t.path().to_path_buf();
        assert!(path.exists());
        drop(t);
        assert!(!path.exists(), "a dropped spool leaves nothing behind");

        let t = TempFileSink::create(&dir).unwrap_or_else(|e| panic!("{e}"));
        let (_, kept) = t.keep().unwrap_or_else(|e| panic!("{e}"));
        assert!(kept.exists(), "a kept spool is the caller's");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn temp_file_in_missing_folder_says_where() {
        let err = TempFileSink::create(Path::new("/nonexistent/berth")).err();
        let err = err.map(|e| (e.status, e.to_string()));
        assert!(matches!(&err, Some((404, m)) if m.contains("/nonexistent/berth")), "{err:?}");
    }
}
