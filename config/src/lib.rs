//! Berth's nginx-style configuration language, parsed and validated into a model.
//!
//! [`load`] reads a file, [`parse`] takes the text; both return a [`Config`]
//! in which every setting is resolved (global -> server -> location
//! inheritance, then defaults), every path is absolute and every check has
//! passed, or an [`Error`] that prints as `FILE:LINE:COL: message` in nginx's
//! words. [`Config::route`] picks the server and location of a request.
//!
//! The language and every directive are described in `docs/configuration.md`.
//! Directives are declared in one table (name, contexts, arity, setter) and
//! checked generically, as nginx's `ngx_command_t`.
//!
//! This crate does no I/O except reading the file and checking that the
//! paths it names exist; it binds nothing and opens no log.
//!
//! # Examples
//!
//! ```
//! let src = "server { listen 127.0.0.1:8080; server_name a.test; root /;
//!            location /old { return 301 /new; } }";
//! let cfg = config::parse(src, std::path::Path::new("/etc/berth.conf")).unwrap();
//! assert_eq!(cfg.listeners[0].addr, "127.0.0.1:8080".parse().unwrap());
//! let (server, location) = cfg.route(0, Some("A.test:8080"), "/old/page");
//! assert_eq!(cfg.servers[server].locations[location].prefix, "/old");
//!
//! let err = config::parse("server {\n    lisen 80;\n}\n", "b.conf".as_ref()).unwrap_err();
//! assert_eq!(err.to_string(), r#"b.conf:2:5: unknown directive "lisen", did you mean "listen"?"#);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod directives;
mod error;
mod lexer;
mod model;
mod parser;
mod value;

use std::path::{Path, PathBuf};

pub use error::{Error, Warning};
pub use model::{
    CgiHandler, Config, Listener, Location, LogTarget, Mapping, Methods, Return, Server, Timeouts,
    DEFAULT_CGI_TIMEOUT, DEFAULT_CLIENT_BODY_TIMEOUT, DEFAULT_CLIENT_HEADER_TIMEOUT,
    DEFAULT_CLIENT_MAX_BODY_SIZE, DEFAULT_INDEX, DEFAULT_KEEPALIVE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MIME_TYPE, DEFAULT_SEND_TIMEOUT, DEFAULT_SESSION_MAX,
    DEFAULT_SESSION_TIMEOUT, METHOD_NAMES,
};
pub use value::MAX_DURATION;

/// Reads, parses and validates the configuration file at `path`, including
/// the checks that roots, aliases, upload stores, log folders, CGI
/// interpreters given as paths, and error pages exist.
///
/// # Errors
/// The file cannot be read (`line == 0`; the message names the file's
/// absolute path, so the folder it was looked for in shows), is not UTF-8,
/// or any error of [`parse`].
pub fn load(path: &Path) -> Result<Config, Error> {
    let bytes = std::fs::read(path).map_err(|e| {
        let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Error {
            file: path.to_path_buf(),
            line: 0,
            col: 0,
            message: format!("cannot read \"{}\": {}", shown.display(), os_message(&e)),
        }
    })?;
    let src = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let bytes = e.as_bytes();
            let good =
                std::str::from_utf8(bytes.get(..e.utf8_error().valid_up_to()).unwrap_or(&[]))
                    .unwrap_or("");
            let line = good.matches('\n').count() + 1;
            let col = good.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            return Err(Error {
                file: path.to_path_buf(),
                line: u32::try_from(line).unwrap_or(u32::MAX),
                col: u32::try_from(col).unwrap_or(u32::MAX),
                message: "invalid UTF-8".to_string(),
            });
        }
    };
    parse(&src, path)
}

/// Parses and validates configuration text as if read from `file`: relative
/// paths resolve against `file`'s folder (made absolute against the current
/// directory), and errors name `file`. Checks the filesystem as [`load`] does.
///
/// # Errors
/// The first problem in file order (syntax, unknown directive, context,
/// arity, bad value, missing path), then the cross-checks (duplicate default
/// server, conflicting server name, missing error page).
pub fn parse(src: &str, file: &Path) -> Result<Config, Error> {
    parse_with(src, file, true)
}

/// [`parse`] without touching the filesystem: paths are resolved but not
/// checked. For tools and tests that build models of machines they do not
/// run on.
///
/// # Errors
/// As [`parse`], less the path checks.
pub fn parse_unchecked(src: &str, file: &Path) -> Result<Config, Error> {
    parse_with(src, file, false)
}

fn parse_with(src: &str, file: &Path, check_fs: bool) -> Result<Config, Error> {
    let dir = folder_of(file).map_err(|e| Error {
        file: file.to_path_buf(),
        line: 0,
        col: 0,
        message: format!("cannot resolve the folder of \"{}\": {}", file.display(), os_message(&e)),
    })?;
    let env = directives::Env { dir, check_fs };
    parser::parse(src, file, &env).map_err(|f| f.in_file(file.to_path_buf()))
}

/// An I/O error as a person reads it: the OS's description without Rust's
/// ` (os error N)` suffix.
pub fn os_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    match (e.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(cut)) => text[..cut].to_string(),
        _ => text,
    }
}

/// The absolute folder holding `file`.
fn folder_of(file: &Path) -> std::io::Result<PathBuf> {
    let abs = std::path::absolute(file)?;
    Ok(abs.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf))
}

/// The name of every directive the language accepts, in table order.
pub fn directive_names() -> impl Iterator<Item = &'static str> {
    directives::TABLE.iter().map(|s| s.name)
}

/// Directives accepted and validated but not acted on yet: each use gets a
/// warning, and `docs/configuration.md` marks each "Not yet".
pub fn not_yet_directives() -> impl Iterator<Item = &'static str> {
    directives::NOT_YET.iter().map(|(name, _)| *name)
}

/// The contexts `name` is allowed in (`"main"`, `"server"`, `"location"`),
/// or `None` for an unknown directive.
pub fn directive_contexts(name: &str) -> Option<Vec<&'static str>> {
    let spec = directives::lookup(name)?;
    let all = [
        (directives::MAIN, "main"),
        (directives::SERVER, "server"),
        (directives::LOCATION, "location"),
    ];
    Some(all.iter().filter(|(bit, _)| spec.contexts & bit != 0).map(|(_, n)| *n).collect())
}
