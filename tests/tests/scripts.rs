//! A file with one of a location's `cgi` extensions is never sent as a file
//! (issue 9's source disclosure: `GET /cgi-bin/t.py` answered 200 with the
//! Python source). It is run (these "scripts" print no header: 502 and an
//! error-log line), or refused, whatever the method, the letter case, the
//! way it is reached (index file, symlink, error page) or extra path
//! segments.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use tests::{request, Berth, TempDir};

/// The script's body: it must never show up in a response.
const SOURCE: &str = "#!/usr/bin/env python3\nprint('SECRET-SOURCE-CODE')\n";

/// The documented `cgi .py` example, with scripts reachable every way.
const CONFIG: &str = "\
server {
    listen 127.0.0.1:{port0};
    server_name localhost;
    root {dir}/www;
    error_page 404 /cgi-bin/t.py;

    location /cgi-bin {
        cgi .py /usr/bin/python3;
        cgi .sh;
        index index.py index.html;
        autoindex on;
    }
}
";

fn files(dir: &TempDir) {
    dir.file("www/cgi-bin/t.py", SOURCE)
        .file("www/cgi-bin/run.sh", SOURCE)
        .file("www/cgi-bin/index.py", SOURCE)
        .file("www/cgi-bin/readme.txt", "not a script\n")
        .file("www/cgi-bin/sub/index.py", SOURCE)
        .file("www/cgi-bin/sub/index.html", "<p>sub index</p>\n")
        .symlink("www/cgi-bin/innocent.txt", "t.py")
        .file("www/t.py", "outside any cgi location\n");
}

fn start(backend: &str) -> Berth {
    Berth::start(backend, CONFIG, files)
}

tests::backend_tests! {
    /// GET, HEAD and POST of a script: run (502: it prints no header),
    /// never its source.
    fn script_in_a_cgi_location_is_run_not_served(backend) {
        let berth = start(backend);
        for method in ["GET", "HEAD", "POST"] {
            for path in ["/cgi-bin/t.py", "/cgi-bin/run.sh", "/cgi-bin/t.py/path/info", "/cgi-bin/t.py?x=1"] {
                let mut c = berth.connect();
                c.send(request(method, path, "Content-Length: 0\r\n"));
                let r = if method == "HEAD" { c.read_head_response() } else { c.read_response() };
                assert_eq!(r.status, 502, "{method} {path}:\n{}", r.raw_head);
                assert!(!r.text().contains("SECRET-SOURCE-CODE"), "{method} {path} leaked the source");
            }
        }
    }

    /// Each failed script leaves an error-log line naming it and the client.
    fn failed_script_is_logged(backend) {
        let berth = start(backend);
        berth.get("/cgi-bin/t.py").assert_status(502);
        let want = "[error] CGI script \"/cgi-bin/t.py\" sent an invalid header: a header line \
                    that is not \"Name: value\" (first bytes: \"SECRET-SOURCE-CODE\\n\"), \
                    client: 127.0.0.1, server: localhost, request: \"GET /cgi-bin/t.py \
                    HTTP/1.1\", host: \"localhost\"";
        let deadline = Instant::now() + Duration::from_secs(3);
        while !berth.stderr_text().contains(want) {
            assert!(Instant::now() < deadline, "no log line; stderr:\n{}", berth.stderr_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The other ways to reach a script's bytes: an index file, a symlink,
    /// a letter-case variant of the extension, an error page.
    fn script_is_not_served_by_another_way(backend) {
        let berth = start(backend);
        // index.py is skipped: the folder is listed instead (autoindex on).
        let r = berth.get("/cgi-bin/");
        r.assert_status(200);
        assert!(r.text().contains("Index of /cgi-bin/"), "{}", r.text());
        let r = berth.get("/cgi-bin/sub/");
        assert_eq!(r.assert_status(200).text(), "<p>sub index</p>\n");
        // A symlink with an innocent name whose target is a script.
        berth.get("/cgi-bin/innocent.txt").assert_status(403);
        // Not the script here (404); on a case-insensitive file system T.PY
        // would open t.py, and the static handler refuses it (403).
        let r = berth.get("/cgi-bin/T.PY");
        assert!(r.status == 404 || r.status == 403, "{}", r.raw_head);
        assert!(!r.text().contains("SECRET-SOURCE-CODE"), "T.PY leaked the source");
        // error_page 404 names the script: the built-in page goes out.
        let r = berth.get("/cgi-bin/missing.txt");
        r.assert_status(404);
        assert!(!r.text().contains("SECRET-SOURCE-CODE"), "the error page leaked the source");
        // Other files of the location, and scripts outside it, are files.
        assert_eq!(berth.get("/cgi-bin/readme.txt").assert_status(200).text(), "not a script\n");
        assert_eq!(berth.get("/t.py").assert_status(200).text(), "outside any cgi location\n");
    }
}

/// `berth -t` no longer warns about `cgi`: it is acted on.
#[test]
fn cgi_directive_gets_no_warning_from_berth_t() {
    let dir = TempDir::new();
    files(&dir);
    let conf = dir.join("berth.conf");
    std::fs::write(
        &conf,
        CONFIG.replace("{dir}", &dir.path().display().to_string()).replace("{port0}", "8080"),
    )
    .expect("write config");
    let out = std::process::Command::new(tests::berth_bin())
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .expect("run berth -t");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].ends_with("test is successful"), "{stderr}");
}
