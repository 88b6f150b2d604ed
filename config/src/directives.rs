//! THE table of directives, and the setter behind each one.
//!
//! As nginx's `ngx_command_t` array: one row per directive with the contexts
//! it may appear in, its argument count, whether it opens a block, whether it
//! may repeat in one block, and the function that stores its value. The
//! parser checks contexts, block-ness, arity and repetition generically from
//! this table before calling the setter; setters check only values.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Fail, Pos};
use crate::lexer::Token;
use crate::model::{CgiHandler, LogTarget, Methods, Return};
use crate::value::{self, DurationError, ListenError};

/// The top level of the file.
pub(crate) const MAIN: u8 = 1;
/// Inside `server { }`.
pub(crate) const SERVER: u8 = 2;
/// Inside `location { }`.
pub(crate) const LOCATION: u8 = 4;

/// How many arguments a directive takes (its name not counted).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arity {
    /// Exactly n.
    Exactly(usize),
    /// From min to max, inclusive.
    Between(usize, usize),
    /// n or more.
    AtLeast(usize),
}

impl Arity {
    pub(crate) fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::Between(lo, hi) => (lo..=hi).contains(&n),
            Arity::AtLeast(k) => n >= k,
        }
    }
}

/// Stores a directive's value in the current block's [`Scope`].
pub(crate) type Setter = fn(&mut Scope, &Token, &[Token], &Env) -> Result<(), Fail>;

/// What the parser does with a directive once the generic checks passed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Handler {
    /// A simple directive: call the setter.
    Set(Setter),
    /// `server { }`: parse a server block.
    Server,
    /// `location PREFIX { }`: parse a location block.
    Location,
    /// `types { TYPE EXT ...; }`: parse a table of MIME types.
    Types,
}

/// One row of the table.
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) name: &'static str,
    /// Bit set of [`MAIN`], [`SERVER`], [`LOCATION`].
    pub(crate) contexts: u8,
    pub(crate) arity: Arity,
    /// Opens a `{ }` block (else ends with `;`).
    pub(crate) block: bool,
    /// May appear more than once in one block.
    pub(crate) repeatable: bool,
    pub(crate) handler: Handler,
}

const TIMEOUT_CTX: u8 = MAIN | SERVER;
const SRV_LOC: u8 = SERVER | LOCATION;
/// `cgi_timeout` is a timeout like the others, and per location too.
const CGI_TIMEOUT_CTX: u8 = MAIN | SERVER | LOCATION;
const ANY: u8 = MAIN | SERVER | LOCATION;

const fn set(
    name: &'static str,
    contexts: u8,
    arity: Arity,
    repeatable: bool,
    setter: Setter,
) -> Spec {
    Spec { name, contexts, arity, block: false, repeatable, handler: Handler::Set(setter) }
}

/// Every directive the language knows.
pub(crate) static TABLE: &[Spec] = &[
    // global
    set("max_connections", MAIN, Arity::Exactly(1), false, set_max_connections),
    set("access_log", MAIN, Arity::Exactly(1), false, set_access_log),
    set("error_log", MAIN, Arity::Exactly(1), false, set_error_log),
    set("client_header_timeout", TIMEOUT_CTX, Arity::Exactly(1), false, set_timeout),
    set("client_body_timeout", TIMEOUT_CTX, Arity::Exactly(1), false, set_timeout),
    set("keepalive_timeout", TIMEOUT_CTX, Arity::Exactly(1), false, set_timeout),
    set("send_timeout", TIMEOUT_CTX, Arity::Exactly(1), false, set_timeout),
    set("cgi_timeout", CGI_TIMEOUT_CTX, Arity::Exactly(1), false, set_timeout),
    set("session_timeout", MAIN, Arity::Exactly(1), false, set_session_timeout),
    set("session_max", MAIN, Arity::Exactly(1), false, set_session_max),
    Spec {
        name: "server",
        contexts: MAIN,
        arity: Arity::Exactly(0),
        block: true,
        repeatable: true,
        handler: Handler::Server,
    },
    // server
    set("listen", SERVER, Arity::Between(1, 3), true, set_listen),
    set("server_name", SERVER, Arity::AtLeast(1), true, set_server_name),
    Spec {
        name: "location",
        contexts: SERVER,
        arity: Arity::Exactly(1),
        block: true,
        repeatable: true,
        handler: Handler::Location,
    },
    // server and location
    set("root", SRV_LOC, Arity::Exactly(1), false, set_root),
    set("index", SRV_LOC, Arity::AtLeast(1), true, set_index),
    set("client_max_body_size", SRV_LOC, Arity::Exactly(1), false, set_client_max_body_size),
    set("error_page", SRV_LOC, Arity::AtLeast(2), true, set_error_page),
    set("methods", SRV_LOC, Arity::AtLeast(1), false, set_methods),
    set("autoindex", SRV_LOC, Arity::Exactly(1), false, set_autoindex),
    // anywhere
    set("default_type", ANY, Arity::Exactly(1), false, set_default_type),
    Spec {
        name: "types",
        contexts: ANY,
        arity: Arity::Exactly(0),
        block: true,
        repeatable: true,
        handler: Handler::Types,
    },
    // location
    set("alias", LOCATION, Arity::Exactly(1), false, set_alias),
    set("return", LOCATION, Arity::Between(1, 2), false, set_return),
    set("cgi", LOCATION, Arity::Between(1, 2), true, set_cgi),
    set("upload_store", LOCATION, Arity::Exactly(1), false, set_upload_store),
    set("session", LOCATION, Arity::Exactly(1), false, set_session),
];

/// The row for `name`, if there is one (exact, case-sensitive as nginx).
pub(crate) fn lookup(name: &str) -> Option<&'static Spec> {
    TABLE.iter().find(|s| s.name == name)
}

/// Directives the parser accepts and validates but the server does not act
/// on yet, each with what happens meanwhile. Every use gets a warning
/// (`berth -t`, startup, reload). The issue that builds one removes its row.
pub(crate) static NOT_YET: &[(&str, &str)] = &[];

const NO_TLS: &str =
    "Berth has no TLS: terminate TLS in a proxy in front of it, see docs/operations.md#tls";

/// Directives nginx users write by habit that Berth does not have, with what
/// to do instead (appended to `unknown directive "NAME"`).
pub(crate) static NGINX_HABITS: &[(&str, &str)] = &[
    ("http", "Berth's configuration has no http block: put server blocks at the top level"),
    ("events", "Berth's configuration has no events block: remove it; the connection limit is \"max_connections\" at the top level"),
    ("include", "Berth reads one file: copy the included text in; common MIME types are built in and a \"types\" block adds more"),
    ("worker_processes", "Berth runs one process with one event loop by design: remove this line"),
    ("worker_connections", "use \"max_connections\" at the top level"),
    ("worker_rlimit_nofile", "Berth raises its open file limit itself: remove this line"),
    ("user", "Berth does not switch users: start it as the user it should run as, see docs/operations.md"),
    ("pid", "Berth writes no pid file: let a service manager track it, see docs/operations.md"),
    ("daemon", "Berth stays in the foreground: let a service manager run it, see docs/operations.md"),
    ("ssl", NO_TLS),
    ("ssl_certificate", NO_TLS),
    ("ssl_certificate_key", NO_TLS),
    ("ssl_protocols", NO_TLS),
    ("ssl_ciphers", NO_TLS),
    ("proxy_pass", "Berth is not a reverse proxy"),
    ("fastcgi_pass", "Berth runs CGI scripts, not FastCGI: see the \"cgi\" directive"),
    ("try_files", "Berth serves the file a path maps to, or the folder's \"index\" files"),
    ("rewrite", "redirect with \"return 301 URL;\" in a location instead"),
    ("if", "Berth's configuration has no conditions"),
    ("limit_except", "list the allowed methods with \"methods\""),
    ("gzip", "Berth does not compress responses: remove this line"),
    ("sendfile", "Berth always sends large files with sendfile: remove this line"),
    ("tcp_nodelay", "Berth always sets TCP_NODELAY: remove this line"),
];

/// The explanation for an nginx directive Berth does not have.
pub(crate) fn nginx_habit(name: &str) -> Option<&'static str> {
    NGINX_HABITS.iter().find(|(n, _)| *n == name).map(|(_, why)| *why)
}

/// What setters need besides the block: where relative paths start, and
/// whether to check the filesystem.
#[derive(Debug)]
pub(crate) struct Env {
    /// The configuration file's folder, absolute.
    pub(crate) dir: PathBuf,
    /// Check that roots, aliases, upload stores, log folders, interpreters
    /// and error pages exist.
    pub(crate) check_fs: bool,
}

impl Env {
    /// `s` as a path: absolute as is, relative against the file's folder.
    fn resolve(&self, s: &str) -> PathBuf {
        let p = Path::new(s);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }
}

/// An `error_page` entry and where its URI was written.
#[derive(Debug, Clone)]
pub(crate) struct ErrorPage {
    pub(crate) code: u16,
    pub(crate) uri: String,
    pub(crate) pos: Pos,
}

/// A `listen` directive.
#[derive(Debug, Clone)]
pub(crate) struct ListenSpec {
    pub(crate) addr: std::net::SocketAddr,
    /// Where the address was written.
    pub(crate) pos: Pos,
    /// Where `default_server` was written, if it was.
    pub(crate) default_server: Option<Pos>,
    pub(crate) reuseport: bool,
    /// Where `deferred` was written, if it was.
    pub(crate) deferred: Option<Pos>,
}

/// A `server` block as written.
#[derive(Debug)]
pub(crate) struct RawServer {
    /// Where the word `server` is.
    pub(crate) pos: Pos,
    pub(crate) scope: Scope,
}

/// A `location` block as written.
#[derive(Debug)]
pub(crate) struct RawLocation {
    pub(crate) prefix: String,
    /// Where the prefix is.
    pub(crate) pos: Pos,
    pub(crate) scope: Scope,
}

/// Index of each timeout in [`Scope::timeouts`].
pub(crate) const TIMEOUT_NAMES: [&str; 5] = [
    "client_header_timeout",
    "client_body_timeout",
    "keepalive_timeout",
    "send_timeout",
    "cgi_timeout",
];

/// The values set in one block (main, server or location); `None` = not set
/// here, inherit.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    /// Non-repeatable directives already seen in this block.
    pub(crate) seen: Vec<&'static str>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) session_timeout: Option<Duration>,
    pub(crate) session_max: Option<usize>,
    pub(crate) access_log: Option<Option<PathBuf>>,
    pub(crate) error_log: Option<LogTarget>,
    /// In the order of [`TIMEOUT_NAMES`].
    pub(crate) timeouts: [Option<Duration>; 5],
    pub(crate) servers: Vec<RawServer>,
    pub(crate) listens: Vec<ListenSpec>,
    pub(crate) names: Vec<(String, Pos)>,
    pub(crate) locations: Vec<RawLocation>,
    pub(crate) root: Option<PathBuf>,
    pub(crate) index: Option<Vec<String>>,
    pub(crate) client_max_body_size: Option<u64>,
    pub(crate) error_pages: Option<Vec<ErrorPage>>,
    pub(crate) methods: Option<Methods>,
    pub(crate) autoindex: Option<bool>,
    pub(crate) alias: Option<PathBuf>,
    pub(crate) ret: Option<Return>,
    pub(crate) cgi: Vec<CgiHandler>,
    /// The folder and where it was written (for the warnings about it).
    pub(crate) upload_store: Option<(PathBuf, Pos)>,
    pub(crate) session: Option<bool>,
    /// `session status`: the location answers with the session's page.
    pub(crate) session_page: bool,
    /// `types` entries of this block, extension (lowercase) -> type; `None`
    /// when the block has no `types`.
    pub(crate) types: Option<Vec<(String, String)>>,
    pub(crate) default_type: Option<String>,
}

fn invalid_value(name: &Token, arg: &Token) -> Fail {
    Fail::at(arg.pos, format!("invalid value \"{}\" in \"{}\" directive", arg.text, name.text))
}

/// The arity error, worded as nginx words it.
pub(crate) fn arity_error(name: &Token) -> Fail {
    Fail::at(name.pos, format!("invalid number of arguments in \"{}\" directive", name.text))
}

/// First argument; the table's arity check guarantees there is one.
fn first<'t>(name: &Token, args: &'t [Token]) -> Result<&'t Token, Fail> {
    args.first().ok_or_else(|| arity_error(name))
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn set_max_connections(s: &mut Scope, name: &Token, args: &[Token], _: &Env) -> Result<(), Fail> {
    let arg = first(name, args)?;
    match value::parse_digits(&arg.text).and_then(|n| usize::try_from(n).ok()) {
        Some(n) if n > 0 => {
            s.max_connections = Some(n);
            Ok(())
        }
        _ => Err(invalid_value(name, arg)),
    }
}

fn set_session_max(s: &mut Scope, name: &Token, args: &[Token], _: &Env) -> Result<(), Fail> {
    let arg = first(name, args)?;
    match value::parse_digits(&arg.text).and_then(|n| usize::try_from(n).ok()) {
        Some(n) if n > 0 => {
            s.session_max = Some(n);
            Ok(())
        }
        _ => Err(invalid_value(name, arg)),
    }
}

fn set_session_timeout(s: &mut Scope, name: &Token, args: &[Token], _: &Env) -> Result<(), Fail> {
    let arg = first(name, args)?;
    match value::parse_duration(&arg.text) {
        // A cookie's Max-Age counts whole seconds.
        Ok(d) if d.as_secs() > 0 => {
            s.session_timeout = Some(d);
            Ok(())
        }
        Ok(_) => Err(Fail::at(
            arg.pos,
            format!(
                "invalid value \"{}\" in \"{}\" directive, it must be at least 1s",
                arg.text, name.text
            ),
        )),
        Err(DurationError::Malformed) => Err(invalid_value(name, arg)),
        Err(DurationError::TooLarge) => Err(Fail::at(
            arg.pos,
            format!(
                "invalid value \"{}\" in \"{}\" directive, it must not exceed 365d",
                arg.text, name.text
            ),
        )),
    }
}

/// A log file path: non-empty, not a folder, its folder must exist.
fn log_path(name: &Token, arg: &Token, env: &Env) -> Result<PathBuf, Fail> {
    if arg.text.is_empty() || has_control(&arg.text) || arg.text.ends_with('/') {
        return Err(invalid_value(name, arg));
    }
    let path = env.resolve(&arg.text);
    if env.check_fs {
        if path.is_dir() {
            return Err(Fail::at(
                arg.pos,
                format!("{} \"{}\" is a directory", name.text, path.display()),
            ));
        }
        if let Some(dir) = path.parent() {
            if !dir.is_dir() {
                return Err(Fail::at(
                    arg.pos,
                    format!("{} folder \"{}\" does not exist", name.text, dir.display()),
                ));
            }
        }
    }
    Ok(path)
}

fn set_access_log(s: &mut Scope, name: &Token, args: &[Token], env: &Env) -> Result<(), Fail> {
    let arg = first(name, args)?;
    s.access_log = Some(if arg.text == "off" { None } else { Some(log_path(name, arg, env)?) });
    Ok(())
}

fn set_error_log(s: &mut Scope, name: &Token, args: &[Token], env: &Env) -> Result<(), Fail> {
    let arg = first(name, args)?;
    s.error_log = Some(match arg.text.as_str() {
        "off" => LogTarget::Off,
        "stderr" => LogTarget::Stderr,
        _ => LogTarget::File(log_path(name, arg, env)?),
    });
    Ok(())
}

fn set_timeout(s: &mut Scope, name: &Token, args: &[Token], _: &Env) -> Result<(), Fail> {
    let arg = first(name, args)?;
    let i = TIMEOUT_NAMES
        .iter()
        .position(|n| *n == name.text)
        .ok_or_else(|| Fail::at(name.pos, format!("unknown directive \"{}\"", name.text)))?;
    let d = value::parse_duration(&arg.text).map_err(|e| match e {
        DurationError::Malformed => invalid_value(name, arg),
        DurationError::TooLarge => Fail::at(
            arg.pos,
            format!(
                "invalid value \"{}\" in \"{}\" directive, it must not exceed 365d",
                arg.text, name.text
            ),
        ),
    })?;
    s.timeouts[i] = Some(d);
    Ok(())
}

fn set_listen(s: &mut Scope, name: &Token, args: &[Token], _: &Env) -> Result<(), Fail> {
    let arg = first(name, args)?;
    let addr = value::parse_listen(&arg.text).map_err(|e| {
        let what = match e {
            ListenError::InvalidPort => "invalid port",
            ListenError::HostNotFound => "host not found",
        };
        Fail::at(arg.pos, format!("{what} in \"{}\" of the \"listen\" directive", arg.text))
    })?;
    let mut spec =
        ListenSpec { addr, pos: arg.pos, default_server: None, reuseport: false, deferred: None };
    for flag in args.iter().skip(1) {
        match flag.text.as_str() {
            "default_server" if spec.default_server.is_none() => {
                spec.default_server = Some(flag.pos)
            }
            "reuseport" if !spec.reuseport => spec.reuseport = true,
            "deferred" if spec.deferred.is_none() => spec.deferred = Some(flag.pos),
            "default_server" | "reuseport" | "deferred" => {
                return Err(Fail::at(flag.pos, format!("duplicate \"{}\" parameter", flag.text)))
            }
            "ssl" | "quic" => {
                return Err(Fail::at(
                    flag.pos,
                    format!("invalid parameter \"{}\" ({NO_TLS})", flag.text),
                ))
            }
            "http2" | "http3" => {
                return Err(Fail::at(
                    flag.pos,
                    format!(
                        "invalid parameter \"{}\" (Berth speaks HTTP/1.1 and 1.0 only)",
                        flag.text
                    ),
                ))
            }
            "default" => {
                return Err(Fail::at(
                    flag.pos,
                    "invalid parameter \"default\", did you mean \"default_server\"?",
                ))
            }
            other => {
                let hint = value::closest(other, ["default_server", "reuseport", "deferred"])
                    .map(|c| format!(", did you mean \"{c}\"?"))
                    .unwrap_or_default();
                return Err(Fail::at(flag.pos, format!("invalid parameter \"{other}\"{hint}")));
            }
        }
    }
    if s.listens.iter().any(|l| l.addr == addr) {
        return Err(Fail::at(arg.pos, format!("duplicate listen {addr}")));
    }
    s.listens.push(spec);
    Ok(())
}

fn set_server_name(s: &mut Scope, _: &Token, args: &[Token], _: &Env) -> Result<(), Fail> {
    for arg in args {
        let raw = arg.text.as_str();
        if raw.starts_with('*') || raw.ends_with('*') || raw.starts_with('~') {
            return Err(Fail::at(
                arg.pos,
                format!("server name \"{raw}\" is not supported: only exact names are"),
            ));
        }
        let name = raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase();
        // An IPv6 literal, as a Host header carries it: `[::1]`.
        let ipv6 = name.starts_with('[') && name.ends_with(']');
        if name.is_empty()
            || name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '/' || (c == ':' && !ipv6))
        {
            return Err(Fail::at(arg.pos, format!("server name \"{raw}\" has suspicious symbols")));
        }
        if !s.names.iter().any(|(n, _)| *n == name) {
            s.names.push((name, arg.pos));
        }
    }
    Ok(())
}

/// Checks that `path` is an existing, readable folder.
fn check_dir(what: &str, path: &Path, pos: Pos, env: &Env) -> Result<(), Fail> {
    if !env.check_fs {
        return Ok(());
    }
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Fail::at(pos, format!("{what} \"{shown}\" does not exist")))
        }
        Err(e) => Err(Fail::at(pos, format!("{what} \"{shown}\" is not accessible ({e})"))),
        Ok(m) if !m.is_dir() => {
            Err(Fail::at(pos, format!("{what} \"{shown}\" is not a directory")))
        }
        Ok(_) => match std::fs::read_dir(path) {
            Ok(_) => Ok(()),
            Err(e) => Err(Fail::at(pos, format!("{what} \"{shown}\" is not readable ({e})"))),
        },
    }
}

/// A folder argument: non-empty, no control characters, resolved, checked.
fn dir_arg(name: &Token, args: &[Token], env: &Env) -> Result<PathBuf, Fail> {
    let arg = first(name, args)?;
    if arg.text.is_empty() || has_control(&arg.text) {
        return Err(invalid_value(name, arg));
    }
    let path = env.resolve(&arg.text);
    check_dir(&name.text, &path, arg.pos, env)?;
    Ok(path)
}

fn set_root(s: &mut Scope, name: &Token, args: &[Token], env: &Env) -> Result<(), Fail> {
    if s.alias.is_some() {
        return Err(Fail::at(name.pos, "\"alias\" and \"root\" cannot both be set"));
    }
    s.root = Some(dir_arg(name, args, env)?);
    Ok(())
}

fn set_alias(s: &mut Scope, name: &Token, args: &[Token], env: &Env) -> Result<(), Fail> {
    if s.root.is_some() {
        return Err(Fail::at(name.pos, "\"alias\" and \"root\" cannot both be set"));
    }
    s.alias = Some(dir_arg(name, args, env)?);
    Ok(())
}

fn set_upload_store(s: &mut Scope, name: &Token, args: &[Token], env: &Env) -> Result<(), Fail> {
    let pos = first(name, args)?.pos;
    s.upload_store = Some((dir_arg(name, args, env)?, pos));
    Ok(())
}

fn set_index(s: &mut Scope, name: &Token, args: &[Token], _: &Env) -> Result<(), Fail> {
    let list = s.index.get_or_insert_with(Vec::new);
    for arg in args {
        if arg.text.is_empty() || has_control(&arg.text) {
            return Err(invalid_value(name, arg));
        }
        // An index name is joined to the folder a request names: a "/" or a
        // dot name could leave the root.
        if arg.text.contains('/') || arg.text == "." || arg.text == ".." {
            return Err(Fail::at(
                arg.pos,
                format!(
                    "invalid value \"{}\" in \"index\" directive, it must be a file name without \"/\" (and not \".\" or \"..\")",
                    arg.text
                ),
            ));
        }
        list.push(arg.text.clone());
    }
    Ok(())
}

fn set_client_max_body_size(
    s: &mut Scope,
    name: &Token,
    args: &[Token],
    _: &Env,
) -> Result<(), Fail> {
    let arg = first(name, args)?;
    s.client_max_body_size =
        Some(value::parse_size(&arg.text).ok_or_else(|| invalid_value(name, arg))?);
    Ok(())
}

fn set_error_page(s: &mut Scope, name: &Token, args: &[Token], _: &Env) -> Result<(), Fail> {
    let Some((uri, codes)) = args.split_last() else {
        return Err(arity_error(name));
    };
    if !uri.text.starts_with('/')
        || has_control(&uri.text)
        || uri.text.contains(char::is_whitespace)
    {
        return Err(Fail::at(
            uri.pos,
            format!(
                "invalid URI \"{}\" in \"error_page\" directive, it must start with \"/\"",
                uri.text
            ),
        ));
    }
    // Decoded once, as the server decodes it when it serves the page.
    let decoded = value::decode_prefix(&uri.text).map_err(|why| {
        Fail::at(
            uri.pos,
            format!("invalid URI \"{}\" in \"error_page\" directive, {why}", uri.text),
        )
    })?;
    if !value::is_normal_path(&decoded) {
        return Err(Fail::at(
            uri.pos,
            format!(
                "invalid URI \"{}\" in \"error_page\" directive, \".\", \"..\" and \"//\" are not allowed",
                uri.text
            ),
        ));
    }
    let list = s.error_pages.get_or_insert_with(Vec::new);
    for c in codes {
        let code = value::parse_digits(&c.text).ok_or_else(|| invalid_value(name, c))?;
        let code = match u16::try_from(code) {
            Ok(n @ 300..=599) => n,
            _ => {
                return Err(Fail::at(
                    c.pos,
                    format!("value \"{}\" must be between 300 and 599", c.text),
                ))
            }
        };
        list.push(ErrorPage { code, uri: uri.text.clone(), pos: uri.pos });
    }
    Ok(())
}

fn set_methods(s: &mut Scope, name: &Token, args: &[Token], _: &Env) -> Result<(), Fail> {
    let mut set = Methods::NONE;
    for arg in args {
        let m = Methods::from_name(&arg.text).ok_or_else(|| {
            let upper = arg.text.to_ascii_uppercase();
            let hint = if Methods::from_name(&upper).is_some() {
                format!(", did you mean \"{upper}\"?")
            } else {
                String::new()
            };
            Fail::at(
                arg.pos,
                format!("invalid method \"{}\" in \"{}\" directive{hint}", arg.text, name.text),
            )
        })?;
        set = set.union(m);
    }
    // As nginx's limit_except: allowing GET allows HEAD.
    if set.contains("GET") {
        set = set.union(Methods::from_name("HEAD").unwrap_or(Methods::NONE));
    }
    s.methods = Some(set);
    Ok(())
}

fn flag(name: &Token, args: &[Token]) -> Result<bool, Fail> {
    let arg = first(name, args)?;
    match arg.text.as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(Fail::at(
            arg.pos,
            format!(
                "invalid value \"{}\" in \"{}\" directive, it must be \"on\" or \"off\"",
                arg.text, name.text
            ),
        )),
    }
}

fn set_autoindex(s: &mut Scope, name: &Token, args: &[Token], _: &Env) -> Result<(), Fail> {
    s.autoindex = Some(flag(name, args)?);
    Ok(())
}

fn set_session(s: &mut Scope, name: &Token, args: &[Token], _: &Env) -> Result<(), Fail> {
    let arg = first(name, args)?;
    (s.session, s.session_page) = match arg.text.as_str() {
        "on" => (Some(true), false),
        "off" => (Some(false), false),
        "status" => (Some(true), true),
        _ => {
            return Err(Fail::at(
                arg.pos,
                format!(
                    "invalid value \"{}\" in \"{}\" directive, it must be \"on\", \"off\" or \"status\"",
                    arg.text, name.text
                ),
            ))
        }
    };
    Ok(())
}

/// The codes `return CODE URL;` redirects with.
const REDIRECT_CODES: [u16; 5] = [301, 302, 303, 307, 308];

/// `return CODE URL;` (a redirect), `return CODE [TEXT];` (200 or 400 to 599,
/// with an optional body), or `return URL;` (a 302), as nginx.
fn set_return(s: &mut Scope, name: &Token, args: &[Token], _: &Env) -> Result<(), Fail> {
    let arg = first(name, args)?;
    let is_url = |t: &str| t.starts_with("http://") || t.starts_with("https://");
    let Some(code) = value::parse_digits(&arg.text).and_then(|n| u16::try_from(n).ok()) else {
        if args.len() == 1 && is_url(&arg.text) {
            // nginx: a lone URL argument is a 302 redirect.
            s.ret = Some(Return::Redirect { code: 302, target: redirect_target(arg)? });
            return Ok(());
        }
        let hint = if arg.text.starts_with('/') {
            format!(", to redirect write \"return 302 {};\"", arg.text)
        } else {
            String::new()
        };
        return Err(Fail::at(arg.pos, format!("invalid return code \"{}\"{hint}", arg.text)));
    };
    s.ret = Some(match (code, args.get(1)) {
        (c, Some(target)) if REDIRECT_CODES.contains(&c) => {
            Return::Redirect { code: c, target: redirect_target(target)? }
        }
        (c, None) if REDIRECT_CODES.contains(&c) => {
            return Err(Fail::at(
                name.pos,
                format!(
                    "invalid number of arguments in \"return\" directive, a {c} redirect needs a URL: \"return {c} /new;\""
                ),
            ))
        }
        (444, _) => {
            return Err(Fail::at(
                arg.pos,
                "invalid return code \"444\", closing without a response is not supported",
            ))
        }
        (c @ (200 | 400..=599), text) => {
            Return::Status { code: c, text: text.map(|t| t.text.clone()) }
        }
        _ => {
            return Err(Fail::at(
                arg.pos,
                format!(
                    "invalid return code \"{}\", it must be 200, 301, 302, 303, 307, 308 or from 400 to 599",
                    arg.text
                ),
            ))
        }
    });
    Ok(())
}

/// A redirect's `Location`: non-empty, no whitespace or control characters
/// (it becomes a header value).
fn redirect_target(target: &Token) -> Result<String, Fail> {
    if target.text.is_empty() || target.text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Fail::at(
            target.pos,
            format!("invalid URL \"{}\" in \"return\" directive", target.text.escape_default()),
        ));
    }
    Ok(target.text.clone())
}

fn set_default_type(s: &mut Scope, name: &Token, args: &[Token], _: &Env) -> Result<(), Fail> {
    let arg = first(name, args)?;
    if !is_mime_type(&arg.text) {
        return Err(Fail::at(
            arg.pos,
            format!(
                "invalid value \"{}\" in \"default_type\" directive, it must look like \"text/plain\"",
                arg.text
            ),
        ));
    }
    s.default_type = Some(arg.text.clone());
    Ok(())
}

/// Whether `t` can be a `Content-Type` value: `type/subtype` and optional
/// parameters, printable ASCII with no spaces but after a `;`.
pub(crate) fn is_mime_type(t: &str) -> bool {
    let essence = t.split(';').next().unwrap_or("");
    let Some((ty, sub)) = essence.split_once('/') else { return false };
    let token = |p: &str| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    token(ty) && token(sub) && t.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// One entry of a `types` block: `TYPE EXT ...;`, into `list` (extensions
/// lowercased); a repeated extension replaces the earlier one, with a
/// warning in `warnings` as nginx gives.
pub(crate) fn add_types_entry(
    list: &mut Vec<(String, String)>,
    words: &[Token],
    warnings: &mut Vec<Fail>,
) -> Result<(), Fail> {
    let Some((ty, exts)) = words.split_first() else { return Ok(()) };
    if !is_mime_type(&ty.text) {
        return Err(Fail::at(
            ty.pos,
            format!(
                "invalid MIME type \"{}\" in \"types\" block, it must look like \"text/html\"",
                ty.text
            ),
        ));
    }
    if exts.is_empty() {
        return Err(Fail::at(
            ty.pos,
            format!(
                "no extension for \"{}\" in \"types\" block: \"{} html htm;\"",
                ty.text, ty.text
            ),
        ));
    }
    for ext in exts {
        let e = ext.text.as_str();
        if let Some(bare) = e.strip_prefix('.') {
            return Err(Fail::at(
                ext.pos,
                format!("invalid extension \"{e}\" in \"types\" block, write it without the dot: \"{bare}\""),
            ));
        }
        if e.is_empty()
            || e.contains(|c: char| c == '/' || c == '.' || c.is_control() || c.is_whitespace())
        {
            return Err(Fail::at(ext.pos, format!("invalid extension \"{e}\" in \"types\" block")));
        }
        let lower = e.to_ascii_lowercase();
        match list.iter_mut().find(|(x, _)| *x == lower) {
            Some((_, previous)) => {
                if *previous != ty.text {
                    warnings.push(Fail::at(
                        ext.pos,
                        format!(
                            "duplicate extension \"{e}\", content type: \"{}\", previous content type: \"{previous}\"",
                            ty.text
                        ),
                    ));
                }
                *previous = ty.text.clone();
            }
            None => list.push((lower, ty.text.clone())),
        }
    }
    Ok(())
}

fn set_cgi(s: &mut Scope, name: &Token, args: &[Token], env: &Env) -> Result<(), Fail> {
    let ext = first(name, args)?;
    let valid = ext.text.len() > 1
        && ext.text.starts_with('.')
        && ext.text[1..].chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(Fail::at(
            ext.pos,
            format!(
                "invalid extension \"{}\" in \"cgi\" directive, it must look like \".py\"",
                ext.text
            ),
        ));
    }
    if s.cgi.iter().any(|h| h.extension == ext.text) {
        return Err(Fail::at(ext.pos, format!("duplicate cgi extension \"{}\"", ext.text)));
    }
    let interpreter = match args.get(1) {
        None => None,
        Some(arg) if arg.text.is_empty() || has_control(&arg.text) => {
            return Err(invalid_value(name, arg))
        }
        // A bare program name is looked up in PATH when the script runs.
        Some(arg) if !arg.text.contains('/') => Some(PathBuf::from(&arg.text)),
        Some(arg) => {
            let path = env.resolve(&arg.text);
            if env.check_fs && !path.is_file() {
                return Err(Fail::at(
                    arg.pos,
                    format!("cgi interpreter \"{}\" does not exist", path.display()),
                ));
            }
            Some(path)
        }
    };
    s.cgi.push(CgiHandler { extension: ext.text.clone(), interpreter });
    Ok(())
}
