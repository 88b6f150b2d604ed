//! The validated model the server consumes, and request routing over it.
//!
//! Every value here is final: inheritance (global -> server -> location) and
//! defaults are already applied, paths are absolute, and every cross-check
//! (duplicate listens, conflicting names, duplicate default servers) has
//! passed. [`Config::route`] is a pure lookup over this model.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Warning;

/// Default for `max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default for `client_max_body_size`: 1 MiB, as nginx.
pub const DEFAULT_CLIENT_MAX_BODY_SIZE: u64 = 1 << 20;
/// Default for `client_header_timeout` (nginx: 60s).
pub const DEFAULT_CLIENT_HEADER_TIMEOUT: Duration = Duration::from_secs(60);
/// Default for `client_body_timeout` (nginx: 60s).
pub const DEFAULT_CLIENT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Default for `keepalive_timeout` (nginx: 75s).
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(75);
/// Default for `send_timeout` (nginx: 60s).
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Default for `cgi_timeout` (as nginx's `fastcgi_read_timeout`: 60s).
pub const DEFAULT_CGI_TIMEOUT: Duration = Duration::from_secs(60);
/// Default for `session_timeout`: a session ends after an hour unused.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default for `session_max`: most sessions kept at once.
pub const DEFAULT_SESSION_MAX: usize = 10_000;
/// Default index file list.
pub const DEFAULT_INDEX: &str = "index.html";
/// Default for `default_type`: what stock nginx configurations set.
pub const DEFAULT_MIME_TYPE: &str = "application/octet-stream";

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it was read from, as given.
    pub file: PathBuf,
    /// `max_connections`: most client connections open at once (default 1024).
    pub max_connections: usize,
    /// `session_timeout`: a session unused this long ends; also the
    /// session cookie's `Max-Age` (default 1h).
    pub session_timeout: Duration,
    /// `session_max`: most sessions kept; past it the least recently used
    /// is evicted (default 10000).
    pub session_max: usize,
    /// `access_log`: `None` = off (the default).
    pub access_log: Option<PathBuf>,
    /// `error_log` (default: standard error).
    pub error_log: LogTarget,
    /// The `server` blocks, in file order. Never empty.
    pub servers: Vec<Server>,
    /// One listener per distinct address, in first-seen order.
    pub listeners: Vec<Listener>,
    /// What is valid but worth telling (nginx's `[warn]`), in file order:
    /// printed by `berth -t` and at startup, logged on reload.
    pub warnings: Vec<Warning>,
}

/// Where the error log goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LogTarget {
    /// Standard error (the default; also `error_log stderr;`).
    #[default]
    Stderr,
    /// `error_log off;`
    Off,
    /// A file (absolute path), appended to.
    File(PathBuf),
}

/// One address to bind, and the servers that answer on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The address to bind.
    pub addr: SocketAddr,
    /// Whether any `listen` of this address asked for `reuseport`.
    pub reuseport: bool,
    /// Whether any `listen` of this address asked for `deferred` (deferred
    /// accept) on a platform that has it.
    pub deferred: bool,
    /// Indices into [`Config::servers`] of the servers listening here, in file order.
    pub servers: Vec<usize>,
    /// Index into [`Config::servers`] (not into `servers` above) of the server
    /// that answers when no `server_name` matches: the one marked
    /// `default_server` on this address, else the first listed.
    pub default_server: usize,
}

/// One `server` block, with its settings resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `server_name`s, lowercased, without a trailing dot, duplicates removed.
    pub names: Vec<String>,
    /// The addresses of its `listen` directives, in file order (default
    /// `0.0.0.0:80` when it has none, as nginx).
    pub listen: Vec<SocketAddr>,
    /// The server-level `root` (absolute), the folder `error_page` URIs are
    /// found under. `None` when the server block sets no `root`.
    pub root: Option<PathBuf>,
    /// The timeouts in effect for this server's connections.
    pub timeouts: Timeouts,
    /// Locations sorted longest prefix first (file order among equal
    /// lengths). The last one is always `/` (the file's own, or an implicit
    /// one inheriting the server's settings), so routing always finds one.
    pub locations: Vec<Location>,
}

/// Connection timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `client_header_timeout`: time to receive a request head (408 past it).
    pub client_header: Duration,
    /// `client_body_timeout`: longest wait between two reads of a body.
    pub client_body: Duration,
    /// `keepalive_timeout`: how long an idle keep-alive connection stays open.
    pub keepalive: Duration,
    /// `send_timeout`: longest wait between two writes of a response.
    pub send: Duration,
    /// `cgi_timeout` of the server (a location may set its own, see
    /// [`Location::cgi_timeout`]).
    pub cgi: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            client_header: DEFAULT_CLIENT_HEADER_TIMEOUT,
            client_body: DEFAULT_CLIENT_BODY_TIMEOUT,
            keepalive: DEFAULT_KEEPALIVE_TIMEOUT,
            send: DEFAULT_SEND_TIMEOUT,
            cgi: DEFAULT_CGI_TIMEOUT,
        }
    }
}

/// One `location` block (or a server's implicit `/`), with every setting
/// in effect there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The prefix it matches (starts with `/`).
    pub prefix: String,
    /// How a request path maps to a file.
    pub mapping: Mapping,
    /// Index files tried for a directory, in order (default `["index.html"]`).
    pub index: Vec<String>,
    /// Methods allowed here; others get 405 with `Allow`. Without
    /// `methods` (here or in the server): [`Methods::default_for`].
    pub methods: Methods,
    /// Whether a directory without an index file gets a listing.
    pub autoindex: bool,
    /// `return`: answer every request here with this, before anything else.
    pub ret: Option<Return>,
    /// CGI handlers by file extension.
    pub cgi: Vec<CgiHandler>,
    /// `cgi_timeout`: the longest a CGI script may stay silent (no output),
    /// as nginx's `fastcgi_read_timeout`: 504 before its header, the
    /// response cut after it.
    pub cgi_timeout: Duration,
    /// `upload_store`: the folder POSTed files are stored in (absolute).
    pub upload_store: Option<PathBuf>,
    /// Largest request body in bytes; 0 = unlimited (default 1 MiB).
    pub client_max_body_size: u64,
    /// Whether the session cookie is issued and tracked here.
    pub session: bool,
    /// `session status`: requests here get the built-in page of their
    /// session (`GET`), or end it (`POST`).
    pub session_page: bool,
    /// `types` entries in effect here, extension (lowercase, no dot) ->
    /// MIME type, looked up before the built-in table.
    pub types: Vec<(String, String)>,
    /// Whether the built-in MIME table applies after [`Location::types`]:
    /// true unless a `types` block in the server or location replaced it (a
    /// `types` block at the top of the file adds to it instead).
    pub builtin_types: bool,
    /// `default_type`: the type of a file no table knows.
    pub default_type: String,
    /// `error_page` overrides: status -> URI under the server's root
    /// ([`Server::root`]). The location's own list if it has one, else the
    /// server's (nginx semantics: a level that sets any replaces them all).
    pub error_pages: Vec<(u16, String)>,
}

/// How a location maps a request path to the filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// nginx `root`: file = root + the whole request path.
    Root(PathBuf),
    /// `alias`: file = alias + the request path with the location's prefix
    /// removed (`location /docs { alias /srv/manual; }`: `/docs/a/b` ->
    /// `/srv/manual/a/b`).
    Alias(PathBuf),
}

/// A `return` directive: what every request of its location gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Return {
    /// `return 301 /new;` or `return https://x/;`: a redirect.
    Redirect {
        /// 301, 302, 303, 307 or 308.
        code: u16,
        /// The `Location` value: a URL or a path, free of control characters.
        target: String,
    },
    /// `return 404;`, `return 200 "text";`: a status with an optional body.
    Status {
        /// 200, or 400 to 599.
        code: u16,
        /// The body; `None`: empty for 200, the (error) page of the status otherwise.
        text: Option<String>,
    },
}

/// A `cgi` handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiHandler {
    /// The file extension with its dot, e.g. `.py`.
    pub extension: String,
    /// The program run with the script as first argument; `None`: the
    /// script is executed directly. An absolute path when the configuration
    /// gave a path, else a bare program name looked up in `PATH`.
    pub interpreter: Option<PathBuf>,
}

/// A small set of HTTP methods, over GET HEAD POST PUT DELETE OPTIONS PATCH.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Methods(u8);

/// The methods [`Methods`] knows, in the fixed order used for `Allow`.
pub const METHOD_NAMES: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];

impl Methods {
    /// No method.
    pub const NONE: Methods = Methods(0);
    /// Every method.
    pub const ALL: Methods = Methods(0x7f);
    /// `GET` and `HEAD`.
    pub const GET_HEAD: Methods = Methods(0b11);

    /// The methods of a location without `methods` (DESIGN.md §5): `GET`
    /// and `HEAD`, plus `POST` where something takes a body (`cgi` or
    /// `upload_store`). Never `DELETE`, `PUT` or the others: a location
    /// allows them only where `methods` names them.
    pub fn default_for(takes_post: bool) -> Methods {
        if takes_post {
            Methods(Methods::GET_HEAD.0 | 0b100)
        } else {
            Methods::GET_HEAD
        }
    }

    /// The set holding only `name` (exact, uppercase), or `None` when it is
    /// not one of [`METHOD_NAMES`].
    pub fn from_name(name: &str) -> Option<Methods> {
        METHOD_NAMES.iter().position(|m| *m == name).map(|i| Methods(1 << i))
    }

    /// Whether `method` (exact, case-sensitive as RFC 9110 §9.1) is in the set.
    ///
    /// ```
    /// let m = config::Methods::from_name("GET").unwrap().union(config::Methods::from_name("POST").unwrap());
    /// assert!(m.contains("POST"));
    /// assert!(!m.contains("post"));
    /// assert!(!m.contains("DELETE"));
    /// ```
    pub fn contains(&self, method: &str) -> bool {
        Methods::from_name(method).is_some_and(|m| self.0 & m.0 != 0)
    }

    /// Both sets together.
    pub fn union(self, other: Methods) -> Methods {
        Methods(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The names in the set, in the fixed order of [`METHOD_NAMES`].
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        let bits = self.0;
        METHOD_NAMES.iter().enumerate().filter(move |(i, _)| bits & (1 << i) != 0).map(|(_, m)| *m)
    }

    /// The names in the set, in order, as a `Vec`.
    pub fn names(&self) -> Vec<&'static str> {
        self.iter().collect()
    }
}

/// `GET` and `HEAD`: what a plain location allows.
impl Default for Methods {
    fn default() -> Methods {
        Methods::GET_HEAD
    }
}

/// `GET, HEAD, POST`: the form of an `Allow` header value.
impl fmt::Display for Methods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(m)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Methods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Mapping {
    /// The folder (root or alias).
    pub fn path(&self) -> &Path {
        match self {
            Mapping::Root(p) | Mapping::Alias(p) => p,
        }
    }
}

impl Location {
    /// The `error_page` URI for `status`, if one is set here.
    pub fn error_page(&self, status: u16) -> Option<&str> {
        self.error_pages.iter().find(|(s, _)| *s == status).map(|(_, uri)| uri.as_str())
    }

    /// The CGI handler for a file called `name` (its last path segment),
    /// chosen by its extension (exact, case-sensitive).
    pub fn cgi_for(&self, name: &str) -> Option<&CgiHandler> {
        let name = name.rsplit('/').next().unwrap_or(name);
        self.cgi.iter().find(|h| name.len() > h.extension.len() && name.ends_with(&h.extension))
    }

    /// The segments of request path `path` that may be a CGI script (RFC
    /// 3875 §3.3: the script is the first one that names a file), in order:
    /// the byte offset where each such segment ends in `path`, and its
    /// handler. Extensions compare exactly, as in [`Location::cgi_for`].
    ///
    /// ```
    /// let mut l = config::parse("server { root /; location /c { cgi .py; } }", "/b.conf".as_ref())
    ///     .unwrap().servers.remove(0).locations.remove(0);
    /// let ends: Vec<usize> = l.cgi_candidates("/c/a.py/b.py/x").map(|(end, _)| end).collect();
    /// assert_eq!(ends, [7, 12]);
    /// ```
    pub fn cgi_candidates<'a>(
        &'a self,
        path: &'a str,
    ) -> impl Iterator<Item = (usize, &'a CgiHandler)> + 'a {
        let mut start = 0;
        // No `cgi` extension: nothing to look for (the common static case).
        let path = if self.cgi.is_empty() { "" } else { path };
        path.split('/').filter_map(move |segment| {
            let end = start + segment.len();
            start = end + 1;
            self.cgi_for(segment).filter(|_| !segment.is_empty()).map(|h| (end, h))
        })
    }

    /// Whether a file called `name` (a path or a file name) has one of this
    /// location's `cgi` extensions, compared ignoring ASCII case: such a
    /// file is a script and must never be sent as a static file, even on a
    /// case-insensitive file system where `t.PY` opens `t.py`.
    pub fn is_cgi_name(&self, name: &str) -> bool {
        if self.cgi.is_empty() {
            return false;
        }
        let name = name.rsplit('/').next().unwrap_or(name);
        self.cgi.iter().any(|h| {
            let ext = h.extension.as_bytes();
            name.len() > ext.len()
                && name
                    .as_bytes()
                    .get(name.len() - ext.len()..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(ext))
        })
    }

    /// The MIME type `types` gives a file called `name` (by its extension,
    /// case-insensitive), if it lists that extension.
    pub fn custom_type(&self, name: &str) -> Option<&str> {
        if self.types.is_empty() {
            return None;
        }
        let file = name.rsplit('/').next().unwrap_or(name);
        let (stem, ext) = file.rsplit_once('.')?;
        if stem.is_empty() {
            return None;
        }
        self.types.iter().find(|(e, _)| e.eq_ignore_ascii_case(ext)).map(|(_, t)| t.as_str())
    }

    /// Whether this location's prefix matches `path` on a segment boundary:
    /// `/app` matches `/app`, `/app/x`, not `/apple`; `/` matches every path.
    pub fn matches(&self, path: &str) -> bool {
        prefix_matches(&self.prefix, path)
    }
}

impl Server {
    /// Index into [`Server::locations`] of the location for `path`: the
    /// longest prefix matching on a segment boundary, else `/` (always present).
    pub fn location_for(&self, path: &str) -> usize {
        self.locations
            .iter()
            .position(|l| l.matches(path))
            .unwrap_or_else(|| self.locations.len().saturating_sub(1))
    }

    /// The URL path (no trailing `/`) under which this server serves the
    /// folder `dir`, when one of its locations maps it (and a GET there
    /// reaches that location): a GET of `URL/NAME` returns `dir/NAME`.
    /// Compares canonical paths, so it reads the file system.
    pub fn url_for_dir(&self, dir: &Path) -> Option<String> {
        self.reaching(dir)
            .find(|(i, _)| {
                self.locations.get(*i).is_some_and(|l| l.ret.is_none() && l.methods.contains("GET"))
            })
            .map(|(_, url)| url)
    }

    /// The locations through which a request reaches a file of the folder
    /// `dir`: those whose `root` or `alias` holds it and that a request for
    /// `URL/NAME` routes to, each as (index into [`Server::locations`], URL
    /// path of `dir` without a trailing `/`), in location order, found as
    /// the iterator is advanced. Compares canonical paths, so it reads the
    /// file system.
    pub fn reaching<'a>(&'a self, dir: &Path) -> impl Iterator<Item = (usize, String)> + 'a {
        let dir = std::fs::canonicalize(dir).ok();
        self.locations.iter().enumerate().filter_map(move |(i, loc)| {
            let base = std::fs::canonicalize(loc.mapping.path()).ok()?;
            let rel = dir.as_ref()?.strip_prefix(&base).ok()?.to_str()?;
            let url = match loc.mapping {
                Mapping::Root(_) => format!("/{rel}"),
                Mapping::Alias(_) => format!("{}/{rel}", loc.prefix.trim_end_matches('/')),
            };
            let url = url.trim_end_matches('/');
            (self.location_for(&format!("{url}/x")) == i).then(|| (i, url.to_string()))
        })
    }

    /// Whether `host` (already normalised: lowercase, no port, no trailing
    /// dot) is one of this server's names.
    fn has_name(&self, host: &str) -> bool {
        self.names.iter().any(|n| n == host)
    }
}

impl Config {
    /// Picks the server and location for a request: `(server index, location
    /// index in that server)`.
    ///
    /// Among the servers of listener `listener` (an index into
    /// [`Config::listeners`]), the one with `host` as a `server_name`
    /// (case-insensitive, `:port` removed, a trailing dot ignored), else the
    /// listener's default server; then that server's location with the longest
    /// prefix matching `path` on a segment boundary. A listener index out of
    /// range falls back to server 0. Pure: no I/O, no allocation for
    /// ASCII-lowercase hosts.
    pub fn route(&self, listener: usize, host: Option<&str>, path: &str) -> (usize, usize) {
        let server = self.server_for(listener, host);
        let location = self.servers.get(server).map_or(0, |s| s.location_for(path));
        (server, location)
    }

    /// The server half of [`Config::route`]: index into [`Config::servers`].
    pub fn server_for(&self, listener: usize, host: Option<&str>) -> usize {
        let Some(l) = self.listeners.get(listener) else {
            return 0;
        };
        if let Some(host) = host.map(normalize_host) {
            let found = l
                .servers
                .iter()
                .copied()
                .find(|&i| self.servers.get(i).is_some_and(|s| s.has_name(&host)));
            if let Some(i) = found {
                return i;
            }
        }
        l.default_server
    }

    /// Index into [`Config::listeners`] of the listener bound to `addr`.
    pub fn listener_for(&self, addr: SocketAddr) -> Option<usize> {
        self.listeners.iter().position(|l| l.addr == addr)
    }
}

/// `Example.TEST:8080.` -> `example.test`; `[::1]:80` -> `[::1]`.
fn normalize_host(host: &str) -> Cow<'_, str> {
    let host = host.trim();
    let no_port = if host.starts_with('[') {
        match host.find(']') {
            Some(i) => &host[..=i],
            None => host,
        }
    } else {
        match host.rsplit_once(':') {
            Some((h, _)) => h,
            None => host,
        }
    };
    let name = no_port.strip_suffix('.').unwrap_or(no_port);
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Segment-boundary prefix match (see [`Location::matches`]).
pub(crate) fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(prefix: &str) -> Location {
        Location {
            prefix: prefix.into(),
            mapping: Mapping::Root("/srv".into()),
            index: vec![DEFAULT_INDEX.into()],
            methods: Methods::GET_HEAD,
            autoindex: false,
            ret: None,
            cgi: Vec::new(),
            cgi_timeout: DEFAULT_CGI_TIMEOUT,
            upload_store: None,
            client_max_body_size: DEFAULT_CLIENT_MAX_BODY_SIZE,
            session: false,
            session_page: false,
            types: Vec::new(),
            builtin_types: true,
            default_type: DEFAULT_MIME_TYPE.into(),
            error_pages: Vec::new(),
        }
    }

    fn server(names: &[&str], prefixes: &[&str]) -> Server {
        Server {
            names: names.iter().map(|s| s.to_string()).collect(),
            listen: Vec::new(),
            root: None,
            timeouts: Timeouts::default(),
            locations: prefixes.iter().map(|p| loc(p)).collect(),
        }
    }

    /// Three servers: 0 and 1 on listener 0 (1 is its default), 2 alone on listener 1.
    fn config() -> Config {
        Config {
            file: "t.conf".into(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            session_max: DEFAULT_SESSION_MAX,
            access_log: None,
            error_log: LogTarget::Stderr,
            servers: vec![
                server(&["a.test", "www.a.test"], &["/app/x", "/app", "/a/", "/"]),
                server(&["b.test"], &["/"]),
                server(&[], &["/static", "/"]),
            ],
            listeners: vec![
                Listener {
                    addr: "127.0.0.1:8080".parse().unwrap(),
                    reuseport: false,
                    deferred: false,
                    servers: vec![0, 1],
                    default_server: 1,
                },
                Listener {
                    addr: "0.0.0.0:8081".parse().unwrap(),
                    reuseport: false,
                    deferred: false,
                    servers: vec![2],
                    default_server: 2,
                },
            ],
            warnings: Vec::new(),
        }
    }

    #[test]
    fn prefix_matching_on_segment_boundaries() {
        let table: &[(&str, &str, bool)] = &[
            ("/", "/", true),
            ("/", "/anything/at/all", true),
            ("/", "*", true),
            ("/app", "/app", true),
            ("/app", "/app/", true),
            ("/app", "/app/x", true),
            ("/app", "/apple", false),
            ("/app", "/ap", false),
            ("/app", "/", false),
            ("/app/", "/app/x", true),
            ("/app/", "/app/", true),
            ("/app/", "/app", false),
            ("/a/b", "/a/b/c", true),
            ("/a/b", "/a/bc", false),
        ];
        for &(prefix, path, want) in table {
            assert_eq!(prefix_matches(prefix, path), want, "{prefix} vs {path}");
        }
    }

    #[test]
    fn host_normalisation() {
        let table: &[(&str, &str)] = &[
            ("a.test", "a.test"),
            ("A.Test", "a.test"),
            ("a.test:8080", "a.test"),
            ("a.test.", "a.test"),
            ("A.TEST.:80", "a.test"),
            ("[::1]:8080", "[::1]"),
            ("[::1]", "[::1]"),
            (" a.test ", "a.test"),
        ];
        for &(host, want) in table {
            assert_eq!(normalize_host(host), want, "{host}");
        }
    }

    #[test]
    fn routing_table() {
        let c = config();
        type Case<'a> = (usize, Option<&'a str>, &'a str, (usize, usize));
        let table: &[Case] = &[
            // exact name
            (0, Some("a.test"), "/", (0, 3)),
            (0, Some("www.a.test"), "/", (0, 3)),
            (0, Some("B.TEST"), "/", (1, 0)),
            (0, Some("b.test:8080"), "/x", (1, 0)),
            (0, Some("a.test."), "/app", (0, 1)),
            // unknown or missing host: the default server
            (0, Some("c.test"), "/app", (1, 0)),
            (0, None, "/app", (1, 0)),
            (0, Some(""), "/", (1, 0)),
            // a name served on another listener does not leak here
            (1, Some("a.test"), "/static/x", (2, 0)),
            (1, None, "/other", (2, 1)),
            // longest segment-boundary prefix
            (0, Some("a.test"), "/app/x/y", (0, 0)),
            (0, Some("a.test"), "/app/xy", (0, 1)),
            (0, Some("a.test"), "/apple", (0, 3)),
            (0, Some("a.test"), "/a/b", (0, 2)),
            (0, Some("a.test"), "/a", (0, 3)),
            // listener out of range: server 0
            (9, Some("b.test"), "/app", (0, 1)),
        ];
        for &(listener, host, path, want) in table {
            assert_eq!(c.route(listener, host, path), want, "{listener} {host:?} {path}");
        }
    }

    #[test]
    fn listener_lookup() {
        let c = config();
        assert_eq!(c.listener_for("0.0.0.0:8081".parse().unwrap()), Some(1));
        assert_eq!(c.listener_for("0.0.0.0:9".parse().unwrap()), None);
    }

    #[test]
    fn methods_set() {
        let get = Methods::from_name("GET").unwrap();
        let del = Methods::from_name("DELETE").unwrap();
        let m = del.union(get);
        assert_eq!(m.names(), ["GET", "DELETE"]);
        assert_eq!(m.to_string(), "GET, DELETE");
        assert!(m.contains("GET") && m.contains("DELETE") && !m.contains("POST"));
        assert!(!m.contains("get") && !m.contains("BREW"));
        assert_eq!(Methods::from_name("get"), None);
        assert_eq!(Methods::ALL.names(), METHOD_NAMES);
        assert_eq!(Methods::default().names(), ["GET", "HEAD"]);
        assert_eq!(Methods::default_for(false).names(), ["GET", "HEAD"]);
        assert_eq!(Methods::default_for(true).names(), ["GET", "HEAD", "POST"]);
        assert!(Methods::NONE.is_empty() && !m.is_empty());
        assert_eq!(format!("{m:?}"), r#"{"GET", "DELETE"}"#);
    }

    #[test]
    fn error_page_and_cgi_lookup() {
        let mut l = loc("/");
        l.error_pages = vec![(404, "/404.html".into()), (500, "/50x.html".into())];
        assert_eq!(l.error_page(404), Some("/404.html"));
        assert_eq!(l.error_page(500), Some("/50x.html"));
        assert_eq!(l.error_page(403), None);
        l.cgi = vec![
            CgiHandler { extension: ".py".into(), interpreter: Some("/usr/bin/python3".into()) },
            CgiHandler { extension: ".cgi".into(), interpreter: None },
        ];
        assert_eq!(l.cgi_for("/cgi-bin/a.py").map(|h| h.extension.as_str()), Some(".py"));
        assert_eq!(l.cgi_for("x.cgi").map(|h| h.extension.as_str()), Some(".cgi"));
        assert!(l.cgi_for("/cgi-bin/.py").is_none());
        assert!(l.cgi_for("/a.py/x").is_none());
        assert!(l.cgi_for("/a.PY").is_none());
        // Path -> (end of each candidate segment, its extension).
        let candidates: &[(&str, &[(usize, &str)])] = &[
            ("/cgi-bin/a.py", &[(13, ".py")]),
            ("/cgi-bin/app.py/extra/path", &[(15, ".py")]),
            ("/a.py/b.cgi/c.py", &[(5, ".py"), (11, ".cgi"), (16, ".py")]),
            ("/a.py/", &[(5, ".py")]),
            ("/.py/x.PY/a.pyc/b", &[]),
            ("", &[]),
            ("/", &[]),
        ];
        for (path, want) in candidates {
            let got: Vec<(usize, &str)> =
                l.cgi_candidates(path).map(|(end, h)| (end, h.extension.as_str())).collect();
            assert_eq!(&got, want, "{path}");
        }
        assert_eq!(Mapping::Alias("/x".into()).path(), Path::new("/x"));
        // Refusing to serve a script is stricter than running one: any case.
        for name in ["/cgi-bin/a.py", "a.PY", "/x/b.Cgi", "c.cgi"] {
            assert!(l.is_cgi_name(name), "{name}");
        }
        for name in ["/cgi-bin/.py", "/a.py/x", "a.pyc", "py", "/a.txt", ""] {
            assert!(!l.is_cgi_name(name), "{name}");
        }
    }

    #[test]
    fn custom_types_by_extension() {
        let mut l = loc("/");
        l.types =
            vec![("wasm".into(), "application/wasm".into()), ("md".into(), "text/plain".into())];
        assert_eq!(l.custom_type("/a/b.WASM"), Some("application/wasm"));
        assert_eq!(l.custom_type("notes.md"), Some("text/plain"));
        assert_eq!(l.custom_type("/x.md/y"), None);
        assert_eq!(l.custom_type(".md"), None);
        assert_eq!(l.custom_type("a.html"), None);
        assert_eq!(l.custom_type("noext"), None);
    }
}
