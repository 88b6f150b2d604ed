//! The static file handler: URI -> file mapping, the containment check,
//! index files, directory listings, validators, conditional GET and ranges.
//!
//! The URI path given here is already normalised ([`crate::http::path`]): no
//! dot-segments, no NUL. The only way out of the mapped directory is then a
//! symlink, so every file is canonicalised and must stay under the
//! canonicalised root (else 403). Index names are single file names (the
//! configuration refuses others, and they are skipped here too).
//!
//! A file with one of the location's `cgi` extensions is a script: it is
//! never sent as a file, whether it is asked for, found as an index file or
//! an error page, or reached through a symlink (403).

use std::fs::{self, File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use config::{Location, Mapping};

use super::cache::{self, FileCache, Validators};
use super::listing;
use crate::error::HttpError;
use crate::http::conditional;
use crate::http::mime;
use crate::http::path::percent_encode_path;
use crate::http::range::{self, RangeAnswer};
use crate::http::response::{Reply, ReplyBody};

/// The request fields the static handler looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileRequest<'a> {
    /// The normalised, decoded path (starts with `/`).
    pub path: &'a str,
    /// The raw query string, without `?`, kept on redirects.
    pub query: Option<&'a [u8]>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a [u8]>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a [u8]>,
    /// `Range`.
    pub range: Option<&'a [u8]>,
    /// `If-Range`.
    pub if_range: Option<&'a [u8]>,
}

/// The part of a URI path that names a file under the location's mapping
/// base (nginx semantics).
///
/// `root`: the whole URI path. `alias`: the URI path with the location prefix
/// removed (`location /docs { alias /srv/manual; }`: `/docs/a/b` -> `a/b`).
pub fn relative_path<'p>(location: &Location, path: &'p str) -> &'p str {
    let rest = match &location.mapping {
        Mapping::Root(_) => path,
        Mapping::Alias(_) => path.get(location.prefix.len()..).unwrap_or(""),
    };
    rest.trim_start_matches('/')
}

/// The directory a location's files must stay under.
pub fn mapping_base(location: &Location) -> &Path {
    match &location.mapping {
        Mapping::Root(root) => root,
        Mapping::Alias(dir) => dir,
    }
}

/// Where `rel` (normalised, relative) under the canonical `base` really is,
/// or why not.
///
/// Each component is `lstat`ed on the way down (one call for a file at the
/// top of the root, the cost of the `stat` a server needs anyway). Only when
/// a component is a symlink is the whole path canonicalised, and it must then
/// stay under `base`, else 403.
fn resolve(
    base: Option<&Path>,
    rel: &str,
    cache: &FileCache,
) -> Result<(PathBuf, Metadata), HttpError> {
    let Some(base) = base else { return Err(HttpError::plain(404)) };
    let mut path = PathBuf::with_capacity(base.as_os_str().len() + rel.len() + 2);
    path.push(base);
    let mut meta = None;
    let mut components = rel.split('/').filter(|c| !c.is_empty());
    while let Some(component) = components.next() {
        path.push(component);
        let m = cache.lstat(&path).map_err(|e| HttpError::io("lstat()", &path, e))?;
        if m.file_type().is_symlink() {
            path.extend(components);
            let real =
                fs::canonicalize(&path).map_err(|e| HttpError::io("realpath()", &path, e))?;
            if !real.starts_with(base) {
                let why = format!(
                    "\"{}\" leads through a symlink to \"{}\", outside \"{}\"",
                    path.display(),
                    real.display(),
                    base.display()
                );
                return Err(HttpError::refused(403, why));
            }
            let m = fs::metadata(&real).map_err(|e| HttpError::io("stat()", &real, e))?;
            return Ok((real, m));
        }
        meta = Some(m);
    }
    let meta = match meta {
        Some(m) => m,
        None => fs::metadata(&path).map_err(|e| HttpError::io("stat()", &path, e))?,
    };
    Ok((path, meta))
}

/// Serves `req` from `location` (GET or HEAD). `base` is the canonical
/// mapping base (`None` when it does not exist); small files come through
/// `cache`.
///
/// # Errors
/// The status and cause for the caller's error page and error log.
pub fn serve(
    req: &FileRequest<'_>,
    location: &Location,
    base: Option<&Path>,
    cache: &FileCache,
) -> Result<Reply, HttpError> {
    let rel = relative_path(location, req.path);
    let (real, meta) = resolve(base, rel, cache)?;
    if meta.is_dir() {
        if !req.path.ends_with('/') {
            // nginx: a directory without its trailing slash -> 301 to it.
            let mut target = percent_encode_path(req.path);
            target.push('/');
            if let Some(q) = req.query {
                target.push('?');
                target.push_str(&String::from_utf8_lossy(q));
            }
            return Ok(Reply::redirect(301, target));
        }
        for name in &location.index {
            if !is_file_name(name) || location.is_cgi_name(name) {
                continue;
            }
            let index = format!("{rel}/{name}");
            if let Ok((file, meta)) = resolve(base, &index, cache) {
                if meta.is_file() {
                    return serve_file(req, &file, &meta, name, location, cache);
                }
            }
        }
        if location.autoindex {
            return listing::listing(req.path, &real);
        }
        let why = format!("directory index of \"{}/\" is forbidden", real.display());
        return Err(HttpError::refused(403, why));
    }
    if req.path.ends_with('/') {
        // "/file.html/": a file is not a directory (ENOTDIR, 404 in nginx).
        return Err(HttpError::plain(404));
    }
    if !meta.is_file() {
        let why = format!("\"{}\" is not a regular file", real.display());
        return Err(HttpError::refused(403, why));
    }
    serve_file(req, &real, &meta, req.path, location, cache)
}

/// Whether `name` names a file in a folder: not empty, no `/`, not `.` or `..`.
fn is_file_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && name != "." && name != ".."
}

fn serve_file(
    req: &FileRequest<'_>,
    real: &Path,
    meta: &Metadata,
    name: &str,
    location: &Location,
    cache: &FileCache,
) -> Result<Reply, HttpError> {
    if !meta.is_file() {
        let why = format!("\"{}\" is not a regular file", real.display());
        return Err(HttpError::refused(403, why));
    }
    let real_name = || real.file_name().map(|n| n.to_string_lossy());
    if location.is_cgi_name(name) || real_name().is_some_and(|n| location.is_cgi_name(&n)) {
        // A script's source is never sent.
        let why = format!("\"{}\" is a CGI script: never sent as a file", real.display());
        return Err(HttpError::refused(403, why));
    }
    let size = meta.len();
    // A cached small file comes with its validators already formatted.
    let hit = if size <= cache::MAX_FILE_BYTES { cache.get(real, meta) } else { None };
    let (cached, validators) = match hit {
        Some(h) => (Some(h.data), h.validators),
        None => (None, Rc::new(Validators::of(meta))),
    };
    let (mtime_secs, etag) = (validators.mtime_secs, validators.etag.as_str());

    // RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it.
    let not_modified = match (req.if_none_match, req.if_modified_since) {
        (Some(inm), _) => conditional::none_match(inm, etag),
        (None, Some(ims)) => parse_date_secs(ims)
            .is_some_and(|since| conditional::not_modified_since(mtime_secs, since)),
        (None, None) => false,
    };
    if not_modified {
        let mut reply = Reply::new(304);
        reply.validators = Some(validators);
        return Ok(reply);
    }

    let mut answer = match req.range {
        Some(r) => range::evaluate(r, size),
        None => RangeAnswer::Whole,
    };
    if let Some(ir) = req.if_range {
        if !conditional::if_range_matches(ir, etag, mtime_secs, parse_date_secs(ir)) {
            answer = RangeAnswer::Whole;
        }
    }
    let (mut reply, start, len) = match answer {
        RangeAnswer::Whole => (Reply::new(200), 0, size),
        RangeAnswer::Partial { start, end } => {
            let r =
                Reply::new(206).with_header("Content-Range", format!("bytes {start}-{end}/{size}"));
            (r, start, end - start + 1)
        }
        RangeAnswer::Unsatisfiable => {
            let mut r = Reply::error(416);
            r.headers.push(("Content-Range", format!("bytes */{size}")));
            return Ok(r);
        }
    };
    reply.body = if size <= cache::MAX_FILE_BYTES {
        // Small: from memory (cached while its stamps hold), sent with the head.
        let data = match cached {
            Some(data) => data,
            None => cache.contents(real, meta).map_err(|e| HttpError::io("read()", real, e))?,
        };
        let (start, len) = (usize::try_from(start), usize::try_from(len));
        let (Ok(start), Ok(len)) = (start, len) else {
            return Err(HttpError::refused(500, "range does not fit in memory"));
        };
        ReplyBody::Shared { data, start, len }
    } else {
        // Large: sendfile from the open file. A file that shrinks meanwhile
        // ends the connection early (sendfile reports 0), as in nginx.
        let file = File::open(real).map_err(|e| HttpError::io("open()", real, e))?;
        let opened = file.metadata().map_err(|e| HttpError::io("fstat()", real, e))?;
        if !same_file(&opened, meta) {
            // Replaced (by another file or a symlink) since it was checked:
            // what was opened is not what passed the containment check.
            let why = format!("\"{}\" was replaced while it was opened", real.display());
            return Err(HttpError::refused(404, why));
        }
        ReplyBody::File { file, start, len }
    };
    reply.content_type = Some(mime::for_location(location, name));
    reply.validators = Some(validators);
    Ok(reply)
}

/// Whether two metadata describe the same file (device and inode).
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

fn parse_date_secs(value: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(value).ok()?;
    let t = platform::httpdate::parse_http_date(s.trim())?;
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch tree: `root/{a.txt, sub/b.txt, in -> sub/b.txt, out -> ../secret,
    /// outdir -> ..}` and `secret` beside `root`.
    fn tree(tag: &str) -> (PathBuf, PathBuf) {
        let top = std::env::temp_dir().join(format!("berth-files-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&top);
        let root = top.join("root");
        fs::create_dir_all(root.join("sub")).unwrap_or_else(|e| panic!("mkdir: {e}"));
        for (p, body) in
            [(root.join("a.txt"), "a"), (root.join("sub/b.txt"), "b"), (top.join("secret"), "s")]
        {
            fs::write(p, body).unwrap_or_else(|e| panic!("write: {e}"));
        }
        let links = [
            ("sub/b.txt", root.join("in")),
            ("../secret", root.join("out")),
            ("..", root.join("outdir")),
        ];
        for (target, link) in links {
            std::os::unix::fs::symlink(target, link).unwrap_or_else(|e| panic!("symlink: {e}"));
        }
        let root = fs::canonicalize(root).unwrap_or_else(|e| panic!("canonicalize: {e}"));
        (top, root)
    }

    #[test]
    fn resolve_table() {
        let (top, root) = tree("resolve");
        let cases: &[(&str, Result<&str, u16>)] = &[
            ("", Ok("")),
            ("a.txt", Ok("a.txt")),
            ("sub", Ok("sub")),
            ("sub/b.txt", Ok("sub/b.txt")),
            ("in", Ok("sub/b.txt")),
            ("missing", Err(404)),
            ("sub/missing", Err(404)),
            ("a.txt/x", Err(404)),
            ("a.txt/", Ok("a.txt")),
            ("out", Err(403)),
            ("outdir/secret", Err(403)),
            ("outdir/root/a.txt", Ok("a.txt")),
        ];
        for (rel, want) in cases {
            let got = resolve(Some(&root), rel, &FileCache::default())
                .map(|(p, _)| p)
                .map_err(|e| e.status);
            let want = want.map(|w| if w.is_empty() { root.clone() } else { root.join(w) });
            assert_eq!(got, want, "{rel}");
        }
        let got = resolve(None, "a.txt", &FileCache::default());
        assert_eq!(got.map(|(p, _)| p).map_err(|e| e.status), Err(404));
        let _ = fs::remove_dir_all(top);
    }

    /// The first location of a one-server configuration `src` (no file checks).
    fn location(src: &str) -> Location {
        let cfg =
            config::parse_unchecked(src, Path::new("/b.conf")).unwrap_or_else(|e| panic!("{e}"));
        cfg.servers[0].locations[0].clone()
    }

    #[test]
    fn scripts_are_never_sent_as_files() {
        let (top, root) = tree("scripts");
        for (name, body) in [("t.py", "SOURCE"), ("sub/index.py", "SOURCE"), ("z.sh", "SOURCE")] {
            fs::write(root.join(name), body).unwrap_or_else(|e| panic!("write: {e}"));
        }
        std::os::unix::fs::symlink("t.py", root.join("t.txt")).unwrap_or_else(|e| panic!("{e}"));
        let src = format!(
            "server {{ root {}; location / {{ cgi .py; cgi .SH; index index.py index.html; }} }}",
            root.display()
        );
        let loc = location(&src);
        let cache = FileCache::default();
        let cases: &[(&str, Result<u16, u16>)] = &[
            ("/t.py", Err(403)),
            ("/z.sh", Err(403)),
            // a symlink whose target is a script
            ("/t.txt", Err(403)),
            // index.py is skipped; sub/ has no other index and no listing
            ("/sub/", Err(403)),
            ("/a.txt", Ok(200)),
            ("/missing.py", Err(404)),
        ];
        for (path, want) in cases {
            let req = FileRequest { path, ..FileRequest::default() };
            let got =
                serve(&req, &loc, Some(&root), &cache).map(|r| r.status).map_err(|e| e.status);
            assert_eq!(got, *want, "{path}");
        }
        let _ = fs::remove_dir_all(top);
    }

    #[test]
    fn index_names_that_leave_the_folder_are_skipped() {
        let (top, root) = tree("index");
        // Built directly: the configuration refuses such names.
        let mut loc = location("server { root /; }");
        loc.mapping = Mapping::Root(root.clone());
        loc.index = vec!["../secret".into(), "..".into(), "sub/b.txt".into()];
        let req = FileRequest { path: "/sub/", ..FileRequest::default() };
        let got = serve(&req, &loc, Some(&root), &FileCache::default())
            .map(|r| r.status)
            .map_err(|e| e.status);
        assert_eq!(got, Err(403));
        let _ = fs::remove_dir_all(top);
    }

    #[test]
    fn large_file_replaced_after_lstat_is_not_served() {
        let (top, root) = tree("replaced");
        let loc = location("server { root /; }");
        let big = root.join("big.bin");
        fs::write(&big, vec![b'x'; 40 * 1024]).unwrap_or_else(|e| panic!("write: {e}"));
        let (path, meta) = resolve(Some(&root), "big.bin", &FileCache::default())
            .unwrap_or_else(|s| panic!("{s}"));
        // Swapped for a symlink to a file outside the root after the check.
        fs::remove_file(&big).unwrap_or_else(|e| panic!("rm: {e}"));
        std::os::unix::fs::symlink(top.join("secret"), &big).unwrap_or_else(|e| panic!("ln: {e}"));
        let got = serve_file(
            &FileRequest::default(),
            &path,
            &meta,
            "big.bin",
            &loc,
            &FileCache::default(),
        );
        assert_eq!(got.err().map(|e| e.status), Some(404));
        let _ = fs::remove_dir_all(top);
    }
}
