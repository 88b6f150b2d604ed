//! The `berth` command line: `berth [-c FILE] [-t] [--poller NAME] [-V] [-h]`.

use std::ffi::OsString;
use std::path::PathBuf;

/// The configuration file used without `-c`.
pub const DEFAULT_CONFIG: &str = "berth.conf";

/// The backends compiled for this platform.
pub const BACKENDS: &[PollerChoice] = &[
    #[cfg(poller_epoll)]
    PollerChoice::Epoll,
    #[cfg(poller_kqueue)]
    PollerChoice::Kqueue,
    PollerChoice::Poll,
];

/// Usage text for `-h` and usage errors, naming only this platform's backends.
pub fn usage() -> String {
    let names: Vec<&str> = BACKENDS.iter().map(|b| b.name()).collect();
    format!(
        "usage: berth [-c FILE] [-t] [--poller {}] [-V] [-h]

  -c FILE         configuration file (default: ./berth.conf)
  -t              test the configuration (and --poller) and exit
  --poller NAME   event backend: {} (default: {})
  -V              print the version and exit
  -h, --help      print this help and exit

signals: TERM, INT, QUIT stop gracefully; HUP reloads the configuration and
reopens the logs; USR1 reopens the logs; USR2, WINCH are ignored.
exit status: 0 stopped cleanly or test passed, 1 runtime failure (e.g. an
address cannot be bound), 2 bad configuration or command line.
",
        names.join("|"),
        names.join(", "),
        <poller::DefaultPoller as poller::Poller>::NAME,
    )
}

/// Which poller backend to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollerChoice {
    /// `poller::DefaultPoller`.
    Default,
    /// epoll(7).
    Epoll,
    /// kqueue(2).
    Kqueue,
    /// poll(2).
    Poll,
}

impl PollerChoice {
    /// The backend's name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PollerChoice::Default => "default",
            PollerChoice::Epoll => "epoll",
            PollerChoice::Kqueue => "kqueue",
            PollerChoice::Poll => "poll",
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print usage and exit 0.
    Help,
    /// Print the version and exit 0.
    Version,
    /// Load the configuration; test only (`-t`) or serve.
    Run {
        /// The configuration file.
        config: PathBuf,
        /// `-t`: test the configuration and exit.
        test: bool,
        /// The poller backend.
        poller: PollerChoice,
    },
}

/// Parses the arguments after the program name.
///
/// # Errors
/// A one-line message for an unknown option, a missing or bad value.
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = OsString>,
{
    let mut config = PathBuf::from(DEFAULT_CONFIG);
    let mut test = false;
    let mut poller = PollerChoice::Default;
    let mut help = false;
    let mut version = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(s) = arg.to_str() else {
            return Err(format!("invalid option: {}", arg.to_string_lossy()));
        };
        match s {
            "-h" | "--help" | "-?" => help = true,
            "-V" | "-v" | "--version" => version = true,
            "-t" => test = true,
            "-c" => match args.next() {
                Some(f) => config = PathBuf::from(f),
                None => return Err("option \"-c\" requires a file name".into()),
            },
            "--poller" => match args.next() {
                Some(v) => poller = poller_name(&v.to_string_lossy())?,
                None => return Err("option \"--poller\" requires a backend name".into()),
            },
            _ if s.starts_with("--poller=") => {
                poller = poller_name(s.trim_start_matches("--poller="))?;
            }
            _ if s.starts_with("-c") && s.len() > 2 => config = PathBuf::from(&s[2..]),
            _ => return Err(format!("invalid option: \"{s}\"")),
        }
    }
    if help {
        Ok(Command::Help)
    } else if version {
        Ok(Command::Version)
    } else {
        Ok(Command::Run { config, test, poller })
    }
}

/// A backend by name; one not compiled for this platform is refused here,
/// so `-t` and the start agree.
fn poller_name(name: &str) -> Result<PollerChoice, String> {
    let choice = match name {
        "epoll" => PollerChoice::Epoll,
        "kqueue" => PollerChoice::Kqueue,
        "poll" => PollerChoice::Poll,
        _ => return Err(format!("unknown poller \"{name}\" (available: {})", available())),
    };
    if !BACKENDS.contains(&choice) {
        return Err(format!(
            "poller \"{name}\" is not available on this platform (available: {})",
            available()
        ));
    }
    Ok(choice)
}

fn available() -> String {
    let names: Vec<&str> = BACKENDS.iter().map(|b| b.name()).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(OsString::from))
    }

    fn run(config: &str, test: bool, poller: PollerChoice) -> Result<Command, String> {
        Ok(Command::Run { config: PathBuf::from(config), test, poller })
    }

    #[test]
    fn table() {
        assert_eq!(p(&[]), run("berth.conf", false, PollerChoice::Default));
        assert_eq!(p(&["-t"]), run("berth.conf", true, PollerChoice::Default));
        assert_eq!(p(&["-c", "x.conf", "-t"]), run("x.conf", true, PollerChoice::Default));
        assert_eq!(p(&["-cx.conf"]), run("x.conf", false, PollerChoice::Default));
        assert_eq!(p(&["--poller", "poll"]), run("berth.conf", false, PollerChoice::Poll));
        assert_eq!(p(&["--poller=epoll"]), run("berth.conf", false, PollerChoice::Epoll));
        #[cfg(all(target_os = "linux", not(poller_kqueue)))]
        {
            let e = p(&["--poller", "kqueue"]).unwrap_err();
            assert_eq!(
                e,
                "poller \"kqueue\" is not available on this platform (available: epoll, poll)"
            );
            let e = p(&["-t", "--poller=kqueue"]).unwrap_err();
            assert!(e.contains("not available"), "{e}");
            assert!(usage().contains("--poller epoll|poll]"), "{}", usage());
            let default = <poller::DefaultPoller as poller::Poller>::NAME;
            let want = format!("event backend: epoll, poll (default: {default})");
            assert!(usage().contains(&want), "{}", usage());
            assert!(!usage().contains("kqueue"));
        }
        #[cfg(poller_kqueue)]
        assert_eq!(p(&["--poller", "kqueue"]), run("berth.conf", false, PollerChoice::Kqueue));
        assert_eq!(
            p(&["--poller", "select"]),
            Err(format!("unknown poller \"select\" (available: {})", available()))
        );
        assert_eq!(p(&["-V"]), Ok(Command::Version));
        assert_eq!(p(&["-t", "-h"]), Ok(Command::Help));
        assert!(p(&["-c"]).is_err());
        assert!(p(&["--poller"]).is_err());
        assert!(p(&["--poller", "select"]).is_err());
        assert!(p(&["-x"]).is_err());
        assert!(p(&["extra"]).is_err());
    }
}
