//! The static file handler: URI -> file mapping, the containment check,
//! index files, directory listings, validators, conditional GET and ranges.
//!
//! The URI path given here is already normalised ([`crate::http::path`]): no
//! dot-segments, no NUL. The only way out of the mapped directory is then a
//! symlink, so every file is canonicalised and must stay under the
//! canonicalised root (else 403).

use std::borrow::Cow;
use std::fs::{self, File, Metadata};
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use config::{Location, Mapping};

use crate::http::conditional;
use crate::http::mime;
use crate::http::path::percent_encode_path;
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

/// The file a URI path maps to under a location (nginx semantics).
///
/// `root`: the root plus the full URI path. `alias`: the location prefix is
/// replaced by the alias directory.
pub fn map_path(location: &Location, path: &str) -> PathBuf {
    match &location.mapping {
        Mapping::Root(root) => join(root, path),
        Mapping::Alias(dir) => {
            let rest = path.get(location.prefix.len()..).unwrap_or("");
            join(dir, rest)
        }
    }
}

/// The directory a location's files must stay under.
pub fn mapping_base(location: &Location) -> &Path {
    match &location.mapping {
        Mapping::Root(root) => root,
        Mapping::Alias(dir) => dir,
    }
}

fn join(base: &Path, rest: &str) -> PathBuf {
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rest)
    }
}

/// Where a mapped path really is, or the status to answer.
fn resolve(file: &Path, base: Option<&Path>) -> Result<(PathBuf, Metadata), u16> {
    let Some(base) = base else { return Err(404) };
    let real = fs::canonicalize(file).map_err(|e| io_status(&e))?;
    if !real.starts_with(base) {
        // A symlink (or a symlinked parent) leads outside the mapped root.
        return Err(403);
    }
    let meta = fs::metadata(&real).map_err(|e| io_status(&e))?;
    Ok((real, meta))
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
/// mapping base (`None` when it does not exist). Returns the reply or the
/// error status for the caller's error page logic.
pub fn serve(
    req: &FileRequest<'_>,
    location: &Location,
    base: Option<&Path>,
) -> Result<Reply, u16> {
    let mapped = map_path(location, req.path);
    let (real, meta) = resolve(&mapped, base)?;
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
            if let Ok((file, meta)) = resolve(&real.join(name), base) {
                if meta.is_file() {
                    return serve_file(req, &file, &meta, name);
                }
            }
        }
        if location.autoindex {
            return listing(req.path, &real);
        }
        return Err(403);
    }
    if !meta.is_file() {
        return Err(403);
    }
    serve_file(req, &real, &meta, req.path)
}

fn serve_file(
    req: &FileRequest<'_>,
    real: &Path,
    meta: &Metadata,
    name: &str,
) -> Result<Reply, u16> {
    let file = File::open(real).map_err(|e| io_status(&e))?;
    // The file may have changed between the checks and open: trust the fd.
    let meta = file.metadata().unwrap_or_else(|_| meta.clone());
    if !meta.is_file() {
        return Err(403);
    }
    let size = meta.len();
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok());
    let mtime_secs = mtime.map_or(0, |d| d.as_secs());
    let etag = conditional::etag(mtime_secs, size);
    let last_modified =
        platform::httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(mtime_secs));

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
    let content_type = mime::for_path(name);
    let mut reply = match answer {
        RangeAnswer::Whole => {
            let mut r = Reply::new(200);
            r.body = ReplyBody::File { file, start: 0, len: size };
            r
        }
        RangeAnswer::Partial { start, end } => {
            let mut r =
                Reply::new(206).with_header("Content-Range", format!("bytes {start}-{end}/{size}"));
            r.body = ReplyBody::File { file, start, len: end - start + 1 };
            r
        }
        RangeAnswer::Unsatisfiable => {
            let mut r = Reply::error(416);
            r.headers.push(("Content-Range", format!("bytes */{size}")));
            return Ok(r);
        }
    };
    reply.content_type = Some(content_type);
    reply.headers.push(("Last-Modified", last_modified));
    reply.headers.push(("ETag", etag));
    reply.headers.push(("Accept-Ranges", "bytes".to_string()));
    Ok(reply)
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
    r.content_type = Some("text/html");
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
        let href = html_escape(&percent_encode_path(&e.name));
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
        let lt = html.find("href=\"%3Cx%3E&amp;%22\"").unwrap_or(usize::MAX);
        let a = html.find("href=\"a.txt\"").unwrap_or(usize::MAX);
        let b = html.find("href=\"b.txt\"").unwrap_or(usize::MAX);
        assert!(sub < lt && lt < a && a < b, "{html}");
        assert!(html.contains(">&lt;x&gt;&amp;&quot;</a>"), "{html}");
        assert!(html.contains("06-Nov-1994 08:49"), "{html}");
        assert!(!html.contains("<x>"), "{html}");
    }
}
