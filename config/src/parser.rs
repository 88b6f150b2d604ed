//! From tokens to the validated model: statements are read one at a time,
//! checked against the directive table, stored in per-block scopes, then
//! resolved (inheritance, defaults) and cross-checked into a [`Config`].

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::directives::{
    self, arity_error, Env, ErrorPage, Handler, ListenSpec, RawLocation, RawServer, Scope,
    LOCATION, MAIN, SERVER,
};
use crate::error::{Fail, Pos};
use crate::lexer::{Kind, Lexer, Token};
use crate::model::{
    Config, Listener, Location, LogTarget, Mapping, Methods, Server, Timeouts, DEFAULT_CGI_TIMEOUT,
    DEFAULT_CLIENT_MAX_BODY_SIZE, DEFAULT_INDEX, DEFAULT_MAX_CONNECTIONS, DEFAULT_MIME_TYPE,
    DEFAULT_SESSION_MAX, DEFAULT_SESSION_TIMEOUT,
};
use crate::value;

/// Parses and validates `src`; `env` says where relative paths start and
/// whether the filesystem is checked. Warnings come back in the model.
pub(crate) fn parse(src: &str, file: &Path, env: &Env) -> Result<Config, Fail> {
    let mut p = Parser { lx: Lexer::new(src), env, warnings: Vec::new() };
    let mut main = Scope::default();
    p.block(MAIN, &mut main)?;
    let mut warnings = p.warnings;
    let mut config = build(main, file, env, p.lx.eof_pos(), &mut warnings)?;
    warnings.sort_by_key(|w| (w.pos.line, w.pos.col));
    config.warnings = warnings.into_iter().map(|w| w.warning_in(file.to_path_buf())).collect();
    Ok(config)
}

struct Parser<'a, 'e> {
    lx: Lexer<'a>,
    env: &'e Env,
    warnings: Vec<Fail>,
}

/// One statement: its words (name first) and whether it opened a block.
struct Stmt {
    words: Vec<Token>,
    opens_block: bool,
}

enum Next {
    Stmt(Stmt),
    Close(Pos),
    Eof(Pos),
}

impl Parser<'_, '_> {
    /// Reads words up to `;` or `{`, or a lone `}` / end of file.
    fn next(&mut self) -> Result<Next, Fail> {
        let mut words: Vec<Token> = Vec::new();
        loop {
            let t = self.lx.next_token()?;
            match t.kind {
                Kind::Word => words.push(t),
                Kind::Semi if words.is_empty() => return Err(Fail::at(t.pos, "unexpected \";\"")),
                Kind::Open if words.is_empty() => return Err(Fail::at(t.pos, "unexpected \"{\"")),
                Kind::Semi => return Ok(Next::Stmt(Stmt { words, opens_block: false })),
                Kind::Open => return Ok(Next::Stmt(Stmt { words, opens_block: true })),
                Kind::Close if words.is_empty() => return Ok(Next::Close(t.pos)),
                Kind::Close => {
                    // `listen 80 }`: the words before it were never ended.
                    let last = words.last().map_or("", |w| w.text.as_str());
                    return Err(Fail::at(
                        t.pos,
                        format!("unexpected \"}}\", is a \";\" missing after \"{last}\"?"),
                    ));
                }
                Kind::Eof if words.is_empty() => return Ok(Next::Eof(t.pos)),
                Kind::Eof => {
                    return Err(Fail::at(t.pos, "unexpected end of file, expecting \";\" or \"}\""))
                }
            }
        }
    }

    /// Parses statements into `scope` up to the block's `}` (or end of file
    /// at the top level).
    fn block(&mut self, ctx: u8, scope: &mut Scope) -> Result<(), Fail> {
        loop {
            match self.next()? {
                Next::Close(pos) if ctx == MAIN => return Err(Fail::at(pos, "unexpected \"}\"")),
                Next::Close(_) => return Ok(()),
                Next::Eof(_) if ctx == MAIN => return Ok(()),
                Next::Eof(pos) => {
                    return Err(Fail::at(pos, "unexpected end of file, expecting \"}\""))
                }
                Next::Stmt(stmt) => self.directive(ctx, scope, stmt)?,
            }
        }
    }

    /// The body of a `types { }` block: `TYPE EXT ...;` entries up to `}`.
    fn types_block(&mut self, scope: &mut Scope) -> Result<(), Fail> {
        let list = scope.types.get_or_insert_with(Vec::new);
        loop {
            match self.next()? {
                Next::Close(_) => return Ok(()),
                Next::Eof(pos) => {
                    return Err(Fail::at(pos, "unexpected end of file, expecting \"}\""))
                }
                Next::Stmt(stmt) if stmt.opens_block => {
                    let at = stmt.words.first().map(|w| w.pos).unwrap_or_default();
                    return Err(Fail::at(at, "unexpected \"{\" in \"types\" block"));
                }
                Next::Stmt(stmt) => {
                    directives::add_types_entry(list, &stmt.words, &mut self.warnings)?
                }
            }
        }
    }

    /// The generic checks of the table, then the directive's handler.
    fn directive(&mut self, ctx: u8, scope: &mut Scope, stmt: Stmt) -> Result<(), Fail> {
        let Some((name, args)) = stmt.words.split_first() else {
            return Ok(());
        };
        let Some(spec) = directives::lookup(&name.text) else {
            if let Some(why) = directives::nginx_habit(&name.text) {
                return Err(Fail::at(
                    name.pos,
                    format!("unknown directive \"{}\" ({why})", name.text),
                ));
            }
            let hint = value::closest(&name.text, directives::TABLE.iter().map(|s| s.name))
                .map(|c| format!(", did you mean \"{c}\"?"))
                .unwrap_or_default();
            return Err(Fail::at(name.pos, format!("unknown directive \"{}\"{hint}", name.text)));
        };
        missing_semicolon(name, args)?;
        if spec.contexts & ctx == 0 {
            return Err(Fail::at(
                name.pos,
                format!("\"{}\" directive is not allowed here", spec.name),
            ));
        }
        if !spec.block && stmt.opens_block {
            return Err(Fail::at(
                name.pos,
                format!("directive \"{}\" is not terminated by \";\"", spec.name),
            ));
        }
        if spec.block && !stmt.opens_block {
            return Err(Fail::at(
                name.pos,
                format!("directive \"{}\" has no opening \"{{\"", spec.name),
            ));
        }
        if matches!(spec.handler, Handler::Location) {
            location_modifier(args)?;
        }
        if !spec.arity.accepts(args.len()) {
            return Err(arity_error(name));
        }
        if !spec.repeatable {
            if scope.seen.contains(&spec.name) {
                return Err(Fail::at(
                    name.pos,
                    format!("\"{}\" directive is duplicate", spec.name),
                ));
            }
            scope.seen.push(spec.name);
        }
        if let Some((_, what)) = directives::NOT_YET.iter().find(|(n, _)| *n == spec.name) {
            self.warnings.push(Fail::at(
                name.pos,
                format!("\"{}\" directive is accepted but not acted on yet: {what}", spec.name),
            ));
        }
        match spec.handler {
            Handler::Set(setter) => setter(scope, name, args, self.env),
            Handler::Server => {
                let mut inner = Scope::default();
                self.block(SERVER, &mut inner)?;
                scope.servers.push(RawServer { pos: name.pos, scope: inner });
                Ok(())
            }
            Handler::Types => self.types_block(scope),
            Handler::Location => {
                let arg = args.first().ok_or_else(|| arity_error(name))?;
                let prefix = location_prefix(arg)?;
                if scope.locations.iter().any(|l| l.prefix == prefix) {
                    return Err(Fail::at(arg.pos, format!("duplicate location \"{}\"", arg.text)));
                }
                let mut inner = Scope::default();
                self.block(LOCATION, &mut inner)?;
                scope.locations.push(RawLocation { prefix, pos: arg.pos, scope: inner });
                Ok(())
            }
        }
    }
}

/// A statement whose words run onto a line starting with a directive name
/// lost its `;`: `index a.html` then `autoindex on;` would otherwise make
/// `autoindex` and `on` index files. The error points where the `;` belongs.
fn missing_semicolon(name: &Token, args: &[Token]) -> Result<(), Fail> {
    let mut prev = name;
    for arg in args {
        let starts_line = arg.pos.line > prev.end.line;
        let looks_like_directive = !arg.quoted
            && (directives::lookup(&arg.text).is_some()
                || directives::nginx_habit(&arg.text).is_some());
        if starts_line && looks_like_directive {
            return Err(Fail::at(
                prev.end,
                format!(
                    "missing \";\" at the end of the \"{}\" directive (the next line starts with \"{}\")",
                    name.text, arg.text
                ),
            ));
        }
        prev = arg;
    }
    Ok(())
}

/// nginx's location modifiers, refused with the prefix form to use instead.
fn location_modifier(args: &[Token]) -> Result<(), Fail> {
    let Some(first) = args.first() else { return Ok(()) };
    let target = args.get(1).map_or("/path", |t| t.text.as_str());
    let m = first.text.as_str();
    let message = if m == "=" || (m.starts_with('=') && m.len() > 1) {
        let path = if m == "=" { target } else { &m[1..] };
        format!(
            "exact match locations are not supported: use the prefix location \"location {path}\" (it also matches what is below {path})"
        )
    } else if m == "^~" {
        format!(
            "the \"^~\" modifier is not needed: locations are prefixes already, write \"location {target}\""
        )
    } else if m.starts_with('~') {
        "regular expression locations are not supported: use a prefix location such as \"location /images/\"".to_string()
    } else if m.starts_with('@') {
        "named locations are not supported".to_string()
    } else if args.len() > 1 && m.starts_with('/') {
        let whole: Vec<&str> = args.iter().map(|a| a.text.as_str()).collect();
        return Err(Fail::at(
            first.pos,
            format!(
                "invalid number of arguments in \"location\" directive, a prefix with spaces is written in quotes: location \"{}\"",
                whole.join(" ")
            ),
        ));
    } else {
        return Ok(());
    };
    Err(Fail::at(first.pos, format!("invalid location \"{m}\": {message}")))
}

/// A location's prefix, percent-decoded once as request paths are, and
/// checked so that it can match a request.
fn location_prefix(arg: &Token) -> Result<String, Fail> {
    let raw = arg.text.as_str();
    let bad = |why: &str| Err(Fail::at(arg.pos, format!("invalid location \"{raw}\", {why}")));
    if !raw.starts_with('/') {
        return bad("it must start with \"/\"");
    }
    if has_control(raw) {
        return bad("control characters are not allowed");
    }
    let prefix = match value::decode_prefix(raw) {
        Ok(p) => p,
        Err(why) => return bad(why),
    };
    if has_control(&prefix) {
        return bad("control characters are not allowed");
    }
    if !value::is_normal_path(&prefix) {
        return bad("\".\", \"..\" and \"//\" are not allowed");
    }
    Ok(prefix)
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Resolves inheritance and defaults and runs the cross-checks.
fn build(
    main: Scope,
    file: &Path,
    env: &Env,
    eof: Pos,
    warnings: &mut Vec<Fail>,
) -> Result<Config, Fail> {
    if main.servers.is_empty() {
        return Err(Fail::at(eof, "no \"server\" block"));
    }
    let mut servers = Vec::with_capacity(main.servers.len());
    for raw in &main.servers {
        servers.push(build_server(raw, &main, env)?);
    }
    let listeners = build_listeners(&main.servers, warnings)?;
    if env.check_fs {
        check_upload_stores(&main.servers, &servers, warnings);
    }
    Ok(Config {
        file: file.to_path_buf(),
        max_connections: main.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        session_timeout: main.session_timeout.unwrap_or(DEFAULT_SESSION_TIMEOUT),
        session_max: main.session_max.unwrap_or(DEFAULT_SESSION_MAX),
        access_log: main.access_log.clone().unwrap_or(None),
        error_log: main.error_log.clone().unwrap_or(LogTarget::Stderr),
        servers,
        listeners,
        warnings: Vec::new(),
    })
}

/// The address a server without `listen` gets (nginx: `*:80`).
fn default_listen() -> SocketAddr {
    SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 80)
}

fn build_server(raw: &RawServer, main: &Scope, env: &Env) -> Result<Server, Fail> {
    let s = &raw.scope;
    let pick = |i: usize| s.timeouts[i].or(main.timeouts[i]);
    let d = Timeouts::default();
    let timeouts = Timeouts {
        client_header: pick(0).unwrap_or(d.client_header),
        client_body: pick(1).unwrap_or(d.client_body),
        keepalive: pick(2).unwrap_or(d.keepalive),
        send: pick(3).unwrap_or(d.send),
        cgi: pick(4).unwrap_or(d.cgi),
    };
    check_error_pages(s.error_pages.as_deref(), s.root.as_deref(), env)?;
    let mut locations = Vec::with_capacity(s.locations.len() + 1);
    for l in &s.locations {
        check_error_pages(l.scope.error_pages.as_deref(), s.root.as_deref(), env)?;
        locations.push(build_location(&l.prefix, l.pos, Some(&l.scope), s, main, env)?);
    }
    if !s.locations.iter().any(|l| l.prefix == "/") {
        locations.push(build_location("/", raw.pos, None, s, main, env)?);
    }
    // Longest prefix first; the sort is stable, so "/" (shortest) stays last.
    locations.sort_by_key(|l| std::cmp::Reverse(l.prefix.len()));
    let listen = if s.listens.is_empty() {
        vec![default_listen()]
    } else {
        s.listens.iter().map(|l| l.addr).collect()
    };
    Ok(Server {
        names: s.names.iter().map(|(n, _)| n.clone()).collect(),
        listen,
        root: s.root.clone(),
        timeouts,
        locations,
    })
}

/// A location's effective settings: its own, else the server's, else the
/// defaults. `loc` is `None` for the implicit `/` of a server without one.
fn build_location(
    prefix: &str,
    pos: Pos,
    loc: Option<&Scope>,
    srv: &Scope,
    main: &Scope,
    env: &Env,
) -> Result<Location, Fail> {
    let empty = Scope::default();
    let l = loc.unwrap_or(&empty);
    let mapping = match (&l.alias, l.root.as_ref().or(srv.root.as_ref())) {
        (Some(alias), _) => Mapping::Alias(alias.clone()),
        (None, Some(root)) => Mapping::Root(root.clone()),
        // A `return` location never maps a file: `return` answers first.
        (None, None) if l.ret.is_some() => Mapping::Root(env.dir.clone()),
        (None, None) => {
            return Err(Fail::at(
                pos,
                format!("no \"root\" or \"alias\" for location \"{prefix}\""),
            ))
        }
    };
    let error_pages = l.error_pages.as_ref().or(srv.error_pages.as_ref());
    // A `types` block in the server or location replaces the whole table;
    // one at the top adds to the built-in table, which stands for nginx's
    // `include mime.types;` at that level.
    let (types, builtin_types) = match l.types.as_ref().or(srv.types.as_ref()) {
        Some(own) => (own.clone(), false),
        None => (main.types.clone().unwrap_or_default(), true),
    };
    Ok(Location {
        prefix: prefix.to_string(),
        mapping,
        index: l
            .index
            .as_ref()
            .or(srv.index.as_ref())
            .cloned()
            .unwrap_or_else(|| vec![DEFAULT_INDEX.to_string()]),
        methods: l.methods.or(srv.methods).unwrap_or_else(|| {
            Methods::default_for(!l.cgi.is_empty() || l.upload_store.is_some() || l.session_page)
        }),
        autoindex: l.autoindex.or(srv.autoindex).unwrap_or(false),
        ret: l.ret.clone(),
        cgi: l.cgi.clone(),
        cgi_timeout: l.timeouts[4]
            .or(srv.timeouts[4])
            .or(main.timeouts[4])
            .unwrap_or(DEFAULT_CGI_TIMEOUT),
        upload_store: l.upload_store.as_ref().map(|(p, _)| p.clone()),
        client_max_body_size: l
            .client_max_body_size
            .or(srv.client_max_body_size)
            .unwrap_or(DEFAULT_CLIENT_MAX_BODY_SIZE),
        session: l.session.unwrap_or(false),
        session_page: l.session_page,
        types,
        builtin_types,
        default_type: l
            .default_type
            .as_ref()
            .or(srv.default_type.as_ref())
            .or(main.default_type.as_ref())
            .cloned()
            .unwrap_or_else(|| DEFAULT_MIME_TYPE.to_string()),
        error_pages: error_pages
            .map(|v| v.iter().map(|e| (e.code, e.uri.clone())).collect())
            .unwrap_or_default(),
    })
}

/// Warns about an upload store that no location of its server serves (its
/// files could not be fetched back: the answer has no `Location`), that a
/// location running CGI scripts reaches (an uploaded script would run), or
/// that cannot take a file.
fn check_upload_stores(raw: &[RawServer], servers: &[Server], warnings: &mut Vec<Fail>) {
    for (r, server) in raw.iter().zip(servers) {
        for l in &r.scope.locations {
            let Some((store, pos)) = &l.scope.upload_store else { continue };
            let shown = store.display();
            if server.url_for_dir(store).is_none() {
                warnings.push(Fail::at(
                    *pos,
                    format!(
                        "upload_store \"{shown}\" is outside every folder this server serves: \
                         uploads are stored but cannot be fetched back, and get no Location"
                    ),
                ));
            }
            // A stored `x.sh` fetched back through a location that runs
            // `.sh` files would run: whoever may upload could run programs.
            for (i, url) in server.reaching(store) {
                let Some(through) = server.locations.get(i) else { continue };
                if through.cgi.is_empty() || through.ret.is_some() {
                    continue;
                }
                let exts: Vec<&str> = through.cgi.iter().map(|c| c.extension.as_str()).collect();
                warnings.push(Fail::at(
                    *pos,
                    format!(
                        "upload_store \"{shown}\" is reached through location \"{}\", which runs {} \
                         files as CGI scripts: an uploaded script would run at {url}/NAME (store \
                         uploads in a folder that location does not serve)",
                        through.prefix,
                        exts.join(" ")
                    ),
                ));
            }
            if let Err(e) = probe_writable(store) {
                warnings.push(Fail::at(
                    *pos,
                    format!(
                        "upload_store \"{shown}\" is not writable ({e}): uploads here will fail with 500"
                    ),
                ));
            }
        }
    }
}

/// Creates and removes a file in `dir`: the one sure test that the server's
/// user may write there (permissions, ACLs, read-only mounts). The name is
/// new for each call (process id and a counter: two threads, or a `berth -t`
/// beside the server, probe the same folder at once), and a name already
/// taken (a probe left by a killed process) moves on to the next.
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut tries = 0;
    loop {
        let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let probe = dir.join(format!(".berth-probe-{}-{n}", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
            Ok(_) => return std::fs::remove_file(&probe),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 8 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Every error page must be a readable file under the server's root.
fn check_error_pages(
    pages: Option<&[ErrorPage]>,
    root: Option<&Path>,
    env: &Env,
) -> Result<(), Fail> {
    let Some(pages) = pages else {
        return Ok(());
    };
    for page in pages {
        let Some(root) = root else {
            return Err(Fail::at(
                page.pos,
                format!("error_page \"{}\" needs a \"root\" in its server block", page.uri),
            ));
        };
        if !env.check_fs {
            continue;
        }
        // The server decodes the URI once, as a request path; the setter
        // made sure that succeeds.
        let uri = value::decode_prefix(&page.uri).unwrap_or_else(|_| page.uri.clone());
        let path: PathBuf = root.join(uri.trim_start_matches('/'));
        let shown = path.display();
        match std::fs::File::open(&path) {
            Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => {}
            Ok(_) => {
                return Err(Fail::at(page.pos, format!("error page \"{shown}\" is not a file")))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Fail::at(page.pos, format!("error page \"{shown}\" does not exist")))
            }
            Err(e) => {
                return Err(Fail::at(
                    page.pos,
                    format!("error page \"{shown}\" is not readable ({e})"),
                ))
            }
        }
    }
    Ok(())
}

/// Whether two different addresses cannot both be bound: same port and
/// family, one of them the wildcard (Linux refuses the second bind with
/// EADDRINUSE even with SO_REUSEADDR). nginx binds only the wildcard then and
/// tells the others apart by local address; Berth binds one socket per
/// address, so it refuses the pair up front instead of failing at bind time.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a != b
        && a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Whether `listen ... deferred` has an effect here (`TCP_DEFER_ACCEPT`).
const DEFERRED_ACCEPT: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Groups the servers by address and checks default servers and names.
fn build_listeners(servers: &[RawServer], warnings: &mut Vec<Fail>) -> Result<Vec<Listener>, Fail> {
    let mut listeners: Vec<Listener> = Vec::new();
    // Whether each listener's default came from an explicit `default_server`.
    let mut explicit: Vec<bool> = Vec::new();
    let mut names: HashMap<(SocketAddr, &str), usize> = HashMap::new();
    // The first server without `server_name` on each address.
    let mut nameless: HashMap<SocketAddr, usize> = HashMap::new();
    for (i, raw) in servers.iter().enumerate() {
        let fallback = [ListenSpec {
            addr: default_listen(),
            pos: raw.pos,
            default_server: None,
            reuseport: false,
            deferred: None,
        }];
        let specs =
            if raw.scope.listens.is_empty() { &fallback[..] } else { &raw.scope.listens[..] };
        for spec in specs {
            let li = match listeners.iter().position(|l| l.addr == spec.addr) {
                Some(li) => li,
                None => {
                    if let Some(other) = listeners.iter().find(|l| overlaps(l.addr, spec.addr)) {
                        return Err(Fail::at(
                            spec.pos,
                            format!(
                                "listen {} conflicts with listen {}: a wildcard address \
                                 takes the port on every address",
                                spec.addr, other.addr
                            ),
                        ));
                    }
                    listeners.push(Listener {
                        addr: spec.addr,
                        reuseport: false,
                        deferred: false,
                        servers: Vec::new(),
                        default_server: i,
                    });
                    explicit.push(false);
                    listeners.len() - 1
                }
            };
            let (Some(l), Some(exp)) = (listeners.get_mut(li), explicit.get_mut(li)) else {
                continue;
            };
            l.servers.push(i);
            l.reuseport |= spec.reuseport;
            if let Some(pos) = spec.deferred {
                if DEFERRED_ACCEPT {
                    l.deferred = true;
                } else {
                    warnings.push(Fail::at(
                        pos,
                        "the deferred accept is not supported on this platform, ignored",
                    ));
                }
            }
            if let Some(pos) = spec.default_server {
                if *exp {
                    return Err(Fail::at(
                        pos,
                        format!("a duplicate default server for {}", spec.addr),
                    ));
                }
                *exp = true;
                l.default_server = i;
            }
            if raw.scope.names.is_empty() {
                match nameless.get(&spec.addr) {
                    // nginx's warning for two servers whose name is "" on one
                    // address: only one of them can ever answer.
                    Some(&other) if other != i => warnings.push(Fail::at(
                        spec.pos,
                        format!(
                            "conflicting server name \"\" on {}, ignored (neither this server \
                             nor the one above has a server_name: only the address's default \
                             server answers)",
                            spec.addr
                        ),
                    )),
                    Some(_) => {}
                    None => {
                        nameless.insert(spec.addr, i);
                    }
                }
            }
            for (name, pos) in &raw.scope.names {
                if let Some(&other) = names.get(&(spec.addr, name.as_str())) {
                    if other != i {
                        return Err(Fail::at(
                            *pos,
                            format!("conflicting server name \"{name}\" on {}", spec.addr),
                        ));
                    }
                }
                names.insert((spec.addr, name.as_str()), i);
            }
        }
    }
    Ok(listeners)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{CgiHandler, Return};

    fn ok(src: &str) -> Config {
        match crate::parse_unchecked(src, Path::new("/etc/berth/berth.conf")) {
            Ok(c) => c,
            Err(e) => panic!("{e}\n--- in ---\n{src}"),
        }
    }

    fn err(src: &str) -> String {
        match crate::parse_unchecked(src, Path::new("t.conf")) {
            Ok(_) => "accepted".to_string(),
            Err(e) => format!("{}:{}: {}", e.line, e.col, e.message),
        }
    }

    fn methods(names: &[&str]) -> Methods {
        names.iter().fold(Methods::NONE, |m, n| m.union(Methods::from_name(n).unwrap()))
    }

    fn location(prefix: &str, root: &str) -> Location {
        Location {
            prefix: prefix.into(),
            mapping: Mapping::Root(root.into()),
            index: vec!["index.html".into()],
            methods: Methods::GET_HEAD,
            autoindex: false,
            ret: None,
            cgi: Vec::new(),
            cgi_timeout: Duration::from_secs(60),
            upload_store: None,
            client_max_body_size: 1 << 20,
            session: false,
            session_page: false,
            types: Vec::new(),
            builtin_types: true,
            default_type: "application/octet-stream".into(),
            error_pages: Vec::new(),
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn smallest_config_gets_every_default() {
        let c = ok("server { listen 8080; root /srv/www; }");
        assert_eq!(
            c,
            Config {
                file: "/etc/berth/berth.conf".into(),
                max_connections: 1024,
                session_timeout: Duration::from_secs(3600),
                session_max: 10_000,
                access_log: None,
                error_log: LogTarget::Stderr,
                servers: vec![Server {
                    names: Vec::new(),
                    listen: vec![addr("0.0.0.0:8080")],
                    root: Some("/srv/www".into()),
                    timeouts: Timeouts {
                        client_header: Duration::from_secs(60),
                        client_body: Duration::from_secs(60),
                        keepalive: Duration::from_secs(75),
                        send: Duration::from_secs(60),
                        cgi: Duration::from_secs(60),
                    },
                    locations: vec![location("/", "/srv/www")],
                }],
                listeners: vec![Listener {
                    addr: addr("0.0.0.0:8080"),
                    reuseport: false,
                    deferred: false,
                    servers: vec![0],
                    default_server: 0,
                }],
                warnings: Vec::new(),
            }
        );
    }

    /// The design document's example, less the filesystem.
    const DESIGN_EXAMPLE: &str = r#"
# global
max_connections 10000;
access_log logs/access.log;
client_header_timeout 10s;
keepalive_timeout 75s;

server {
    listen 127.0.0.1:8080;
    listen 8081 default_server;
    server_name example.test www.example.test;
    root www;
    index index.html index.htm;
    client_max_body_size 10m;
    error_page 404 /errors/404.html;
    error_page 500 502 504 /errors/50x.html;

    location / {
        methods GET HEAD;
        autoindex off;
    }
    location /docs {
        alias /srv/manual;
        autoindex on;
    }
    location /old { return 301 /new; }
    location /cgi-bin {
        methods GET POST;
        cgi .py /usr/bin/python3;
        cgi .sh /bin/sh;
        cgi .cgi;
    }
    location /uploads {
        methods GET POST DELETE;
        upload_store www/uploads;
        client_max_body_size 100m;
    }
    location /app { session on; }
}
"#;

    #[test]
    fn design_example_model() {
        let c = ok(DESIGN_EXAMPLE);
        assert_eq!(c.max_connections, 10000);
        assert_eq!(c.access_log, Some("/etc/berth/logs/access.log".into()));
        assert_eq!(c.error_log, LogTarget::Stderr);
        assert_eq!(c.servers.len(), 1);
        let s = &c.servers[0];
        assert_eq!(s.names, ["example.test", "www.example.test"]);
        assert_eq!(s.listen, [addr("127.0.0.1:8080"), addr("0.0.0.0:8081")]);
        assert_eq!(s.root, Some("/etc/berth/www".into()));
        assert_eq!(s.timeouts.client_header, Duration::from_secs(10));
        assert_eq!(s.timeouts.keepalive, Duration::from_secs(75));
        assert_eq!(s.timeouts.send, Duration::from_secs(60));
        let prefixes: Vec<&str> = s.locations.iter().map(|l| l.prefix.as_str()).collect();
        assert_eq!(prefixes, ["/cgi-bin", "/uploads", "/docs", "/old", "/app", "/"]);

        let www = PathBuf::from("/etc/berth/www");
        let pages = vec![
            (404, "/errors/404.html".to_string()),
            (500, "/errors/50x.html".to_string()),
            (502, "/errors/50x.html".to_string()),
            (504, "/errors/50x.html".to_string()),
        ];
        let base = Location {
            mapping: Mapping::Root(www.clone()),
            index: vec!["index.html".into(), "index.htm".into()],
            client_max_body_size: 10 << 20,
            error_pages: pages,
            ..location("/", "/")
        };
        let want = [
            Location {
                prefix: "/cgi-bin".into(),
                methods: methods(&["GET", "HEAD", "POST"]),
                cgi: vec![
                    CgiHandler {
                        extension: ".py".into(),
                        interpreter: Some("/usr/bin/python3".into()),
                    },
                    CgiHandler { extension: ".sh".into(), interpreter: Some("/bin/sh".into()) },
                    CgiHandler { extension: ".cgi".into(), interpreter: None },
                ],
                ..base.clone()
            },
            Location {
                prefix: "/uploads".into(),
                methods: methods(&["GET", "HEAD", "POST", "DELETE"]),
                upload_store: Some(www.join("uploads")),
                client_max_body_size: 100 << 20,
                ..base.clone()
            },
            Location {
                prefix: "/docs".into(),
                mapping: Mapping::Alias("/srv/manual".into()),
                autoindex: true,
                ..base.clone()
            },
            Location {
                prefix: "/old".into(),
                ret: Some(Return::Redirect { code: 301, target: "/new".into() }),
                ..base.clone()
            },
            Location { prefix: "/app".into(), session: true, ..base.clone() },
            Location { prefix: "/".into(), methods: methods(&["GET", "HEAD"]), ..base.clone() },
        ];
        for (got, want) in s.locations.iter().zip(want.iter()) {
            assert_eq!(got, want, "location {}", want.prefix);
        }
        assert_eq!(c.listeners.len(), 2);
        assert_eq!(c.listeners[1].default_server, 0);
        // routing over the example
        assert_eq!(c.route(0, Some("example.test"), "/docs/a/b"), (0, 2));
        assert_eq!(c.route(1, None, "/cgi-bin/x.py"), (0, 0));
        assert_eq!(c.route(0, Some("x"), "/docsy"), (0, 5));
    }

    /// A table of small good configs and a fact of the model each produces.
    #[test]
    fn good_config_table() {
        type Check = fn(&Config) -> bool;
        let table: &[(&str, Check)] = &[
            // nginx: a server without listen listens on *:80
            ("server { root /; }", |c| c.servers[0].listen == [addr("0.0.0.0:80")]),
            ("server { listen localhost:81; root /; }", |c| c.listeners[0].addr == addr("127.0.0.1:81")),
            ("server { listen [::1]:82; root /; }", |c| c.listeners[0].addr == addr("[::1]:82")),
            ("server { listen 80 reuseport; root /; }", |c| c.listeners[0].reuseport),
            ("server { listen 80; root /; }", |c| !c.listeners[0].deferred),
            // Any server asking for it defers the address's accept.
            (
                "server { listen 80; root /; } server { server_name b; listen 80 deferred; root /; }",
                |c| c.listeners[0].deferred == DEFERRED_ACCEPT,
            ),
            // names: lowercased, trailing dot dropped, deduplicated
            ("server { server_name A.Test. a.test b.test; root /; }", |c| {
                c.servers[0].names == ["a.test", "b.test"]
            }),
            // timeouts: global, overridden per server
            ("send_timeout 5s; cgi_timeout 500ms; server { root /; send_timeout 1m; }", |c| {
                c.servers[0].timeouts.send == Duration::from_secs(60)
                    && c.servers[0].timeouts.cgi == Duration::from_millis(500)
            }),
            // cgi_timeout: global, server, then location
            (
                "cgi_timeout 5s; server { root /; cgi_timeout 7s; location /a { cgi_timeout 1s; } location /b {} }",
                |c| {
                    let l = &c.servers[0].locations;
                    l.iter().map(|l| (l.prefix.as_str(), l.cgi_timeout.as_secs())).collect::<Vec<_>>()
                        == [("/a", 1), ("/b", 7), ("/", 7)]
                },
            ),
            ("server { root /; }", |c| c.servers[0].locations[0].cgi_timeout == Duration::from_secs(60)),
            ("keepalive_timeout 0; server { root /; }", |c| c.servers[0].timeouts.keepalive.is_zero()),
            ("client_body_timeout 1h30m; server { root /; }", |c| {
                c.servers[0].timeouts.client_body == Duration::from_secs(5400)
            }),
            // logs
            ("error_log off; access_log off; server { root /; }", |c| {
                c.error_log == LogTarget::Off && c.access_log.is_none()
            }),
            ("error_log /var/log/e.log; server { root /; }", |c| {
                c.error_log == LogTarget::File("/var/log/e.log".into())
            }),
            ("error_log stderr; server { root /; }", |c| c.error_log == LogTarget::Stderr),
            // a location's root overrides the server's
            ("server { root /a; location /x { root /b; } }", |c| {
                c.servers[0].locations[0].mapping == Mapping::Root("/b".into())
                    && c.servers[0].locations[1].mapping == Mapping::Root("/a".into())
            }),
            // index: a location that sets it replaces the inherited list
            ("server { root /; index a b; location /x { index c; } location /y {} }", |c| {
                let l = &c.servers[0].locations;
                l[0].index == ["c"] && l[1].index == ["a", "b"] && l[2].index == ["a", "b"]
            }),
            // index repeated in one block accumulates
            ("server { root /; index a; index b; }", |c| c.servers[0].locations[0].index == ["a", "b"]),
            // error_page: a location that sets any replaces the server's list
            (
                "server { root /; error_page 404 /a.html; location /x { error_page 500 /b.html; } }",
                |c| {
                    let l = &c.servers[0].locations;
                    l[0].error_pages == [(500, "/b.html".to_string())]
                        && l[0].error_page(404).is_none()
                        && l[1].error_page(404) == Some("/a.html")
                },
            ),
            // methods, autoindex, body size inherited from the server
            (
                "server { root /; methods DELETE; autoindex on; client_max_body_size 0; location /x {} }",
                |c| {
                    let l = &c.servers[0].locations[0];
                    l.methods == methods(&["DELETE"]) && l.autoindex && l.client_max_body_size == 0
                },
            ),
            // without `methods`: GET and HEAD, plus POST where cgi or an
            // upload store takes a body; DELETE never by default
            ("server { root /; location /c { cgi .py; } location /u { upload_store /; } }", |c| {
                let l = &c.servers[0].locations;
                l[0].methods == methods(&["GET", "HEAD", "POST"])
                    && l[1].methods == methods(&["GET", "HEAD", "POST"])
                    && l[2].methods == methods(&["GET", "HEAD"])
            }),
            // `methods` in the server applies to upload locations too
            ("server { root /; methods GET DELETE; location /u { upload_store /; } }", |c| {
                c.servers[0].locations[0].methods == methods(&["GET", "HEAD", "DELETE"])
            }),
            // GET brings HEAD, as nginx's limit_except
            ("server { root /; methods GET; }", |c| {
                c.servers[0].locations[0].methods == methods(&["GET", "HEAD"])
            }),
            // a return-only location needs no root
            ("server { location / { return 302 https://example.test/; } }", |c| {
                c.servers[0].locations[0].ret
                    == Some(Return::Redirect { code: 302, target: "https://example.test/".into() })
            }),
            ("server { root /; location /r { return https://x.test/; } }", |c| {
                matches!(c.servers[0].locations[0].ret, Some(Return::Redirect { code: 302, .. }))
            }),
            // a server with only aliased locations but an explicit "/"
            ("server { location / { alias /srv; } }", |c| {
                c.servers[0].locations[0].mapping == Mapping::Alias("/srv".into())
            }),
            // relative paths against the file's folder; bare interpreter kept
            ("server { root ../www; location /c { cgi .py python3; cgi .pl ./perl; } }", |c| {
                let l = &c.servers[0].locations[0];
                c.servers[0].root == Some("/etc/berth/../www".into())
                    && l.cgi[0].interpreter == Some("python3".into())
                    && l.cgi[1].interpreter == Some("/etc/berth/./perl".into())
            }),
            // quoted strings
            ("server { root \"/my site\"; server_name \"q.test\"; }", |c| {
                c.servers[0].root == Some("/my site".into()) && c.servers[0].names == ["q.test"]
            }),
            // the same name on two addresses is fine
            (
                "server { listen 1; server_name a; root /; } server { listen 2; server_name a; root /; }",
                |c| c.listeners.len() == 2,
            ),
            // different hosts on one port, and v4 and v6 wildcards, can all be bound
            (
                "server { listen 127.0.0.1:80; listen 127.0.0.2:80; listen [::]:80; listen 81; root /; }",
                |c| c.listeners.len() == 4,
            ),
            // grouping by address, first-seen order, default_server
            (
                "server { listen 1; listen 2; root /; }
                 server { listen 2 default_server; listen 3; root /; }
                 server { listen 1; root /; }",
                |c| {
                    let l = &c.listeners;
                    l.len() == 3
                        && l[0].servers == [0, 2]
                        && l[0].default_server == 0
                        && l[1].servers == [0, 1]
                        && l[1].default_server == 1
                        && l[2].servers == [1]
                        && l[2].default_server == 1
                },
            ),
            // an IPv6 literal as a name
            ("server { server_name [::1]; root /; }", |c| c.route(0, Some("[::1]:80"), "/") == (0, 0)),
            // comments everywhere
            ("# c\nserver # c\n{ # c\n root /; # c\n} # c", |c| c.servers.len() == 1),
            // return as nginx: a status with or without text, a redirect
            ("server { location / { return 404; } }", |c| {
                c.servers[0].locations[0].ret == Some(Return::Status { code: 404, text: None })
            }),
            ("server { location / { return 200 \"hello\\n\"; } }", |c| {
                c.servers[0].locations[0].ret
                    == Some(Return::Status { code: 200, text: Some("hello\n".into()) })
            }),
            ("server { root /; location /x { return 503 \"down for maintenance\"; } }", |c| {
                matches!(&c.servers[0].locations[0].ret, Some(Return::Status { code: 503, text: Some(t) }) if t == "down for maintenance")
            }),
            ("server { root /; location /x { return 200 /y; } }", |c| {
                c.servers[0].locations[0].ret
                    == Some(Return::Status { code: 200, text: Some("/y".into()) })
            }),
            ("server { root /; location /x { return 308 /y; } }", |c| {
                c.servers[0].locations[0].ret
                    == Some(Return::Redirect { code: 308, target: "/y".into() })
            }),
            // locations with spaces and escapes are stored decoded
            ("server { root /; location \"/a b\" { } location /c%20d { } location /e%25f { } }", |c| {
                let p: Vec<&str> = c.servers[0].locations.iter().map(|l| l.prefix.as_str()).collect();
                p == ["/a b", "/c d", "/e%f", "/"] && c.route(0, None, "/c d/x").1 == 1
            }),
            // MIME types: built in, added to at the top, replaced below it
            ("server { root /; location /x { } }", |c| {
                let l = &c.servers[0].locations[0];
                l.types.is_empty() && l.builtin_types && l.default_type == "application/octet-stream"
            }),
            (
                "types { application/wasm wasm; } default_type text/plain;
                 server { root /; location /r { types { text/x-r r; } default_type a/b; } }",
                |c| {
                    let l = &c.servers[0].locations;
                    l[0].types == [("r".to_string(), "text/x-r".to_string())]
                        && !l[0].builtin_types
                        && l[0].default_type == "a/b"
                        && l[1].types == [("wasm".to_string(), "application/wasm".to_string())]
                        && l[1].builtin_types
                        && l[1].default_type == "text/plain"
                },
            ),
            // nginx's trick: an empty types block makes everything default_type
            ("server { root /; location /dl { types { } default_type application/octet-stream; } }", |c| {
                let l = &c.servers[0].locations[0];
                l.types.is_empty() && !l.builtin_types
            }),
            ("server { root /; types { text/html HTML htm; text/plain txt; } types { a/b c; } }", |c| {
                c.servers[0].locations[0].types
                    == [
                        ("html".to_string(), "text/html".to_string()),
                        ("htm".to_string(), "text/html".to_string()),
                        ("txt".to_string(), "text/plain".to_string()),
                        ("c".to_string(), "a/b".to_string()),
                    ]
            }),
            // a run-on line that is not a directive name is a value
            ("server { server_name a.test\n   b.test; root /; }", |c| c.servers[0].names == ["a.test", "b.test"]),
            ("server { root \"/\"; index a.html\n \"index\"; }", |c| c.servers[0].locations[0].index == ["a.html", "index"]),
            // the session store's settings, at the top of the file
            ("session_timeout 90s; session_max 2; server { root /; }", |c| {
                c.session_timeout == Duration::from_secs(90) && c.session_max == 2
            }),
            // sessions only where asked
            ("server { root /; location /a { session on; } location /b { session off; } }", |c| {
                let l = &c.servers[0].locations;
                l[0].session && !l[1].session && !l[2].session && !l[0].session_page
            }),
            // the session page: a session location that also takes POST
            ("server { root /; location /s { session status; } }", |c| {
                let l = &c.servers[0].locations[0];
                l.session && l.session_page && l.methods == methods(&["GET", "HEAD", "POST"])
            }),
        ];
        for (src, check) in table {
            let c = ok(src);
            assert!(check(&c), "unexpected model for:\n{src}\n{c:#?}");
        }
    }

    #[test]
    fn upload_store_outside_the_served_tree_is_warned() {
        let dir = fresh_dir("berth-store", &["www/up", "private", "files"]);
        let warned = |src: &str| -> Vec<String> {
            parse_warnings(&dir, src).into_iter().map(|(pos, _)| pos).collect()
        };
        // Served through the root, or through an alias: no warning.
        assert!(warned("server { root www; location /up { upload_store www/up; } }").is_empty());
        assert!(warned(
            "server { root www; location /f { alias files; } location /up { upload_store files; } }"
        )
        .is_empty());
        // Outside every root, or only under a `return` location.
        assert_eq!(
            warned("server { root www; location /up {\n upload_store private; } }"),
            ["2:15"]
        );
        assert_eq!(
            warned("server { root www; location /up { return 404; upload_store www/up; } }"),
            ["1:60"]
        );
        let c = crate::parse(
            "server { root www; location /up { upload_store private; } }",
            &dir.join("b.conf"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(c.warnings[0].message.contains("is outside every folder this server serves"));
        assert_eq!(c.servers[0].url_for_dir(&dir.join("www/up")).as_deref(), Some("/up"));
        assert_eq!(c.servers[0].url_for_dir(&dir.join("www")).as_deref(), Some(""));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn upload_store_that_a_cgi_location_reaches_is_warned() {
        let dir = fresh_dir("berth-store-cgi", &["www/up", "www/cgi-bin", "files"]);
        let warned = |src: &str| -> Vec<String> {
            parse_warnings(&dir, src).into_iter().map(|(pos, m)| format!("{pos}: {m}")).collect()
        };
        // The store's own location runs scripts.
        let w =
            warned("server { root www; location /up { upload_store www/up; cgi .sh /bin/sh; } }");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("1:48: upload_store \"")
                && w[0].ends_with(
                    "is reached through location \"/up\", which runs .sh files as CGI scripts: \
                     an uploaded script would run at /up/NAME (store uploads in a folder that \
                     location does not serve)"
                ),
            "{w:?}"
        );
        // Through the root's location, and through an alias elsewhere.
        let w = warned(
            "server { root www; location / { cgi .sh /bin/sh; cgi .py; }\n location /x { upload_store www/up; } }",
        );
        assert!(w.len() == 1 && w[0].contains("location \"/\", which runs .sh .py files"), "{w:?}");
        let w = warned(
            "server { root www; location /f { alias files; cgi .sh /bin/sh; }\n location /up { upload_store files; } }",
        );
        assert!(w.len() == 1 && w[0].contains("would run at /f/NAME"), "{w:?}");
        // Scripts elsewhere, or the store's URL belongs to another location:
        // nothing to warn about.
        assert!(warned(
            "server { root www; location /cgi-bin { cgi .sh /bin/sh; }\n location /up { upload_store www/up; } }"
        )
        .is_empty());
        assert!(warned(
            "server { root www; location / { cgi .sh /bin/sh; }\n location /up { upload_store www/up; } }"
        )
        .is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A new, empty folder `TAG-PID` under the temporary folder, holding the
    /// folders `dirs`.
    fn fresh_dir(tag: &str, dirs: &[&str]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in dirs {
            std::fs::create_dir_all(dir.join(d)).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        dir
    }

    /// The warnings of `src` as a file in `dir`: (`LINE:COL`, message).
    fn parse_warnings(dir: &Path, src: &str) -> Vec<(String, String)> {
        let c = crate::parse(src, &dir.join("b.conf")).unwrap_or_else(|e| panic!("{e}"));
        c.warnings.iter().map(|w| (format!("{}:{}", w.line, w.col), w.message.clone())).collect()
    }

    fn warnings(src: &str) -> Vec<String> {
        ok(src).warnings.iter().map(|w| format!("{}:{}: {}", w.line, w.col, w.message)).collect()
    }

    #[test]
    fn warnings_in_file_order() {
        assert!(warnings("server { listen 1; root /; } server { listen 2; root /; }").is_empty());
        assert!(warnings(
            "server { listen 1; root /; } server { listen 1; server_name b; root /; }"
        )
        .is_empty());
        let w = warnings(
            "cgi_timeout 5s;\nserver {\n listen 1;\n root /;\n location /c { cgi .py; cgi .sh; }\n \
             location /u { upload_store /; }\n location /s { session on; }\n}\n\
             server { listen 1; root /; types { a/b x; a/c X; } }\nserver { root /; listen 1 default_server; }",
        );
        assert_eq!(
            w,
            [
                "9:17: conflicting server name \"\" on 0.0.0.0:1, ignored (neither this server nor the one above has a server_name: only the address's default server answers)",
                "9:47: duplicate extension \"X\", content type: \"a/c\", previous content type: \"a/b\"",
                "10:25: conflicting server name \"\" on 0.0.0.0:1, ignored (neither this server nor the one above has a server_name: only the address's default server answers)",
            ]
        );
        let c = ok("server { root /; types { a/b x; a/c x; } }");
        assert_eq!(c.warnings[0].file, Path::new("/etc/berth/berth.conf"));
        assert!(c.warnings[0]
            .to_string()
            .starts_with("/etc/berth/berth.conf:1:37: warning: duplicate extension \"x\""));
    }

    /// Threads probing one folder at once all find it writable (the probe
    /// name once held only the process id, and the corpus tests, run in
    /// parallel, saw "File exists").
    #[test]
    fn probes_of_one_folder_at_once_do_not_collide() {
        let dir = std::env::temp_dir().join(format!("berth-probe-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let dir = dir.clone();
                std::thread::spawn(move || (0..200).all(|_| probe_writable(&dir).is_ok()))
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap());
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "a probe was left behind");
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn deferred_warns_where_the_platform_lacks_it() {
        let w = warnings("server { listen 1 deferred; root /; }");
        if DEFERRED_ACCEPT {
            assert!(w.is_empty(), "{w:?}");
        } else {
            assert_eq!(w, ["1:19: the deferred accept is not supported on this platform, ignored"]);
        }
    }

    #[test]
    fn implicit_root_location_inherits_the_server() {
        let c = ok("server { root /s; autoindex on; index i.html; location /a { root /b; } }");
        let l = &c.servers[0].locations;
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].prefix, "/");
        assert_eq!(l[1].mapping, Mapping::Root("/s".into()));
        assert!(l[1].autoindex);
        assert_eq!(l[1].index, ["i.html"]);
        assert_eq!(c.route(0, None, "/zzz"), (0, 1));
    }

    #[test]
    fn locations_sorted_longest_first_stable() {
        let c =
            ok("server { root /; location /bb {} location /a {} location /ccc {} location /d {} }");
        let p: Vec<&str> = c.servers[0].locations.iter().map(|l| l.prefix.as_str()).collect();
        assert_eq!(p, ["/ccc", "/bb", "/a", "/d", "/"]);
    }

    /// Errors that need no files; the corpus in tests/bad covers the rest.
    #[test]
    fn error_table() {
        let table: &[(&str, &str)] = &[
            ("", "1:1: no \"server\" block"),
            ("max_connections 5;\n", "1:19: no \"server\" block"),
            ("server {\n  lisen 80;\n}", "2:3: unknown directive \"lisen\", did you mean \"listen\"?"),
            ("server { frobnicate 1; }", "1:10: unknown directive \"frobnicate\""),
            ("root /;", "1:1: \"root\" directive is not allowed here"),
            ("server { server { } }", "1:10: \"server\" directive is not allowed here"),
            (
                "server { root /; location / { location /a { } } }",
                "1:31: \"location\" directive is not allowed here",
            ),
            ("server { listen; }", "1:10: invalid number of arguments in \"listen\" directive"),
            ("server { root /; location / /b { } }", "1:27: invalid number of arguments in \"location\" directive, a prefix with spaces is written in quotes: location \"/ /b\""),
            ("server { root /; location a b { } }", "1:18: invalid number of arguments in \"location\" directive"),
            ("server { root /; location { } }", "1:18: invalid number of arguments in \"location\" directive"),
            ("server { root / {} }", "1:10: directive \"root\" is not terminated by \";\""),
            ("server;", "1:1: directive \"server\" has no opening \"{\""),
            ("server { listen 70000; }", "1:17: invalid port in \"70000\" of the \"listen\" directive"),
            ("server { listen a.test:80; }", "1:17: host not found in \"a.test:80\" of the \"listen\" directive"),
            ("server { listen 80 default; }", "1:20: invalid parameter \"default\", did you mean \"default_server\"?"),
            ("server { listen 80 foo; }", "1:20: invalid parameter \"foo\""),
            ("server { listen 80 default_sever; }", "1:20: invalid parameter \"default_sever\", did you mean \"default_server\"?"),
            ("server { listen 80 reuseport reuseport; }", "1:30: duplicate \"reuseport\" parameter"),
            ("server { listen 80 deferred deferred; }", "1:29: duplicate \"deferred\" parameter"),
            ("server { listen 80 deffered; }", "1:20: invalid parameter \"deffered\", did you mean \"deferred\"?"),
            ("server { listen 80; listen 0.0.0.0:80; }", "1:28: duplicate listen 0.0.0.0:80"),
            ("server { root /a; root /b; }", "1:19: \"root\" directive is duplicate"),
            ("server { root /a; location /x { alias /b; root /c; } }", "1:43: \"alias\" and \"root\" cannot both be set"),
            ("server {", "1:9: unexpected end of file, expecting \"}\""),
            ("server { root /", "1:16: unexpected end of file, expecting \";\" or \"}\""),
            ("server { root / }", "1:17: unexpected \"}\", is a \";\" missing after \"/\"?"),
            ("server { root /; }\n}", "2:1: unexpected \"}\""),
            ("server { ; }", "1:10: unexpected \";\""),
            ("{ }", "1:1: unexpected \"{\""),
            ("server { root \"/x; }", "1:15: unterminated string"),
            ("server { root /; location x { } }", "1:27: invalid location \"x\", it must start with \"/\""),
            ("server { root /; location /x { } location /x { } }", "1:43: duplicate location \"/x\""),
            ("server { root /; location /x { return 201 /y; } }", "1:39: invalid return code \"201\", it must be 200, 301, 302, 303, 307, 308 or from 400 to 599"),
            ("server { root /; location /x { return 304; } }", "1:39: invalid return code \"304\", it must be 200, 301, 302, 303, 307, 308 or from 400 to 599"),
            ("server { root /; location /x { return 600; } }", "1:39: invalid return code \"600\", it must be 200, 301, 302, 303, 307, 308 or from 400 to 599"),
            ("server { root /; location /x { return 99999999999; } }", "1:39: invalid return code \"99999999999\""),
            ("server { root /; location /x { return 444; } }", "1:39: invalid return code \"444\", closing without a response is not supported"),
            ("server { root /; location /x { return 302; } }", "1:32: invalid number of arguments in \"return\" directive, a 302 redirect needs a URL: \"return 302 /new;\""),
            ("server { root /; location /x { return /y; } }", "1:39: invalid return code \"/y\", to redirect write \"return 302 /y;\""),
            ("server { root /; location /x { return x; } }", "1:39: invalid return code \"x\""),
            ("server { root /; location /x { return 404 a b; } }", "1:32: invalid number of arguments in \"return\" directive"),
            // nginx habits
            ("http {\n server { root /; }\n}", "1:1: unknown directive \"http\" (Berth's configuration has no http block: put server blocks at the top level)"),
            ("worker_processes 4;", "1:1: unknown directive \"worker_processes\" (Berth runs one process with one event loop by design: remove this line)"),
            ("server { listen 443 ssl; }", "1:21: invalid parameter \"ssl\" (Berth has no TLS: terminate TLS in a proxy in front of it, see docs/operations.md#tls)"),
            ("server { listen 443 http2; }", "1:21: invalid parameter \"http2\" (Berth speaks HTTP/1.1 and 1.0 only)"),
            ("server { root /; location ~ \\.php$ { } }", "1:27: invalid location \"~\": regular expression locations are not supported: use a prefix location such as \"location /images/\""),
            ("server { root /; location ~* \\.PNG$ { } }", "1:27: invalid location \"~*\": regular expression locations are not supported: use a prefix location such as \"location /images/\""),
            ("server { root /; location = /x { } }", "1:27: invalid location \"=\": exact match locations are not supported: use the prefix location \"location /x\" (it also matches what is below /x)"),
            ("server { root /; location =/x { } }", "1:27: invalid location \"=/x\": exact match locations are not supported: use the prefix location \"location /x\" (it also matches what is below /x)"),
            ("server { root /; location ^~ /img { } }", "1:27: invalid location \"^~\": the \"^~\" modifier is not needed: locations are prefixes already, write \"location /img\""),
            ("server { root /; location @fallback { } }", "1:27: invalid location \"@fallback\": named locations are not supported"),
            // a missing ";" before the next directive
            ("server {\n  root /\n  index a.html;\n}", "2:9: missing \";\" at the end of the \"root\" directive (the next line starts with \"index\")"),
            ("server {\n  root /;\n  index a.html\n  autoindex on;\n}", "3:15: missing \";\" at the end of the \"index\" directive (the next line starts with \"autoindex\")"),
            ("server {\n  listen 80\n  server_name a;\n}", "2:12: missing \";\" at the end of the \"listen\" directive (the next line starts with \"server_name\")"),
            ("server {\n  root \"/\"\n  include x;\n}", "2:11: missing \";\" at the end of the \"root\" directive (the next line starts with \"include\")"),
            // locations: spaces, percent-decoding
            ("server { root /; location /a%zz { } }", "1:27: invalid location \"/a%zz\", \"%\" must be followed by two hex digits (write \"%25\" for a literal \"%\")"),
            ("server { root /; location /a%2Fb { } }", "1:27: invalid location \"/a%2Fb\", an encoded \"/\" (%2F) never matches: requests with it are refused"),
            ("server { root /; location /a/%2e%2e/b { } }", "1:27: invalid location \"/a/%2e%2e/b\", \".\", \"..\" and \"//\" are not allowed"),
            ("server { root /; location \"/a\tb\" { } }", "1:27: invalid location \"/a\tb\", control characters are not allowed"),
            ("server { root /; location /a%09b { } }", "1:27: invalid location \"/a%09b\", control characters are not allowed"),
            ("server { root /; location \"/a b\" { } location /a%20b { } }", "1:47: duplicate location \"/a%20b\""),
            // index names stay in the folder
            ("server { root /; index ../../secret/passwd.txt; }", "1:24: invalid value \"../../secret/passwd.txt\" in \"index\" directive, it must be a file name without \"/\" (and not \".\" or \"..\")"),
            ("server { root /; index ..; }", "1:24: invalid value \"..\" in \"index\" directive, it must be a file name without \"/\" (and not \".\" or \"..\")"),
            ("server { root /; location /x { index a/b.html; } }", "1:38: invalid value \"a/b.html\" in \"index\" directive, it must be a file name without \"/\" (and not \".\" or \"..\")"),
            ("server { root /; error_page 404 /%2e%2e/x; }", "1:33: invalid URI \"/%2e%2e/x\" in \"error_page\" directive, \".\", \"..\" and \"//\" are not allowed"),
            ("server { root /; error_page 404 /a%zz; }", "1:33: invalid URI \"/a%zz\" in \"error_page\" directive, \"%\" must be followed by two hex digits (write \"%25\" for a literal \"%\")"),
            // durations are bounded
            ("client_header_timeout 10000000000000000000; server { root /; }", "1:23: invalid value \"10000000000000000000\" in \"client_header_timeout\" directive, it must not exceed 365d"),
            ("server { root /; send_timeout 53w; }", "1:31: invalid value \"53w\" in \"send_timeout\" directive, it must not exceed 365d"),
            // default_type and types
            ("server { root /; default_type text; }", "1:31: invalid value \"text\" in \"default_type\" directive, it must look like \"text/plain\""),
            ("server { root /; default_type a/b; default_type c/d; }", "1:36: \"default_type\" directive is duplicate"),
            ("server { root /; types { text/html .html; } }", "1:36: invalid extension \".html\" in \"types\" block, write it without the dot: \"html\""),
            ("server { root /; types { html text/html; } }", "1:26: invalid MIME type \"html\" in \"types\" block, it must look like \"text/html\""),
            ("server { root /; types { text/html; } }", "1:26: no extension for \"text/html\" in \"types\" block: \"text/html html htm;\""),
            ("server { root /; types { a/b x { } } }", "1:26: unexpected \"{\" in \"types\" block"),
            ("server { root /; types { a/b x; }", "1:34: unexpected end of file, expecting \"}\""),
            ("server { root /; types x; }", "1:18: directive \"types\" has no opening \"{\""),
            ("server { root /; location /x { return 301 \"/a\\r\\nX: y\"; } }", "1:43: invalid URL \"/a\\r\\nX: y\" in \"return\" directive"),
            ("server { root /; location /x { cgi py; } }", "1:36: invalid extension \"py\" in \"cgi\" directive, it must look like \".py\""),
            ("server { root /; location /x { cgi .py; cgi .py /p; } }", "1:45: duplicate cgi extension \".py\""),
            ("server { root /; methods GET BREW; }", "1:30: invalid method \"BREW\" in \"methods\" directive"),
            ("server { root /; methods get; }", "1:26: invalid method \"get\" in \"methods\" directive, did you mean \"GET\"?"),
            ("server { root /; client_max_body_size 10q; }", "1:39: invalid value \"10q\" in \"client_max_body_size\" directive"),
            ("server { root /; send_timeout 5 ; keepalive_timeout 1y; }", "1:53: invalid value \"1y\" in \"keepalive_timeout\" directive"),
            ("server { root /; autoindex yes; }", "1:28: invalid value \"yes\" in \"autoindex\" directive, it must be \"on\" or \"off\""),
            ("server { root /; error_page 99 /x; }", "1:29: value \"99\" must be between 300 and 599"),
            ("server { root /; error_page 404 x.html; }", "1:33: invalid URI \"x.html\" in \"error_page\" directive, it must start with \"/\""),
            ("server { error_page 404 /x.html; location / { alias /a; } }", "1:25: error_page \"/x.html\" needs a \"root\" in its server block"),
            ("server { listen 80; }", "1:1: no \"root\" or \"alias\" for location \"/\""),
            ("server { location /a { } location / { alias /x; } }", "1:19: no \"root\" or \"alias\" for location \"/a\""),
            ("max_connections 0; server { root /; }", "1:17: invalid value \"0\" in \"max_connections\" directive"),
            ("session_timeout 500ms; server { root /; }", "1:17: invalid value \"500ms\" in \"session_timeout\" directive, it must be at least 1s"),
            ("session_timeout 400d; server { root /; }", "1:17: invalid value \"400d\" in \"session_timeout\" directive, it must not exceed 365d"),
            ("session_max 0; server { root /; }", "1:13: invalid value \"0\" in \"session_max\" directive"),
            ("server { root /; session_timeout 1m; }", "1:18: \"session_timeout\" directive is not allowed here"),
            ("server { server_name *.a.test; }", "1:22: server name \"*.a.test\" is not supported: only exact names are"),
            ("server { server_name a/b; }", "1:22: server name \"a/b\" has suspicious symbols"),
            ("server { listen 1 default_server; listen 2; root /; } server { listen 1 default_server; root /; }", "1:73: a duplicate default server for 0.0.0.0:1"),
            ("server { listen 1; server_name a; root /; }\nserver { listen 1; server_name b A.; root /; }", "2:34: conflicting server name \"a\" on 0.0.0.0:1"),
            ("server { root /; }\nserver { server_name x; location / { session maybe; } }", "2:46: invalid value \"maybe\" in \"session\" directive, it must be \"on\", \"off\" or \"status\""),
            ("server { listen 80; listen 127.0.0.1:80; root /; }", "1:28: listen 127.0.0.1:80 conflicts with listen 0.0.0.0:80: a wildcard address takes the port on every address"),
            ("server { listen [::1]:80; root /; }\nserver { root /; listen [::]:80; }", "2:25: listen [::]:80 conflicts with listen [::1]:80: a wildcard address takes the port on every address"),
            ("server { listen 127.0.0.1:80; root /; }\nserver { root /; }", "2:1: listen 0.0.0.0:80 conflicts with listen 127.0.0.1:80: a wildcard address takes the port on every address"),
            ("server { root /; location /a/../b { } }", "1:27: invalid location \"/a/../b\", \".\", \"..\" and \"//\" are not allowed"),
            ("server { root /; location //a { } }", "1:27: invalid location \"//a\", \".\", \"..\" and \"//\" are not allowed"),
            ("server { root /; error_page 404 /../etc/passwd; }", "1:33: invalid URI \"/../etc/passwd\" in \"error_page\" directive, \".\", \"..\" and \"//\" are not allowed"),
            ("server { server_name [::1]:80; }", "1:22: server name \"[::1]:80\" has suspicious symbols"),
            ("Server { }", "1:1: unknown directive \"Server\", did you mean \"server\"?"),
            ("server { root /; location /x { alias /a; alias /b; } }", "1:42: \"alias\" directive is duplicate"),
        ];
        let mut wrong = Vec::new();
        for (src, want) in table {
            let got = err(src);
            if got != *want {
                wrong.push(format!("{src}\n   got: {got}\n  want: {want}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
