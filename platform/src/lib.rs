//! Safe wrappers for the raw OS calls Berth needs beyond std.
//!
//! `platform` creates listening sockets with non-blocking, close-on-exec and
//! reuse options set at creation (`net`), accepts connections the same way,
//! makes non-blocking pipes (`fd`), sends file ranges with `sendfile(2)`
//! (`sendfile`), turns signals (SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1,
//! SIGUSR2, SIGWINCH, SIGCHLD) into bytes on a self-pipe that an event loop
//! can poll (`signal`), reaps and signals child
//! processes (`process`), raises the open-file limit (`rlimit`), reads OS
//! randomness (`random`) and formats and parses HTTP dates (`httpdate`, pure
//! arithmetic). Every function is safe, returns `io::Result` where the OS can
//! fail, and hands out `OwnedFd`/`BorrowedFd`/std types, never raw descriptor
//! numbers. It does not do readiness polling (that is the `poller` crate), does
//! not spawn processes (use `std::process::Command`), does not buffer or parse
//! HTTP, and supports Unix-like systems only (Linux, Android, macOS, iOS,
//! FreeBSD, DragonFly, OpenBSD, NetBSD).
#![deny(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

#[cfg(not(unix))]
compile_error!("the platform crate supports Unix-like systems only");

/// Evaluates a libc call (written by the caller inside its own documented
/// `unsafe` block) and turns the C convention "-1 means failure, errno says
/// why" into `io::Result`.
macro_rules! syscall {
    ($call:expr) => {{
        let res = $call;
        if res == -1 {
            Err(::std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

/// Like `syscall!`, but evaluates the call again while it fails with `EINTR`,
/// for calls where a retry is the right answer to an interrupting signal.
macro_rules! syscall_retry {
    ($call:expr) => {
        loop {
            match syscall!($call) {
                Err(err) if err.kind() == ::std::io::ErrorKind::Interrupted => continue,
                res => break res,
            }
        }
    };
}

pub mod fd;
pub mod httpdate;
pub mod net;
pub mod process;
pub mod random;
pub mod rlimit;
pub mod sendfile;
pub mod signal;
