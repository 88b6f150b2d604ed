//! Helpers for black-box tests that start the real `berth` binary.
//!
//! The tests in `tests/tests/` never link the server: they run the `berth`
//! executable the way a user does and speak to it over TCP or read its output.
//!
//! - [`Berth::start`] writes a config (a template with `{dir}` and `{portN}`
//!   placeholders) and a docroot into a fresh [`TempDir`], starts
//!   `berth -c FILE --poller BACKEND`, and waits until every port accepts;
//!   dropping it stops the server (SIGTERM, then SIGKILL).
//! - [`Client`] sends raw bytes and parses responses strictly (status line,
//!   headers, body by Content-Length, chunked or close), with a timeout on
//!   every read, so no test can hang.
//! - [`backend_tests!`] instantiates each test for every poller backend of
//!   the platform: `epoll::name` and `poll::name` on Linux.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub mod client;
pub mod server;
pub mod site;
pub mod tempdir;

pub use client::{get, request, Client, CloseState, Response};
pub use server::Berth;
pub use tempdir::TempDir;

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> &'static Path {
    // CARGO_MANIFEST_DIR is `<root>/tests` for this crate.
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or_else(|| Path::new("."))
}

/// Path of the `berth` executable, built once per test process.
///
/// `BERTH_BIN` overrides it. Otherwise `cargo build --bin berth` is run in the
/// same profile as the tests (cargo does not build other packages' binaries for
/// a test crate), and the binary beside the test executable's `deps/` is used.
pub fn berth_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("BERTH_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("test executable path");
        // <target>/<profile>/deps/<test-exe>
        let profile_dir =
            exe.parent().and_then(Path::parent).expect("test executable is in <profile>/deps");
        let target_dir = profile_dir.parent().expect("profile dir is in the target dir");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace_root())
            .args(["build", "--quiet", "-p", "server", "--bin", "berth", "--target-dir"])
            .arg(target_dir);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build for berth");
        assert!(status.success(), "cargo build --bin berth failed");
        profile_dir.join("berth")
    })
}

/// Defines each test once as `fn name(backend: &'static str)` and
/// instantiates it as a `#[test]` per poller backend the `berth` binary is
/// built with: `epoll::name` (Linux, Android), `kqueue::name` (macOS and the
/// BSDs, and Linux under `--cfg poller_libkqueue`) and `poll::name`
/// (everywhere). The build script takes the list from `poller`'s.
///
/// ```
/// tests::backend_tests! {
///     fn get_index_file(backend) {
///         let berth = tests::site::standard(backend);
///         berth.get("/").assert_status(200);
///     }
/// }
/// # fn main() {}
/// ```
/// Attributes (docs, `#[cfg]`) apply to the definition and every instance.
///
/// `libkqueue_differs("why")` before `fn` marks a test that the kqueue
/// backend cannot pass over libkqueue (the kqueue API emulated over epoll,
/// `--cfg poller_libkqueue`) because libkqueue differs from the kernels'
/// kqueue: its `kqueue::` instance is ignored there, with why, and runs on
/// macOS and the BSDs like every other.
#[macro_export]
macro_rules! backend_tests {
    ($(
        $(#[$attr:meta])*
        $(libkqueue_differs($why:literal))?
        fn $name:ident($backend:ident) $body:block
    )*) => {
        $(
            $(#[$attr])*
            fn $name($backend: &'static str) $body
        )*

        #[cfg(poller_epoll)]
        mod epoll {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    super::$name("epoll")
                }
            )*
        }

        #[cfg(poller_kqueue)]
        mod kqueue {
            $(
                $(#[$attr])*
                $(#[cfg_attr(poller_libkqueue, ignore = $why)])?
                #[test]
                fn $name() {
                    super::$name("kqueue")
                }
            )*
        }

        mod poll {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    super::$name("poll")
                }
            )*
        }
    };
}
