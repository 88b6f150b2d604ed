//! The `berth` binary: command line parsing only; the server lives in the library.
#![forbid(unsafe_code)]

fn main() {
    eprintln!("berth: not yet serving");
    std::process::exit(1);
}
