//! Says which backends `poller` compiles for the target, in one place, and
//! links libkqueue under `--cfg poller_libkqueue`.
//!
//! Sets `poller_epoll` where the `Epoll` backend is compiled and
//! `poller_kqueue` where the `Kqueue` backend is: on the systems with
//! kqueue(2), and on Linux under `--cfg poller_libkqueue` (libkqueue, the
//! kqueue API over epoll, linked from `$LIBKQUEUE_PREFIX/lib/libkqueue.a`: a
//! test device, never part of a normal build). The same list goes to the
//! build scripts of crates that depend on this one as `DEP_POLLER_CFGS`
//! (cargo's `links` metadata), so `berth --poller kqueue` and the black-box
//! tests agree with this crate on what exists.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=LIBKQUEUE_PREFIX");

    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let vendor = env::var("CARGO_CFG_TARGET_VENDOR").unwrap_or_default();
    let libkqueue = env::var_os("CARGO_CFG_POLLER_LIBKQUEUE").is_some();

    let epoll = matches!(os.as_str(), "linux" | "android");
    // The kqueue(2) systems: the one list of them in the workspace.
    let native_kqueue =
        vendor == "apple" || matches!(os.as_str(), "freebsd" | "openbsd" | "netbsd" | "dragonfly");
    if libkqueue && os != "linux" {
        panic!("--cfg poller_libkqueue is for Linux (libkqueue over epoll), not {os}");
    }

    let mut cfgs = Vec::new();
    if epoll {
        cfgs.push("poller_epoll");
    }
    if native_kqueue || libkqueue {
        cfgs.push("poller_kqueue");
    }
    for cfg in &cfgs {
        println!("cargo::rustc-cfg={cfg}");
    }
    println!("cargo::metadata=cfgs={}", cfgs.join(","));

    if libkqueue {
        // Set again from here so that rustdoc, which RUSTFLAGS do not reach,
        // sees it too when it builds the doctests.
        println!("cargo::rustc-cfg=poller_libkqueue");
        link_libkqueue();
    }
}

/// Links the static libkqueue that `$LIBKQUEUE_PREFIX` holds (as
/// `../shared/tools/libkqueue.sh` installs it) and tells the crate where its
/// header is, for the test that checks our declarations against it.
fn link_libkqueue() {
    let Some(prefix) = env::var_os("LIBKQUEUE_PREFIX").map(PathBuf::from) else {
        panic!(
            "--cfg poller_libkqueue needs LIBKQUEUE_PREFIX: the install prefix of libkqueue \
             (PREFIX/lib/libkqueue.a, PREFIX/include/kqueue/sys/event.h); \
             ../shared/tools/libkqueue.sh builds it and prints it"
        );
    };
    let lib = prefix.join("lib");
    let include = prefix.join("include").join("kqueue");
    for (path, what) in
        [(lib.join("libkqueue.a"), "library"), (include.join("sys/event.h"), "header")]
    {
        if !path.is_file() {
            panic!("LIBKQUEUE_PREFIX: no libkqueue {what} at {}", path.display());
        }
    }
    println!("cargo::rerun-if-changed={}", lib.join("libkqueue.a").display());
    println!("cargo::rustc-link-search=native={}", lib.display());
    println!("cargo::rustc-link-lib=static=kqueue");
    // What libkqueue's pkg-config file lists as its own dependencies.
    println!("cargo::rustc-link-lib=dylib=pthread");
    println!("cargo::rustc-link-lib=dylib=rt");
    println!("cargo::rustc-env=POLLER_LIBKQUEUE_INCLUDE={}", include.display());
}
