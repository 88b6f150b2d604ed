//! The demo site that `cargo run` serves (`berth.conf`, `www/`,
//! `www-second/`), and the Docker image's copy of it (`docker/berth.conf`):
//! every link of every page reachable from the home page, on both virtual
//! hosts, answers without a 404 (but the one link that demonstrates the
//! custom 404 page, which must show it), and nothing is fetched from
//! elsewhere.
#![forbid(unsafe_code)]

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;

use tests::{Berth, Response, TempDir};

/// The port the demo configuration listens on; the test swaps in a free one.
const DEMO_LISTEN: &str = "listen 127.0.0.1:8080;";
/// The host names of the demo's two servers, as its pages link to them.
const HOSTS: [&str; 2] = ["localhost", "second.localhost"];
/// The link that demonstrates the custom 404 page.
const DEMO_404: &str = "/no-such-page";
/// Most pages and files the walk visits: the demo is small.
const MAX_VISITS: usize = 200;

/// The workspace's `berth.conf` with a `{port0}` placeholder for its port.
fn demo_config() -> String {
    let path = tests::workspace_root().join("berth.conf");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(text.contains(DEMO_LISTEN), "berth.conf no longer says {DEMO_LISTEN:?}");
    text.replace(DEMO_LISTEN, "listen 127.0.0.1:{port0};")
}

/// `docker/berth.conf` with its container paths under the test's temp dir
/// (`{dir}`, where [`demo_files`] links the sites) and a `{port0}`.
fn docker_config() -> String {
    let path = tests::workspace_root().join("docker/berth.conf");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(text.contains("listen 8080;"), "docker/berth.conf no longer says listen 8080;");
    text.replace("listen 8080;", "listen 127.0.0.1:{port0};").replace("/srv/berth/", "{dir}/")
}

/// The demo's relative roots resolve against the config's folder, the
/// test's temp dir: link them to the workspace's folders.
fn demo_files(dir: &TempDir) {
    for site in ["www", "www-second"] {
        dir.symlink(site, tests::workspace_root().join(site));
    }
}

/// `GET path` with `Host: host` on a new connection.
fn fetch(berth: &Berth, host: &str, path: &str) -> Response {
    berth.exchange(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"))
}

/// The values of `href="…"`, `src="…"` and CSS `url(…)` in `text`.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\""] {
        let mut rest = text;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').unwrap_or(rest.len());
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    let mut rest = text;
    while let Some(i) = rest.find("url(") {
        rest = &rest[i + 4..];
        let end = rest.find(')').unwrap_or(rest.len());
        out.push(rest[..end].trim_matches(|c| c == '"' || c == '\'').to_string());
        rest = &rest[end..];
    }
    out
}

/// A link as `(host, absolute path)` when it stays on the demo's hosts,
/// resolved against the page `(host, path)` it is on.
fn resolve(link: &str, host: &str, page: &str) -> Result<(String, String), String> {
    let link = link.split('#').next().unwrap_or("");
    if link.is_empty() {
        return Ok((host.to_string(), page.to_string()));
    }
    if let Some(rest) = link.strip_prefix("http://") {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let name = authority.strip_suffix(":8080").unwrap_or(authority);
        return match HOSTS.iter().find(|h| **h == name) {
            Some(h) if authority.ends_with(":8080") => {
                Ok((h.to_string(), if path.is_empty() { "/".into() } else { path.into() }))
            }
            _ => Err(format!("a link that leaves the demo: {link}")),
        };
    }
    if link.contains("://") || link.starts_with("//") {
        return Err(format!("a link that leaves the demo: {link}"));
    }
    if link.starts_with("data:") {
        return Err(format!("an inline resource where a file would do: {link}"));
    }
    if link.starts_with('/') {
        return Ok((host.to_string(), link.to_string()));
    }
    // Relative: against the page's folder, dot-segments resolved.
    let base = &page[..page.rfind('/').map_or(0, |i| i + 1)];
    let mut segments: Vec<&str> = Vec::new();
    let joined = format!("{base}{link}");
    for seg in joined.split('/').skip(1) {
        match seg {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut path = format!("/{}", segments.join("/"));
    if (link.ends_with("../") || link.ends_with("./")) && !path.ends_with('/') {
        path.push('/');
    }
    Ok((host.to_string(), path))
}

/// Walks the demo from its home page on both hosts of `berth`.
fn walk(berth: &Berth) {
    let mut queue: VecDeque<(String, String)> =
        HOSTS.iter().map(|h| (h.to_string(), "/".to_string())).collect();
    let mut seen: BTreeSet<(String, String)> = queue.iter().cloned().collect();
    let mut problems = Vec::new();
    let mut pages = 0;
    while let Some((host, path)) = queue.pop_front() {
        assert!(seen.len() <= MAX_VISITS, "the walk does not end: {seen:?}");
        let mut r = fetch(berth, &host, &path);
        let mut at = path.clone();
        if (300..400).contains(&r.status) {
            let to = r.expect_header("Location").to_string();
            match resolve(&to, &host, &path) {
                Ok((h, p)) => {
                    at = p.clone();
                    r = fetch(berth, &h, &p);
                }
                Err(e) => problems.push(format!("{host}{path}: redirect: {e}")),
            }
        }
        if path == DEMO_404 {
            if r.status != 404 || !r.text().contains("Nothing is moored here") {
                problems.push(format!("{host}{path}: want the custom 404 page, got {}", r.status));
            }
            continue;
        }
        if r.status != 200 {
            problems.push(format!("{host}{path}: status {}", r.status));
            continue;
        }
        let typed = r.media_type().unwrap_or_default();
        if typed != "text/html" && typed != "text/css" {
            continue;
        }
        pages += 1;
        for link in links(&r.text()) {
            match resolve(&link, &host, &at) {
                Ok(next) => {
                    if seen.insert(next.clone()) {
                        queue.push_back(next);
                    }
                }
                Err(e) => problems.push(format!("{host}{at}: {e}")),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The home pages, the style sheet, the 404 page's own links, the
    // listing and its folder: the walk really went through the site.
    assert!(pages >= 5, "only {pages} pages walked: {seen:?}");
    for want in [
        "/files/",
        "/files/more/",
        "/large.txt",
        "/old-home",
        "/health",
        "/style.css",
        "/cgi-bin/form.py?name=sailor",
        "/cgi-bin/hello.sh",
    ] {
        assert!(seen.contains(&("localhost".to_string(), want.to_string())), "{want} not linked");
    }
    assert!(seen.iter().any(|(h, _)| h == "second.localhost"));
}

tests::backend_tests! {
    /// Walks the demo from its home page on both hosts.
    fn demo_site_has_no_broken_links(backend) {
        walk(&Berth::start(backend, &demo_config(), demo_files));
    }

    /// The Docker image serves the same demo, with the same links working.
    fn docker_demo_site_has_no_broken_links(backend) {
        walk(&Berth::start(backend, &docker_config(), demo_files));
    }

    /// What the home page's cards promise, checked one by one.
    fn demo_examples_do_what_the_page_says(backend) {
        let berth = Berth::start(backend, &demo_config(), demo_files);
        let home = fetch(&berth, "localhost", "/");
        home.assert_status(200);
        assert!(home.text().contains("It works"), "the Docker check looks for this");
        let r = fetch(&berth, "localhost", "/old-home");
        r.assert_status(301);
        assert_eq!(r.header("Location"), Some("/"));
        let r = berth.exchange(
            "GET /large.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=640-703\r\nConnection: close\r\n\r\n",
        );
        r.assert_status(206);
        assert_eq!(r.header("Content-Range"), Some("bytes 640-703/262144"));
        assert!(r.text().starts_with("line 0011 of 4096, bytes 000640-000703 "), "{}", r.text());
        let r = fetch(&berth, "localhost", "/health");
        r.assert_status(200);
        assert_eq!(r.text(), "ok\n");
        assert_eq!(r.media_type().as_deref(), Some("text/plain"));
        let r = fetch(&berth, "second.localhost", "/");
        r.assert_status(200);
        assert!(r.text().contains("<h1>second.localhost</h1>"));
        let r = fetch(&berth, "localhost", "/files/");
        r.assert_status(200);
        assert!(r.text().contains("Index of /files/"));
        assert!(r.text().contains("spaces%20%26%20symbols.txt"), "{}", r.text());
        let r = berth.exchange(
            "POST /cgi-bin/form.py?name=sailor HTTP/1.1\r\nHost: localhost\r\nContent-Type: \
             application/x-www-form-urlencoded\r\nContent-Length: 20\r\nConnection: close\r\n\r\n\
             message=ahoy%20there",
        );
        r.assert_status(200);
        let t = r.text();
        assert!(t.contains("<th>name</th><td>sailor</td>"), "{t}");
        assert!(t.contains("<th>message</th><td>ahoy there</td>"), "{t}");
        let t = fetch(&berth, "localhost", "/cgi-bin/env.py/extra/path?x=1").text();
        assert!(t.contains("PATH_INFO=/extra/path\n") && t.contains("QUERY_STRING=x=1\n"), "{t}");
        let t = fetch(&berth, "localhost", "/cgi-bin/hello.sh").text();
        assert!(t.starts_with("Hello from /bin/sh"), "{t}");
        let r = fetch(&berth, "localhost", "/cgi-bin/session.py");
        let cookie = r.expect_header("Set-Cookie").split(';').next().unwrap_or("").to_string();
        assert!(r.text().contains("<strong>1</strong> time(s)"), "{}", r.text());
        let r = berth.exchange(format!(
            "GET /cgi-bin/session.py HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        ));
        assert!(r.text().contains("<strong>2</strong> time(s)"), "{}", r.text());
    }
}

/// No file of the demo names anything outside it (fonts, scripts, images
/// from other sites): it must look the same offline.
#[test]
fn demo_files_load_nothing_from_elsewhere() {
    let mut stack =
        vec![tests::workspace_root().join("www"), tests::workspace_root().join("www-second")];
    let mut checked = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let is_text =
                ["html", "css", "svg"].iter().any(|x| path.extension().is_some_and(|e| e == *x));
            if !is_text {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            checked += 1;
            for link in links(&text) {
                let shown = Path::new(&path).display();
                if let Err(e) = resolve(&link, "localhost", "/") {
                    panic!("{shown}: {e}");
                }
            }
            assert!(!text.contains("@import"), "{}: @import", path.display());
            // The one script (stored.html's DELETE buttons, issue 10) is
            // inline and speaks only to this server: no script is loaded.
            assert!(!text.contains("<script src"), "{}: a script file is loaded", path.display());
            let inline = text.matches("<script").count();
            let allowed = usize::from(path.ends_with("www/stored.html"));
            assert_eq!(inline, allowed, "{}: scripts are not needed", path.display());
        }
    }
    assert!(checked >= 4, "only {checked} files checked");
}

#[test]
fn link_resolution() {
    // Link, page it is on, where it leads (or an error).
    type Case<'a> = (&'a str, &'a str, Result<(&'a str, &'a str), ()>);
    let table: &[Case<'_>] = &[
        ("/style.css", "/", Ok(("localhost", "/style.css"))),
        ("a.txt", "/files/", Ok(("localhost", "/files/a.txt"))),
        ("../", "/files/more/", Ok(("localhost", "/files/"))),
        ("../", "/files/", Ok(("localhost", "/"))),
        ("more/", "/files/", Ok(("localhost", "/files/more/"))),
        ("#top", "/x.html", Ok(("localhost", "/x.html"))),
        ("http://second.localhost:8080/", "/", Ok(("second.localhost", "/"))),
        ("http://localhost:8080", "/", Ok(("localhost", "/"))),
        ("https://fonts.example/x.css", "/", Err(())),
        ("//cdn.example/x.js", "/", Err(())),
        ("http://second.localhost/", "/", Err(())),
    ];
    for (link, page, want) in table {
        let got = resolve(link, "localhost", page);
        let got = got.as_ref().map(|(h, p)| (h.as_str(), p.as_str())).map_err(|_| ());
        assert_eq!(got, *want, "{link} on {page}");
    }
}
