//! Regressions: each test is named after a defect a review found, and
//! checks the behaviour nginx has in the same case.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use tests::site::{self, HELLO_TXT};
use tests::tempdir::TempDir;
use tests::{get, request, Berth};

/// The standard site plus a 6-byte file and a listed file named like a URL.
fn files(dir: &TempDir) {
    site::standard_files(dir);
    dir.file("www/six.txt", "abcdef").file("www/list/javascript:alert(1)", "x\n");
}

fn start(backend: &str) -> Berth {
    Berth::start(backend, site::CONFIG, files)
}

tests::backend_tests! {
    /// At the open file limit, accept() fails at every retry (every 100 ms);
    /// its error-log line came as often (134 lines in 13 s). Now: at most
    /// one a second, counting the failures in between.
    #[cfg(target_os = "linux")]
    fn accept_failures_at_the_fd_limit_are_logged_once_a_second(backend) {
        let dir = TempDir::new();
        let (mut child, log, port) = start_with_low_fd_limit(backend, &dir);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        // More clients than descriptors: the rest wait in the backlog.
        let clients: Vec<tests::Client> =
            (0..LOW_FD_LIMIT + 16).filter_map(|_| tests::Client::try_connect(addr).ok()).collect();
        std::thread::sleep(Duration::from_millis(3500));
        let _ = child.kill();
        let _ = child.wait();
        drop(clients);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("accept() failed")).collect();
        assert!(!lines.is_empty(), "no accept() failure logged at the limit:\n{text}");
        assert!(lines.len() <= 5, "{} accept() lines in 3.5 s:\n{text}", lines.len());
        assert!(
            lines.iter().any(|l| l.contains("times since the last report")),
            "no count of the failures in between:\n{text}"
        );
        assert!(lines.iter().all(|l| !l.contains("os error")), "{text}");
    }

    /// A file named `javascript:alert(1)` in a listing must not become a
    /// `javascript:` link (XSS); nginx writes `javascript%3Aalert%281%29`.
    fn listing_link_of_scheme_like_name_is_not_a_script(backend) {
        let berth = start(backend);
        let r = berth.get("/list/");
        r.assert_status(200);
        let html = r.text();
        assert!(html.contains("<a href=\"javascript%3Aalert%281%29\">"), "{html}");
        assert!(!html.contains("href=\"javascript:"), "{html}");
        // The escaped link still leads to the file.
        let f = berth.get("/list/javascript%3Aalert%281%29");
        f.assert_status(200);
        assert_eq!(f.text(), "x\n");
    }

    /// A fresh connection's client_header_timeout runs from accept: the
    /// first bytes of the head must not restart it (slowloris held twice).
    fn first_bytes_do_not_restart_the_header_timeout(backend) {
        let config = "\
client_header_timeout 2s;
server {
    listen 127.0.0.1:{port0};
    root {dir}/www;
}
";
        let berth = Berth::start(backend, config, site::standard_files);
        let mut c = berth.connect();
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(1500));
        c.send("GET /hello.txt HTTP/1.1\r\n");
        std::thread::sleep(Duration::from_millis(300));
        c.send("Host: a\r\n");
        let r = c.read_response();
        let took = start.elapsed();
        r.assert_status(408);
        // 2 s from accept; restarted at 1.5 s it would be 3.5 s.
        assert!(took < Duration::from_millis(3000), "408 after {took:?}");
        assert!(took >= Duration::from_millis(1900), "408 after {took:?}");
    }

    /// Range positions with more than 19 digits saturate instead of being
    /// ignored: 416 past the end, a clamped 206 otherwise.
    fn range_with_20_digits_is_not_ignored(backend) {
        let berth = start(backend);
        let r = berth.exchange(request("GET", "/six.txt", "Range: bytes=99999999999999999999-\r\n"));
        r.assert_status(416);
        assert_eq!(r.header("Content-Range"), Some("bytes */6"));
        let r = berth.exchange(request("GET", "/six.txt", "Range: bytes=0-99999999999999999999\r\n"));
        r.assert_status(206);
        assert_eq!(r.header("Content-Range"), Some("bytes 0-5/6"));
        assert_eq!(r.text(), "abcdef");
    }

    /// A chunk size over client_max_body_size is 413 as soon as its line
    /// ends, not after its data (or client_body_timeout).
    fn oversized_chunk_size_is_413_at_once(backend) {
        let berth = start(backend);
        let mut c = berth.connect();
        let start = Instant::now();
        c.send(request("POST", "/post/x", "Transfer-Encoding: chunked\r\n"));
        c.send("FFFFFFFFFFFFFFFF\r\nabc");
        let r = c.read_response();
        r.assert_status(413);
        assert!(start.elapsed() < Duration::from_secs(3), "413 after {:?}", start.elapsed());
    }

    /// Leading zeros in a chunk size are not significant digits (nginx
    /// accepts `00000000000000001`).
    fn chunk_size_with_many_leading_zeros_is_accepted(backend) {
        let berth = start(backend);
        let mut c = berth.connect();
        c.send(request("POST", "/post/x", "Transfer-Encoding: chunked\r\n"));
        c.send("00000000000000001\r\na\r\n0\r\n\r\n");
        // The body is read and dropped; POST to a static file is 405.
        let r = c.read_response();
        r.assert_status(405);
        assert!(!r.is_close(), "{}", r.raw_head);
        c.send(get("/hello.txt"));
        let r = c.read_response();
        r.assert_status(200);
        assert_eq!(r.text(), HELLO_TXT);
    }

    /// A fragment in the target is dropped, as nginx does.
    fn fragment_in_target_is_ignored(backend) {
        let berth = start(backend);
        let r = berth.get("/hello.txt#frag");
        r.assert_status(200);
        assert_eq!(r.text(), HELLO_TXT);
    }

    /// A path that decodes to bytes that are not UTF-8 names no file: 404,
    /// not 400.
    fn non_utf8_path_is_404(backend) {
        let berth = start(backend);
        berth.get("/%e9").assert_status(404);
        berth.get("/%ff%fe.txt").assert_status(404);
    }

    /// If-Modified-Since later than the file's date (even in the future) is
    /// not a match: only the exact Last-Modified date gives 304 (nginx's
    /// `if_modified_since exact`).
    fn if_modified_since_in_the_future_is_200(backend) {
        let berth = start(backend);
        let extra = "If-Modified-Since: Thu, 01 Jan 2099 00:00:00 GMT\r\n";
        let r = berth.exchange(request("GET", "/hello.txt", extra));
        r.assert_status(200);
        assert_eq!(r.text(), HELLO_TXT);
        let lm = r.expect_header("Last-Modified").to_string();
        let extra = format!("If-Modified-Since: {lm}\r\n");
        berth.exchange(request("GET", "/hello.txt", &extra)).assert_status(304);
    }

    /// A head larger than the small first read buffer still parses (the
    /// buffer grows up to the head limit), here arriving in pieces.
    fn head_larger_than_the_first_read_buffer_is_served(backend) {
        let berth = start(backend);
        let mut c = berth.connect();
        let filler = "a".repeat(100);
        let extra: String = (0..60).map(|i| format!("X-Filler-{i}: {filler}\r\n")).collect();
        let raw = request("GET", "/hello.txt", &extra);
        assert!(raw.len() > 6 * 1024);
        for piece in raw.as_bytes().chunks(1000) {
            c.send(piece);
            std::thread::sleep(Duration::from_millis(20));
        }
        let r = c.read_response();
        r.assert_status(200);
        assert_eq!(r.text(), HELLO_TXT);
        c.send(get("/hello.txt"));
        c.read_response().assert_status(200);
    }
}

/// The open file limit the fd-limit test runs berth under.
#[cfg(target_os = "linux")]
const LOW_FD_LIMIT: usize = 64;

/// Starts berth under `ulimit -n LOW_FD_LIMIT` (soft and hard: berth raises
/// its soft limit to the hard one), its stderr in a file; returns the
/// process, the file and the port.
#[cfg(target_os = "linux")]
fn start_with_low_fd_limit(
    backend: &str,
    dir: &TempDir,
) -> (std::process::Child, std::path::PathBuf, u16) {
    use std::net::{IpAddr, Ipv4Addr};
    use std::process::{Command, Stdio};
    let port = tests::server::free_ports(&[IpAddr::V4(Ipv4Addr::LOCALHOST)])[0];
    dir.file("www/hello.txt", HELLO_TXT);
    let conf = dir.join("berth.conf");
    let text =
        format!("server {{ listen 127.0.0.1:{port}; root {}/www; }}\n", dir.path().display());
    std::fs::write(&conf, text).unwrap_or_else(|e| panic!("write config: {e}"));
    let log = dir.join("stderr.log");
    let err = std::fs::File::create(&log).unwrap_or_else(|e| panic!("create log: {e}"));
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn {LOW_FD_LIMIT} && ulimit -Hn {LOW_FD_LIMIT} && exec \"$0\" \"$@\""
        ))
        .arg(tests::berth_bin())
        .arg("-c")
        .arg(&conf)
        .arg("--poller")
        .arg(backend)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn berth: {e}"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("berth started on") {
        assert!(
            Instant::now() < deadline,
            "berth did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, log, port)
}
