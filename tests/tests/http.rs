//! Static files, index files, listings, redirects, error pages, ranges and
//! conditional requests, checked on the real binary for every backend.
#![forbid(unsafe_code)]

use tests::site::{self, HELLO_TXT, INDEX_HTML, SUB_INDEX_HTML};
use tests::{get, request, Berth, Client};

const ERROR_PAGE_CONFIG: &str = "\
server {
    listen 127.0.0.1:{port0};
    server_name localhost;
    root {dir}/www;
    error_page 403 404 /err/404.html;
}
";

/// Sends `raw` and then `GET /hello.txt` on one connection; returns the first
/// response read as the answer to a HEAD request and checks the second, which
/// proves the first carried no body.
fn head_then_get(c: &mut Client, raw: &str) -> tests::Response {
    c.send(raw);
    let head = c.read_head_response();
    c.send(get("/hello.txt"));
    let next = c.read_response();
    next.assert_status(200);
    assert_eq!(next.text(), HELLO_TXT, "bytes after a HEAD response: it had a body");
    head
}

tests::backend_tests! {
    /// A plain file: 200, exact body, length and type.
    fn get_file(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/hello.txt");
        r.assert_status(200).assert_date_and_server();
        assert_eq!(r.text(), HELLO_TXT);
        assert_eq!(r.header("Content-Length"), Some("13"));
        assert_eq!(r.media_type().as_deref(), Some("text/plain"));
        assert!(r.header("Last-Modified").is_some(), "no Last-Modified:\n{}", r.raw_head);
        assert!(r.header("ETag").is_some(), "no ETag:\n{}", r.raw_head);
    }

    /// `/` serves the index file.
    fn get_index_file(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/");
        r.assert_status(200).assert_date_and_server();
        assert_eq!(r.text(), INDEX_HTML);
        assert_eq!(r.media_type().as_deref(), Some("text/html"));
    }

    /// A subdirectory with a trailing slash serves its own index file.
    fn get_index_file_in_subdirectory(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/sub/");
        r.assert_status(200);
        assert_eq!(r.text(), SUB_INDEX_HTML);
    }

    /// A larger file arrives complete and intact.
    fn get_large_file_intact(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/big.bin");
        r.assert_status(200);
        assert_eq!(r.header("Content-Length"), Some(site::BIG_LEN.to_string().as_str()));
        assert!(r.body == site::big_body(), "big.bin body differs ({} bytes)", r.body.len());
    }

    /// HEAD of a file: the GET headers, no body.
    fn head_file(backend) {
        let berth = site::standard(backend);
        let g = berth.get("/hello.txt");
        let mut c = berth.connect();
        let h = head_then_get(&mut c, &request("HEAD", "/hello.txt", ""));
        h.assert_status(200).assert_date_and_server();
        assert_eq!(h.header("Content-Length"), g.header("Content-Length"));
        assert_eq!(h.header("Content-Type"), g.header("Content-Type"));
        assert_eq!(h.header("ETag"), g.header("ETag"));
        assert_eq!(h.header("Last-Modified"), g.header("Last-Modified"));
    }

    /// HEAD of `/`: the index file's headers, no body.
    fn head_index_file(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        let h = head_then_get(&mut c, &request("HEAD", "/", ""));
        h.assert_status(200);
        assert_eq!(h.header("Content-Length"), Some(INDEX_HTML.len().to_string().as_str()));
        assert_eq!(h.media_type().as_deref(), Some("text/html"));
    }

    /// HEAD of a missing file: 404 headers without the error page body.
    fn head_missing_file_has_no_body(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        let h = head_then_get(&mut c, &request("HEAD", "/nope.txt", ""));
        h.assert_status(404);
    }

    /// Content-Type follows the file extension.
    fn content_type_by_extension(backend) {
        let berth = site::standard(backend);
        let cases: &[(&str, &[&str])] = &[
            ("/index.html", &["text/html"]),
            ("/page.htm", &["text/html"]),
            ("/hello.txt", &["text/plain"]),
            ("/style.css", &["text/css"]),
            ("/app.js", &["application/javascript", "text/javascript"]),
            ("/data.json", &["application/json"]),
            ("/image.png", &["image/png"]),
        ];
        for (path, want) in cases {
            let r = berth.get(path);
            r.assert_status(200);
            let got = r.media_type().unwrap_or_default();
            assert!(want.contains(&got.as_str()), "{path}: Content-Type {got:?}, want one of {want:?}");
        }
    }

    /// An unknown extension is served as application/octet-stream (nginx's default_type).
    fn unknown_extension_is_octet_stream(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/blob.zzqx");
        r.assert_status(200);
        assert_eq!(r.media_type().as_deref(), Some("application/octet-stream"));
    }

    /// A missing file: 404 with an HTML page.
    fn missing_file_is_404(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/nope.txt");
        r.assert_status(404).assert_date_and_server();
        assert_eq!(r.media_type().as_deref(), Some("text/html"));
        assert!(r.text().contains("404"), "404 page does not say 404: {}", r.text());
    }

    /// Percent-encoded paths are decoded once.
    fn percent_encoded_path_is_decoded(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/hel%6Co.txt");
        r.assert_status(200);
        assert_eq!(r.text(), HELLO_TXT);
        let r = berth.get("/with%20space.txt");
        r.assert_status(200);
        assert_eq!(r.text(), "spaced\n");
        // Decoded once only: %25 is a literal '%', so this names "hel%6Co.txt".
        berth.get("/hel%256Co.txt").assert_status(404);
    }

    /// The query string does not change which file is served.
    fn query_string_is_ignored_for_files(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/hello.txt?a=1&b=../../secret.txt");
        r.assert_status(200);
        assert_eq!(r.text(), HELLO_TXT);
    }

    /// Dot segments that stay inside the root are resolved.
    fn dot_segments_inside_root_are_resolved(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/sub/../hello.txt");
        r.assert_status(200);
        assert_eq!(r.text(), HELLO_TXT);
        let r = berth.get("/./sub/./other.txt");
        r.assert_status(200);
        assert_eq!(r.text(), "other\n");
    }

    /// A symlink inside the root to a file inside the root is served.
    fn symlink_inside_root_is_served(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/link-in.txt");
        r.assert_status(200);
        assert_eq!(r.text(), HELLO_TXT);
    }

    /// Every response carries Date and Server, whatever its status.
    fn date_and_server_on_every_response(backend) {
        let berth = site::standard(backend);
        for (raw, status) in [
            (get("/hello.txt"), 200),
            (get("/nope"), 404),
            (get("/sub"), 301),
            (get("/old"), 301),
            (get("/noindex/"), 403),
            (request("DELETE", "/hello.txt", ""), 405),
            ("GET / HTTP/1.1\r\n\r\n".to_string(), 400),
            (request("BREW", "/", ""), 501),
            ("GET / HTTP/2.0\r\nHost: localhost\r\n\r\n".to_string(), 505),
        ] {
            let r = berth.exchange(&raw);
            r.assert_status(status).assert_date_and_server();
            if status >= 400 {
                assert_eq!(r.media_type().as_deref(), Some("text/html"), "{raw:?}");
            }
        }
    }

    /// A directory without its trailing slash redirects to it.
    fn directory_without_slash_redirects(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/sub");
        r.assert_status(301).assert_date_and_server();
        let loc = r.expect_header("Location");
        assert!(loc.ends_with("/sub/"), "Location {loc:?} should end with /sub/");
    }

    /// `return 301 /new` answers 301 with the target in Location.
    fn return_301_redirects(backend) {
        let berth = site::standard(backend);
        for path in ["/old", "/old/page.html"] {
            let r = berth.get(path);
            r.assert_status(301);
            let loc = r.expect_header("Location");
            assert!(loc.ends_with("/new"), "{path}: Location {loc:?} should end with /new");
        }
    }

    /// `autoindex on`: an HTML listing with every entry, sorted.
    fn directory_listing_on(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/list/");
        r.assert_status(200);
        assert_eq!(r.media_type().as_deref(), Some("text/html"));
        let body = r.text();
        let a = body.find("a.txt").unwrap_or_else(|| panic!("no a.txt in listing:\n{body}"));
        let b = body.find("b.txt").unwrap_or_else(|| panic!("no b.txt in listing:\n{body}"));
        assert!(a < b, "listing not sorted:\n{body}");
        assert!(body.contains("zdir/"), "directory entry without a slash:\n{body}");
    }

    /// Names in a listing are HTML-escaped.
    fn directory_listing_escapes_names(backend) {
        let berth = site::standard(backend);
        let body = berth.get("/list/").assert_status(200).text();
        assert!(!body.contains("a<b>"), "raw name in listing:\n{body}");
        assert!(body.contains("a&lt;b&gt;&amp;.txt"), "escaped name missing:\n{body}");
    }

    /// No index file and `autoindex off` (the default): 403.
    fn directory_listing_off_is_403(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/noindex/");
        r.assert_status(403);
        assert!(!r.text().contains("a.txt"), "listing leaked: {}", r.text());
    }

    /// A method the location does not allow: 405 with an Allow header.
    fn method_not_allowed_has_allow(backend) {
        let berth = site::standard(backend);
        for method in ["POST", "DELETE", "PUT"] {
            let raw = request(method, "/hello.txt", "Content-Length: 0\r\n");
            let r = berth.exchange(raw);
            r.assert_status(405);
            let allow: Vec<String> = r
                .expect_header("Allow")
                .split(',')
                .map(|m| m.trim().to_ascii_uppercase())
                .collect();
            assert!(allow.contains(&"GET".to_string()), "Allow {allow:?} lacks GET");
            assert!(allow.contains(&"HEAD".to_string()), "Allow {allow:?} lacks HEAD");
            assert!(!allow.contains(&method.to_string()), "Allow {allow:?} lists {method}");
        }
    }

    /// POST to a static file where POST is allowed: 405 as in nginx, and the
    /// connection stays usable.
    fn post_to_static_file_is_405(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(request("POST", "/post/form.txt", "Content-Length: 5\r\n") + "hello");
        c.read_response().assert_status(405);
        c.send(get("/post/form.txt"));
        let r = c.read_response();
        r.assert_status(200);
        assert_eq!(r.text(), "form\n");
    }

    /// `error_page 404 /err/404.html`: that file's body with status 404.
    fn custom_error_page(backend) {
        let berth = Berth::start(backend, ERROR_PAGE_CONFIG, site::standard_files);
        let r = berth.get("/missing.txt");
        r.assert_status(404);
        assert_eq!(r.text(), site::CUSTOM_404);
        assert_eq!(r.media_type().as_deref(), Some("text/html"));
    }

    /// The error page file vanished after startup: the built-in page is used.
    fn missing_error_page_falls_back_to_builtin(backend) {
        let berth = Berth::start(backend, ERROR_PAGE_CONFIG, site::standard_files);
        std::fs::remove_file(berth.dir().join("www/err/404.html"))
            .unwrap_or_else(|e| panic!("remove error page: {e}"));
        let r = berth.get("/missing.txt");
        r.assert_status(404);
        assert!(r.text().contains("404"), "built-in page does not say 404: {}", r.text());
        assert!(!r.text().contains("custom"), "custom page served after removal");
    }

    /// `Range: bytes=a-b`: 206 with Content-Range and the slice.
    fn range_request_is_206(backend) {
        let berth = site::standard(backend);
        let r = berth.exchange(request("GET", "/hello.txt", "Range: bytes=1-3\r\n"));
        r.assert_status(206);
        assert_eq!(r.text(), "ell");
        assert_eq!(r.header("Content-Range"), Some("bytes 1-3/13"));
        assert_eq!(r.header("Content-Length"), Some("3"));
    }

    /// Suffix (`-n`) and open-ended (`a-`) ranges.
    fn range_suffix_and_open_ended(backend) {
        let berth = site::standard(backend);
        let r = berth.exchange(request("GET", "/hello.txt", "Range: bytes=-6\r\n"));
        r.assert_status(206);
        assert_eq!(r.text(), "world\n");
        assert_eq!(r.header("Content-Range"), Some("bytes 7-12/13"));
        let r = berth.exchange(request("GET", "/big.bin", "Range: bytes=1000-\r\n"));
        r.assert_status(206);
        assert!(r.body == site::big_body()[1000..], "open-ended range body differs");
        let want = format!("bytes 1000-{}/{}", site::BIG_LEN - 1, site::BIG_LEN);
        assert_eq!(r.header("Content-Range"), Some(want.as_str()));
    }

    /// A range starting past the end: 416 with `Content-Range: bytes */len`.
    fn range_not_satisfiable_is_416(backend) {
        let berth = site::standard(backend);
        let r = berth.exchange(request("GET", "/hello.txt", "Range: bytes=100-200\r\n"));
        r.assert_status(416);
        assert_eq!(r.header("Content-Range"), Some("bytes */13"));
    }

    /// If-None-Match with the current ETag: 304, no body, same ETag.
    fn if_none_match_is_304(backend) {
        let berth = site::standard(backend);
        let first = berth.get("/hello.txt");
        let etag = first.expect_header("ETag").to_string();
        let mut c = berth.connect();
        c.send(request("GET", "/hello.txt", &format!("If-None-Match: {etag}\r\n")));
        let r = c.read_response();
        r.assert_status(304).assert_date_and_server();
        assert_eq!(r.header("ETag"), Some(etag.as_str()));
        // A 304 has no body: the next response follows at once.
        c.send(get("/hello.txt"));
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
    }

    /// If-None-Match with another ETag: the full 200.
    fn if_none_match_other_etag_is_200(backend) {
        let berth = site::standard(backend);
        let r = berth.exchange(request("GET", "/hello.txt", "If-None-Match: \"nope\"\r\n"));
        r.assert_status(200);
        assert_eq!(r.text(), HELLO_TXT);
    }

    /// If-Modified-Since equal to Last-Modified: 304.
    fn if_modified_since_is_304(backend) {
        let berth = site::standard(backend);
        let first = berth.get("/hello.txt");
        let lm = first.expect_header("Last-Modified").to_string();
        let r = berth.exchange(request("GET", "/hello.txt", &format!("If-Modified-Since: {lm}\r\n")));
        r.assert_status(304);
    }

    /// The trailing-slash redirect keeps the query string.
    fn directory_redirect_keeps_query(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/sub?x=1");
        r.assert_status(301);
        let loc = r.expect_header("Location");
        assert!(loc.ends_with("/sub/?x=1"), "Location {loc:?} should end with /sub/?x=1");
    }

    /// `If-None-Match: *` on an existing file: 304.
    fn if_none_match_star_is_304(backend) {
        let berth = site::standard(backend);
        let r = berth.exchange(request("GET", "/hello.txt", "If-None-Match: *\r\n"));
        r.assert_status(304);
    }

    /// Every link in a listing leads to its entry (names are URL-encoded in hrefs).
    fn directory_listing_links_work(backend) {
        let berth = site::standard(backend);
        let body = berth.get("/list/").assert_status(200).text();
        let mut hrefs = Vec::new();
        let mut rest = body.as_str();
        while let Some(i) = rest.find("href=\"") {
            rest = &rest[i + 6..];
            let end = rest.find('"').unwrap_or(rest.len());
            hrefs.push(html_unescape(&rest[..end]));
            rest = &rest[end..];
        }
        for name in ["a.txt", "b.txt", "a<b>&.txt", "c d%.txt", "zdir/"] {
            let href = hrefs
                .iter()
                .find(|h| percent_decode(h) == name)
                .unwrap_or_else(|| panic!("no link to {name:?} in {hrefs:?}"));
            assert!(!href.contains(' ') && !href.contains('<'), "unencoded href {href:?}");
            let target = if href.starts_with('/') { href.clone() } else { format!("/list/{href}") };
            berth.get(&target).assert_status(200);
        }
    }

    /// HEAD of a large file: headers only, even where GET would use sendfile.
    fn head_large_file_has_no_body(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        let h = head_then_get(&mut c, &request("HEAD", "/big.bin", ""));
        h.assert_status(200);
        assert_eq!(h.header("Content-Length"), Some(site::BIG_LEN.to_string().as_str()));
    }

    /// A range response followed by another request on the same connection.
    fn range_then_next_request(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(request("GET", "/big.bin", "Range: bytes=100000-100009\r\n") + &get("/hello.txt"));
        let r = c.read_response();
        r.assert_status(206);
        assert!(r.body == site::big_body()[100000..100010], "range body differs");
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
    }

    /// A file rewritten (same size) after being served is served fresh.
    fn changed_file_is_served_fresh(backend) {
        let berth = site::standard(backend);
        assert_eq!(berth.get("/hello.txt").assert_status(200).text(), HELLO_TXT);
        berth.dir().file("www/hello.txt", "HELLO, WORLD\n");
        assert_eq!(berth.get("/hello.txt").assert_status(200).text(), "HELLO, WORLD\n");
        berth.dir().file("www/hello.txt", "bye\n");
        assert_eq!(berth.get("/hello.txt").assert_status(200).text(), "bye\n");
    }

    /// A file deleted after being served is a 404.
    fn deleted_file_is_404(backend) {
        let berth = site::standard(backend);
        berth.get("/hello.txt").assert_status(200);
        std::fs::remove_file(berth.dir().join("www/hello.txt"))
            .unwrap_or_else(|e| panic!("remove: {e}"));
        berth.get("/hello.txt").assert_status(404);
    }

    /// A path that continues below a regular file: 404, not 500.
    fn path_below_a_file_is_404(backend) {
        let berth = site::standard(backend);
        berth.get("/hello.txt/more").assert_status(404);
        berth.get("/hello.txt/").assert_status(404);
    }

    /// HEAD never carries a body: listings, redirects, error pages.
    fn head_never_has_a_body(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        for (target, status) in [("/list/", 200), ("/sub", 301), ("/old", 301), ("/nope", 404), ("/noindex/", 403)] {
            let h = head_then_get(&mut c, &request("HEAD", target, ""));
            h.assert_status(status);
        }
    }

    /// One `error_page` line for several codes serves the page for each,
    /// with the original status.
    fn error_page_for_several_codes(backend) {
        let berth = Berth::start(backend, ERROR_PAGE_CONFIG, site::standard_files);
        let r = berth.get("/noindex/");
        r.assert_status(403);
        assert_eq!(r.text(), site::CUSTOM_404);
    }
}

fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
