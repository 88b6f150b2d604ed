//! The self-pipe behind the waker of `Poll` and, where there is
//! no `EVFILT_USER`, of `Kqueue`: a wake writes a byte, the
//! poller watches the read end (level-triggered) and drains it when reported,
//! so many wakes before a `poll` are one event.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::Wake;

/// The waker's self-pipe. Both ends live as long as any waker or the poller, so a
/// wake never writes to a pipe without a reader (no `SIGPIPE`).
#[derive(Debug)]
pub(crate) struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    /// A new pipe, both ends non-blocking and close-on-exec.
    pub(crate) fn new() -> io::Result<Pipe> {
        let (read, write) = pipe_nonblocking()?;
        Ok(Pipe { read, write })
    }

    /// The read end, the one to watch for readability.
    pub(crate) fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Reads everything pending so the level-triggered registration goes quiet.
    pub(crate) fn drain(&self) -> io::Result<()> {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: `buf` is valid for writes of its length; the fd is open.
            let res = syscall!(unsafe {
                libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
            });
            match res {
                Ok(n) if n > 0 => continue,
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

impl Wake for Pipe {
    fn wake(&self) -> io::Result<()> {
        let byte = [1u8];
        match crate::retry_on_eintr(|| {
            // SAFETY: `byte` is valid for reads of 1 byte; the fd is open.
            syscall!(unsafe { libc::write(self.write.as_raw_fd(), byte.as_ptr().cast(), 1) })
        }) {
            // The pipe is full: wakes are pending already.
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }
}

/// Takes ownership of the two fds `pipe(2)` wrote.
fn owned_pair(fds: [libc::c_int; 2]) -> (OwnedFd, OwnedFd) {
    // SAFETY: pipe(2)/pipe2(2) succeeded, so both are new fds owned by no one else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

cfg_if::cfg_if! {
    if #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "illumos",
        target_os = "solaris",
    ))] {
        /// A pipe with both ends non-blocking and close-on-exec, set atomically.
        fn pipe_nonblocking() -> io::Result<(OwnedFd, OwnedFd)> {
            let mut fds = [-1; 2];
            // SAFETY: `fds` is valid for writes of two c_ints.
            syscall!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
            Ok(owned_pair(fds))
        }
    } else {
        /// A pipe with both ends non-blocking and close-on-exec (no `pipe2` here:
        /// set with `fcntl` right after creation).
        fn pipe_nonblocking() -> io::Result<(OwnedFd, OwnedFd)> {
            let mut fds = [-1; 2];
            // SAFETY: `fds` is valid for writes of two c_ints.
            syscall!(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
            let (read, write) = owned_pair(fds);
            for fd in [&read, &write] {
                let fd = fd.as_raw_fd();
                // SAFETY: `fd` is open; F_SETFD/F_SETFL take an int argument.
                syscall!(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
                // SAFETY: as above; F_GETFL takes no argument.
                let flags = syscall!(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
                // SAFETY: as above.
                syscall!(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
            }
            Ok((read, write))
        }
    }
}
