//! The open-file limit: reading `RLIMIT_NOFILE` and raising its soft limit.
//!
//! A server holds a descriptor per connection, per file being sent and per
//! CGI pipe, and the usual default soft limit (1024 on Linux, 256 on macOS)
//! is far below what the hard limit allows. [`raise_nofile_limit`] lifts the
//! soft limit as far as the OS permits, as nginx's `worker_rlimit_nofile`
//! and std's own start-up code on macOS do.

use std::io;

/// The soft and hard `RLIMIT_NOFILE` of this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NofileLimit {
    /// The limit in force: `open`, `accept`, `pipe`, ... fail with `EMFILE`
    /// once a new descriptor would be numbered this high. `u64::MAX` means
    /// unlimited (`RLIM_INFINITY`).
    pub soft: u64,
    /// The ceiling an unprivileged process may raise `soft` to.
    pub hard: u64,
}

/// Reads the soft and hard limits on open descriptors.
///
/// See [getrlimit(2)](https://man7.org/linux/man-pages/man2/getrlimit.2.html).
///
/// # Errors
///
/// The OS error of `getrlimit` (none is expected for `RLIMIT_NOFILE`).
pub fn nofile_limit() -> io::Result<NofileLimit> {
    let limit = getrlimit()?;
    Ok(NofileLimit { soft: rlim_to_u64(limit.rlim_cur), hard: rlim_to_u64(limit.rlim_max) })
}

/// Raises the soft limit on open descriptors to the hard limit and returns
/// the new soft limit.
///
/// Never lowers it: if the soft limit is already at or above the target, it
/// is left alone and returned. On macOS and iOS the target is also capped at
/// the `kern.maxfilesperproc` sysctl (or `OPEN_MAX`, 10240, if that cannot be
/// read), because their `setrlimit` rejects anything higher, including an
/// unlimited hard limit; std's start-up code on those systems does the same.
///
/// See [getrlimit(2)](https://man7.org/linux/man-pages/man2/getrlimit.2.html)
/// (`setrlimit`, `RLIMIT_NOFILE`).
///
/// # Errors
///
/// The OS error of `getrlimit` or `setrlimit`, e.g. `EPERM` or `EINVAL` if
/// the system refuses the new value.
///
/// # Examples
///
/// ```
/// let soft = platform::rlimit::raise_nofile_limit()?;
/// assert_eq!(platform::rlimit::nofile_limit()?.soft, soft);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut limit = getrlimit()?;
    let target = match sys::nofile_ceiling() {
        Some(ceiling) => limit.rlim_max.min(ceiling),
        None => limit.rlim_max,
    };
    if limit.rlim_cur < target {
        limit.rlim_cur = target;
        // SAFETY: `limit` is a valid rlimit read back from getrlimit, with
        // the soft limit raised to at most the hard one.
        syscall!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) })?;
    }
    Ok(rlim_to_u64(limit.rlim_cur))
}

fn getrlimit() -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a writable rlimit for the call.
    syscall!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) })?;
    Ok(limit)
}

/// `rlim_t` is unsigned on Linux and macOS but signed on FreeBSD (where
/// `RLIM_INFINITY` is `i64::MAX`); unlimited maps to `u64::MAX` either way.
fn rlim_to_u64(value: libc::rlim_t) -> u64 {
    if value == libc::RLIM_INFINITY {
        return u64::MAX;
    }
    #[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
    u64::try_from(value).unwrap_or(0)
}

cfg_if::cfg_if! {
    if #[cfg(target_vendor = "apple")] {
        mod sys {
            /// `OPEN_MAX` from `<sys/syslimits.h>` (not exported by libc).
            const OPEN_MAX: libc::rlim_t = 10240;

            /// Apple's `setrlimit` refuses a soft limit above
            /// `kern.maxfilesperproc` (and `RLIM_INFINITY`).
            pub(super) fn nofile_ceiling() -> Option<libc::rlim_t> {
                let mut mib = [libc::CTL_KERN, libc::KERN_MAXFILESPERPROC];
                let mut value: libc::c_int = 0;
                let mut size = std::mem::size_of::<libc::c_int>();
                // SAFETY: `mib` names 2 levels; `value` and `size` are writable
                // and `size` is `value`'s size; no new value is set (null, 0).
                let rc = unsafe {
                    libc::sysctl(
                        mib.as_mut_ptr(),
                        2,
                        (&mut value as *mut libc::c_int).cast(),
                        &mut size,
                        std::ptr::null_mut(),
                        0,
                    )
                };
                match libc::rlim_t::try_from(value) {
                    Ok(max) if rc == 0 && max > 0 => Some(max),
                    _ => Some(OPEN_MAX),
                }
            }
        }
    } else {
        mod sys {
            /// Elsewhere the hard limit is the only ceiling (Linux caps it at
            /// `fs.nr_open`, FreeBSD at `kern.maxfilesperproc`, by itself).
            pub(super) fn nofile_ceiling() -> Option<libc::rlim_t> {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_limits() -> libc::rlimit {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `limit` is writable for the call.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        limit
    }

    #[test]
    fn nofile_limit_matches_getrlimit() {
        let raw = raw_limits();
        let limit = nofile_limit().unwrap();
        assert_eq!(limit.soft, rlim_to_u64(raw.rlim_cur));
        assert_eq!(limit.hard, rlim_to_u64(raw.rlim_max));
        assert!(limit.soft <= limit.hard);
    }

    #[test]
    fn raise_nofile_limit_never_lowers_and_reaches_the_target() {
        let before = nofile_limit().unwrap();
        let soft = raise_nofile_limit().unwrap();
        assert!(soft >= before.soft);
        let after = nofile_limit().unwrap();
        assert_eq!(after.soft, soft);
        assert_eq!(after.hard, before.hard);
        if sys::nofile_ceiling().is_none() {
            assert_eq!(soft, before.hard, "the soft limit reaches the hard one");
        }
        // Idempotent.
        assert_eq!(raise_nofile_limit().unwrap(), soft);
    }

    #[test]
    fn infinity_maps_to_u64_max() {
        assert_eq!(rlim_to_u64(libc::RLIM_INFINITY), u64::MAX);
        assert_eq!(rlim_to_u64(1024), 1024);
    }
}
