//! MIME types by file extension: a location's `types` entries first, then
//! the built-in table of the common types (nginx's `mime.types`, abridged)
//! unless a `types` block replaced it, then the location's `default_type`
//! (`application/octet-stream` unless configured).

use std::borrow::Cow;

use config::Location;

/// The type sent for an extension the table does not know.
pub const DEFAULT_TYPE: &str = "application/octet-stream";

/// Extension (lowercase, no dot) -> Content-Type, sorted by extension.
const TABLE: &[(&str, &str)] = &[
    ("7z", "application/x-7z-compressed"),
    ("avif", "image/avif"),
    ("bin", "application/octet-stream"),
    ("bmp", "image/x-ms-bmp"),
    ("bz2", "application/x-bzip2"),
    ("css", "text/css"),
    ("csv", "text/csv"),
    ("doc", "application/msword"),
    ("epub", "application/epub+zip"),
    ("gif", "image/gif"),
    ("gz", "application/gzip"),
    ("htm", "text/html"),
    ("html", "text/html"),
    ("ico", "image/x-icon"),
    ("jar", "application/java-archive"),
    ("jpeg", "image/jpeg"),
    ("jpg", "image/jpeg"),
    ("js", "application/javascript"),
    ("json", "application/json"),
    ("m4a", "audio/x-m4a"),
    ("md", "text/markdown"),
    ("mjs", "application/javascript"),
    ("mov", "video/quicktime"),
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("mpeg", "video/mpeg"),
    ("ogg", "audio/ogg"),
    ("otf", "font/otf"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("rss", "application/rss+xml"),
    ("svg", "image/svg+xml"),
    ("svgz", "image/svg+xml"),
    ("tar", "application/x-tar"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("ttf", "font/ttf"),
    ("txt", "text/plain"),
    ("wasm", "application/wasm"),
    ("wav", "audio/wav"),
    ("webm", "video/webm"),
    ("webp", "image/webp"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("xhtml", "application/xhtml+xml"),
    ("xml", "text/xml"),
    ("xz", "application/x-xz"),
    ("zip", "application/zip"),
];

/// The Content-Type of a file called `name` (a path or a file name) in
/// `location`: by its extension (case-insensitive) in the location's `types`,
/// then in the built-in table where it applies, else `default_type`.
/// Borrowed unless the type comes from the configuration.
pub fn for_location(location: &Location, name: &str) -> Cow<'static, str> {
    if let Some(t) = location.custom_type(name) {
        return Cow::Owned(t.to_string());
    }
    if location.builtin_types {
        if let Some(t) = builtin(name) {
            return Cow::Borrowed(t);
        }
    }
    if location.default_type == DEFAULT_TYPE {
        Cow::Borrowed(DEFAULT_TYPE)
    } else {
        Cow::Owned(location.default_type.clone())
    }
}

/// The Content-Type for a file name by the built-in table alone, with
/// [`DEFAULT_TYPE`] for an extension it does not list.
pub fn for_path(name: &str) -> &'static str {
    builtin(name).unwrap_or(DEFAULT_TYPE)
}

/// The built-in table's type for a file name's extension (case-insensitive).
fn builtin(name: &str) -> Option<&'static str> {
    let ext = extension(name)?;
    if ext.len() > 8 {
        // Long "extensions" are never in the table.
        return None;
    }
    let mut lower = [0u8; 8];
    let lower = &mut lower[..ext.len()];
    lower.copy_from_slice(ext.as_bytes());
    lower.make_ascii_lowercase();
    TABLE
        .binary_search_by(|(e, _)| e.as_bytes().cmp(lower))
        .ok()
        .and_then(|i| TABLE.get(i))
        .map(|(_, t)| *t)
}

/// The extension of the last segment of `name`, without its dot; none for
/// a name without a dot or starting with its only one (".bashrc"). Byte
/// searches: this runs for every file served.
fn extension(name: &str) -> Option<&str> {
    let bytes = name.as_bytes();
    let file = bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let dot = bytes.get(file..)?.iter().rposition(|&b| b == b'.')?;
    if dot == 0 {
        return None;
    }
    name.get(file + dot + 1..)
}

#[cfg(test)]
mod tests {
    #[test]
    fn extensions() {
        let cases = [
            ("a.txt", Some("txt")),
            ("/x/y/a.tar.gz", Some("gz")),
            ("/x.d/noext", None),
            (".bashrc", None),
            ("/x/.bashrc", None),
            ("a.", Some("")),
            ("/caf\u{e9}.html", Some("html")),
            ("", None),
        ];
        for (name, want) in cases {
            assert_eq!(super::extension(name), want, "{name}");
        }
    }

    use super::*;

    #[test]
    fn table_is_sorted_and_lowercase() {
        for pair in TABLE.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (ext, _) in TABLE {
            assert!(ext.len() <= 8 && ext.bytes().all(|b| !b.is_ascii_uppercase()), "{ext}");
        }
    }

    #[test]
    fn lookups() {
        let cases = [
            ("index.html", "text/html"),
            ("/a/b/INDEX.HTM", "text/html"),
            ("style.css", "text/css"),
            ("app.min.js", "application/javascript"),
            ("photo.JPG", "image/jpeg"),
            ("x.png", "image/png"),
            ("data.json", "application/json"),
            ("readme.txt", "text/plain"),
            ("archive.tar.gz", "application/gzip"),
            ("noext", DEFAULT_TYPE),
            (".bashrc", DEFAULT_TYPE),
            ("weird.verylongext", DEFAULT_TYPE),
            ("dir.d/file", DEFAULT_TYPE),
            ("x.unknown", DEFAULT_TYPE),
            ("trailing.", DEFAULT_TYPE),
        ];
        for (name, want) in cases {
            assert_eq!(for_path(name), want, "{name}");
        }
    }

    /// A location as the configuration builds it from `src`.
    fn location(src: &str) -> Location {
        let cfg = config::parse_unchecked(src, std::path::Path::new("/b.conf"))
            .unwrap_or_else(|e| panic!("{e}"));
        cfg.servers[0].locations[0].clone()
    }

    #[test]
    fn configured_types_and_default_type() {
        let plain = location("server { root /; }");
        let added = location("types { text/x-rust rs; text/plain HTML; } server { root /; }");
        let replaced =
            location("server { root /; types { text/x-rust rs; } default_type text/plain; }");
        let emptied = location("server { root /; location /dl { types { } } }");
        let cases: &[(&Location, &str, &str)] = &[
            (&plain, "a.html", "text/html"),
            (&plain, "a.rs", DEFAULT_TYPE),
            (&added, "a.RS", "text/x-rust"),
            (&added, "a.html", "text/plain"),
            (&added, "a.css", "text/css"),
            (&replaced, "a.rs", "text/x-rust"),
            (&replaced, "a.css", "text/plain"),
            (&replaced, "noext", "text/plain"),
            (&emptied, "a.html", DEFAULT_TYPE),
        ];
        for (l, name, want) in cases {
            assert_eq!(for_location(l, name), *want, "{name} in {:?}", l.types);
        }
        assert!(matches!(for_location(&plain, "a.css"), Cow::Borrowed(_)));
        assert!(matches!(for_location(&plain, "a.zz"), Cow::Borrowed(_)));
    }
}
