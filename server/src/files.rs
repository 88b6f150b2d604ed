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

use std::borrow::Cow;
use std::fs::{self, File, Metadata};
use std::io::{self, ErrorKind};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use config::{Location, Mapping};

use crate::cache::{self, FileCache, Validators};
use crate::http::conditional;
use crate::http::mime;
use crate::http::path::{percent_encode_path, percent_encode_segment};
use crate::http::range::{self, RangeAnswer};
use crate::http::response::{html_escape, Reply, ReplyBody};

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
/// or the status to answer.
///
/// Each component is `lstat`ed on the way down (one call for a file at the
/// top of the root, the cost of the `stat` a server needs anyway). Only when
/// a component is a symlink is the whole path canonicalised, and it must then
/// stay under `base`, else 403.
fn resolve(base: Option<&Path>, rel: &str) -> Result<(PathBuf, Metadata), u16> {
    let Some(base) = base else { return Err(404) };
    let mut path = base.to_path_buf();
    let mut meta = None;
    let mut components = rel.split('/').filter(|c| !c.is_empty());
    while let Some(component) = components.next() {
        path.push(component);
        let m = fs::symlink_metadata(&path).map_err(|e| io_status(&e))?;
        if m.file_type().is_symlink() {
            path.extend(components);
            let real = fs::canonicalize(&path).map_err(|e| io_status(&e))?;
            if !real.starts_with(base) {
                // A symlink leads outside the mapped root.
                return Err(403);
            }
            let m = fs::metadata(&real).map_err(|e| io_status(&e))?;
            return Ok((real, m));
        }
        meta = Some(m);
    }
    let meta = match meta {
        Some(m) => m,
        None => fs::metadata(&path).map_err(|e| io_status(&e))?,
    };
    Ok((path, meta))
}

const ENOTDIR: i32 = 20;

/// The status for a failed file system call, as nginx maps errno.
pub fn io_status(e: &io::Error) -> u16 {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::InvalidInput => 404,
        ErrorKind::PermissionDenied => 403,
        // ENOTDIR ("/file.html/x") is 20 on Linux, macOS and the BSDs; nginx says 404.
        _ if e.raw_os_error() == Some(ENOTDIR) => 404,
        _ => 500,
    }
}

/// Serves `req` from `location` (GET or HEAD). `base` is the canonical
/// mapping base (`None` when it does not exist); small files come through
/// `cache`. Returns the reply or the
/// error status for the caller's error page logic.
pub fn serve(
    req: &FileRequest<'_>,
    location: &Location,
    base: Option<&Path>,
    cache: &FileCache,
) -> Result<Reply, u16> {
    let rel = relative_path(location, req.path);
    let (real, meta) = resolve(base, rel)?;
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
            if let Ok((file, meta)) = resolve(base, &index) {
                if meta.is_file() {
                    return serve_file(req, &file, &meta, name, location, cache);
                }
            }
        }
        if location.autoindex {
            return listing(req.path, &real);
        }
        return Err(403);
    }
    if req.path.ends_with('/') {
        // "/file.html/": a file is not a directory (ENOTDIR, 404 in nginx).
        return Err(404);
    }
    if !meta.is_file() {
        return Err(403);
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
) -> Result<Reply, u16> {
    if !meta.is_file() {
        return Err(403);
    }
    let real_name = real.file_name().map(|n| n.to_string_lossy());
    if location.is_cgi_name(name) || real_name.is_some_and(|n| location.is_cgi_name(&n)) {
        // A script's source is never sent.
        return Err(403);
    }
    let size = meta.len();
    // A cached small file comes with its validators already formatted.
    let hit = if size <= cache::MAX_FILE_BYTES { cache.get(real, meta) } else { None };
    let (cached, validators) = match hit {
        Some(h) => (Some(h.data), h.validators),
        None => (None, Validators::of(meta)),
    };
    let Validators { mtime_secs, etag, last_modified } = validators;

    // RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it.
    let not_modified = match (req.if_none_match, req.if_modified_since) {
        (Some(inm), _) => conditional::none_match(inm, &etag),
        (None, Some(ims)) => parse_date_secs(ims)
            .is_some_and(|since| conditional::not_modified_since(mtime_secs, since)),
        (None, None) => false,
    };
    if not_modified {
        return Ok(Reply::new(304)
            .with_header("Last-Modified", last_modified)
            .with_header("ETag", etag));
    }

    let mut answer = match req.range {
        Some(r) => range::evaluate(r, size),
        None => RangeAnswer::Whole,
    };
    if let Some(ir) = req.if_range {
        if !conditional::if_range_matches(ir, &etag, mtime_secs, parse_date_secs(ir)) {
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
            None => cache.contents(real, meta).map_err(|e| io_status(&e))?,
        };
        let (start, len) = (usize::try_from(start), usize::try_from(len));
        let (Ok(start), Ok(len)) = (start, len) else { return Err(500) };
        ReplyBody::Shared { data, start, len }
    } else {
        // Large: sendfile from the open file. A file that shrinks meanwhile
        // ends the connection early (sendfile reports 0), as in nginx.
        let file = File::open(real).map_err(|e| io_status(&e))?;
        let opened = file.metadata().map_err(|e| io_status(&e))?;
        if !same_file(&opened, meta) {
            // Replaced (by another file or a symlink) since it was checked:
            // what was opened is not what passed the containment check.
            return Err(404);
        }
        ReplyBody::File { file, start, len }
    };
    reply.content_type = Some(mime::for_location(location, name));
    reply.headers.push(("Last-Modified", last_modified));
    reply.headers.push(("ETag", etag));
    reply.headers.push(("Accept-Ranges", "bytes".to_string()));
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

/// One directory entry in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The file name.
    pub name: String,
    /// Whether it is a directory (listed with a trailing `/`).
    pub is_dir: bool,
    /// Size in bytes (files only).
    pub size: u64,
    /// Modification time.
    pub mtime: SystemTime,
}

fn listing(uri: &str, dir: &Path) -> Result<Reply, u16> {
    let rd = fs::read_dir(dir).map_err(|e| io_status(&e))?;
    let mut entries = Vec::new();
    for entry in rd {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // nginx's autoindex hides dot files too
        }
        // Follow symlinks for the type and size; skip dangling ones.
        let Ok(meta) = fs::metadata(entry.path()) else { continue };
        entries.push(ListEntry {
            name,
            is_dir: meta.is_dir(),
            size: meta.len(),
            mtime: meta.modified().unwrap_or(UNIX_EPOCH),
        });
    }
    let html = render_listing(uri, &mut entries);
    let mut r = Reply::new(200);
    r.content_type = Some(Cow::Borrowed("text/html"));
    r.body = ReplyBody::Bytes(Cow::Owned(html.into_bytes()));
    Ok(r)
}

/// The HTML of a directory listing (nginx's layout): directories first, then
/// files, each group sorted by name; names escaped for HTML and URLs.
pub fn render_listing(uri: &str, entries: &mut [ListEntry]) -> String {
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    let title = html_escape(uri);
    let mut html = format!(
        "<html>\r\n<head><title>Index of {title}</title></head>\r\n<body>\r\n<h1>Index of {title}</h1><hr><pre><a href=\"../\">../</a>\r\n"
    );
    for e in entries.iter() {
        let slash = if e.is_dir { "/" } else { "" };
        // Strict escaping: a name like `javascript:alert(1)` must stay a
        // relative link (nginx writes `javascript%3Aalert%281%29`).
        let href = percent_encode_segment(e.name.as_bytes());
        let shown = html_escape(&e.name);
        let width = e.name.chars().count() + slash.len();
        let pad = " ".repeat(51usize.saturating_sub(width).max(1));
        let date = listing_date(e.mtime);
        let size = if e.is_dir { "-".to_string() } else { e.size.to_string() };
        html.push_str(&format!(
            "<a href=\"{href}{slash}\">{shown}{slash}</a>{pad}{date} {size:>19}\r\n"
        ));
    }
    html.push_str("</pre><hr></body>\r\n</html>\r\n");
    html
}

/// `06-Nov-1994 08:49` from the IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`.
fn listing_date(t: SystemTime) -> String {
    let d = platform::httpdate::fmt_http_date(t);
    match (d.get(5..7), d.get(8..11), d.get(12..16), d.get(17..22)) {
        (Some(day), Some(mon), Some(year), Some(hm)) => format!("{day}-{mon}-{year} {hm}"),
        _ => d,
    }
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
            let got = resolve(Some(&root), rel).map(|(p, _)| p);
            let want = want.map(|w| if w.is_empty() { root.clone() } else { root.join(w) });
            assert_eq!(got, want, "{rel}");
        }
        assert_eq!(resolve(None, "a.txt").map(|(p, _)| p), Err(404));
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
            let got = serve(&req, &loc, Some(&root), &cache).map(|r| r.status);
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
        let got = serve(&req, &loc, Some(&root), &FileCache::default()).map(|r| r.status);
        assert_eq!(got, Err(403));
        let _ = fs::remove_dir_all(top);
    }

    #[test]
    fn large_file_replaced_after_lstat_is_not_served() {
        let (top, root) = tree("replaced");
        let loc = location("server { root /; }");
        let big = root.join("big.bin");
        fs::write(&big, vec![b'x'; 40 * 1024]).unwrap_or_else(|e| panic!("write: {e}"));
        let (path, meta) = resolve(Some(&root), "big.bin").unwrap_or_else(|s| panic!("{s}"));
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
        assert_eq!(got.err(), Some(404));
        let _ = fs::remove_dir_all(top);
    }

    #[test]
    fn listing_escapes_and_sorts() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        let mut entries = vec![
            ListEntry { name: "b.txt".into(), is_dir: false, size: 12, mtime: t },
            ListEntry { name: "<x>&\"".into(), is_dir: false, size: 1, mtime: t },
            ListEntry { name: "sub".into(), is_dir: true, size: 4096, mtime: t },
            ListEntry { name: "a.txt".into(), is_dir: false, size: 3, mtime: t },
        ];
        let html = render_listing("/d<ir>/", &mut entries);
        assert!(html.contains("<title>Index of /d&lt;ir&gt;/</title>"), "{html}");
        let sub = html.find("href=\"sub/\"").unwrap_or(usize::MAX);
        let lt = html.find("href=\"%3Cx%3E%26%22\"").unwrap_or(usize::MAX);
        let a = html.find("href=\"a.txt\"").unwrap_or(usize::MAX);
        let b = html.find("href=\"b.txt\"").unwrap_or(usize::MAX);
        assert!(sub < lt && lt < a && a < b, "{html}");
        assert!(html.contains(">&lt;x&gt;&amp;&quot;</a>"), "{html}");
        assert!(html.contains("06-Nov-1994 08:49"), "{html}");
        assert!(!html.contains("<x>"), "{html}");
    }

    #[test]
    fn listing_href_of_scheme_like_name_is_relative() {
        let t = UNIX_EPOCH;
        let mut entries = vec![ListEntry {
            name: "javascript:alert(1)".into(),
            is_dir: false,
            size: 1,
            mtime: t,
        }];
        let html = render_listing("/d/", &mut entries);
        assert!(html.contains("<a href=\"javascript%3Aalert%281%29\">"), "{html}");
        assert!(html.contains(">javascript:alert(1)</a>"), "{html}");
        assert!(!html.contains("href=\"javascript:"), "{html}");
    }
}
