//! Sending a range of a file to a socket without copying it through user
//! space.
//!
//! [`sendfile`] uses the kernel's `sendfile` where there is one (Linux,
//! Android, FreeBSD, DragonFly, macOS, iOS) and falls back to
//! [`pread_write`] (a `pread` into a stack buffer and one `write`) where
//! there is not (OpenBSD, NetBSD). Both send from an explicit offset and
//! leave the file's own position alone, so one open file can serve many
//! responses, and both make at most one attempt to write, as a non-blocking
//! event loop needs.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The most [`pread_write`] sends per call: the size of its stack buffer.
pub const PREAD_WRITE_CHUNK: usize = 16 * 1024;

/// Sends up to `count` bytes of `file`, starting at `offset`, to `out`, and
/// returns how many were sent.
///
/// `out` should be a connected stream socket: that is all macOS and FreeBSD
/// accept (Linux takes any descriptor). `file` must be a regular file open
/// for reading. The file's position (as used by `read`) does not move. A
/// short count is normal, for example when a non-blocking socket's buffer
/// fills up; call again with `offset + sent` when the socket is writable.
/// `Ok(0)` with `count > 0` means `offset` is at or past the end of the file.
/// `count == 0` returns `Ok(0)` at once (FreeBSD would read that as "until
/// end of file"). Linux sends at most 0x7fff_f000 bytes per call. Interrupted
/// calls are retried, or report the bytes already sent.
///
/// See [sendfile(2)](https://man7.org/linux/man-pages/man2/sendfile.2.html),
/// [FreeBSD sendfile(2)](https://man.freebsd.org/cgi/man.cgi?query=sendfile&sektion=2)
/// and [macOS sendfile(2)](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/sendfile.2.html).
///
/// # Errors
///
/// `WouldBlock` when `out` is non-blocking and its buffer is full (nothing
/// was sent). `InvalidInput` if `offset` does not fit the OS's `off_t`. Other
/// OS errors pass through: `BrokenPipe`/`ConnectionReset` when the peer is
/// gone, `EINVAL` or `ENOSYS` when `file` is not something `sendfile` can
/// read from (such as some special file systems or a pipe; use
/// [`pread_write`] for those), `ENOTSOCK`/`EOPNOTSUPP` on the BSDs when `out`
/// is not a stream socket.
///
/// # Examples
///
/// ```no_run
/// use std::fs::File;
/// use std::net::TcpStream;
/// use std::os::fd::AsFd;
///
/// let file = File::open("index.html")?;
/// let len = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
/// let socket = TcpStream::connect("127.0.0.1:8080")?;
/// let mut offset = 0u64;
/// while offset < len as u64 {
///     let rest = len - offset as usize;
///     offset += platform::sendfile::sendfile(socket.as_fd(), file.as_fd(), offset, rest)? as u64;
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn sendfile(
    out: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: u64,
    count: usize,
) -> io::Result<usize> {
    if count == 0 {
        return Ok(0);
    }
    sys::sendfile(out, file, to_off(offset)?, count)
}

/// Sends up to `count` bytes of `file` from `offset` to `out` through a
/// user-space buffer: one `pread`, then one `write`.
///
/// The portable fallback behind [`sendfile`] on systems without one, and a
/// drop-in for it when `sendfile` refuses a source (`EINVAL`, `ENOSYS`) or,
/// on macOS and FreeBSD, a destination that is not a socket. Sends at most
/// [`PREAD_WRITE_CHUNK`] bytes per call. Like `sendfile`, it leaves the
/// file's position alone, returns `Ok(0)` at end of file, and passes
/// `WouldBlock` through (the bytes read are then discarded, and read again
/// by the next call).
///
/// See [pread(2)](https://man7.org/linux/man-pages/man2/pread.2.html) and
/// [write(2)](https://man7.org/linux/man-pages/man2/write.2.html).
///
/// # Errors
///
/// `InvalidInput` if `offset` does not fit `off_t`; otherwise the OS error
/// of `pread` (e.g. `EISDIR`, `EBADF` for a file not open for reading) or of
/// `write` (`WouldBlock`, `BrokenPipe`, ...).
pub fn pread_write(
    out: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: u64,
    count: usize,
) -> io::Result<usize> {
    let offset = to_off(offset)?;
    let mut buf = [0u8; PREAD_WRITE_CHUNK];
    let want = count.min(buf.len());
    // SAFETY: `file` is live and `buf` is writable for `want <= buf.len()` bytes.
    let read = syscall_retry!(unsafe {
        libc::pread(file.as_raw_fd(), buf.as_mut_ptr().cast(), want, offset)
    })?;
    // pread returns 0..=want on success.
    let chunk = buf.get(..read.unsigned_abs()).unwrap_or_default();
    if chunk.is_empty() {
        return Ok(0);
    }
    let (ptr, len) = (chunk.as_ptr().cast(), chunk.len());
    // SAFETY: `out` is live and `ptr` is readable for `len` bytes.
    let written = syscall_retry!(unsafe { libc::write(out.as_raw_fd(), ptr, len) })?;
    Ok(written.unsigned_abs())
}

/// A file offset as the OS's `off_t` (64-bit on every supported 64-bit
/// target, 32-bit on some 32-bit ones).
fn to_off(offset: u64) -> io::Result<libc::off_t> {
    libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset too large"))
}

cfg_if::cfg_if! {
    if #[cfg(any(target_os = "linux", target_os = "android"))] {
        mod sys {
            use super::*;

            /// Linux transfers at most this much per call, whatever `count` says.
            const MAX_SENDFILE: usize = 0x7fff_f000;

            /// `sendfile(out_fd, in_fd, &offset, count)`: the kernel reads from
            /// the given offset and updates our copy, not the file's position.
            pub(super) fn sendfile(
                out: BorrowedFd<'_>,
                file: BorrowedFd<'_>,
                offset: libc::off_t,
                count: usize,
            ) -> io::Result<usize> {
                let mut offset = offset;
                // SAFETY: both descriptors are live; `offset` is a writable off_t.
                let sent = syscall_retry!(unsafe {
                    libc::sendfile(out.as_raw_fd(), file.as_raw_fd(), &mut offset, count.min(MAX_SENDFILE))
                })?;
                Ok(sent.unsigned_abs())
            }
        }
    } else if #[cfg(any(target_os = "freebsd", target_os = "dragonfly"))] {
        mod sys {
            use super::*;

            /// `sendfile(fd, s, offset, nbytes, hdtr, &sbytes, flags)`.
            pub(super) fn sendfile(
                out: BorrowedFd<'_>,
                file: BorrowedFd<'_>,
                offset: libc::off_t,
                count: usize,
            ) -> io::Result<usize> {
                loop {
                    let mut sent: libc::off_t = 0;
                    // SAFETY: both descriptors are live; no header/trailer
                    // vector (null); `sent` is a writable off_t.
                    let rc = unsafe {
                        libc::sendfile(
                            file.as_raw_fd(),
                            out.as_raw_fd(),
                            offset,
                            count,
                            std::ptr::null_mut(),
                            &mut sent,
                            0,
                        )
                    };
                    if let Some(res) = partial_result(rc, sent) {
                        return res;
                    }
                }
            }
        }
    } else if #[cfg(target_vendor = "apple")] {
        mod sys {
            use super::*;

            /// `sendfile(fd, s, offset, &len, hdtr, flags)`: `len` is the
            /// count going in and the bytes sent coming out.
            pub(super) fn sendfile(
                out: BorrowedFd<'_>,
                file: BorrowedFd<'_>,
                offset: libc::off_t,
                count: usize,
            ) -> io::Result<usize> {
                let count = libc::off_t::try_from(count).unwrap_or(libc::off_t::MAX);
                loop {
                    let mut len = count;
                    // SAFETY: both descriptors are live; no header/trailer
                    // vector (null); `len` is a writable off_t.
                    let rc = unsafe {
                        libc::sendfile(
                            file.as_raw_fd(),
                            out.as_raw_fd(),
                            offset,
                            &mut len,
                            std::ptr::null_mut(),
                            0,
                        )
                    };
                    if let Some(res) = partial_result(rc, len) {
                        return res;
                    }
                }
            }
        }
    } else {
        mod sys {
            /// No `sendfile` here (OpenBSD, NetBSD, ...): copy through a buffer.
            pub(super) fn sendfile(
                out: std::os::fd::BorrowedFd<'_>,
                file: std::os::fd::BorrowedFd<'_>,
                offset: libc::off_t,
                count: usize,
            ) -> std::io::Result<usize> {
                // `offset` came from a u64, so it is not negative.
                super::pread_write(out, file, offset.unsigned_abs(), count)
            }
        }
    }
}

/// The BSD `sendfile`s return -1 with `EAGAIN`, `EINTR` or `EBUSY` after
/// sending part of the range, and report that part in `sent`: bytes sent
/// count as success. `None` means "interrupted before sending: call again".
#[cfg(any(target_os = "freebsd", target_os = "dragonfly", target_vendor = "apple"))]
fn partial_result(rc: libc::c_int, sent: libc::off_t) -> Option<io::Result<usize>> {
    let sent = usize::try_from(sent).unwrap_or(0);
    if rc == 0 {
        return Some(Ok(sent));
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN | libc::EINTR | libc::EBUSY) if sent > 0 => Some(Ok(sent)),
        Some(libc::EINTR) => None,
        _ => Some(Err(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{File, OpenOptions};
    use std::io::{ErrorKind, Read, Seek, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    type SendFn = fn(BorrowedFd<'_>, BorrowedFd<'_>, u64, usize) -> io::Result<usize>;
    const BOTH: [(&str, SendFn); 2] = [("sendfile", sendfile), ("pread_write", pread_write)];

    /// A file in the temp dir, removed on drop.
    struct TempFile {
        path: PathBuf,
        file: File,
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    fn temp_file(contents: &[u8]) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "platform-sendfile-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        let mut file =
            OpenOptions::new().read(true).write(true).create_new(true).open(&path).unwrap();
        file.write_all(contents).unwrap();
        file.rewind().unwrap();
        TempFile { path, file }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Waits until `fd` is writable (up to 5 s).
    fn wait_writable(fd: BorrowedFd<'_>) {
        let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
        // SAFETY: one valid pollfd whose descriptor stays open for the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, 5000) };
        assert_eq!(rc, 1, "socket never became writable");
    }

    /// Sends `file[offset..offset + count]` to `out` with `send`, looping
    /// over short counts and WouldBlock; returns the bytes sent.
    fn send_all(
        send: SendFn,
        out: BorrowedFd<'_>,
        file: BorrowedFd<'_>,
        offset: u64,
        count: usize,
    ) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut done = 0;
        while done < count {
            assert!(Instant::now() < deadline, "sending stalled");
            match send(out, file, offset + done as u64, count - done) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => wait_writable(out),
                Err(e) => panic!("send: {e}"),
            }
        }
        done
    }

    #[test]
    fn whole_file_over_tcp_reads_back_the_same_bytes() {
        let data = pattern(1_000_003);
        for (name, send) in BOTH {
            let temp = temp_file(&data);
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, _) = listener.accept().unwrap();
            server.set_nonblocking(true).unwrap();
            let reader = std::thread::spawn(move || {
                let mut got = Vec::new();
                (&client).read_to_end(&mut got).unwrap();
                got
            });
            let sent = send_all(send, server.as_fd(), temp.file.as_fd(), 0, data.len());
            assert_eq!(sent, data.len(), "{name}");
            drop(server);
            let got = reader.join().unwrap();
            assert!(got == data, "{name}: bytes differ");
            // The file's own position did not move.
            assert_eq!((&temp.file).stream_position().unwrap(), 0, "{name}");
        }
    }

    #[test]
    fn range_from_an_offset_over_a_socket_pair() {
        let data = pattern(100_000);
        for (name, send) in BOTH {
            let temp = temp_file(&data);
            let (mut a, b) = UnixStream::pair().unwrap();
            let sent = send_all(send, b.as_fd(), temp.file.as_fd(), 12_345, 1000);
            assert_eq!(sent, 1000, "{name}");
            drop(b);
            let mut got = Vec::new();
            a.read_to_end(&mut got).unwrap();
            assert_eq!(got, &data[12_345..13_345], "{name}");
        }
    }

    #[test]
    fn stops_at_end_of_file() {
        let data = pattern(5000);
        for (name, send) in BOTH {
            let temp = temp_file(&data);
            let (mut a, b) = UnixStream::pair().unwrap();
            let file = temp.file.as_fd();
            // Asking past the end sends only what is there.
            assert_eq!(send_all(send, b.as_fd(), file, 4000, 10_000), 1000, "{name}");
            // At or past the end, and for a zero count: nothing, no error.
            assert_eq!(send(b.as_fd(), file, 5000, 100).unwrap(), 0, "{name}");
            assert_eq!(send(b.as_fd(), file, 1 << 40, 100).unwrap(), 0, "{name}");
            assert_eq!(send(b.as_fd(), file, 0, 0).unwrap(), 0, "{name}");
            drop(b);
            let mut got = Vec::new();
            a.read_to_end(&mut got).unwrap();
            assert_eq!(got, &data[4000..], "{name}");
        }
    }

    #[test]
    fn would_block_passes_through() {
        let data = pattern(256 * 1024);
        for (name, send) in BOTH {
            let temp = temp_file(&data);
            let (_peer, out) = UnixStream::pair().unwrap();
            out.set_nonblocking(true).unwrap();
            let mut total = 0usize;
            let err = loop {
                match send(out.as_fd(), temp.file.as_fd(), 0, data.len()) {
                    Ok(n) => total += n,
                    Err(e) => break e,
                }
                assert!(total < 256 << 20, "{name}: the socket never filled up");
            };
            assert_eq!(err.kind(), ErrorKind::WouldBlock, "{name}");
            assert!(total > 0, "{name}");
        }
    }

    #[test]
    fn errors_are_reported() {
        let temp = temp_file(b"abc");
        let (_peer, out) = UnixStream::pair().unwrap();
        for (name, send) in BOTH {
            let err = send(out.as_fd(), temp.file.as_fd(), u64::MAX, 3).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name}");
            // A source open for writing only cannot be read.
            let write_only = OpenOptions::new().write(true).open(&temp.path).unwrap();
            assert!(send(out.as_fd(), write_only.as_fd(), 0, 3).is_err(), "{name}");
            // The peer is gone.
            let (peer, out) = UnixStream::pair().unwrap();
            drop(peer);
            let err = send(out.as_fd(), temp.file.as_fd(), 0, 3).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{name}");
        }
    }
}
