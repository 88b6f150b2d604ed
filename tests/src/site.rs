//! The standard test site most black-box tests run against: one server on one
//! port with a small docroot covering files, index files, listings, symlinks,
//! a redirect and a location that allows POST.

use crate::server::Berth;
use crate::tempdir::TempDir;

/// Body of `/index.html`.
pub const INDEX_HTML: &str = "<!doctype html><title>home</title><p>home page</p>\n";
/// Body of `/hello.txt`.
pub const HELLO_TXT: &str = "hello, world\n";
/// Body of `/sub/index.html`.
pub const SUB_INDEX_HTML: &str = "<!doctype html><p>sub index</p>\n";
/// Body of `<dir>/secret.txt`, outside the docroot; must never be served.
pub const SECRET: &str = "TOP-SECRET-OUTSIDE-ROOT\n";
/// Body of the custom 404 page `/err/404.html`.
pub const CUSTOM_404: &str = "<!doctype html><p>custom not found page</p>\n";
/// `client_max_body_size` of the standard site, in bytes.
pub const MAX_BODY: usize = 10;
/// Size of `/big.bin`.
pub const BIG_LEN: usize = 256 * 1024;

/// The standard config template (`{dir}`, `{port0}` filled by [`Berth::start`]).
pub const CONFIG: &str = "\
client_header_timeout 5s;
client_body_timeout 5s;
keepalive_timeout 5s;
send_timeout 5s;

server {
    listen 127.0.0.1:{port0};
    server_name localhost;
    root {dir}/www;
    index index.html;
    client_max_body_size 10;

    location / {
        methods GET HEAD;
    }
    location /post {
        methods GET HEAD POST;
    }
    location /list {
        autoindex on;
    }
    location /old {
        return 301 /new;
    }
}
";

/// The contents of `/big.bin`: a pattern that makes misplaced bytes visible.
pub fn big_body() -> Vec<u8> {
    (0..BIG_LEN).map(|i| (i % 251) as u8).collect()
}

/// Fills `dir` with the standard docroot `www/` and the secret beside it.
pub fn standard_files(dir: &TempDir) {
    dir.file("www/index.html", INDEX_HTML)
        .file("www/hello.txt", HELLO_TXT)
        .file("www/with space.txt", "spaced\n")
        .file("www/style.css", "body { color: black; }\n")
        .file("www/app.js", "console.log(1);\n")
        .file("www/data.json", "{\"a\": 1}\n")
        .file("www/image.png", b"\x89PNG\r\n\x1a\n0000")
        .file("www/page.htm", "<p>htm</p>\n")
        .file("www/blob.zzqx", "unknown type\n")
        .file("www/big.bin", big_body())
        .file("www/sub/index.html", SUB_INDEX_HTML)
        .file("www/sub/other.txt", "other\n")
        .file("www/noindex/a.txt", "a\n")
        .file("www/list/a.txt", "a\n")
        .file("www/list/b.txt", "bb\n")
        .file("www/list/a<b>&.txt", "escaped\n")
        .file("www/list/c d%.txt", "spaced\n")
        .dir("www/list/zdir")
        .file("www/post/form.txt", "form\n")
        .file("www/err/404.html", CUSTOM_404)
        .file("secret.txt", SECRET)
        .dir("outside/inner")
        .file("outside/inner/secret.txt", SECRET);
    #[cfg(unix)]
    {
        dir.symlink("www/link-in.txt", "hello.txt")
            .symlink("www/link-out.txt", dir.join("secret.txt"))
            .symlink("www/linkdir-out", dir.join("outside"));
    }
}

/// Starts the standard site on `backend`.
#[track_caller]
pub fn standard(backend: &str) -> Berth {
    Berth::start(backend, CONFIG, standard_files)
}
