//! The `berth` binary: command line handling only; the server lives in the library.
//!
//! Exit status: 0 after a clean stop, a passed `-t`, `-h` or `-V`; 1 when
//! the server fails at run time (an address cannot be bound, a log cannot be
//! opened, the poller fails); 2 for a bad configuration or command line.
//! Every message on standard error starts with `berth:`, but configuration
//! errors and warnings, which start with `FILE:LINE:COL:` for editors.
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::ExitCode;

use server::cli::{self, Command, PollerChoice};

/// Exit status of a run-time failure.
const EXIT_FAILURE: u8 = 1;
/// Exit status of a bad configuration or command line.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cmd = match cli::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("berth: {msg}\n{}", cli::usage());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let (path, test, choice) = match cmd {
        Command::Help => {
            print!("{}", cli::usage());
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
        Err(e) if e.line == 0 => {
            // No place in the file: the file itself is the problem.
            eprintln!("berth: {}", e.message);
            if path == Path::new(cli::DEFAULT_CONFIG) {
                eprintln!(
                    "berth: run berth from the folder holding {}, or name the file with -c FILE",
                    cli::DEFAULT_CONFIG
                );
            }
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    for w in &config.warnings {
        eprintln!("{w}");
    }
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
        // cli::parse refuses the backends this platform does not have; this
        // arm exists only where some backend is not compiled (all are under
        // `--cfg poller_libkqueue` on Linux).
        #[cfg(not(all(poller_epoll, poller_kqueue)))]
        other => {
            eprintln!("berth: poller \"{}\" is not available on this platform", other.name());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {}", config::os_message(&e));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
