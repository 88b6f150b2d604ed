//! Directory listings (`autoindex on`): nginx's layout, names escaped for
//! HTML and for URLs.

use std::borrow::Cow;
use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::HttpError;
use crate::http::path::percent_encode_segment;
use crate::http::response::{html_escape, Reply, ReplyBody};

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

/// The listing of directory `dir` (canonical) for the request path `uri`.
///
/// # Errors
/// When the directory cannot be read (`opendir()`, with its errno).
pub fn listing(uri: &str, dir: &Path) -> Result<Reply, HttpError> {
    let rd = fs::read_dir(dir).map_err(|e| HttpError::io("opendir()", dir, e))?;
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
