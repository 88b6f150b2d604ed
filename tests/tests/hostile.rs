//! Hostile and broken input: traversal, malformed requests, limits,
//! smuggling attempts, cut connections, many connections and fd leaks.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use tests::site::{self, HELLO_TXT, SECRET};
use tests::{get, request, Berth};

/// A site without a body limit, so size errors are not masked by 413.
const UNLIMITED: &str = "\
server {
    listen 127.0.0.1:{port0};
    root {dir}/www;
    client_max_body_size 0;
}
";

/// Sends `raw` on a fresh connection and expects `status`, `Connection:
/// close` and the server closing the connection.
#[track_caller]
fn expect_rejected(berth: &Berth, raw: impl AsRef<[u8]>, status: u16) {
    let raw = raw.as_ref();
    let mut c = berth.connect();
    c.send(raw);
    let r = c.read_response();
    assert_eq!(
        r.status,
        status,
        "request {:?}\ngot:\n{}",
        String::from_utf8_lossy(&raw[..raw.len().min(200)]),
        r.raw_head
    );
    r.assert_date_and_server();
    assert!(r.is_close(), "error response without Connection: close:\n{}", r.raw_head);
    c.expect_closed(Duration::from_secs(2));
}

/// GET `target`: 403 and never the secret.
#[track_caller]
fn expect_forbidden(berth: &Berth, target: &str) {
    let r = berth.get(target);
    assert!(!r.text().contains(SECRET.trim()), "{target} served the secret!");
    assert_eq!(r.status, 403, "{target}:\n{}", r.raw_head);
}

/// Panics unless the server still answers a normal request.
#[track_caller]
fn assert_still_serving(berth: &mut Berth) {
    berth.assert_running();
    let r = berth.get("/hello.txt");
    r.assert_status(200);
    assert_eq!(r.text(), HELLO_TXT);
}

tests::backend_tests! {
    /// `/../` out of the root: 403.
    fn traversal_dotdot_is_403(backend) {
        let berth = site::standard(backend);
        expect_forbidden(&berth, "/../secret.txt");
        expect_forbidden(&berth, "/sub/../../secret.txt");
        expect_forbidden(&berth, "/../../../../../../etc/passwd");
    }

    /// Percent-encoded dots out of the root: 403.
    fn traversal_encoded_dots_is_403(backend) {
        let berth = site::standard(backend);
        expect_forbidden(&berth, "/%2e%2e/secret.txt");
        expect_forbidden(&berth, "/%2E%2E/secret.txt");
        expect_forbidden(&berth, "/.%2e/secret.txt");
        expect_forbidden(&berth, "/sub/%2e%2e/%2e%2e/secret.txt");
    }

    /// An encoded slash used to climb out of the root: 403.
    fn traversal_encoded_slash_is_403(backend) {
        let berth = site::standard(backend);
        expect_forbidden(&berth, "/..%2fsecret.txt");
        expect_forbidden(&berth, "/..%2Fsecret.txt");
        expect_forbidden(&berth, "/sub/..%2f..%2fsecret.txt");
    }

    /// A NUL byte (encoded) in the path: 400, as nginx.
    fn nul_in_path_is_400(backend) {
        let berth = site::standard(backend);
        let r = berth.get("/hello.txt%00.html");
        r.assert_status(400);
    }

    /// A symlink inside the root pointing to a file outside it: 403.
    fn symlink_escaping_root_is_403(backend) {
        let berth = site::standard(backend);
        expect_forbidden(&berth, "/link-out.txt");
    }

    /// A symlinked directory pointing outside the root: 403.
    fn symlinked_directory_escaping_root_is_403(backend) {
        let berth = site::standard(backend);
        expect_forbidden(&berth, "/linkdir-out/inner/secret.txt");
    }

    /// HTTP/1.1 without Host: 400.
    fn missing_host_is_400(backend) {
        let berth = site::standard(backend);
        expect_rejected(&berth, "GET /hello.txt HTTP/1.1\r\n\r\n", 400);
    }

    /// Two Host headers: 400.
    fn duplicate_host_is_400(backend) {
        let berth = site::standard(backend);
        expect_rejected(&berth, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    }

    /// Malformed request lines: 400.
    fn bad_request_line_is_400(backend) {
        let berth = site::standard(backend);
        for raw in [
            "GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n",
            "/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTX/1.1\r\nHost: a\r\n\r\n",
            "GET noslash HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.\r\nHost: a\r\n\r\n",
            "\x01\x02\x03 garbage\r\n\r\n",
        ] {
            expect_rejected(&berth, raw, 400);
        }
    }

    /// Empty lines before the request line are ignored (RFC 9112 §2.2).
    fn leading_empty_line_is_ignored(backend) {
        let berth = site::standard(backend);
        let r = berth.exchange("\r\nGET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
        r.assert_status(200);
    }

    /// Whitespace between a header name and the colon: 400 (RFC 9112 §5.1).
    fn space_before_colon_is_400(backend) {
        let berth = site::standard(backend);
        expect_rejected(&berth, "GET / HTTP/1.1\r\nHost: a\r\nX-Foo : bar\r\n\r\n", 400);
    }

    /// A folded header line (obs-fold): 400 (RFC 9112 §5.2).
    fn obs_fold_is_400(backend) {
        let berth = site::standard(backend);
        expect_rejected(&berth, "GET / HTTP/1.1\r\nHost: a\r\nX-Foo: bar\r\n baz\r\n\r\n", 400);
    }

    /// Invalid or conflicting Content-Length: 400.
    fn bad_content_length_is_400(backend) {
        let berth = site::standard(backend);
        for cl in ["Content-Length: abc\r\n", "Content-Length: -1\r\n", "Content-Length: +5\r\n",
                   "Content-Length: 1 2\r\n", "Content-Length: 5\r\nContent-Length: 6\r\n"] {
            expect_rejected(&berth, request("POST", "/post/form.txt", cl) + "hello", 400);
        }
    }

    /// Content-Length together with Transfer-Encoding (smuggling): 400.
    fn content_length_with_transfer_encoding_is_400(backend) {
        let berth = site::standard(backend);
        let raw = request(
            "POST",
            "/post/form.txt",
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        ) + "0\r\n\r\n";
        expect_rejected(&berth, raw, 400);
    }

    /// Bad chunk-size syntax: 400.
    fn bad_chunk_size_is_400(backend) {
        let berth = Berth::start(backend, UNLIMITED, site::standard_files);
        let raw = request("POST", "/hello.txt", "Transfer-Encoding: chunked\r\n") + "zz\r\nab\r\n0\r\n\r\n";
        expect_rejected(&berth, raw, 400);
    }

    /// A chunk size that overflows 64 bits: 400.
    fn chunk_size_overflow_is_400(backend) {
        let berth = Berth::start(backend, UNLIMITED, site::standard_files);
        let raw = request("POST", "/hello.txt", "Transfer-Encoding: chunked\r\n")
            + "1ffffffffffffffffffff\r\nab\r\n";
        expect_rejected(&berth, raw, 400);
    }

    /// An unknown method: 501.
    fn unknown_method_is_501(backend) {
        let berth = site::standard(backend);
        let r = berth.exchange(request("BREW", "/", ""));
        r.assert_status(501).assert_date_and_server();
    }

    /// An unknown transfer coding: 501.
    fn unknown_transfer_coding_is_501(backend) {
        let berth = site::standard(backend);
        let raw = request("POST", "/post/form.txt", "Transfer-Encoding: gzip\r\n") + "abc";
        expect_rejected(&berth, raw, 501);
    }

    /// HTTP/2.0 in a request line: 505.
    fn http_2_0_is_505(backend) {
        let berth = site::standard(backend);
        expect_rejected(&berth, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    }

    /// HTTP/1.2: 505 (DESIGN.md §4: only 1.0 and 1.1; nginx would serve it as 1.1).
    fn http_1_2_is_505(backend) {
        let berth = site::standard(backend);
        expect_rejected(&berth, "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505);
    }

    /// A request target over 8 KiB: 414.
    fn long_uri_is_414(backend) {
        let berth = site::standard(backend);
        let raw = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
        expect_rejected(&berth, raw, 414);
    }

    /// A long URI under the limit is not a 414.
    fn uri_under_limit_is_served(backend) {
        let berth = site::standard(backend);
        let r = berth.get(&format!("/hello.txt?{}", "q".repeat(7000)));
        r.assert_status(200);
    }

    /// A request head over 16 KiB: 431.
    fn huge_header_block_is_431(backend) {
        let berth = site::standard(backend);
        let raw = request("GET", "/", &format!("X-Big: {}\r\n", "b".repeat(17 * 1024)));
        expect_rejected(&berth, raw, 431);
    }

    /// Many small headers adding up to over 16 KiB: 431.
    fn many_header_bytes_is_431(backend) {
        let berth = site::standard(backend);
        let extra: String = (0..90).map(|i| format!("X-H{i}: {}\r\n", "v".repeat(200))).collect();
        expect_rejected(&berth, request("GET", "/", &extra), 431);
    }

    /// More than 100 header fields: 431.
    fn too_many_headers_is_431(backend) {
        let berth = site::standard(backend);
        let extra: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
        expect_rejected(&berth, request("GET", "/", &extra), 431);
    }

    /// 90 header fields are fine.
    fn ninety_headers_are_fine(backend) {
        let berth = site::standard(backend);
        let extra: String = (0..90).map(|i| format!("X-H{i}: v\r\n")).collect();
        berth.exchange(request("GET", "/hello.txt", &extra)).assert_status(200);
    }

    /// Half requests, garbage and resets do not take the server down.
    fn cut_connections_do_not_stop_server(backend) {
        let mut berth = site::standard(backend);
        // Half a request, then close.
        let mut c = berth.connect();
        c.send("GET /hello.txt HTTP/1.1\r\nHo");
        drop(c);
        // Garbage, then close.
        let mut c = berth.connect();
        c.send(b"\x00\xff\xfe garbage \r\n\r\n\x16\x03\x01".as_slice());
        drop(c);
        // A full request plus half of the next; close with the response
        // unread, which makes the kernel send a reset.
        let mut c = berth.connect();
        c.send(get("/hello.txt") + "GET /hel");
        std::thread::sleep(Duration::from_millis(50));
        drop(c);
        // Connect and close at once.
        drop(berth.connect());
        std::thread::sleep(Duration::from_millis(50));
        assert_still_serving(&mut berth);
    }

    /// A client that closes while a large response is being written (the
    /// server gets EPIPE / ECONNRESET) does not take the server down.
    fn client_gone_during_large_response(backend) {
        let mut berth = site::standard(backend);
        for _ in 0..5 {
            let mut c = berth.connect();
            c.send(get("/big.bin").repeat(8));
            std::thread::sleep(Duration::from_millis(10));
            drop(c);
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_still_serving(&mut berth);
    }

    /// A full request followed by a half-close of the client's write side
    /// is still answered.
    fn request_then_half_close_is_answered(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(get("/hello.txt"));
        c.shutdown_write();
        let r = c.read_response();
        r.assert_status(200);
        assert_eq!(r.text(), HELLO_TXT);
    }

    /// A client stalled mid-request does not hold up others.
    fn stalled_client_does_not_block_others(backend) {
        let berth = site::standard(backend);
        let mut slow = berth.connect();
        slow.send("GET /hello.txt HTTP/1.1\r\nHost: a\r\nX-Slow:");
        let start = Instant::now();
        berth.get("/hello.txt").assert_status(200);
        assert!(start.elapsed() < Duration::from_secs(2), "blocked by a slow client");
        slow.send(" 1\r\n\r\n");
        slow.read_response().assert_status(200);
    }

    /// A client that does not read its large responses does not hold up others.
    fn non_reading_client_does_not_block_others(backend) {
        let berth = site::standard(backend);
        let mut hog = berth.connect();
        hog.send(get("/big.bin").repeat(32));
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        berth.get("/hello.txt").assert_status(200);
        assert!(start.elapsed() < Duration::from_secs(2), "blocked by a non-reading client");
        // The hog still gets its first response intact once it reads.
        let r = hog.read_response();
        assert!(r.body == site::big_body(), "hog's response differs");
    }

    /// 200 connections opened at once, then one request on each.
    fn two_hundred_connections_at_once(backend) {
        let berth = site::standard(backend);
        let mut conns: Vec<_> = (0..200).map(|_| berth.connect()).collect();
        for c in &mut conns {
            c.send(get("/hello.txt"));
        }
        for c in &mut conns {
            assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
        }
    }

    /// 500 requests over 50 connections (with errors, closes and resets
    /// mixed in) leave the server with as many fds as before.
    #[cfg(target_os = "linux")]
    fn no_fd_leak_after_many_requests(backend) {
        let mut berth = site::standard(backend);
        // Warm up anything opened lazily (logs, caches) before counting, on
        // connections the server itself closes, so none is open at the count.
        for path in ["/hello.txt", "/nope"] {
            let mut c = berth.connect();
            c.send(request("GET", path, "Connection: close\r\n"));
            c.read_response();
            c.expect_closed(Duration::from_secs(2));
        }
        std::thread::sleep(Duration::from_millis(50));
        let before = berth.fd_count();
        for round in 0..50 {
            let mut c = berth.connect();
            let mut batch = String::new();
            for i in 0..9 {
                batch += &match i % 3 {
                    0 => get("/hello.txt"),
                    1 => get("/nope.txt"),
                    _ => get("/sub/"),
                };
            }
            batch += &request("GET", "/", "Connection: close\r\n");
            c.send(batch);
            match round % 5 {
                // Close with responses unread (reset).
                0 => {
                    std::thread::sleep(Duration::from_millis(5));
                    drop(c);
                }
                _ => {
                    for _ in 0..10 {
                        c.read_response();
                    }
                    c.expect_closed(Duration::from_secs(2));
                }
            }
        }
        for raw in ["GET / HTTP/1.1\r\n\r\n", "BREW / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"] {
            let mut c = berth.connect();
            c.send(raw);
            c.read_until_close();
        }
        berth.assert_running();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut after = berth.fd_count();
        while after != before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            after = berth.fd_count();
        }
        assert_eq!(after, before, "fd count before {before}, after {after}");
    }

    /// A broken percent escape in the path: 400.
    fn bad_percent_escape_is_400(backend) {
        let berth = site::standard(backend);
        berth.get("/%zz.txt").assert_status(400);
        berth.get("/hello.txt%2").assert_status(400);
    }

    /// A Content-Length too big for 64 bits: 400.
    fn content_length_overflow_is_400(backend) {
        let berth = Berth::start(backend, UNLIMITED, site::standard_files);
        let raw = request("POST", "/hello.txt", "Content-Length: 99999999999999999999999\r\n");
        expect_rejected(&berth, raw, 400);
    }

    /// Malformed header lines: no colon, empty name, control bytes in a value: 400.
    fn malformed_header_line_is_400(backend) {
        let berth = site::standard(backend);
        for extra in ["NoColonHere\r\n", ": empty-name\r\n", "X-A: a\rb\r\n", "X-A: a\x00b\r\n"] {
            expect_rejected(&berth, request("GET", "/", extra), 400);
        }
    }

    /// More clients than max_connections: idle keep-alive connections are
    /// closed to make room, and the server keeps serving throughout.
    fn over_max_connections_recovers(backend) {
        let config = format!("max_connections 5;\n{}", site::CONFIG);
        let mut berth = Berth::start(backend, &config, site::standard_files);
        let mut conns: Vec<_> = (0..20).map(|_| berth.connect()).collect();
        for c in &mut conns {
            // The server may already have closed an excess connection.
            let _ = c.try_send(get("/hello.txt"));
        }
        std::thread::sleep(Duration::from_millis(300));
        let served = conns
            .iter_mut()
            .map(|c| c.wait_close(Duration::from_millis(20)))
            .filter(|state| matches!(state, tests::CloseState::Data(d) if d.starts_with(b"HTTP/1.1 200")))
            .count();
        // Idle keep-alive connections are closed to make room for new clients
        // (as nginx drains them), so at least the first five are served and
        // usually every one; none is left hanging or kills the server.
        assert!(served >= 5, "{served} of 20 connections served with max_connections 5");
        drop(conns);
        std::thread::sleep(Duration::from_millis(100));
        assert_still_serving(&mut berth);
    }

    /// A 15 KiB header block is under the 16 KiB limit: served.
    fn header_block_under_limit_is_served(backend) {
        let berth = site::standard(backend);
        let raw = request("GET", "/hello.txt", &format!("X-Big: {}\r\n", "b".repeat(15 * 1024)));
        assert_eq!(berth.exchange(raw).assert_status(200).text(), HELLO_TXT);
    }

    /// Twenty clients downloading a large file at once all get it intact.
    fn concurrent_large_downloads_are_intact(backend) {
        let berth = site::standard(backend);
        let mut conns: Vec<_> = (0..20).map(|_| berth.connect()).collect();
        for c in &mut conns {
            c.send(get("/big.bin").repeat(2));
        }
        let want = site::big_body();
        for c in &mut conns {
            for _ in 0..2 {
                let r = c.read_response();
                r.assert_status(200);
                assert!(r.body == want, "a concurrent download differs");
            }
        }
    }

    /// A Host value that is not a valid host[:port]: 400 (RFC 9112 §3.2: MUST).
    fn invalid_host_value_is_400(backend) {
        let berth = site::standard(backend);
        for host in ["a b", "a/b", "a\\b"] {
            let raw = format!("GET /hello.txt HTTP/1.1\r\nHost: {host}\r\n\r\n");
            expect_rejected(&berth, raw, 400);
        }
    }

    /// A large request body the server discards (POST to a static file
    /// with no size limit) is not kept in memory.
    #[cfg(target_os = "linux")]
    fn discarded_body_does_not_grow_memory(backend) {
        let mut berth = Berth::start(backend, UNLIMITED, site::standard_files);
        berth.get("/hello.txt").assert_status(200);
        let before = berth.rss_kib();
        let mut c = berth.connect();
        let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, "z".repeat(1 << 20));
        let mut sent_all = c.try_send(request("POST", "/hello.txt", "Transfer-Encoding: chunked\r\n")).is_ok();
        for _ in 0..48 {
            if !sent_all || c.try_send(&chunk).is_err() {
                // The server may refuse to read and close instead: fine.
                sent_all = false;
                break;
            }
        }
        if sent_all {
            c.send("0\r\n\r\n");
            c.read_response().assert_status(405);
        }
        let after = berth.rss_kib();
        assert!(
            after < before + 16 * 1024,
            "RSS grew from {before} KiB to {after} KiB while discarding a 48 MiB body"
        );
        assert_still_serving(&mut berth);
    }

    /// Fifty stalled clients all get their 408 on time (timers at scale).
    fn many_stalled_clients_all_time_out(backend) {
        let config = "\
client_header_timeout 1s;
server {
    listen 127.0.0.1:{port0};
    root {dir}/www;
}
";
        let mut berth = Berth::start(backend, config, site::standard_files);
        let mut conns: Vec<_> = (0..50).map(|_| berth.connect()).collect();
        for (i, c) in conns.iter_mut().enumerate() {
            c.send(format!("GET /hello.txt?{i} HTTP/1.1\r\nHost: a\r\n"));
        }
        let start = Instant::now();
        for c in &mut conns {
            let r = c.read_response();
            r.assert_status(408);
        }
        assert!(start.elapsed() < Duration::from_secs(4), "408s took {:?}", start.elapsed());
        assert_still_serving(&mut berth);
    }
}
