//! Passes on the backend cfgs of `poller` (`poller_epoll`, `poller_kqueue`),
//! which its build script decides, so `berth --poller NAME` offers exactly the
//! backends compiled.

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
