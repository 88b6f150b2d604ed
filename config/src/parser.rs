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
    locations.sort_by(|a, b| b.prefix.len().cmp(&a.prefix.len()));
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

/// Groups the servers by address and checks default servers and names.
fn build_listeners(servers: &[RawServer]) -> Result<Vec<Listener>, Fail> {
    let mut listeners: Vec<Listener> = Vec::new();
    // Whether each listener's default came from an explicit `default_server`.
    let mut explicit: Vec<bool> = Vec::new();
    let mut names: HashMap<(SocketAddr, &str), usize> = HashMap::new();
    let fallback = [ListenSpec { addr: default_listen(), default_server: None, reuseport: false }];
    for (i, raw) in servers.iter().enumerate() {
        let specs =
            if raw.scope.listens.is_empty() { &fallback[..] } else { &raw.scope.listens[..] };
        for spec in specs {
            let li = match listeners.iter().position(|l| l.addr == spec.addr) {
                Some(li) => li,
                None => {
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
