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
    Config, Listener, Location, LogTarget, Mapping, Server, Timeouts, DEFAULT_CLIENT_MAX_BODY_SIZE,
    DEFAULT_INDEX, DEFAULT_MAX_CONNECTIONS,
};
use crate::value;

/// Parses and validates `src`; `env` says where relative paths start and
/// whether the filesystem is checked.
pub(crate) fn parse(src: &str, file: &Path, env: &Env) -> Result<Config, Fail> {
    let mut p = Parser { lx: Lexer::new(src), env };
    let mut main = Scope::default();
    p.block(MAIN, &mut main)?;
    build(main, file, env, p.lx.eof_pos())
}

struct Parser<'a, 'e> {
    lx: Lexer<'a>,
    env: &'e Env,
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
        let mut words = Vec::new();
        loop {
            let t = self.lx.next_token()?;
            match t.kind {
                Kind::Word => words.push(t),
                Kind::Semi if words.is_empty() => return Err(Fail::at(t.pos, "unexpected \";\"")),
                Kind::Open if words.is_empty() => return Err(Fail::at(t.pos, "unexpected \"{\"")),
                Kind::Semi => return Ok(Next::Stmt(Stmt { words, opens_block: false })),
                Kind::Open => return Ok(Next::Stmt(Stmt { words, opens_block: true })),
                Kind::Close if words.is_empty() => return Ok(Next::Close(t.pos)),
                Kind::Close => return Err(Fail::at(t.pos, "unexpected \"}\"")),
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

    /// The generic checks of the table, then the directive's handler.
    fn directive(&mut self, ctx: u8, scope: &mut Scope, stmt: Stmt) -> Result<(), Fail> {
        let Some((name, args)) = stmt.words.split_first() else {
            return Ok(());
        };
        let Some(spec) = directives::lookup(&name.text) else {
            let hint = value::closest(&name.text, directives::TABLE.iter().map(|s| s.name))
                .map(|c| format!(", did you mean \"{c}\"?"))
                .unwrap_or_default();
            return Err(Fail::at(name.pos, format!("unknown directive \"{}\"{hint}", name.text)));
        };
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
        match spec.handler {
            Handler::Set(setter) => setter(scope, name, args, self.env),
            Handler::Server => {
                let mut inner = Scope::default();
                self.block(SERVER, &mut inner)?;
                scope.servers.push(RawServer { pos: name.pos, scope: inner });
                Ok(())
            }
            Handler::Location => {
                let arg = args.first().ok_or_else(|| arity_error(name))?;
                let prefix = arg.text.as_str();
                if !prefix.starts_with('/')
                    || prefix.chars().any(|c| c.is_control() || c.is_whitespace())
                {
                    return Err(Fail::at(
                        arg.pos,
                        format!("invalid location \"{prefix}\", it must start with \"/\""),
                    ));
                }
                if !value::is_normal_path(prefix) {
                    return Err(Fail::at(
                        arg.pos,
                        format!(
                            "invalid location \"{prefix}\", \".\", \"..\" and \"//\" are not allowed"
                        ),
                    ));
                }
                if scope.locations.iter().any(|l| l.prefix == prefix) {
                    return Err(Fail::at(arg.pos, format!("duplicate location \"{prefix}\"")));
                }
                let mut inner = Scope::default();
                self.block(LOCATION, &mut inner)?;
                scope.locations.push(RawLocation {
                    prefix: prefix.to_string(),
                    pos: arg.pos,
                    scope: inner,
                });
                Ok(())
            }
        }
    }
}

/// Resolves inheritance and defaults and runs the cross-checks.
fn build(main: Scope, file: &Path, env: &Env, eof: Pos) -> Result<Config, Fail> {
    if main.servers.is_empty() {
        return Err(Fail::at(eof, "no \"server\" block"));
    }
    let mut servers = Vec::with_capacity(main.servers.len());
    for raw in &main.servers {
        servers.push(build_server(raw, &main, env)?);
    }
    let listeners = build_listeners(&main.servers)?;
    Ok(Config {
        file: file.to_path_buf(),
        max_connections: main.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        access_log: main.access_log.clone().unwrap_or(None),
        error_log: main.error_log.clone().unwrap_or(LogTarget::Stderr),
        servers,
        listeners,
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
        locations.push(build_location(&l.prefix, l.pos, Some(&l.scope), s, env)?);
    }
    if !s.locations.iter().any(|l| l.prefix == "/") {
        locations.push(build_location("/", raw.pos, None, s, env)?);
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
    env: &Env,
) -> Result<Location, Fail> {
    let empty = Scope::default();
    let l = loc.unwrap_or(&empty);
    let mapping = match (&l.alias, l.root.as_ref().or(srv.root.as_ref())) {
        (Some(alias), _) => Mapping::Alias(alias.clone()),
        (None, Some(root)) => Mapping::Root(root.clone()),
        // A `return` location never maps a file: the redirect answers first.
        (None, None) if l.redirect.is_some() => Mapping::Root(env.dir.clone()),
        (None, None) => {
            return Err(Fail::at(
                pos,
                format!("no \"root\" or \"alias\" for location \"{prefix}\""),
            ))
        }
    };
    let error_pages = l.error_pages.as_ref().or(srv.error_pages.as_ref());
    Ok(Location {
        prefix: prefix.to_string(),
        mapping,
        index: l
            .index
            .as_ref()
            .or(srv.index.as_ref())
            .cloned()
            .unwrap_or_else(|| vec![DEFAULT_INDEX.to_string()]),
        methods: l.methods.or(srv.methods).unwrap_or_default(),
        autoindex: l.autoindex.or(srv.autoindex).unwrap_or(false),
        redirect: l.redirect.clone(),
        cgi: l.cgi.clone(),
        upload_store: l.upload_store.clone(),
        client_max_body_size: l
            .client_max_body_size
            .or(srv.client_max_body_size)
            .unwrap_or(DEFAULT_CLIENT_MAX_BODY_SIZE),
        session: l.session.unwrap_or(false),
        error_pages: error_pages
            .map(|v| v.iter().map(|e| (e.code, e.uri.clone())).collect())
            .unwrap_or_default(),
    })
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
        let path: PathBuf = root.join(page.uri.trim_start_matches('/'));
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

/// Groups the servers by address and checks default servers and names.
fn build_listeners(servers: &[RawServer]) -> Result<Vec<Listener>, Fail> {
    let mut listeners: Vec<Listener> = Vec::new();
    // Whether each listener's default came from an explicit `default_server`.
    let mut explicit: Vec<bool> = Vec::new();
    let mut names: HashMap<(SocketAddr, &str), usize> = HashMap::new();
    for (i, raw) in servers.iter().enumerate() {
        let fallback = [ListenSpec {
            addr: default_listen(),
            pos: raw.pos,
            default_server: None,
            reuseport: false,
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
    use crate::model::{CgiHandler, Methods, Redirect};

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
            methods: Methods::ALL,
            autoindex: false,
            redirect: None,
            cgi: Vec::new(),
            upload_store: None,
            client_max_body_size: 1 << 20,
            session: false,
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
                    servers: vec![0],
                    default_server: 0,
                }],
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
                redirect: Some(Redirect { code: 301, target: "/new".into() }),
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
            // names: lowercased, trailing dot dropped, deduplicated
            ("server { server_name A.Test. a.test b.test; root /; }", |c| {
                c.servers[0].names == ["a.test", "b.test"]
            }),
            // timeouts: global, overridden per server
            ("send_timeout 5s; cgi_timeout 500ms; server { root /; send_timeout 1m; }", |c| {
                c.servers[0].timeouts.send == Duration::from_secs(60)
                    && c.servers[0].timeouts.cgi == Duration::from_millis(500)
            }),
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
            // GET brings HEAD, as nginx's limit_except
            ("server { root /; methods GET; }", |c| {
                c.servers[0].locations[0].methods == methods(&["GET", "HEAD"])
            }),
            // a return-only location needs no root
            ("server { location / { return 302 https://example.test/; } }", |c| {
                c.servers[0].locations[0].redirect
                    == Some(Redirect { code: 302, target: "https://example.test/".into() })
            }),
            ("server { root /; location /r { return https://x.test/; } }", |c| {
                c.servers[0].locations[0].redirect.as_ref().is_some_and(|r| r.code == 302)
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
            // sessions only where asked
            ("server { root /; location /a { session on; } location /b { session off; } }", |c| {
                let l = &c.servers[0].locations;
                l[0].session && !l[1].session && !l[2].session
            }),
        ];
        for (src, check) in table {
            let c = ok(src);
            assert!(check(&c), "unexpected model for:\n{src}\n{c:#?}");
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
            ("server { root /; location / /b { } }", "1:18: invalid number of arguments in \"location\" directive"),
            ("server { root / {} }", "1:10: directive \"root\" is not terminated by \";\""),
            ("server;", "1:1: directive \"server\" has no opening \"{\""),
            ("server { listen 70000; }", "1:17: invalid port in \"70000\" of the \"listen\" directive"),
            ("server { listen a.test:80; }", "1:17: host not found in \"a.test:80\" of the \"listen\" directive"),
            ("server { listen 80 default; }", "1:20: invalid parameter \"default\""),
            ("server { listen 80 default_sever; }", "1:20: invalid parameter \"default_sever\", did you mean \"default_server\"?"),
            ("server { listen 80 reuseport reuseport; }", "1:30: duplicate \"reuseport\" parameter"),
            ("server { listen 80; listen 0.0.0.0:80; }", "1:28: duplicate listen 0.0.0.0:80"),
            ("server { root /a; root /b; }", "1:19: \"root\" directive is duplicate"),
            ("server { root /a; location /x { alias /b; root /c; } }", "1:43: \"alias\" and \"root\" cannot both be set"),
            ("server {", "1:9: unexpected end of file, expecting \"}\""),
            ("server { root /", "1:16: unexpected end of file, expecting \";\" or \"}\""),
            ("server { root / }", "1:17: unexpected \"}\""),
            ("server { root /; }\n}", "2:1: unexpected \"}\""),
            ("server { ; }", "1:10: unexpected \";\""),
            ("{ }", "1:1: unexpected \"{\""),
            ("server { root \"/x; }", "1:15: unterminated string"),
            ("server { root /; location x { } }", "1:27: invalid location \"x\", it must start with \"/\""),
            ("server { root /; location /x { } location /x { } }", "1:43: duplicate location \"/x\""),
            ("server { root /; location /x { return 200 /y; } }", "1:39: invalid return code \"200\", it must be 301, 302, 303, 307 or 308"),
            ("server { root /; location /x { return /y; } }", "1:39: invalid return code \"/y\""),
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
            ("server { server_name *.a.test; }", "1:22: server name \"*.a.test\" is not supported: only exact names are"),
            ("server { server_name a/b; }", "1:22: server name \"a/b\" has suspicious symbols"),
            ("server { listen 1 default_server; listen 2; root /; } server { listen 1 default_server; root /; }", "1:73: a duplicate default server for 0.0.0.0:1"),
            ("server { listen 1; server_name a; root /; }\nserver { listen 1; server_name b A.; root /; }", "2:34: conflicting server name \"a\" on 0.0.0.0:1"),
            ("server { root /; }\nserver { server_name x; location / { session maybe; } }", "2:46: invalid value \"maybe\" in \"session\" directive, it must be \"on\" or \"off\""),
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
