//! Passes on the backend cfgs of `poller` (`poller_epoll`, `poller_kqueue`),
//! which its build script decides, so `backend_tests!` instantiates every test
//! for exactly the backends the `berth` binary is built with. The tests in
//! `tests/tests/` are targets of this package, so the cfgs apply where the
//! macro expands.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    // Set by poller's build script through its `links` metadata.
    println!("cargo::rerun-if-env-changed=DEP_POLLER_CFGS");
    let cfgs =
        std::env::var("DEP_POLLER_CFGS").expect("poller's build script sets DEP_POLLER_CFGS");
    for cfg in cfgs.split(',').filter(|cfg| !cfg.is_empty()) {
        println!("cargo::rustc-cfg={cfg}");
    }
}
