//! Reaping and signalling child processes: `waitpid(WNOHANG)`, `kill` and
//! `killpg`.
//!
//! Children are spawned with `std::process::Command`; these calls let an
//! event loop collect them without blocking when `SIGCHLD` arrives, and stop
//! them (a CGI script past its deadline) by process id.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// `SIGKILL`, for [`kill`]: ends the process at once; cannot be caught.
pub const SIGKILL: i32 = libc::SIGKILL;
/// `SIGTERM`, for [`kill`]: asks the process to terminate.
pub const SIGTERM: i32 = libc::SIGTERM;

/// Collects the exit status of child `pid` if it has terminated, without
/// waiting.
///
/// Calls `waitpid(pid, &status, WNOHANG)`, retrying on `EINTR`. `Ok(None)`
/// means the child is still running; `Ok(Some(status))` means it exited and
/// is now reaped (its pid may be reused from here on, so do not signal it
/// again). Read the status with `ExitStatus::code`, `success` and
/// `std::os::unix::process::ExitStatusExt::signal`. A `Child` reaped here
/// must not also be waited for with `Child::wait`/`try_wait`, which would
/// then fail.
///
/// See [waitpid(2)](https://man7.org/linux/man-pages/man2/waitpid.2.html).
///
/// # Errors
///
/// `InvalidInput` if `pid` is 0 or above the largest `pid_t` (either would
/// name a process group, not a child). `ECHILD` (kind `Other`/uncategorised)
/// if `pid` is not an unreaped child of this process.
///
/// # Examples
///
/// ```
/// use std::process::{Command, Stdio};
/// use platform::process::waitpid_nohang;
///
/// let child = Command::new("true").stdin(Stdio::null()).spawn()?;
/// let status = loop {
///     if let Some(status) = waitpid_nohang(child.id())? {
///         break status;
///     }
///     std::thread::sleep(std::time::Duration::from_millis(1));
/// };
/// assert!(status.success());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn waitpid_nohang(pid: u32) -> io::Result<Option<ExitStatus>> {
    let pid = to_pid(pid)?;
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a writable int for the call; waitpid takes no other pointer.
    let reaped = syscall_retry!(unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) })?;
    Ok((reaped != 0).then(|| ExitStatus::from_raw(status)))
}

/// Sends signal `sig` to process `pid`.
///
/// `sig` is a signal number: [`SIGKILL`], [`SIGTERM`],
/// [`Signal::as_raw`](crate::signal::Signal::as_raw), or 0 to only check
/// that the process exists and may be signalled.
///
/// See [kill(2)](https://man7.org/linux/man-pages/man2/kill.2.html).
///
/// # Errors
///
/// `InvalidInput` if `pid` is 0 or above the largest `pid_t` (those would
/// signal a process group or every process). `ESRCH` (kind `Other`/
/// uncategorised) if no such process exists, `EPERM` (`PermissionDenied`) if
/// it belongs to someone else, `EINVAL` (`InvalidInput`) for a bad `sig`.
pub fn kill(pid: u32, sig: i32) -> io::Result<()> {
    let pid = to_pid(pid)?;
    // SAFETY: kill takes no pointers; `pid` is positive, so it names exactly
    // one process.
    syscall!(unsafe { libc::kill(pid, sig) })?;
    Ok(())
}

/// Sends signal `sig` to every process of process group `pgid`.
///
/// A CGI script is started as the leader of its own group
/// (`CommandExt::process_group(0)`, so the group id is its pid); signalling
/// the group also reaches everything the script started, which `kill` on
/// its pid alone would leave running.
///
/// See [killpg(3)](https://man7.org/linux/man-pages/man3/killpg.3.html).
///
/// # Errors
///
/// `InvalidInput` if `pgid` is 0 or 1 or above the largest `pid_t` (0 is the
/// caller's own group, 1 would be init's). `ESRCH` if the group has no
/// process left, `EPERM` (`PermissionDenied`) if none may be signalled.
pub fn killpg(pgid: u32, sig: i32) -> io::Result<()> {
    let pgid = to_pid(pgid)?;
    if pgid == 1 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "process group 1 refused"));
    }
    // SAFETY: killpg takes no pointers; `pgid` is above 1, so it names one
    // process group and never the caller's own (0) or every process.
    syscall!(unsafe { libc::killpg(pgid, sig) })?;
    Ok(())
}

/// A process id as `pid_t`, refusing the values that mean "a group" or
/// "everyone" to `waitpid` and `kill`.
fn to_pid(pid: u32) -> io::Result<libc::pid_t> {
    match libc::pid_t::try_from(pid) {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "process id out of range")),
    }
}

// The children are reaped with `waitpid_nohang`, which clippy cannot see.
#[allow(clippy::zombie_processes)]
#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    /// Polls `waitpid_nohang` until the child is reaped (up to 10 s).
    fn reap(pid: u32) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = waitpid_nohang(pid).unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "child {pid} did not exit");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn waitpid_nohang_reaps_true() {
        let child = Command::new("true").stdin(Stdio::null()).spawn().unwrap();
        let status = reap(child.id());
        assert!(status.success());
        assert_eq!(status.code(), Some(0));
        // Reaped: no longer our child.
        assert_eq!(waitpid_nohang(child.id()).unwrap_err().raw_os_error(), Some(libc::ECHILD));
    }

    #[test]
    fn waitpid_nohang_is_none_while_running_then_some() {
        // `cat` runs until its stdin closes, so "still running" is certain.
        let mut child =
            Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        for _ in 0..3 {
            assert_eq!(waitpid_nohang(child.id()).unwrap(), None);
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(child.stdin.take());
        let status = reap(child.id());
        assert_eq!(status.code(), Some(0));
    }

    #[test]
    fn waitpid_nohang_reports_the_exit_code() {
        let child = Command::new("sh").args(["-c", "exit 7"]).stdin(Stdio::null()).spawn().unwrap();
        assert_eq!(reap(child.id()).code(), Some(7));
    }

    #[test]
    fn kill_delivers_sigkill_and_sigterm() {
        for sig in [SIGKILL, SIGTERM] {
            let child = Command::new("sleep").arg("30").stdin(Stdio::null()).spawn().unwrap();
            kill(child.id(), 0).unwrap(); // exists
            kill(child.id(), sig).unwrap();
            let status = reap(child.id());
            assert_eq!(status.signal(), Some(sig));
            assert_eq!(status.code(), None);
        }
    }

    #[test]
    fn bad_pids_are_rejected() {
        for pid in [0, u32::MAX, 1 << 31] {
            assert_eq!(kill(pid, 0).unwrap_err().kind(), io::ErrorKind::InvalidInput);
            assert_eq!(waitpid_nohang(pid).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        }
        // Beyond any pid_max (Linux allows at most 2^22), so no such process.
        let err = kill(i32::MAX as u32, 0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
        // Not a child of ours.
        let err = waitpid_nohang(1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECHILD));
    }

    #[test]
    fn killpg_reaches_the_whole_group() {
        use std::os::unix::process::CommandExt;
        // A shell (the group leader) that started a grandchild `sleep`; the
        // grandchild writes its pid so the test can see it die too.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30 & echo $!; wait"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut line = String::new();
        let out = child.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).unwrap();
        let grandchild: i32 = line.trim().parse().unwrap();
        killpg(child.id(), SIGKILL).unwrap();
        assert_eq!(reap(child.id()).signal(), Some(SIGKILL));
        // The grandchild was reparented (to init or a subreaper) and killed:
        // it disappears once reaped there.
        let deadline = Instant::now() + Duration::from_secs(10);
        while kill(grandchild as u32, 0).is_ok() {
            assert!(Instant::now() < deadline, "grandchild {grandchild} survived killpg");
            std::thread::sleep(Duration::from_millis(5));
        }
        for bad in [0, 1, u32::MAX] {
            assert_eq!(killpg(bad, 0).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn kill_with_an_invalid_signal_fails() {
        let err = kill(std::process::id(), 1000).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }
}
