//! File-descriptor flags and non-blocking pipes.
//!
//! [`pipe`] creates both ends non-blocking and close-on-exec; on systems with
//! `pipe2(2)` that happens atomically, so no other thread's `fork`+`exec` can
//! inherit a half-configured descriptor. [`set_nonblocking`] and
//! [`set_cloexec`] change the flags of an existing descriptor, and
//! [`is_nonblocking`] and [`is_cloexec`] read them back.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Creates a pipe whose two ends are both non-blocking and close-on-exec.
///
/// Returns `(read end, write end)`. Linux, Android, FreeBSD, DragonFly,
/// OpenBSD and NetBSD set both flags atomically with `pipe2(2)`; macOS and iOS
/// have no `pipe2`, so there the flags are set with `fcntl(2)` right after
/// `pipe(2)`: a `fork` in another thread between the two calls could leak
/// the descriptors into its child, which cannot happen in a single-threaded
/// program such as Berth.
///
/// See [pipe2(2)](https://man7.org/linux/man-pages/man2/pipe2.2.html) and
/// [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
///
/// # Errors
///
/// Fails with the OS error of `pipe2`/`pipe`/`fcntl`, typically `EMFILE` or
/// `ENFILE` when the process or the system is out of descriptors.
///
/// # Examples
///
/// ```
/// use std::io::{ErrorKind, Read, Write};
///
/// let (read, write) = platform::fd::pipe()?;
/// let mut read = std::fs::File::from(read);
/// let mut buf = [0u8; 8];
/// assert_eq!(read.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
/// std::fs::File::from(write).write_all(b"hi")?;
/// assert_eq!(read.read(&mut buf)?, 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    sys::pipe()
}

/// Turns `O_NONBLOCK` on or off for `fd`.
///
/// Reads the file status flags with `F_GETFL` and writes them back with
/// `F_SETFL` only when they change. The flag belongs to the open file
/// description, so it is shared by every duplicate of `fd`.
///
/// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
///
/// # Errors
///
/// Fails with the OS error of `fcntl`, e.g. `EBADF`.
pub fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let flags = get_status_flags(fd)?;
    let new = if on { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
    if new != flags {
        // SAFETY: `fd` is a live descriptor borrowed for the call; F_SETFL takes
        // an int argument and no pointer.
        syscall!(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, new) })?;
    }
    Ok(())
}

/// Turns `FD_CLOEXEC` on or off for `fd`.
///
/// Reads the descriptor flags with `F_GETFD` and writes them back with
/// `F_SETFD` only when they change. Unlike `O_NONBLOCK`, this flag belongs to
/// this descriptor number alone, not to its duplicates.
///
/// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
///
/// # Errors
///
/// Fails with the OS error of `fcntl`, e.g. `EBADF`.
pub fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let flags = get_descriptor_flags(fd)?;
    let new = if on { flags | libc::FD_CLOEXEC } else { flags & !libc::FD_CLOEXEC };
    if new != flags {
        // SAFETY: `fd` is a live descriptor borrowed for the call; F_SETFD takes
        // an int argument and no pointer.
        syscall!(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, new) })?;
    }
    Ok(())
}

/// Sets close-on-exec on every open descriptor numbered `from` or above;
/// returns how many there were.
///
/// A process inherits whatever descriptors its parent left open without
/// close-on-exec (a shell, a service manager, a test harness), and would
/// pass them on to every program it starts. A server that runs CGI scripts
/// calls this once at startup, so that a script inherits nothing but its
/// standard streams. The descriptors are listed from `/dev/fd` (Linux, macOS
/// and the BSDs all have it); the listing's own descriptor is among them,
/// and closes with it.
///
/// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html) (`F_SETFD`).
///
/// # Errors
///
/// When `/dev/fd` cannot be listed.
pub fn set_cloexec_from(from: i32) -> io::Result<usize> {
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/dev/fd")? {
        let entry = entry?;
        if let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) {
            if fd >= from {
                fds.push(fd);
            }
        }
    }
    let mut count = 0;
    for fd in fds {
        // SAFETY: F_GETFD/F_SETFD take an int argument and no pointer; a
        // number that is not (or no longer) open fails with EBADF, which is
        // skipped, and changing only FD_CLOEXEC of an open descriptor owned
        // by someone else in this process does not affect its use here.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 {
            continue;
        }
        if flags & libc::FD_CLOEXEC == 0 {
            // SAFETY: as above.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
                continue;
            }
        }
        count += 1;
    }
    Ok(count)
}

/// Reports whether `O_NONBLOCK` is set on `fd`.
///
/// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html) (`F_GETFL`).
///
/// # Errors
///
/// Fails with the OS error of `fcntl`, e.g. `EBADF`.
pub fn is_nonblocking(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(get_status_flags(fd)? & libc::O_NONBLOCK != 0)
}

/// Reports whether `FD_CLOEXEC` is set on `fd`.
///
/// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html) (`F_GETFD`).
///
/// # Errors
///
/// Fails with the OS error of `fcntl`, e.g. `EBADF`.
pub fn is_cloexec(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(get_descriptor_flags(fd)? & libc::FD_CLOEXEC != 0)
}

/// Reads the file status flags (`O_NONBLOCK`, `O_APPEND`, ...).
fn get_status_flags(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: `fd` is a live descriptor borrowed for the call; F_GETFL takes no
    // argument.
    syscall!(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })
}

/// Reads the descriptor flags (`FD_CLOEXEC`).
fn get_descriptor_flags(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: `fd` is a live descriptor borrowed for the call; F_GETFD takes no
    // argument.
    syscall!(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) })
}

/// Wraps the two descriptors `pipe`/`pipe2` wrote into owned handles.
///
/// # Safety
///
/// Both integers must be open descriptors that nothing else owns.
unsafe fn own_pair(fds: [libc::c_int; 2]) -> (OwnedFd, OwnedFd) {
    // SAFETY: the caller guarantees both are open and unowned, so each gets
    // exactly one owner that closes it.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

cfg_if::cfg_if! {
    if #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "openbsd",
        target_os = "netbsd",
    ))] {
        mod sys {
            use super::*;

            /// `pipe2` sets both flags atomically with the creation.
            pub(super) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
                let mut fds: [libc::c_int; 2] = [-1, -1];
                // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
                syscall!(unsafe {
                    libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC)
                })?;
                // SAFETY: pipe2 succeeded, so both entries are fresh open descriptors
                // owned by nobody else.
                Ok(unsafe { own_pair(fds) })
            }
        }
    } else {
        mod sys {
            use super::*;

            /// No `pipe2` here (macOS, iOS): create, then set the flags. The
            /// descriptors are owned first so an `fcntl` failure closes them.
            pub(super) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
                use std::os::fd::AsFd;

                let mut fds: [libc::c_int; 2] = [-1, -1];
                // SAFETY: `fds` is a writable array of two ints, as pipe requires.
                syscall!(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
                // SAFETY: pipe succeeded, so both entries are fresh open descriptors
                // owned by nobody else.
                let (read, write) = unsafe { own_pair(fds) };
                for fd in [read.as_fd(), write.as_fd()] {
                    set_cloexec(fd, true)?;
                    set_nonblocking(fd, true)?;
                }
                Ok((read, write))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::{ErrorKind, Read, Write};
    use std::os::fd::AsFd;

    #[test]
    fn set_cloexec_from_marks_inherited_descriptors() {
        let (r, w) = pipe().unwrap();
        set_cloexec(r.as_fd(), false).unwrap();
        set_cloexec(w.as_fd(), false).unwrap();
        let lowest = r.as_raw_fd().min(w.as_raw_fd());
        assert!(set_cloexec_from(lowest).unwrap() >= 2);
        assert!(is_cloexec(r.as_fd()).unwrap());
        assert!(is_cloexec(w.as_fd()).unwrap());
    }

    /// Reads the flags with raw `fcntl`, independently of the functions tested.
    fn raw_flags(fd: BorrowedFd<'_>) -> (libc::c_int, libc::c_int) {
        // SAFETY: `fd` is open for the duration of the borrow; F_GETFL and F_GETFD
        // take no argument.
        let (fl, fd_flags) = unsafe {
            (libc::fcntl(fd.as_raw_fd(), libc::F_GETFL), libc::fcntl(fd.as_raw_fd(), libc::F_GETFD))
        };
        assert!(fl >= 0 && fd_flags >= 0, "fcntl failed: {}", io::Error::last_os_error());
        (fl, fd_flags)
    }

    #[test]
    fn pipe_ends_are_nonblocking_and_cloexec() {
        let (read, write) = pipe().unwrap();
        for fd in [read.as_fd(), write.as_fd()] {
            let (fl, fd_flags) = raw_flags(fd);
            assert_ne!(fl & libc::O_NONBLOCK, 0);
            assert_ne!(fd_flags & libc::FD_CLOEXEC, 0);
            assert!(is_nonblocking(fd).unwrap());
            assert!(is_cloexec(fd).unwrap());
        }
    }

    #[test]
    fn pipe_moves_bytes_and_read_end_would_block_when_empty() {
        let (read, write) = pipe().unwrap();
        let mut read = File::from(read);
        let mut write = File::from(write);
        let mut buf = [0u8; 16];
        assert_eq!(read.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        write.write_all(b"berth").unwrap();
        assert_eq!(read.read(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"berth");
        drop(write);
        assert_eq!(read.read(&mut buf).unwrap(), 0, "EOF after the write end closes");
    }

    #[test]
    fn pipe_write_end_would_block_when_full() {
        let (_read, write) = pipe().unwrap();
        let mut write = File::from(write);
        let chunk = [7u8; 4096];
        let mut total = 0usize;
        let err = loop {
            match write.write(&chunk) {
                Ok(n) => total += n,
                Err(err) => break err,
            }
            assert!(total < 64 << 20, "a pipe never filled up");
        };
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        assert!(total > 0);
    }

    #[test]
    fn set_nonblocking_toggles_and_is_idempotent() {
        let (read, _write) = pipe().unwrap();
        let fd = read.as_fd();
        set_nonblocking(fd, false).unwrap();
        assert_eq!(raw_flags(fd).0 & libc::O_NONBLOCK, 0);
        assert!(!is_nonblocking(fd).unwrap());
        set_nonblocking(fd, false).unwrap();
        assert!(!is_nonblocking(fd).unwrap());
        set_nonblocking(fd, true).unwrap();
        assert_ne!(raw_flags(fd).0 & libc::O_NONBLOCK, 0);
        assert!(is_nonblocking(fd).unwrap());
        assert!(is_cloexec(fd).unwrap(), "O_NONBLOCK changes must not touch FD_CLOEXEC");
    }

    #[test]
    fn set_cloexec_toggles_and_is_idempotent() {
        let (read, _write) = pipe().unwrap();
        let fd = read.as_fd();
        set_cloexec(fd, false).unwrap();
        assert_eq!(raw_flags(fd).1 & libc::FD_CLOEXEC, 0);
        assert!(!is_cloexec(fd).unwrap());
        set_cloexec(fd, true).unwrap();
        set_cloexec(fd, true).unwrap();
        assert_ne!(raw_flags(fd).1 & libc::FD_CLOEXEC, 0);
        assert!(is_nonblocking(fd).unwrap(), "FD_CLOEXEC changes must not touch O_NONBLOCK");
    }

    #[test]
    fn flags_of_a_regular_file() {
        let file = File::open("/dev/null").unwrap();
        // std opens with O_CLOEXEC and blocking.
        assert!(is_cloexec(file.as_fd()).unwrap());
        assert!(!is_nonblocking(file.as_fd()).unwrap());
    }
}
