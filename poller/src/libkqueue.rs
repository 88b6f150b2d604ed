//! The kqueue API of libkqueue on Linux, for `--cfg poller_libkqueue` only.
//!
//! The `libc` crate declares kqueue only for the BSDs and macOS. These are the
//! few items the `Kqueue` backend uses, as libkqueue's `<kqueue/sys/event.h>`
//! defines them on Linux: FreeBSD's classic `struct kevent` (ident, filter,
//! flags, fflags, data, udata: 32 bytes on 64-bit targets) and FreeBSD's
//! values for the constants. The test below compiles a C program against that
//! header and compares every layout and value with these. The build script
//! links the library; nothing that ships is built with this cfg.

#![allow(non_camel_case_types)]

use libc::{c_int, c_short, c_uint, c_ushort, c_void, intptr_t, timespec, uintptr_t};

/// `struct kevent` (`<kqueue/sys/event.h>`).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct kevent {
    pub(crate) ident: uintptr_t,
    pub(crate) filter: c_short,
    pub(crate) flags: c_ushort,
    pub(crate) fflags: c_uint,
    pub(crate) data: intptr_t,
    pub(crate) udata: *mut c_void,
}

pub(crate) const EVFILT_READ: c_short = -1;
pub(crate) const EVFILT_WRITE: c_short = -2;
pub(crate) const EVFILT_USER: c_short = -11;

pub(crate) const EV_ADD: c_ushort = 0x0001;
pub(crate) const EV_DELETE: c_ushort = 0x0002;
pub(crate) const EV_ENABLE: c_ushort = 0x0004;
pub(crate) const EV_CLEAR: c_ushort = 0x0020;
pub(crate) const EV_RECEIPT: c_ushort = 0x0040;
pub(crate) const EV_EOF: c_ushort = 0x8000;
pub(crate) const EV_ERROR: c_ushort = 0x4000;

pub(crate) const NOTE_TRIGGER: c_uint = 0x0100_0000;

extern "C" {
    /// kqueue(2): a new kqueue (in libkqueue, a descriptor it watches for close).
    pub(crate) fn kqueue() -> c_int;

    /// kevent(2): applies `changelist`, then waits for events into `eventlist`.
    pub(crate) fn kevent(
        kq: c_int,
        changelist: *const kevent,
        nchanges: c_int,
        eventlist: *mut kevent,
        nevents: c_int,
        timeout: *const timespec,
    ) -> c_int;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};
    use std::path::PathBuf;
    use std::process::Command;

    /// Where the build script found libkqueue's headers.
    const INCLUDE: &str = env!("POLLER_LIBKQUEUE_INCLUDE");

    /// Prints, one per line, `name value` for every layout fact and constant
    /// the Rust side declares, as the C compiler sees them through the header.
    const PROBE: &str = r#"
#include <stddef.h>
#include <stdio.h>
#include <sys/event.h>

#define FIELD(f) \
    printf("offset.%s %zu\n", #f, offsetof(struct kevent, f)); \
    printf("size.%s %zu\n", #f, sizeof(((struct kevent *)0)->f));
#define SIGNED(f) \
    printf("signed.%s %d\n", #f, (__typeof__(((struct kevent *)0)->f))-1 < 0);
#define VALUE(c) printf("%s %lld\n", #c, (long long)(c));

int main(void) {
    printf("size.kevent %zu\n", sizeof(struct kevent));
    printf("align.kevent %zu\n", _Alignof(struct kevent));
    FIELD(ident) FIELD(filter) FIELD(flags) FIELD(fflags) FIELD(data) FIELD(udata)
    SIGNED(ident) SIGNED(filter) SIGNED(flags) SIGNED(fflags) SIGNED(data)
    VALUE(EVFILT_READ) VALUE(EVFILT_WRITE) VALUE(EVFILT_USER)
    VALUE(EV_ADD) VALUE(EV_DELETE) VALUE(EV_ENABLE) VALUE(EV_CLEAR)
    VALUE(EV_RECEIPT) VALUE(EV_EOF) VALUE(EV_ERROR) VALUE(NOTE_TRIGGER)
    return 0;
}
"#;

    /// Whether a value of an integer type is signed: `MIN` below zero.
    fn signed<T: TryInto<i128> + Copy>(min: T) -> i64 {
        i64::from(min.try_into().is_ok_and(|v: i128| v < 0))
    }

    /// What the Rust declarations say, in the probe's words.
    fn ours() -> Vec<(&'static str, i64)> {
        let n = |v: usize| i64::try_from(v).unwrap();
        vec![
            ("size.kevent", n(size_of::<kevent>())),
            ("align.kevent", n(std::mem::align_of::<kevent>())),
            ("offset.ident", n(offset_of!(kevent, ident))),
            ("size.ident", n(size_of::<uintptr_t>())),
            ("offset.filter", n(offset_of!(kevent, filter))),
            ("size.filter", n(size_of::<c_short>())),
            ("offset.flags", n(offset_of!(kevent, flags))),
            ("size.flags", n(size_of::<c_ushort>())),
            ("offset.fflags", n(offset_of!(kevent, fflags))),
            ("size.fflags", n(size_of::<c_uint>())),
            ("offset.data", n(offset_of!(kevent, data))),
            ("size.data", n(size_of::<intptr_t>())),
            ("offset.udata", n(offset_of!(kevent, udata))),
            ("size.udata", n(size_of::<*mut c_void>())),
            ("signed.ident", signed(uintptr_t::MIN)),
            ("signed.filter", signed(c_short::MIN)),
            ("signed.flags", signed(c_ushort::MIN)),
            ("signed.fflags", signed(c_uint::MIN)),
            ("signed.data", signed(intptr_t::MIN)),
            ("EVFILT_READ", EVFILT_READ.into()),
            ("EVFILT_WRITE", EVFILT_WRITE.into()),
            ("EVFILT_USER", EVFILT_USER.into()),
            ("EV_ADD", EV_ADD.into()),
            ("EV_DELETE", EV_DELETE.into()),
            ("EV_ENABLE", EV_ENABLE.into()),
            ("EV_CLEAR", EV_CLEAR.into()),
            ("EV_RECEIPT", EV_RECEIPT.into()),
            ("EV_EOF", EV_EOF.into()),
            ("EV_ERROR", EV_ERROR.into()),
            ("NOTE_TRIGGER", NOTE_TRIGGER.into()),
        ]
    }

    /// Compiles and runs the probe with the C compiler (`$CC`, else `cc`).
    fn theirs() -> Vec<(String, i64)> {
        let dir =
            std::env::temp_dir().join(format!("poller-libkqueue-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("probe.c");
        let exe: PathBuf = dir.join("probe");
        std::fs::write(&source, PROBE).unwrap();
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let status = Command::new(&cc)
            .arg("-I")
            .arg(INCLUDE)
            .arg("-o")
            .arg(&exe)
            .arg(&source)
            .status()
            .unwrap_or_else(|e| panic!("run the C compiler {cc:?}: {e}"));
        assert!(status.success(), "{cc} failed on the probe against {INCLUDE}");
        let out = Command::new(&exe).output().unwrap();
        assert!(out.status.success(), "the probe failed: {out:?}");
        std::fs::remove_dir_all(&dir).unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|line| {
                let (name, value) = line.split_once(' ').unwrap();
                (name.to_string(), value.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn declarations_match_the_libkqueue_header() {
        let theirs = theirs();
        let ours = ours();
        assert_eq!(theirs.len(), ours.len(), "the probe and the table list the same facts");
        for ((name, want), (their_name, got)) in ours.iter().zip(&theirs) {
            assert_eq!(name, their_name, "the probe and the table in the same order");
            assert_eq!(want, got, "{name}: Rust says {want}, <sys/event.h> says {got}");
        }
    }
}
