//! Routing inside a server: longest-prefix locations on segment boundaries,
//! `root` and `alias` mapping, `index` lists, `return` (redirects, statuses
//! and texts), locations with spaces and escapes, MIME types from `types`
//! and `default_type`, and the access log.
#![forbid(unsafe_code)]

use tests::{request, Berth, TempDir};

const ROUTES: &str = r#"
server {
    listen 127.0.0.1:{port0};
    root {dir}/www;
    index missing.html second.txt;

    location /app {
        return 302 /app-moved;
    }
    location /docs {
        alias {dir}/manual;
        autoindex on;
    }
    location /other {
        root {dir}/alt;
    }
    location /temp {
        return 307 http://example.test/elsewhere;
    }
    location /perm {
        return 308 /perm-new;
    }
    location /see {
        return 303 /see-new;
    }
    location /gone {
        return 404;
    }
    location /teapot {
        return 418 "short and stout\n";
    }
    location /health {
        default_type text/plain;
        return 200 "ok\n";
    }
    location /health.json {
        return 200 "{\"ok\": true}";
    }
    location /empty {
        return 200;
    }
    location "/my files" {
        autoindex on;
    }
    location /caf%C3%A9 {
        return 200 "cafe location\n";
    }
    location /typed {
        types {
            text/x-berth-note note;
        }
        default_type text/plain;
    }
}
"#;

fn route_files(dir: &TempDir) {
    dir.file("www/second.txt", "second index\n")
        .file("www/apple/second.txt", "apple index\n")
        .file("www/apple.txt", "apple file\n")
        .file("manual/guide.txt", "manual guide\n")
        .file("manual/part/ch1.txt", "chapter one\n")
        .file("www/docs/guide.txt", "wrong: root, not alias\n")
        .file("alt/other/page.txt", "alt root page\n")
        .file("www/my files/a b.txt", "spaced file\n")
        .file("www/typed/a.note", "note\n")
        .file("www/typed/a.html", "<p>html</p>\n")
        .file("www/typed/README", "no extension\n")
        .file("www/errors/404.html", "custom 404 page\n")
        .file("www/other/page.txt", "wrong: server root\n");
}

fn start(backend: &str) -> Berth {
    Berth::start(backend, ROUTES, route_files)
}

tests::backend_tests! {
    /// A location prefix matches whole path segments only.
    fn prefix_matches_on_segment_boundary(backend) {
        let berth = start(backend);
        berth.get("/app").assert_status(302);
        berth.get("/app/x/y").assert_status(302);
        // `/apple` is not under `/app`.
        assert_eq!(berth.get("/apple.txt").assert_status(200).text(), "apple file\n");
        assert_eq!(berth.get("/apple/").assert_status(200).text(), "apple index\n");
    }

    /// `alias` replaces the location prefix with the alias path.
    fn alias_replaces_prefix(backend) {
        let berth = start(backend);
        assert_eq!(berth.get("/docs/guide.txt").assert_status(200).text(), "manual guide\n");
        assert_eq!(berth.get("/docs/part/ch1.txt").assert_status(200).text(), "chapter one\n");
    }

    /// A listing under an alias lists the aliased directory.
    fn alias_directory_listing(backend) {
        let berth = start(backend);
        let body = berth.get("/docs/").assert_status(200).text();
        assert!(body.contains("guide.txt"), "listing of the alias lacks guide.txt:\n{body}");
        assert!(body.contains("part/"), "listing of the alias lacks part/:\n{body}");
    }

    /// `..` cannot climb out of an alias either.
    fn alias_traversal_is_refused(backend) {
        let berth = start(backend);
        let r = berth.get("/docs/../alt/other/page.txt");
        // Normalised to /alt/other/page.txt under the server root: not there.
        r.assert_status(404);
        let r = berth.get("/docs/%2e%2e/www/second.txt");
        assert!(r.status == 403 || r.status == 404, "escaped the alias:\n{}", r.raw_head);
        assert!(!r.text().contains("second index"), "served a file outside the alias");
    }

    /// `root` in a location: file = that root + the full URI (nginx semantics).
    fn location_root_appends_full_uri(backend) {
        let berth = start(backend);
        assert_eq!(berth.get("/other/page.txt").assert_status(200).text(), "alt root page\n");
    }

    /// `index a b`: the first candidate that exists is served.
    fn index_list_first_existing(backend) {
        let berth = start(backend);
        assert_eq!(berth.get("/").assert_status(200).text(), "second index\n");
    }

    /// Redirect codes and targets are passed through as configured.
    fn redirect_codes_and_targets(backend) {
        let berth = start(backend);
        let r = berth.get("/temp");
        r.assert_status(307);
        assert_eq!(r.header("Location"), Some("http://example.test/elsewhere"));
        let r = berth.get("/perm");
        r.assert_status(308);
        assert!(r.expect_header("Location").ends_with("/perm-new"), "{}", r.raw_head);
        let r = berth.get("/see");
        r.assert_status(303);
        assert!(r.expect_header("Location").ends_with("/see-new"), "{}", r.raw_head);
        let r = berth.get("/app");
        assert!(r.expect_header("Location").ends_with("/app-moved"), "{}", r.raw_head);
    }

    /// `return 404;` answers the status with its page; `return CODE "TEXT"`
    /// answers the text, typed like a file of that path; `return 200;` is
    /// an empty 200.
    fn return_status_and_text(backend) {
        let berth = start(backend);
        let r = berth.get("/gone");
        r.assert_status(404);
        assert_eq!(r.media_type().as_deref(), Some("text/html"));
        assert!(r.text().contains("404 Not Found"), "{}", r.text());
        let r = berth.get("/gone/deeper?x");
        r.assert_status(404);
        let r = berth.get("/teapot");
        r.assert_status(418);
        assert_eq!(r.text(), "short and stout\n");
        let r = berth.get("/health");
        r.assert_status(200);
        assert_eq!(r.text(), "ok\n");
        assert_eq!(r.media_type().as_deref(), Some("text/plain"));
        assert_eq!(r.header("Content-Length"), Some("3"));
        let r = berth.get("/health.json");
        assert_eq!(r.assert_status(200).text(), "{\"ok\": true}");
        assert_eq!(r.media_type().as_deref(), Some("application/json"));
        let r = berth.get("/empty");
        r.assert_status(200);
        assert_eq!(r.header("Content-Length"), Some("0"));
        // HEAD: the same head, no body.
        let mut c = berth.connect();
        c.send(request("HEAD", "/health", ""));
        let r = c.read_head_response();
        r.assert_status(200);
        assert_eq!(r.header("Content-Length"), Some("3"));
        assert!(r.body.is_empty());
    }

    /// `return 404;` sends the location's error_page for 404, as nginx.
    fn return_status_uses_error_page(backend) {
        let config = "\
server {
    listen 127.0.0.1:{port0};
    root {dir}/www;
    error_page 404 /errors/404.html;
    location /gone { return 404; }
}
";
        let berth = Berth::start(backend, config, route_files);
        let r = berth.get("/gone");
        r.assert_status(404);
        assert_eq!(r.text(), "custom 404 page\n");
    }

    /// A quoted location with a space matches the decoded request path; a
    /// percent-encoded prefix is decoded once, so it matches too.
    fn locations_with_spaces_and_escapes(backend) {
        let berth = start(backend);
        let r = berth.get("/my%20files/");
        r.assert_status(200);
        assert!(r.text().contains("Index of /my files/"), "{}", r.text());
        assert_eq!(berth.get("/my%20files/a%20b.txt").assert_status(200).text(), "spaced file\n");
        assert_eq!(berth.get("/caf%C3%A9").assert_status(200).text(), "cafe location\n");
        assert_eq!(berth.get("/caf%c3%a9/x").assert_status(200).text(), "cafe location\n");
        // Matched on the decoded path, not the raw bytes.
        berth.get("/caf%25C3%25A9").assert_status(404);
    }

    /// `types` and `default_type` decide Content-Type where they are set;
    /// elsewhere the built-in table.
    fn types_and_default_type(backend) {
        let berth = start(backend);
        let cases = [
            ("/typed/a.note", "text/x-berth-note"),
            // the location's types block replaced the built-in table
            ("/typed/a.html", "text/plain"),
            ("/typed/README", "text/plain"),
            ("/apple.txt", "text/plain"),
            ("/manual-less.bin", ""),
        ];
        for (path, want) in cases {
            let r = berth.get(path);
            if want.is_empty() {
                r.assert_status(404);
                continue;
            }
            r.assert_status(200);
            assert_eq!(r.media_type().as_deref(), Some(want), "{path}");
        }
    }

    /// The access log gets one line per request in combined log format.
    fn access_log_combined_format(backend) {
        let config = "\
access_log {dir}/access.log;
server {
    listen 127.0.0.1:{port0};
    root {dir}/www;
    index second.txt;
}
";
        let mut berth = Berth::start(backend, config, route_files);
        let extra = "Referer: http://ref.test/\r\nUser-Agent: blackbox-agent/1.0\r\n";
        berth.exchange(request("GET", "/apple.txt?q=1", extra)).assert_status(200);
        berth.exchange(request("GET", "/nope", "")).assert_status(404);
        // The log is buffered: a graceful stop flushes it.
        let status = berth.terminate();
        assert!(status.success(), "exit status {status}");
        let path = berth.dir().join("access.log");
        let log = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 2, "want 2 lines:\n{log}");
        let first = lines[0];
        assert!(first.starts_with("127.0.0.1 - - ["), "{first}");
        assert!(
            first.contains("] \"GET /apple.txt?q=1 HTTP/1.1\" 200 11 \"http://ref.test/\" \"blackbox-agent/1.0\""),
            "not combined format: {first}"
        );
        assert!(lines[1].contains("\"GET /nope HTTP/1.1\" 404 "), "{}", lines[1]);
        assert!(lines[1].ends_with("\"-\" \"-\""), "missing referer/agent as \"-\": {}", lines[1]);
    }
}
