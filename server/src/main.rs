//! The `berth` binary: command line handling only; the server lives in the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use server::cli::{self, Command, PollerChoice};

fn main() -> ExitCode {
    let cmd = match cli::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("berth: {msg}\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let (path, test, choice) = match cmd {
        Command::Help => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("{}", server::http::response::SERVER);
            return ExitCode::SUCCESS;
        }
        Command::Run { config, test, poller } => (config, test, poller),
    };
    let config = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if test {
        eprintln!("berth: configuration file {} test is successful", path.display());
        return ExitCode::SUCCESS;
    }
    let result = match choice {
        PollerChoice::Default => server::serve::<poller::DefaultPoller>(config),
        #[cfg(poller_epoll)]
        PollerChoice::Epoll => server::serve::<poller::Epoll>(config),
        #[cfg(poller_kqueue)]
        PollerChoice::Kqueue => server::serve::<poller::Kqueue>(config),
        PollerChoice::Poll => server::serve::<poller::Poll>(config),
        // Only where some backend is not compiled (all are under
        // `--cfg poller_libkqueue` on Linux).
        #[cfg(not(all(poller_epoll, poller_kqueue)))]
        other => {
            eprintln!("berth: poller \"{}\" is not available on this platform", other.name());
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {e}");
            ExitCode::from(1)
        }
    }
}
