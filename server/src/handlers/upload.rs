//! `POST` to an `upload_store` location: files stored on disk as they arrive.
//!
//! A `multipart/form-data` body is parsed as it arrives
//! ([`crate::http::multipart`], fed through [`BodySink::Handler`]); each file
//! part is written to its own temporary file in the store
//! ([`TempFileSink`]: `O_EXCL`, mode 0600, a dot name). Any other body is
//! spooled the same way and stored under the request path's last segment.
//!
//! Nothing appears under a real name until the whole body has arrived:
//! then each temporary file is hard-linked to its final name (`link()`
//! fails rather than replace an existing name, so nothing is ever
//! overwritten: a clash gets a suffix) and its temporary name removed. A
//! body that is cut off, over the size limit, malformed or refused drops
//! the temporary files ([`Handler::finish`] runs in every case). Memory per
//! upload is the parser's part-head buffer; data goes straight to disk.
//!
//! The answer is `201 Created` with `Location` (the first file's URL, when a
//! location of the same server serves the store) and the list of stored
//! files, as HTML or, when `Accept` asks for it, JSON.

use std::borrow::Cow;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::sink::{is_disk_full, TempFileSink};
use super::{BodySink, Cx, Handler};
use crate::error::{Cause, HttpError};
use crate::http::multipart::{Event, FeedError, Multipart};
use crate::http::path::percent_encode_path;
use crate::http::response::{html_escape, Reply, ReplyBody};

/// Longest stored file name in bytes, before a clash suffix (file systems
/// allow 255).
pub const MAX_NAME_BYTES: usize = 200;
/// Most files stored by one request: each waits in an open temporary file
/// until the body has ended.
pub const MAX_FILES: usize = 64;
/// Most clash suffixes tried (`a-1.txt` ... `a-999.txt`) before a random one.
const MAX_SUFFIX: u32 = 999;

/// The upload handler of one request.
#[derive(Debug)]
pub struct Upload {
    /// The store folder.
    store: PathBuf,
    /// The (server, location) the request was routed to.
    at: (usize, usize),
    /// How the body is read.
    body: Body,
    /// Answer in JSON rather than HTML.
    json: bool,
    /// The file part being written.
    current: Option<Part>,
    /// File parts received whole, waiting for the body to end.
    complete: Vec<Part>,
    /// Final names and sizes, once linked.
    stored: Vec<(String, u64)>,
}

#[derive(Debug)]
enum Body {
    /// `multipart/form-data`, parsed as it arrives.
    Multipart(Multipart),
    /// Anything else: one file, named after the path's last segment.
    Raw(Option<String>),
}

/// One file in its temporary file.
#[derive(Debug)]
struct Part {
    sink: BodySink,
    /// The sanitised name, `None` when nothing was left of it.
    name: Option<String>,
    /// The client sent an empty `filename` (a file input left empty).
    unnamed: bool,
}

impl Upload {
    /// An upload into `store` for a request routed to `at`, whose path
    /// relative to the location is `rel`; `boundary` is the multipart
    /// boundary, if the body is multipart.
    pub fn new(
        store: PathBuf,
        at: (usize, usize),
        rel: &str,
        boundary: Option<&[u8]>,
        json: bool,
    ) -> Upload {
        let body = match boundary {
            Some(b) => Body::Multipart(Multipart::new(b)),
            None => Body::Raw(rel.rsplit('/').find(|s| !s.is_empty()).and_then(sanitize)),
        };
        Upload { store, at, body, json, current: None, complete: Vec::new(), stored: Vec::new() }
    }

    /// Links every complete part into place; on a failure, removes what
    /// this request had linked.
    fn link_all(&mut self) -> Result<(), HttpError> {
        for part in std::mem::take(&mut self.complete) {
            let BodySink::TempFile(temp) = part.sink else { continue };
            if part.unnamed && temp.is_empty() {
                // A file input left empty: browsers send it anyway.
                continue;
            }
            let name = match part.name {
                Some(n) => n,
                None => generated_name()?,
            };
            match link_unique(&self.store, temp.path(), &name) {
                Ok(name) => self.stored.push((name, temp.len())),
                Err(e) => {
                    for (name, _) in self.stored.drain(..) {
                        let _ = fs::remove_file(self.store.join(name));
                    }
                    return Err(e);
                }
            }
            // Dropping `temp` removes its temporary name.
        }
        Ok(())
    }
}

impl Handler for Upload {
    fn sink(&mut self, _cx: &mut Cx<'_>) -> Result<BodySink, HttpError> {
        match self.body {
            Body::Multipart(_) => Ok(BodySink::Handler),
            Body::Raw(_) => Ok(BodySink::TempFile(create_temp(&self.store)?)),
        }
    }

    fn body(&mut self, cx: &mut Cx<'_>, data: &[u8]) -> Result<usize, HttpError> {
        let Body::Multipart(parser) = &mut self.body else { return Ok(data.len()) };
        let (store, current, complete) = (&self.store, &mut self.current, &mut self.complete);
        let mut on = |e: Event<'_>| -> Result<(), HttpError> {
            match e {
                Event::Start(head) => {
                    // Fields that are not files are parsed and dropped.
                    if let Some(filename) = head.filename {
                        if complete.len() >= MAX_FILES {
                            let why = format!("more than {MAX_FILES} files in one upload");
                            return Err(HttpError::refused(413, why));
                        }
                        *current = Some(Part {
                            sink: BodySink::TempFile(create_temp(store)?),
                            name: sanitize(&filename),
                            unnamed: filename.is_empty(),
                        });
                    }
                }
                Event::Data(d) => {
                    if let Some(part) = current.as_mut() {
                        part.sink.write(cx, d)?;
                    }
                }
                Event::End => complete.extend(current.take()),
            }
            Ok(())
        };
        parser.feed(data, &mut on).map_err(|e| match e {
            FeedError::Malformed(m) => HttpError::refused(400, format!("upload refused: {m}")),
            FeedError::Sink(e) => e,
        })?;
        Ok(data.len())
    }

    fn body_end(&mut self, _cx: &mut Cx<'_>, sink: BodySink) -> Result<(), HttpError> {
        match &self.body {
            Body::Multipart(parser) => {
                parser
                    .finish()
                    .map_err(|m| HttpError::refused(400, format!("upload refused: {m}")))?;
                if self.complete.iter().all(|p| p.unnamed && sink_is_empty(&p.sink)) {
                    return Err(HttpError::refused(400, "upload refused: no file in the form"));
                }
            }
            Body::Raw(name) => {
                // No body at all (`Content-Length: 0`) stores an empty file.
                let sink = match sink {
                    BodySink::TempFile(t) => BodySink::TempFile(t),
                    _ => BodySink::TempFile(create_temp(&self.store)?),
                };
                self.complete.push(Part { sink, name: name.clone(), unnamed: false });
            }
        }
        self.link_all()
    }

    fn reply(&mut self, cx: &mut Cx<'_>) -> Result<Option<Reply>, HttpError> {
        let server = cx.site.config.servers.get(self.at.0);
        let dir = server.and_then(|s| s.url_for_dir(&self.store));
        let url = |name: &str| dir.as_ref().map(|d| percent_encode_path(&format!("{d}/{name}")));
        let mut reply = Reply::new(201);
        if let Some(first) = self.stored.first().and_then(|(name, _)| url(name)) {
            reply.headers.push(("Location", first));
        }
        let mut body = String::new();
        if self.json {
            body.push_str("{\"files\":[");
            for (i, (name, size)) in self.stored.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str("{\"name\":");
                json_string(&mut body, name);
                body.push_str(&format!(",\"size\":{size},\"url\":"));
                match url(name) {
                    Some(u) => json_string(&mut body, &u),
                    None => body.push_str("null"),
                }
                body.push('}');
            }
            body.push_str("]}\n");
            reply.content_type = Some(Cow::Borrowed("application/json"));
        } else {
            body.push_str(
                "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>201 Created</title></head>\n\
                 <body>\n<h1>Stored</h1>\n<ul>\n",
            );
            for (name, size) in &self.stored {
                let shown = html_escape(name);
                match url(name) {
                    Some(u) => body.push_str(&format!(
                        "<li><a href=\"{}\">{shown}</a> ({size} bytes)</li>\n",
                        html_escape(&u)
                    )),
                    None => body.push_str(&format!("<li>{shown} ({size} bytes)</li>\n")),
                }
            }
            body.push_str("</ul>\n</body>\n</html>\n");
            reply.content_type = Some(Cow::Borrowed("text/html"));
        }
        reply.body = ReplyBody::Bytes(Cow::Owned(body.into_bytes()));
        Ok(Some(reply))
    }

    fn finish(&mut self, _cx: &mut Cx<'_>) {
        // Dropping the sinks removes every temporary file not linked.
        self.current = None;
        self.complete.clear();
    }
}

fn sink_is_empty(sink: &BodySink) -> bool {
    match sink {
        BodySink::TempFile(t) => t.is_empty(),
        _ => true,
    }
}

/// A temporary file in the store.
fn create_temp(store: &Path) -> Result<TempFileSink, HttpError> {
    TempFileSink::create(store).map_err(store_error)
}

/// A store that cannot take a file is the server's fault (500), or a full
/// disk (507, RFC 4918 §11.5), never the client's 403 or 404.
fn store_error(mut e: HttpError) -> HttpError {
    e.status = match &e.cause {
        Cause::Io { err, .. } if is_disk_full(err) => 507,
        _ => 500,
    };
    e
}

/// A file name a client sent, made safe to store: its last path component
/// (after `/` or `\`), without control characters, leading dots or
/// surrounding spaces, at most [`MAX_NAME_BYTES`] bytes. `None` when
/// nothing is left (`""`, `..`, `/`).
pub fn sanitize(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = last.chars().filter(|c| !c.is_control()).collect();
    let trimmed = clean.trim().trim_start_matches('.').trim_start();
    let mut out = String::new();
    for c in trimmed.chars() {
        if out.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        out.push(c);
    }
    let out = out.trim_end();
    (!out.is_empty()).then(|| out.to_string())
}

/// `name` with `-suffix` before its extensions: `a.tar.gz` -> `a-1.tar.gz`.
fn with_suffix(name: &str, suffix: &str) -> String {
    match name.find('.') {
        Some(i) => {
            format!("{}-{suffix}{}", name.get(..i).unwrap_or(name), name.get(i..).unwrap_or(""))
        }
        None => format!("{name}-{suffix}"),
    }
}

/// `upload-<random>` for a file sent without a usable name.
fn generated_name() -> Result<String, HttpError> {
    let mut id = [0u8; 8];
    platform::random::random_bytes(&mut id)
        .map_err(|e| HttpError::io("getrandom()", Path::new("/dev/urandom"), e))?;
    Ok(format!("upload-{:016x}", u64::from_le_bytes(id)))
}

/// Hard-links `temp` to `name` in `store`, or to the first free suffixed
/// name; returns the name used. `link()` never replaces an existing name.
fn link_unique(store: &Path, temp: &Path, name: &str) -> Result<String, HttpError> {
    for n in 0..=MAX_SUFFIX {
        let candidate = if n == 0 { name.to_string() } else { with_suffix(name, &n.to_string()) };
        let target = store.join(&candidate);
        match fs::hard_link(temp, &target) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(store_error(HttpError::io("link()", &target, e))),
        }
    }
    let candidate = with_suffix(name, &generated_name()?);
    let target = store.join(&candidate);
    fs::hard_link(temp, &target).map_err(|e| store_error(HttpError::io("link()", &target, e)))?;
    Ok(candidate)
}

/// Appends `s` as a JSON string (RFC 8259 §7).
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_table() {
        let long = "é".repeat(150);
        let cases: &[(&str, Option<&str>)] = &[
            ("report.pdf", Some("report.pdf")),
            ("../../etc/passwd", Some("passwd")),
            ("/abs/path.txt", Some("path.txt")),
            ("C:\\Users\\me\\notes.txt", Some("notes.txt")),
            ("a\\..\\b", Some("b")),
            ("..", None),
            ("../", None),
            ("", None),
            ("/", None),
            (".hidden", Some("hidden")),
            ("...x", Some("x")),
            ("a\u{0}b\r\nc\u{7f}.txt", Some("abc.txt")),
            ("say \"hi\".txt", Some("say \"hi\".txt")),
            ("  spaced  ", Some("spaced")),
            ("ünïcødé ☃.txt", Some("ünïcødé ☃.txt")),
            ("a..b", Some("a..b")),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize(raw).as_deref(), *want, "{raw:?}");
        }
        let cut = sanitize(&long).unwrap_or_default();
        assert_eq!(cut.len(), MAX_NAME_BYTES, "cut on a character boundary");
        assert!(cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn suffix_and_link_never_overwrite() {
        assert_eq!(with_suffix("a.tar.gz", "1"), "a-1.tar.gz");
        assert_eq!(with_suffix("noext", "2"), "noext-2");
        let dir = std::env::temp_dir().join(format!("berth-upload-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        fs::write(dir.join("a.txt"), "old").unwrap_or_else(|e| panic!("{e}"));
        let temp = dir.join(".t");
        fs::write(&temp, "new").unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<String> = (0..3)
            .map(|_| link_unique(&dir, &temp, "a.txt").unwrap_or_else(|e| panic!("{e}")))
            .collect();
        assert_eq!(names, ["a-1.txt", "a-2.txt", "a-3.txt"]);
        assert_eq!(fs::read_to_string(dir.join("a.txt")).ok().as_deref(), Some("old"));
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        json_string(&mut s, "a\"b\\c\u{1}é");
        assert_eq!(s, "\"a\\\"b\\\\c\\u0001é\"");
    }
}
