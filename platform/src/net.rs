//! Listening sockets, `accept4` and TCP socket options.
//!
//! [`bind_listener`] builds a listening socket the way a server needs it and
//! std cannot: non-blocking and close-on-exec from creation, `SO_REUSEADDR`,
//! optional `SO_REUSEPORT`, optional deferred accept (`TCP_DEFER_ACCEPT`),
//! `IPV6_V6ONLY` for IPv6 and a chosen backlog.
//! [`accept4`] accepts a connection that is non-blocking and close-on-exec
//! from birth. [`set_nodelay`] toggles Nagle's algorithm on any TCP socket,
//! [`tcp_mss`] reads its segment size.

use std::io;
use std::mem;
use std::net::{
    Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpListener, TcpStream,
};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The listen backlog [`ListenOptions::default`] uses: nginx's default on
/// Linux (the kernel clamps it to `net.core.somaxconn`).
pub const DEFAULT_BACKLOG: i32 = 511;

/// How [`bind_listener`] sets up a listening socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenOptions {
    /// The `listen(2)` backlog: how many completed connections the kernel
    /// queues before `accept`. Must not be negative; the kernel may clamp it.
    pub backlog: i32,
    /// Sets `SO_REUSEPORT` (on FreeBSD `SO_REUSEPORT_LB`, which balances
    /// connections like Linux does), letting several sockets listen on one
    /// address and port.
    pub reuseport: bool,
    /// Deferred accept: the kernel hands a connection to `accept` only once
    /// its first data has arrived (or after about [`DEFER_ACCEPT_SECS`] and a
    /// retransmitted SYN-ACK if none comes), so a server wakes once for a
    /// connection and its request instead of twice. `TCP_DEFER_ACCEPT` on
    /// Linux and Android; ignored elsewhere (see [`DEFERRED_ACCEPT`]).
    pub deferred: bool,
}

/// The `TCP_DEFER_ACCEPT` timeout [`bind_listener`] sets for
/// [`ListenOptions::deferred`], in seconds: nginx's choice, since how long a
/// connection waited cannot be known (with SYN cookies it does not wait).
pub const DEFER_ACCEPT_SECS: i32 = 1;

/// Whether [`ListenOptions::deferred`] has an effect on this platform.
pub const DEFERRED_ACCEPT: bool = cfg!(any(target_os = "linux", target_os = "android"));

impl Default for ListenOptions {
    /// Backlog [`DEFAULT_BACKLOG`] (511), `reuseport` and `deferred` off.
    fn default() -> Self {
        ListenOptions { backlog: DEFAULT_BACKLOG, reuseport: false, deferred: false }
    }
}

/// Creates a TCP socket listening on `addr`, non-blocking and close-on-exec.
///
/// In order: `socket(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC` (atomically on
/// Linux, Android and the BSDs; macOS and iOS lack those flags, so there they
/// are set with `fcntl(2)` right after), `SO_REUSEADDR` on (so a restarted
/// server can bind while old connections sit in `TIME_WAIT`), `SO_REUSEPORT`
/// if `opts.reuseport`, `IPV6_V6ONLY` on for an IPv6 `addr` (so `[::]:80` and
/// `0.0.0.0:80` can be two listeners, as nginx does), `bind(2)`,
/// `listen(2)` with `opts.backlog`, then `TCP_DEFER_ACCEPT` of
/// [`DEFER_ACCEPT_SECS`] if `opts.deferred` and the platform has it
/// ([tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html)). Port 0 picks a free port; read it back
/// with [`TcpListener::local_addr`].
///
/// See [socket(2)](https://man7.org/linux/man-pages/man2/socket.2.html),
/// [setsockopt(2)](https://man7.org/linux/man-pages/man2/setsockopt.2.html),
/// [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html),
/// [ipv6(7)](https://man7.org/linux/man-pages/man7/ipv6.7.html),
/// [bind(2)](https://man7.org/linux/man-pages/man2/bind.2.html) and
/// [listen(2)](https://man7.org/linux/man-pages/man2/listen.2.html).
///
/// # Errors
///
/// `InvalidInput` if `opts.backlog` is negative. Otherwise the OS error of the
/// first call that fails: commonly `AddrInUse` (`EADDRINUSE`),
/// `AddrNotAvailable` (`EADDRNOTAVAIL`, e.g. an address this host does not
/// have, or IPv6 disabled), `PermissionDenied` (`EACCES`, a port below 1024
/// without privilege), or `EAFNOSUPPORT` when the kernel has no IPv6. The
/// socket is closed on every error.
///
/// # Examples
///
/// ```no_run
/// use platform::net::{bind_listener, ListenOptions};
///
/// let listener = bind_listener("127.0.0.1:8080".parse().unwrap(), &ListenOptions::default())?;
/// println!("listening on {}", listener.local_addr()?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn bind_listener(addr: SocketAddr, opts: &ListenOptions) -> io::Result<TcpListener> {
    if opts.backlog < 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "listen backlog is negative"));
    }
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let socket = sys::socket(domain)?;
    let fd = socket.as_fd();
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if opts.reuseport {
        setsockopt_int(fd, libc::SOL_SOCKET, sys::SO_REUSEPORT, 1)?;
    }
    if addr.is_ipv6() {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    with_raw_addr(&addr, |ptr, len| {
        // SAFETY: `fd` is a live socket; `ptr` points to a sockaddr of `len`
        // bytes that outlives the call (see `with_raw_addr`).
        syscall!(unsafe { libc::bind(fd.as_raw_fd(), ptr, len) })
    })?;
    // SAFETY: `fd` is a live, bound socket; listen takes no pointer.
    syscall!(unsafe { libc::listen(fd.as_raw_fd(), opts.backlog) })?;
    if opts.deferred {
        set_deferred_accept(fd, true)?;
    }
    Ok(TcpListener::from(socket))
}

/// Accepts one pending connection on `listener`, non-blocking and
/// close-on-exec.
///
/// Returns the connected stream and the peer's address. Uses `accept4(2)`
/// with `SOCK_NONBLOCK | SOCK_CLOEXEC` where it exists (Linux, Android, the
/// BSDs); macOS and iOS have no `accept4`, so there it is `accept(2)`
/// followed by `fcntl(2)`. Retries by itself when interrupted (`EINTR`) and
/// when a pending connection was reset before it could be taken
/// (`ECONNABORTED`), since neither is actionable. Works whether or not
/// `listener` itself is non-blocking; on a blocking listener it waits. On
/// macOS and iOS the stream also gets `SO_NOSIGPIPE`, as std's own `accept`
/// does there.
///
/// See [accept4(2)](https://man7.org/linux/man-pages/man2/accept4.2.html).
///
/// # Errors
///
/// `WouldBlock` when `listener` is non-blocking and no connection is pending.
/// `EMFILE`/`ENFILE` when out of descriptors (the pending connection stays
/// queued: stop accepting for a while rather than spinning). Other OS errors
/// pass through; on Linux a few network errors of the pending connection
/// (`ENETDOWN`, `EPROTO`, `EHOSTUNREACH`, ...) are reported here, and the
/// caller may simply accept again.
///
/// # Examples
///
/// ```no_run
/// use platform::net::{accept4, bind_listener, ListenOptions};
///
/// let listener = bind_listener("127.0.0.1:8080".parse().unwrap(), &ListenOptions::default())?;
/// match accept4(&listener) {
///     Ok((stream, peer)) => println!("{peer} connected: {stream:?}"),
///     Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {} // poll again
///     Err(e) => return Err(e),
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn accept4(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    loop {
        // SAFETY: all-zero bytes are a valid sockaddr_storage (integers and
        // byte arrays only).
        let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let mut len = socklen_of::<libc::sockaddr_storage>();
        match sys::accept(listener.as_fd(), &mut storage, &mut len) {
            Ok(fd) => {
                let stream = TcpStream::from(fd);
                return Ok((stream, socket_addr_from_raw(&storage, len)?));
            }
            Err(err) if err.raw_os_error() == Some(libc::ECONNABORTED) => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Turns `TCP_NODELAY` on (send small segments at once) or off (Nagle's
/// algorithm coalesces them) for a TCP socket.
///
/// See [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html) and
/// [setsockopt(2)](https://man7.org/linux/man-pages/man2/setsockopt.2.html).
///
/// # Errors
///
/// The OS error of `setsockopt`: `ENOTSOCK` for a non-socket, `ENOPROTOOPT`
/// or `EOPNOTSUPP` for a socket that is not TCP, `EINVAL` on some systems
/// after the peer has reset the connection.
pub fn set_nodelay(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, libc::c_int::from(on))
}

/// The maximum segment size of a connected TCP socket (`TCP_MAXSEG`): how
/// many payload bytes one segment carries (1,448 on a typical Ethernet path
/// with timestamps, 65,483 on Linux's loopback). A sender that ends each
/// large write on a multiple of it sends no short segment in between.
///
/// See [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html).
///
/// # Errors
///
/// The OS error of `getsockopt(2)`, as for [`set_nodelay`].
pub fn tcp_mss(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut value: libc::c_int = 0;
    let mut len = socklen_of::<libc::c_int>();
    // SAFETY: `fd` is a live descriptor; the pointers describe `value` and
    // `len`, locals on this stack frame that outlive the call.
    syscall!(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MAXSEG,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(u32::try_from(value).unwrap_or(0))
}

/// Turns deferred accept (see [`ListenOptions::deferred`]) on or off on a
/// listening socket: `TCP_DEFER_ACCEPT` of [`DEFER_ACCEPT_SECS`] or 0 on
/// Linux and Android, where a server reloading its configuration can change
/// it on a socket it keeps. Elsewhere it does nothing and succeeds.
///
/// # Errors
///
/// The OS error of `setsockopt(2)` (`ENOTSOCK`, `EBADF`).
pub fn set_deferred_accept(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let secs = if on { DEFER_ACCEPT_SECS } else { 0 };
        setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, secs)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (fd, on);
        Ok(())
    }
}

/// Writes `buf` to a connected socket telling the kernel more follows at
/// once (`send(2)` with `MSG_MORE`, and `MSG_NOSIGNAL`): a response head
/// sent this way leaves in one segment with the first bytes of the file
/// body that the next call (`sendfile`) adds, as `TCP_CORK` would, without
/// two extra `setsockopt` calls. Elsewhere than Linux it is a plain write.
///
/// # Errors
///
/// The OS error of the write (`EAGAIN` when the socket is full).
pub fn send_more(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = libc::MSG_MORE | libc::MSG_NOSIGNAL;
    // SAFETY: `fd` is a live descriptor; the pointer and length describe
    // `buf`, borrowed for the call.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let n = syscall!(unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) })?;
    // SAFETY: as above, with write(2).
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let n = syscall!(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Sets an `int`-valued socket option.
fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `fd` is a live descriptor; the pointer and length describe
    // `value`, an int on this stack frame that outlives the call.
    syscall!(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            socklen_of::<libc::c_int>(),
        )
    })?;
    Ok(())
}

/// The size of `T` as a `socklen_t`, for the small fixed-size structs passed
/// to socket calls.
fn socklen_of<T>() -> libc::socklen_t {
    // The sockaddr types are at most 128 bytes: the cast cannot truncate.
    mem::size_of::<T>() as libc::socklen_t
}

/// Calls `f` with a pointer to `addr` encoded as a C `sockaddr` and its length.
///
/// The BSDs have a leading `sin_len`/`sin6_len` byte; it stays zero here
/// because their `bind`/`connect` overwrite it with the length argument.
fn with_raw_addr<R>(
    addr: &SocketAddr,
    f: impl FnOnce(*const libc::sockaddr, libc::socklen_t) -> R,
) -> R {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: all-zero bytes are a valid sockaddr_in (integers and
            // byte arrays only).
            let mut sin: libc::sockaddr_in = unsafe { mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            // s_addr holds the address in network byte order: the octets as
            // they are in memory.
            sin.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) };
            f((&sin as *const libc::sockaddr_in).cast(), socklen_of::<libc::sockaddr_in>())
        }
        SocketAddr::V6(a) => {
            // SAFETY: all-zero bytes are a valid sockaddr_in6 (integers and
            // byte arrays only).
            let mut sin6: libc::sockaddr_in6 = unsafe { mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo().to_be();
            sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
            sin6.sin6_scope_id = a.scope_id();
            f((&sin6 as *const libc::sockaddr_in6).cast(), socklen_of::<libc::sockaddr_in6>())
        }
    }
}

/// Decodes the address `accept` wrote into `storage` (`len` bytes of it).
fn socket_addr_from_raw(
    storage: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> io::Result<SocketAddr> {
    let len = len as usize;
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, all of
            // its bytes were written (len), and sockaddr_storage is at least as
            // large and as aligned as every sockaddr type.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Ok(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "accepted socket has no IP address")),
    }
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

            /// Flags `socket` and `accept4` take to create the descriptor
            /// non-blocking and close-on-exec in one step.
            const SOCK_FLAGS: libc::c_int = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

            cfg_if::cfg_if! {
                if #[cfg(target_os = "freebsd")] {
                    /// FreeBSD's plain `SO_REUSEPORT` hands every connection to
                    /// the last socket bound; `SO_REUSEPORT_LB` (FreeBSD 12+)
                    /// balances them across the sockets, as Linux does.
                    pub(super) const SO_REUSEPORT: libc::c_int = libc::SO_REUSEPORT_LB;
                } else {
                    /// The option that lets several sockets bind one port.
                    pub(super) const SO_REUSEPORT: libc::c_int = libc::SO_REUSEPORT;
                }
            }

            pub(super) fn socket(domain: libc::c_int) -> io::Result<OwnedFd> {
                // SAFETY: socket takes no pointers.
                let fd = syscall!(unsafe { libc::socket(domain, libc::SOCK_STREAM | SOCK_FLAGS, 0) })?;
                // SAFETY: socket succeeded: `fd` is a fresh descriptor nobody owns.
                Ok(unsafe { OwnedFd::from_raw_fd(fd) })
            }

            pub(super) fn accept(
                listener: BorrowedFd<'_>,
                storage: &mut libc::sockaddr_storage,
                len: &mut libc::socklen_t,
            ) -> io::Result<OwnedFd> {
                let addr = (storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr>();
                // SAFETY: `listener` is live; `addr` and `len` point to a
                // writable sockaddr_storage and its size, both borrowed for the call.
                let fd = syscall_retry!(unsafe {
                    libc::accept4(listener.as_raw_fd(), addr, &mut *len, SOCK_FLAGS)
                })?;
                // SAFETY: accept4 succeeded: `fd` is a fresh descriptor nobody owns.
                Ok(unsafe { OwnedFd::from_raw_fd(fd) })
            }
        }
    } else if #[cfg(target_vendor = "apple")] {
        mod sys {
            use super::*;
            use crate::fd::{set_cloexec, set_nonblocking};

            /// The option that lets several sockets bind one port.
            pub(super) const SO_REUSEPORT: libc::c_int = libc::SO_REUSEPORT;

            /// Apple has no `SOCK_NONBLOCK`/`SOCK_CLOEXEC`: create, own (so an
            /// error closes it), then set the flags.
            pub(super) fn socket(domain: libc::c_int) -> io::Result<OwnedFd> {
                // SAFETY: socket takes no pointers.
                let fd = syscall!(unsafe { libc::socket(domain, libc::SOCK_STREAM, 0) })?;
                // SAFETY: socket succeeded: `fd` is a fresh descriptor nobody owns.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                set_cloexec(fd.as_fd(), true)?;
                set_nonblocking(fd.as_fd(), true)?;
                Ok(fd)
            }

            /// Apple has no `accept4`: accept, own, then set the flags.
            pub(super) fn accept(
                listener: BorrowedFd<'_>,
                storage: &mut libc::sockaddr_storage,
                len: &mut libc::socklen_t,
            ) -> io::Result<OwnedFd> {
                let addr = (storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr>();
                // SAFETY: `listener` is live; `addr` and `len` point to a
                // writable sockaddr_storage and its size, both borrowed for the call.
                let fd = syscall_retry!(unsafe { libc::accept(listener.as_raw_fd(), addr, &mut *len) })?;
                // SAFETY: accept succeeded: `fd` is a fresh descriptor nobody owns.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                set_cloexec(fd.as_fd(), true)?;
                set_nonblocking(fd.as_fd(), true)?;
                set_nosigpipe(fd.as_fd())?;
                Ok(fd)
            }

            /// Apple has no `MSG_NOSIGNAL`, so std's `TcpStream::write` there
            /// relies on `SO_NOSIGPIPE` (std sets it on the sockets it
            /// accepts): a write to a closed peer then fails with `EPIPE`
            /// instead of raising SIGPIPE.
            fn set_nosigpipe(fd: BorrowedFd<'_>) -> io::Result<()> {
                setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_NOSIGPIPE, 1)
            }
        }
    } else {
        compile_error!("platform::net: unsupported target OS (add it to a cfg_if arm)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{ErrorKind, Read, Write};

    fn getsockopt_int(fd: BorrowedFd<'_>, level: libc::c_int, name: libc::c_int) -> libc::c_int {
        let mut value: libc::c_int = -1;
        let mut len = socklen_of::<libc::c_int>();
        // SAFETY: `fd` is live; the pointers describe `value` and `len`, locals
        // that outlive the call.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                level,
                name,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "getsockopt: {}", io::Error::last_os_error());
        value
    }

    fn assert_nonblocking_cloexec(fd: BorrowedFd<'_>) {
        // SAFETY: `fd` is live for the borrow; F_GETFL/F_GETFD take no argument.
        let (fl, fdfl) = unsafe {
            (libc::fcntl(fd.as_raw_fd(), libc::F_GETFL), libc::fcntl(fd.as_raw_fd(), libc::F_GETFD))
        };
        assert!(fl >= 0 && fdfl >= 0);
        assert_ne!(fl & libc::O_NONBLOCK, 0, "O_NONBLOCK not set");
        assert_ne!(fdfl & libc::FD_CLOEXEC, 0, "FD_CLOEXEC not set");
    }

    fn localhost_v4() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    /// Binds `[::1]:0`, or returns `None` when this host has no IPv6.
    fn bind_v6(opts: &ListenOptions) -> Option<TcpListener> {
        match bind_listener("[::1]:0".parse().unwrap(), opts) {
            Ok(l) => Some(l),
            Err(e)
                if e.kind() == ErrorKind::AddrNotAvailable
                    || e.raw_os_error() == Some(libc::EAFNOSUPPORT) =>
            {
                eprintln!("skipping: IPv6 loopback unavailable ({e})");
                None
            }
            Err(e) => panic!("bind [::1]:0: {e}"),
        }
    }

    #[test]
    fn default_options() {
        let opts = ListenOptions::default();
        assert_eq!(opts, ListenOptions { backlog: 511, reuseport: false, deferred: false });
    }

    #[test]
    fn bind_listener_v4_sets_flags_and_options() {
        let listener = bind_listener(localhost_v4(), &ListenOptions::default()).unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(addr.ip(), std::net::IpAddr::from([127, 0, 0, 1]));
        assert_ne!(addr.port(), 0);
        let fd = listener.as_fd();
        assert_nonblocking_cloexec(fd);
        assert_ne!(getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR), 0);
        assert_eq!(getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT), 0);
        assert_ne!(getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN), 0);
    }

    #[test]
    fn bind_listener_v6_sets_v6only() {
        let Some(listener) = bind_v6(&ListenOptions::default()) else { return };
        let addr = listener.local_addr().unwrap();
        assert!(addr.is_ipv6());
        assert_ne!(addr.port(), 0);
        let fd = listener.as_fd();
        assert_nonblocking_cloexec(fd);
        assert_ne!(getsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY), 0);

        let client = TcpStream::connect(addr).unwrap();
        let (server, peer) = accept_blocking(&listener);
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(matches!(peer, SocketAddr::V6(_)));
        assert_nonblocking_cloexec(server.as_fd());
    }

    #[test]
    fn bind_listener_rejects_negative_backlog() {
        let err = bind_listener(
            localhost_v4(),
            &ListenOptions { backlog: -1, ..ListenOptions::default() },
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn bind_listener_reports_addr_in_use() {
        let first = bind_listener(localhost_v4(), &ListenOptions::default()).unwrap();
        let addr = first.local_addr().unwrap();
        let err = bind_listener(addr, &ListenOptions::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
    }

    #[test]
    fn reuseport_lets_two_listeners_share_a_port() {
        let opts = ListenOptions { reuseport: true, ..ListenOptions::default() };
        let first = bind_listener(localhost_v4(), &opts).unwrap();
        let addr = first.local_addr().unwrap();
        assert_ne!(getsockopt_int(first.as_fd(), libc::SOL_SOCKET, sys::SO_REUSEPORT), 0);
        let second = bind_listener(addr, &opts).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);

        // Connections to the shared port land on one of the two listeners.
        let _client = TcpStream::connect(addr).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            if accept4(&first).is_ok() || accept4(&second).is_ok() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no listener got the connection");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn deferred_listener_hands_over_a_connection_with_its_data() {
        use std::io::{Read, Write};
        let opts = ListenOptions { deferred: true, ..ListenOptions::default() };
        let listener = bind_listener(localhost_v4(), &opts).unwrap();
        assert_ne!(getsockopt_int(listener.as_fd(), libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT), 0);
        let plain = bind_listener(localhost_v4(), &ListenOptions::default()).unwrap();
        assert_eq!(getsockopt_int(plain.as_fd(), libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT), 0);
        set_deferred_accept(plain.as_fd(), true).unwrap();
        assert_ne!(getsockopt_int(plain.as_fd(), libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT), 0);
        set_deferred_accept(plain.as_fd(), false).unwrap();
        assert_eq!(getsockopt_int(plain.as_fd(), libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT), 0);

        // Connected but silent: not yet acceptable.
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(accept4(&listener).unwrap_err().kind(), ErrorKind::WouldBlock);
        // Its first bytes make it acceptable, and they are there to read.
        client.write_all(b"GET").unwrap();
        let (mut server, _) = accept_blocking(&listener);
        let mut got = [0u8; 3];
        server.set_nonblocking(false).unwrap();
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"GET");
    }

    /// A client and the server side of its connection, over loopback.
    fn connected_pair() -> (TcpStream, TcpStream) {
        let listener = bind_listener(localhost_v4(), &ListenOptions::default()).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = accept_blocking(&listener);
        (client, server)
    }

    /// Accepts on a non-blocking listener, waiting up to 5 s for a connection.
    fn accept_blocking(listener: &TcpListener) -> (TcpStream, SocketAddr) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match accept4(listener) {
                Ok(pair) => return pair,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline, "no connection arrived");
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(e) => panic!("accept4: {e}"),
            }
        }
    }

    #[test]
    fn accept4_would_block_then_gives_nonblocking_cloexec_stream() {
        let listener = bind_listener(localhost_v4(), &ListenOptions::default()).unwrap();
        let err = accept4(&listener).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);

        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, peer) = accept_blocking(&listener);
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(server.peer_addr().unwrap(), peer);
        assert_nonblocking_cloexec(server.as_fd());

        // Non-blocking: an empty read would block instead of hanging.
        let mut buf = [0u8; 8];
        assert_eq!(server.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        client.write_all(b"ping").unwrap();
        client.flush().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let n = loop {
            match server.read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline);
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(e) => panic!("read: {e}"),
            }
        };
        assert_eq!(&buf[..n], b"ping");

        // Nothing else pending.
        assert_eq!(accept4(&listener).unwrap_err().kind(), ErrorKind::WouldBlock);
    }

    #[test]
    fn accept4_on_a_blocking_listener_still_gives_a_nonblocking_stream() {
        let listener = std::net::TcpListener::bind(localhost_v4()).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, peer) = accept4(&listener).unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_nonblocking_cloexec(server.as_fd());
    }

    #[test]
    fn send_more_delivers_when_the_next_write_comes() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert_eq!(send_more(server.as_fd(), b"head ").unwrap(), 5);
        server.write_all(b"body").unwrap();
        let mut got = [0u8; 9];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"head body");
    }

    #[test]
    fn tcp_mss_of_a_connected_socket() {
        let (client, server) = connected_pair();
        for stream in [&client, &server] {
            let mss = tcp_mss(stream.as_fd()).unwrap();
            assert!((536..=65_535).contains(&mss), "{mss}");
        }
    }

    #[test]
    fn set_nodelay_toggles_tcp_nodelay() {
        let (client, server) = connected_pair();
        for stream in [&client, &server] {
            set_nodelay(stream.as_fd(), true).unwrap();
            assert!(stream.nodelay().unwrap());
            assert_ne!(getsockopt_int(stream.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY), 0);
            set_nodelay(stream.as_fd(), false).unwrap();
            assert!(!stream.nodelay().unwrap());
        }
    }

    #[test]
    fn set_nodelay_on_a_non_socket_fails() {
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(set_nodelay(file.as_fd(), true).is_err());
    }
}
