//! A self-pipe for the signals a server acts on (SIGINT, SIGTERM, SIGQUIT,
//! SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD), and ignoring SIGPIPE.
//!
//! A signal handler may do almost nothing safely, so the one installed by
//! [`SignalPipe::install`] only records the signal in an atomic bit set and
//! writes the signal's number as one byte to a non-blocking pipe, keeping
//! `errno` intact. The event loop registers the pipe's read end (the
//! [`SignalPipe`] is [`AsFd`]) for readability and calls
//! [`SignalPipe::drain`], which empties the pipe and returns the set of
//! signals that arrived since the last drain. This is the self-pipe trick of
//! signal-hook and of nginx's and lighttpd's event loops.
//!
//! The handlers are process-wide state, so one [`SignalPipe`] may exist at a
//! time. The pipe itself is created once and kept open for the life of the
//! process, so a handler running on another thread while a `SignalPipe` is
//! dropped can never write into a descriptor number that was closed and
//! reused.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::{fmt, mem, ptr};

/// A signal the [`SignalPipe`] can catch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// `SIGINT`: interrupt from the terminal (Ctrl-C).
    Int,
    /// `SIGTERM`: polite request to terminate.
    Term,
    /// `SIGHUP`: hang-up; servers conventionally reload their configuration.
    Hup,
    /// `SIGQUIT`: quit; nginx stops gracefully on it.
    Quit,
    /// `SIGUSR1`: user signal 1; nginx reopens its log files on it.
    Usr1,
    /// `SIGUSR2`: user signal 2; nginx upgrades its binary on it.
    Usr2,
    /// `SIGWINCH`: terminal window size change; nginx stops its workers on
    /// it. Its default action is to ignore it, but a handler lets a server
    /// say it was received.
    Winch,
    /// `SIGCHLD`: a child process exited (stops and continues are not
    /// reported: the handler is installed with `SA_NOCLDSTOP`).
    Chld,
}

/// A set of [`Signal`]s, as returned by [`SignalPipe::drain`]. `Copy`, no
/// allocation; iterates in the order of [`Signal::ALL`].
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SignalSet {
    bits: u32,
}

/// An iterator over the signals in a [`SignalSet`], from [`SignalSet::iter`].
#[derive(Clone, Debug)]
pub struct Iter {
    set: SignalSet,
    next: usize,
}

/// The read end of the signal self-pipe, with the handlers installed.
///
/// Register [`as_fd`](AsFd::as_fd) with the poller for readability, and call
/// [`drain`](SignalPipe::drain) when it is reported. Dropping the
/// `SignalPipe` restores the signal dispositions that were in place before
/// [`install`](SignalPipe::install).
pub struct SignalPipe {
    read: BorrowedFd<'static>,
    /// `(signal number, disposition before install)`, to restore on drop.
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

impl Signal {
    /// Every signal, in the order [`SignalSet::iter`] reports them.
    pub const ALL: [Signal; 8] = [
        Signal::Int,
        Signal::Term,
        Signal::Hup,
        Signal::Quit,
        Signal::Usr1,
        Signal::Usr2,
        Signal::Winch,
        Signal::Chld,
    ];

    /// The OS signal number (`SIGINT`, ...), e.g. for
    /// [`process::kill`](crate::process::kill).
    pub fn as_raw(self) -> i32 {
        match self {
            Signal::Int => libc::SIGINT,
            Signal::Term => libc::SIGTERM,
            Signal::Hup => libc::SIGHUP,
            Signal::Quit => libc::SIGQUIT,
            Signal::Usr1 => libc::SIGUSR1,
            Signal::Usr2 => libc::SIGUSR2,
            Signal::Winch => libc::SIGWINCH,
            Signal::Chld => libc::SIGCHLD,
        }
    }

    /// The `Signal` for an OS signal number, if it is one of [`Signal::ALL`].
    pub fn from_raw(signo: i32) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.as_raw() == signo)
    }

    /// The upper-case C name, e.g. `"SIGHUP"`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
            Signal::Hup => "SIGHUP",
            Signal::Quit => "SIGQUIT",
            Signal::Usr1 => "SIGUSR1",
            Signal::Usr2 => "SIGUSR2",
            Signal::Winch => "SIGWINCH",
            Signal::Chld => "SIGCHLD",
        }
    }

    fn bit(self) -> u32 {
        1 << self as u32
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl SignalSet {
    /// The empty set.
    pub const fn new() -> SignalSet {
        SignalSet { bits: 0 }
    }

    /// Adds `signal`; adding it again changes nothing.
    pub fn insert(&mut self, signal: Signal) {
        self.bits |= signal.bit();
    }

    /// Whether `signal` is in the set.
    pub fn contains(&self, signal: Signal) -> bool {
        self.bits & signal.bit() != 0
    }

    /// Whether the set has no signals.
    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// How many signals the set holds (0 to 8).
    pub fn len(&self) -> usize {
        self.bits.count_ones() as usize
    }

    /// The signals in the set, in the order of [`Signal::ALL`].
    pub fn iter(&self) -> Iter {
        Iter { set: *self, next: 0 }
    }
}

impl fmt::Debug for SignalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Signal> for SignalSet {
    fn from_iter<I: IntoIterator<Item = Signal>>(iter: I) -> SignalSet {
        let mut set = SignalSet::new();
        for signal in iter {
            set.insert(signal);
        }
        set
    }
}

impl IntoIterator for SignalSet {
    type Item = Signal;
    type IntoIter = Iter;

    fn into_iter(self) -> Iter {
        self.iter()
    }
}

impl Iterator for Iter {
    type Item = Signal;

    fn next(&mut self) -> Option<Signal> {
        while let Some(&signal) = Signal::ALL.get(self.next) {
            self.next += 1;
            if self.set.contains(signal) {
                return Some(signal);
            }
        }
        None
    }
}

impl SignalPipe {
    /// Installs the self-pipe handler for each of `signals` and returns the
    /// pipe to poll.
    ///
    /// Each signal gets a `sigaction(2)` handler with `SA_RESTART` (so that
    /// slow calls such as blocking reads resume instead of failing with
    /// `EINTR`), plus `SA_NOCLDSTOP` for [`Signal::Chld`]. The handler sets
    /// the signal's bit in an atomic set, then writes the signal number as a
    /// byte to the non-blocking pipe (dropping it if the pipe is full: the
    /// bytes are only a wake-up, the set keeps the signal), and restores
    /// `errno`. Duplicates in `signals` are ignored. Signals already recorded
    /// by an earlier, dropped `SignalPipe` are discarded.
    ///
    /// See [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html)
    /// and [signal-safety(7)](https://man7.org/linux/man-pages/man7/signal-safety.7.html).
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if another `SignalPipe` is alive. Otherwise the OS
    /// error of `pipe` or `sigaction`; on error no handler stays installed.
    ///
    /// # Examples
    ///
    /// ```
    /// use platform::signal::{Signal, SignalPipe};
    ///
    /// let signals = SignalPipe::install(&[Signal::Hup])?;
    /// platform::process::kill(std::process::id(), Signal::Hup.as_raw())?;
    /// // In a single-threaded process kill(getpid()) runs the handler before
    /// // it returns; an event loop would wait for `signals.as_fd()` instead.
    /// assert!(signals.drain()?.contains(Signal::Hup));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn install(signals: &[Signal]) -> io::Result<SignalPipe> {
        if ACTIVE.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a signal pipe is already installed",
            ));
        }
        let read = match shared_pipe() {
            Ok(read) => read,
            Err(err) => {
                ACTIVE.store(false, Ordering::Release);
                return Err(err);
            }
        };
        // From here on, dropping `pipe` restores what was installed and clears
        // ACTIVE, on success and on error alike.
        let mut pipe = SignalPipe { read, previous: Vec::with_capacity(signals.len()) };
        pipe.drain()?;
        for signal in signals.iter().copied().collect::<SignalSet>() {
            let previous = set_handler(signal)?;
            pipe.previous.push((signal.as_raw(), previous));
        }
        Ok(pipe)
    }

    /// Empties the pipe and returns every signal caught since the last
    /// drain, each once however often it arrived.
    ///
    /// Never blocks. The set may be empty: a signal that arrives while
    /// draining is reported now, and its byte may still wake the poller once
    /// more. Read `SIGCHLD` as "at least one child changed state": reap with
    /// [`waitpid_nohang`](crate::process::waitpid_nohang) until it returns `None`.
    ///
    /// See [read(2)](https://man7.org/linux/man-pages/man2/read.2.html).
    ///
    /// # Errors
    ///
    /// The OS error of `read` other than `EAGAIN` and `EINTR`, which cannot
    /// happen on this private pipe short of memory corruption.
    pub fn drain(&self) -> io::Result<SignalSet> {
        let mut buf = [0u8; 256];
        loop {
            // SAFETY: the read end stays open for the life of the process, and
            // `buf` is writable for `buf.len()` bytes.
            let res = syscall_retry!(unsafe {
                libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
            });
            match res {
                Ok(n) if n > 0 => continue,
                Ok(_) => break,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => return Err(err),
            }
        }
        // Swapped after the pipe is empty: a handler sets its bit before it
        // writes its byte, so no signal whose byte was consumed is missed.
        Ok(SignalSet { bits: PENDING.swap(0, Ordering::AcqRel) })
    }

    /// Returns the signals received since the last call, like
    /// [`SignalPipe::drain`], but with one `read` of the pipe only: for a
    /// level-triggered registration, where bytes left behind (more than 256
    /// wake-ups) are reported again by the next poll, and a loop that reads
    /// each fd at most once per iteration keeps to it.
    ///
    /// See [read(2)](https://man7.org/linux/man-pages/man2/read.2.html).
    ///
    /// # Errors
    ///
    /// As [`SignalPipe::drain`].
    pub fn read_once(&self) -> io::Result<SignalSet> {
        let mut buf = [0u8; 256];
        // SAFETY: the read end stays open for the life of the process, and
        // `buf` is writable for `buf.len()` bytes.
        let res = syscall_retry!(unsafe {
            libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
        });
        match res {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
        // Swapped after the read: a handler sets its bit before it writes
        // its byte, so a signal whose byte was consumed is reported now.
        Ok(SignalSet { bits: PENDING.swap(0, Ordering::AcqRel) })
    }
}

impl AsFd for SignalPipe {
    /// The pipe's read end, non-blocking: register it for readability.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read
    }
}

impl fmt::Debug for SignalPipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signals: SignalSet =
            self.previous.iter().filter_map(|&(signo, _)| Signal::from_raw(signo)).collect();
        f.debug_struct("SignalPipe").field("read", &self.read).field("signals", &signals).finish()
    }
}

impl Drop for SignalPipe {
    /// Restores the dispositions `install` replaced, newest first.
    fn drop(&mut self) {
        for (signo, previous) in self.previous.drain(..).rev() {
            // SAFETY: `previous` is a disposition the kernel returned for
            // `signo`; passing a null old-action pointer is allowed.
            let rc = unsafe { libc::sigaction(signo, &previous, ptr::null_mut()) };
            // Fails only for an invalid signal number, and this one was
            // accepted by `install`.
            debug_assert_eq!(rc, 0, "restoring the disposition of signal {signo} failed");
        }
        ACTIVE.store(false, Ordering::Release);
    }
}

/// Makes writes to a closed pipe or socket fail with `EPIPE`
/// (`ErrorKind::BrokenPipe`) instead of killing the process with `SIGPIPE`.
///
/// Sets `SIGPIPE` to `SIG_IGN` with `sigaction(2)`. The Rust runtime already
/// does this before `main` in Rust binaries; calling it states the
/// requirement explicitly and covers embedders and other runtimes. An
/// ignored disposition survives `exec`, so reset it in children that expect
/// the default (std's `Command` does so for its children).
///
/// See [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html)
/// and [pipe(7)](https://man7.org/linux/man-pages/man7/pipe.7.html).
///
/// # Errors
///
/// The OS error of `sigaction` (none is expected for `SIGPIPE`).
pub fn ignore_sigpipe() -> io::Result<()> {
    let action = new_action(libc::SIG_IGN, 0);
    // SAFETY: `action` is a fully initialised sigaction; a null old-action
    // pointer is allowed.
    syscall!(unsafe { libc::sigaction(libc::SIGPIPE, &action, ptr::null_mut()) })?;
    Ok(())
}

/// Write end of the self-pipe, for the handler; -1 until the first install.
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
/// Read end of the self-pipe; -1 until the first install. Never closed.
static READ_FD: AtomicI32 = AtomicI32::new(-1);
/// Signals caught since the last drain, as [`Signal::bit`]s.
static PENDING: AtomicU32 = AtomicU32::new(0);
/// Whether a [`SignalPipe`] exists.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Returns the read end of the process-wide self-pipe, creating it on first
/// use. Called only with ACTIVE held, so never concurrently.
fn shared_pipe() -> io::Result<BorrowedFd<'static>> {
    let mut fd = READ_FD.load(Ordering::Acquire);
    if fd < 0 {
        let (read, write) = crate::fd::pipe()?;
        // Deliberately never closed: see the module docs.
        WRITE_FD.store(write.into_raw_fd(), Ordering::Release);
        fd = read.into_raw_fd();
        READ_FD.store(fd, Ordering::Release);
    }
    // SAFETY: READ_FD holds a descriptor that was leaked out of its OwnedFd
    // above and is never closed, so it is open for 'static.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// Installs [`on_signal`] for `signal`, returning the previous disposition.
fn set_handler(signal: Signal) -> io::Result<libc::sigaction> {
    let extra = if signal == Signal::Chld { libc::SA_NOCLDSTOP } else { 0 };
    let handler: extern "C" fn(libc::c_int) = on_signal;
    let action = new_action(handler as libc::sighandler_t, libc::SA_RESTART | extra);
    // SAFETY: all-zero bytes are a valid sigaction (it is only written to).
    let mut previous: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: `action` is fully initialised and its handler is an
    // `extern "C" fn(c_int)` that only makes async-signal-safe calls;
    // `previous` is writable.
    syscall!(unsafe { libc::sigaction(signal.as_raw(), &action, &mut previous) })?;
    Ok(previous)
}

/// A `sigaction` with `handler`, `flags` and an empty mask.
fn new_action(handler: libc::sighandler_t, flags: libc::c_int) -> libc::sigaction {
    // SAFETY: all-zero bytes are a valid sigaction: integers, a handler
    // address (0 is SIG_DFL) and a sigset_t, emptied properly below.
    let mut action: libc::sigaction = unsafe { mem::zeroed() };
    action.sa_sigaction = handler;
    action.sa_flags = flags;
    // SAFETY: `sa_mask` is a writable sigset_t. sigemptyset cannot fail for a
    // valid pointer, so its result is not checked.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    action
}

/// The signal handler: only async-signal-safe work (atomics, `write`, errno).
extern "C" fn on_signal(signo: libc::c_int) {
    if let Some(signal) = Signal::from_raw(signo) {
        PENDING.fetch_or(signal.bit(), Ordering::AcqRel);
    }
    let fd = WRITE_FD.load(Ordering::Acquire);
    if fd < 0 {
        return;
    }
    // SAFETY: errno_location returns this thread's errno slot, valid to read
    // and write for the life of the thread.
    let errno = unsafe { *errno_location() };
    // Signal numbers are below 128, so the byte is the number itself.
    let byte = signo as u8;
    // SAFETY: `fd` is the pipe's write end, never closed once published;
    // `byte` is a readable local. A failure (EAGAIN when full) is harmless:
    // the bit is already set and the full pipe will wake the poller.
    unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    // SAFETY: as above; restoring errno keeps the interrupted code's error.
    unsafe { *errno_location() = errno };
}

cfg_if::cfg_if! {
    if #[cfg(any(target_os = "linux", target_os = "dragonfly"))] {
        use libc::__errno_location as errno_location;
    } else if #[cfg(any(target_os = "android", target_os = "openbsd", target_os = "netbsd"))] {
        use libc::__errno as errno_location;
    } else if #[cfg(any(
        target_vendor = "apple",
        target_os = "freebsd",
    ))] {
        use libc::__error as errno_location;
    } else {
        compile_error!("platform::signal: where is errno on this OS? (add a cfg_if arm)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn signal_numbers_round_trip() {
        for signal in Signal::ALL {
            assert_eq!(Signal::from_raw(signal.as_raw()), Some(signal));
            assert!(signal.name().starts_with("SIG"));
            assert_eq!(signal.to_string(), signal.name());
        }
        assert_eq!(Signal::Hup.as_raw(), libc::SIGHUP);
        assert_eq!(Signal::Usr1.as_raw(), libc::SIGUSR1);
        assert_eq!(Signal::Winch.name(), "SIGWINCH");
        assert_eq!(Signal::from_raw(libc::SIGKILL), None);
        assert_eq!(Signal::from_raw(0), None);
    }

    #[test]
    fn signal_set_operations() {
        let mut set = SignalSet::new();
        assert!(set.is_empty());
        assert_eq!(set.len(), 0);
        assert_eq!(set.iter().next(), None);
        set.insert(Signal::Chld);
        set.insert(Signal::Int);
        set.insert(Signal::Chld);
        assert_eq!(set.len(), 2);
        assert!(set.contains(Signal::Int) && set.contains(Signal::Chld));
        assert!(!set.contains(Signal::Hup));
        assert_eq!(set.into_iter().collect::<Vec<_>>(), [Signal::Int, Signal::Chld]);
        let all: SignalSet = Signal::ALL.into_iter().collect();
        assert_eq!(all.len(), 8);
        assert_eq!(all.iter().collect::<Vec<_>>(), Signal::ALL);
        assert_eq!(format!("{set:?}"), "{Int, Chld}");
    }

    /// Waits until `pipe` is readable (up to 5 s), then drains it.
    fn wait_and_drain(pipe: &SignalPipe) -> SignalSet {
        let mut pfd =
            libc::pollfd { fd: pipe.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: `pfd` is one valid pollfd; the descriptor stays open.
        let rc = unsafe { libc::poll(&mut pfd, 1, 5000) };
        assert!(rc >= 0, "poll: {}", io::Error::last_os_error());
        assert_eq!(rc, 1, "no signal arrived within 5 s");
        pipe.drain().unwrap()
    }

    /// Drains until `signal` shows up (other tests' children may add SIGCHLD).
    fn wait_for(pipe: &SignalPipe, signal: Signal) -> SignalSet {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = SignalSet::new();
        while !seen.contains(signal) {
            assert!(Instant::now() < deadline, "{signal} not seen");
            seen = seen.into_iter().chain(wait_and_drain(pipe)).collect();
        }
        seen
    }

    fn without_chld(set: SignalSet) -> SignalSet {
        set.into_iter().filter(|&s| s != Signal::Chld).collect()
    }

    fn handler_of(signo: libc::c_int) -> libc::sighandler_t {
        // SAFETY: all-zero bytes are a valid sigaction to be overwritten.
        let mut current: libc::sigaction = unsafe { mem::zeroed() };
        // SAFETY: a null new action only queries; `current` is writable.
        let rc = unsafe { libc::sigaction(signo, ptr::null(), &mut current) };
        assert_eq!(rc, 0);
        current.sa_sigaction
    }

    fn raise(signal: Signal) {
        // SAFETY: raise has no memory-safety preconditions; the handler is ours.
        assert_eq!(unsafe { libc::raise(signal.as_raw()) }, 0);
    }

    /// The whole self-pipe flow in one test, since handlers are process-wide.
    #[test]
    fn self_pipe_reports_raised_killed_and_child_signals() {
        let pipe = SignalPipe::install(&Signal::ALL).unwrap();
        assert!(crate::fd::is_nonblocking(pipe.as_fd()).unwrap());
        assert!(crate::fd::is_cloexec(pipe.as_fd()).unwrap());
        assert!(format!("{pipe:?}").contains("Hup"));

        // Only one at a time.
        let err = SignalPipe::install(&[Signal::Int]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);

        // Nothing pending: an empty set, without blocking.
        assert!(without_chld(pipe.drain().unwrap()).is_empty());

        // raise() runs the handler before it returns.
        raise(Signal::Hup);
        let set = pipe.drain().unwrap();
        assert_eq!(without_chld(set).iter().collect::<Vec<_>>(), [Signal::Hup]);
        assert!(without_chld(pipe.drain().unwrap()).is_empty(), "drained means empty");

        // Repeats collapse; several kinds are all reported.
        raise(Signal::Hup);
        raise(Signal::Hup);
        raise(Signal::Int);
        raise(Signal::Term);
        let set = pipe.drain().unwrap();
        assert_eq!(
            without_chld(set).iter().collect::<Vec<_>>(),
            [Signal::Int, Signal::Term, Signal::Hup]
        );

        // The signals users send by habit are caught, not fatal.
        for signal in [Signal::Quit, Signal::Usr1, Signal::Usr2, Signal::Winch] {
            raise(signal);
        }
        let set = pipe.drain().unwrap();
        assert_eq!(
            without_chld(set).iter().collect::<Vec<_>>(),
            [Signal::Quit, Signal::Usr1, Signal::Usr2, Signal::Winch]
        );

        // kill(getpid()) may be handled on any thread: wait for the pipe.
        crate::process::kill(std::process::id(), Signal::Term.as_raw()).unwrap();
        assert!(wait_for(&pipe, Signal::Term).contains(Signal::Term));

        // A real child exiting sends SIGCHLD.
        let status = std::process::Command::new("true").status().unwrap();
        assert!(status.success());
        assert!(wait_for(&pipe, Signal::Chld).contains(Signal::Chld));

        // errno survives the handler even when its write fails (pipe full).
        let write_fd = WRITE_FD.load(Ordering::Acquire);
        let filler = [libc::SIGHUP as u8; 4096];
        loop {
            // SAFETY: `write_fd` is the open write end; `filler` is readable.
            let n = unsafe { libc::write(write_fd, filler.as_ptr().cast(), filler.len()) };
            if n < 0 {
                assert_eq!(io::Error::last_os_error().kind(), io::ErrorKind::WouldBlock);
                break;
            }
        }
        // SAFETY: this thread's errno slot.
        unsafe { *errno_location() = libc::EDOM };
        raise(Signal::Int);
        // SAFETY: this thread's errno slot.
        assert_eq!(unsafe { *errno_location() }, libc::EDOM, "the handler clobbered errno");
        // The full pipe dropped the byte, but the signal is not lost.
        assert!(pipe.drain().unwrap().contains(Signal::Int));
        assert!(without_chld(pipe.drain().unwrap()).is_empty());

        // Dropping restores the previous dispositions; installing works again.
        let ours = handler_of(libc::SIGHUP);
        drop(pipe);
        assert_ne!(handler_of(libc::SIGHUP), ours);
        assert_eq!(handler_of(libc::SIGHUP), libc::SIG_DFL);
        let pipe = SignalPipe::install(&[Signal::Hup, Signal::Hup]).unwrap();
        assert_eq!(handler_of(libc::SIGHUP), ours);
        assert_eq!(handler_of(libc::SIGINT), libc::SIG_DFL, "only the listed signals");
        raise(Signal::Hup);
        assert!(pipe.drain().unwrap().contains(Signal::Hup));
        drop(pipe);
        assert_eq!(handler_of(libc::SIGHUP), libc::SIG_DFL);
    }

    #[test]
    fn ignore_sigpipe_turns_broken_pipes_into_errors() {
        ignore_sigpipe().unwrap();
        assert_eq!(handler_of(libc::SIGPIPE), libc::SIG_IGN);
        let (read, write) = crate::fd::pipe().unwrap();
        drop(read);
        let byte = 0u8;
        // SAFETY: `write` is open; `byte` is readable.
        let n = unsafe { libc::write(write.as_raw_fd(), (&byte as *const u8).cast(), 1) };
        assert_eq!(n, -1);
        assert_eq!(io::Error::last_os_error().kind(), io::ErrorKind::BrokenPipe);
    }
}
