//! Random bytes from the operating system's CSPRNG.
//!
//! For session identifiers and multipart boundaries: unpredictable bytes
//! from `getrandom(2)` on Linux and Android, `getentropy(3)` on macOS, iOS,
//! FreeBSD and OpenBSD, and `arc4random_buf(3)` on NetBSD and DragonFly. No
//! user-space generator, no seeding, no file descriptor kept open.

use std::io;

/// Fills `buf` with cryptographically secure random bytes from the OS.
///
/// Blocks only in the rare case that the kernel's generator has not been
/// seeded yet since boot. Retries on `EINTR` and on short reads.
///
/// See [getrandom(2)](https://man7.org/linux/man-pages/man2/getrandom.2.html),
/// [getentropy(3)](https://man7.org/linux/man-pages/man3/getentropy.3.html)
/// (at most 256 bytes per call, so larger buffers are filled in chunks) and
/// [arc4random_buf(3)](https://man.openbsd.org/arc4random.3).
///
/// # Errors
///
/// The OS error of `getrandom`/`getentropy` (`ENOSYS` on Linux kernels
/// older than 3.17, which predate `getrandom`). `arc4random_buf` cannot fail.
///
/// # Examples
///
/// ```
/// let mut id = [0u8; 16];
/// platform::random::random_bytes(&mut id)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    sys::fill(buf)
}

cfg_if::cfg_if! {
    if #[cfg(any(target_os = "linux", target_os = "android"))] {
        mod sys {
            use std::io;

            pub(super) fn fill(mut buf: &mut [u8]) -> io::Result<()> {
                while !buf.is_empty() {
                    // SAFETY: `buf` is writable for `buf.len()` bytes; flags 0
                    // reads the urandom source once it is initialised.
                    let n = syscall_retry!(unsafe {
                        libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0)
                    })?;
                    // 0 <= n <= buf.len(), as the kernel guarantees.
                    buf = buf.get_mut(n.unsigned_abs()..).unwrap_or_default();
                }
                Ok(())
            }
        }
    } else if #[cfg(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "openbsd",
    ))] {
        mod sys {
            use std::io;

            /// getentropy(3) refuses requests above 256 bytes with EIO/EINVAL.
            const GETENTROPY_MAX: usize = 256;

            pub(super) fn fill(buf: &mut [u8]) -> io::Result<()> {
                for chunk in buf.chunks_mut(GETENTROPY_MAX) {
                    // SAFETY: `chunk` is writable for its length, which is at
                    // most 256 bytes.
                    syscall_retry!(unsafe { libc::getentropy(chunk.as_mut_ptr().cast(), chunk.len()) })?;
                }
                Ok(())
            }
        }
    } else if #[cfg(any(target_os = "netbsd", target_os = "dragonfly"))] {
        mod sys {
            use std::io;

            pub(super) fn fill(buf: &mut [u8]) -> io::Result<()> {
                // SAFETY: `buf` is writable for `buf.len()` bytes.
                unsafe { libc::arc4random_buf(buf.as_mut_ptr().cast(), buf.len()) };
                Ok(())
            }
        }
    } else {
        compile_error!("platform::random: no OS random source known for this target");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_draws_differ_and_are_not_zero() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        random_bytes(&mut a).unwrap();
        random_bytes(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
        assert_ne!(b, [0u8; 32]);
    }

    #[test]
    fn empty_buffer_is_fine() {
        random_bytes(&mut []).unwrap();
    }

    #[test]
    fn large_buffers_are_filled_to_the_end() {
        // Larger than getentropy's 256-byte limit, and not a multiple of it.
        let mut buf = vec![0u8; 65_537];
        random_bytes(&mut buf).unwrap();
        // Every byte value appears (missing one has probability ~e^-256), and
        // the tail beyond the last full chunk was written too.
        let mut seen = [false; 256];
        for &b in &buf {
            seen[usize::from(b)] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_ne!(&buf[65_000..], &[0u8; 537][..]);
    }
}
