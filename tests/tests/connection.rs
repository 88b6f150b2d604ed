//! Connection handling: keep-alive, pipelining, split requests, HTTP/1.0,
//! `Connection: close`, timeouts, request bodies and `Expect: 100-continue`.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use tests::client::has_token;
use tests::site::{self, HELLO_TXT, INDEX_HTML, SUB_INDEX_HTML};
use tests::{get, request, Berth};

const TIMEOUT_CONFIG: &str = "\
client_header_timeout 1s;
client_body_timeout 1s;
keepalive_timeout 1s;

server {
    listen 127.0.0.1:{port0};
    root {dir}/www;
    location /post {
        methods GET HEAD POST;
    }
}
";

/// `TIMEOUT_CONFIG` with a deferred accept (`listen ... deferred`).
const DEFERRED_CONFIG: &str = "\
client_header_timeout 1s;
keepalive_timeout 1s;

server {
    listen 127.0.0.1:{port0} deferred;
    root {dir}/www;
}
";

/// How long after a 1 s timeout the server may take to act on it.
const TIMEOUT_SLACK: Duration = Duration::from_secs(3);

tests::backend_tests! {
    /// Two requests on one connection.
    fn keep_alive_two_requests(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(get("/hello.txt"));
        let r = c.read_response();
        r.assert_status(200);
        assert!(!r.is_close(), "1.1 response closes without being asked:\n{}", r.raw_head);
        c.send(get("/"));
        assert_eq!(c.read_response().assert_status(200).text(), INDEX_HTML);
    }

    /// Three requests in one write are answered in order.
    fn pipelined_requests_answered_in_order(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(get("/hello.txt") + &get("/sub/") + &get("/"));
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
        assert_eq!(c.read_response().assert_status(200).text(), SUB_INDEX_HTML);
        assert_eq!(c.read_response().assert_status(200).text(), INDEX_HTML);
    }

    /// Pipelined requests that mix statuses, HEAD and a large file stay in order.
    fn pipelined_mixed_requests_in_order(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(
            get("/big.bin")
                + &get("/nope")
                + &request("HEAD", "/hello.txt", "")
                + &get("/hello.txt"),
        );
        let big = c.read_response();
        big.assert_status(200);
        assert!(big.body == site::big_body(), "big.bin differs");
        c.read_response().assert_status(404);
        c.read_head_response().assert_status(200);
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
    }

    /// A request written one byte at a time.
    fn request_split_one_byte_per_write(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send_slowly(get("/hello.txt"), Duration::from_millis(2));
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
        // And the connection still works for a normal request afterwards.
        c.send(get("/"));
        c.read_response().assert_status(200);
    }

    /// A request split across writes at awkward places (inside CRLF, inside a name).
    fn request_split_at_awkward_places(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        for part in ["GET /hello.txt HTTP/1.1\r", "\nHo", "st: localhost\r\n\r", "\n"] {
            c.send(part);
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
    }

    /// `Connection: close`: the response says so and the server closes.
    fn connection_close_is_honoured(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(request("GET", "/hello.txt", "Connection: close\r\n"));
        let r = c.read_response();
        r.assert_status(200);
        assert!(r.is_close(), "no Connection: close in:\n{}", r.raw_head);
        assert_eq!(r.text(), HELLO_TXT);
        c.expect_closed(Duration::from_secs(2));
    }

    /// HTTP/1.0 without keep-alive: the server closes after the response
    /// (and Host is optional in 1.0).
    fn http10_closes_by_default(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send("GET /hello.txt HTTP/1.0\r\n\r\n");
        let r = c.read_response();
        r.assert_status(200);
        assert_eq!(r.text(), HELLO_TXT);
        assert!(r.is_close(), "closing without Connection: close:\n{}", r.raw_head);
        c.expect_closed(Duration::from_secs(2));
    }

    /// HTTP/1.0 with `Connection: keep-alive`: kept alive, and it says so.
    fn http10_keep_alive_when_asked(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send("GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = c.read_response();
        r.assert_status(200);
        let conn = r.header_all("Connection").join(",");
        assert!(has_token(&conn, "keep-alive"), "1.0 keep-alive not confirmed:\n{}", r.raw_head);
        c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(c.read_response().assert_status(200).text(), INDEX_HTML);
    }

    /// An idle keep-alive connection is closed quietly after keepalive_timeout.
    fn idle_keep_alive_connection_is_closed(backend) {
        let berth = Berth::start(backend, TIMEOUT_CONFIG, site::standard_files);
        let mut c = berth.connect();
        c.send(get("/hello.txt"));
        c.read_response().assert_status(200);
        let start = Instant::now();
        c.expect_closed(Duration::from_secs(1) + TIMEOUT_SLACK);
        assert!(start.elapsed() >= Duration::from_millis(800), "closed too early: {:?}", start.elapsed());
    }

    /// A connection that never sends anything is closed after the header timeout.
    fn silent_connection_is_closed(backend) {
        let berth = Berth::start(backend, TIMEOUT_CONFIG, site::standard_files);
        let mut c = berth.connect();
        match c.wait_close(Duration::from_secs(1) + TIMEOUT_SLACK) {
            tests::CloseState::StillOpen => panic!("silent connection still open"),
            // Closing quietly or with a 408 are both fine for a connection
            // that never started a request.
            tests::CloseState::Closed | tests::CloseState::Data(_) => {}
        }
    }

    /// Half a request line, then nothing: 408 and close.
    fn stalled_request_head_gets_408(backend) {
        let berth = Berth::start(backend, TIMEOUT_CONFIG, site::standard_files);
        let mut c = berth.connect();
        c.send("GET /hel");
        let start = Instant::now();
        let r = c.read_response();
        r.assert_status(408).assert_date_and_server();
        assert!(start.elapsed() >= Duration::from_millis(800), "408 too early: {:?}", start.elapsed());
        assert!(start.elapsed() <= Duration::from_secs(1) + TIMEOUT_SLACK, "408 too late");
        c.expect_closed(Duration::from_secs(2));
    }

    /// A body that stops arriving is not waited for forever: 408 then close
    /// (client_body_timeout); or, when the server answered the POST to a
    /// static file at once (405, as nginx), close once the body stalls.
    fn stalled_request_body_times_out(backend) {
        let berth = Berth::start(backend, TIMEOUT_CONFIG, site::standard_files);
        let mut c = berth.connect();
        c.send(request("POST", "/post/form.txt", "Content-Length: 100\r\n") + "partial");
        let r = c.read_response();
        assert!(r.status == 408 || r.status == 405, "want 408 (or an early 405):\n{}", r.raw_head);
        c.expect_closed(Duration::from_secs(1) + TIMEOUT_SLACK);
    }

    /// A chunked body (with an extension and a trailer) is consumed: the
    /// POST gets nginx's 405 and the pipelined request after it is answered.
    fn chunked_request_body_is_consumed(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        let body = "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: yes\r\n\r\n";
        c.send(
            request("POST", "/post/form.txt", "Transfer-Encoding: chunked\r\n")
                + body
                + &get("/hello.txt"),
        );
        c.read_response().assert_status(405);
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
    }

    /// A chunked body sent in pieces across writes, split inside sizes and CRLFs.
    fn chunked_request_body_split_across_writes(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(request("POST", "/post/form.txt", "Transfer-Encoding: chunked\r\n"));
        for part in ["4\r", "\nwx", "yz\r\n", "0\r", "\n\r\n"] {
            std::thread::sleep(Duration::from_millis(20));
            c.send(part);
        }
        c.read_response().assert_status(405);
        c.send(get("/hello.txt"));
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
    }

    /// A Content-Length body is consumed before the next pipelined request.
    fn content_length_body_is_consumed(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(
            request("POST", "/post/form.txt", "Content-Length: 9\r\n")
                + "GET / X\r\n"
                + &get("/hello.txt"),
        );
        c.read_response().assert_status(405);
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
    }

    /// Content-Length over client_max_body_size: 413, decided before the body.
    fn body_too_large_by_content_length_is_413(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(request("POST", "/post/form.txt", "Content-Length: 11\r\n"));
        c.read_response().assert_status(413).assert_date_and_server();
    }

    /// A chunked body growing past client_max_body_size: 413.
    fn body_too_large_by_chunked_is_413(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        let chunk = format!("{:x}\r\n{}\r\n", site::MAX_BODY + 1, "x".repeat(site::MAX_BODY + 1));
        c.send(request("POST", "/post/form.txt", "Transfer-Encoding: chunked\r\n") + &chunk);
        c.read_response().assert_status(413);
    }

    /// A chunked body within the limit in several chunks is not a 413.
    fn chunked_body_at_limit_is_accepted(backend) {
        let berth = site::standard(backend);
        let body = "5\r\nabcde\r\n5\r\nfghij\r\n0\r\n\r\n";
        let r = berth.exchange(request("POST", "/post/form.txt", "Transfer-Encoding: chunked\r\n") + body);
        r.assert_status(405);
    }

    /// `Expect: 100-continue` with a body over the limit: 413 at once, no 100.
    fn expect_continue_too_large_is_413_without_100(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(request(
            "POST",
            "/post/form.txt",
            "Content-Length: 1000\r\nExpect: 100-continue\r\n",
        ));
        let r = c.read_response();
        r.assert_status(413);
    }

    /// `Expect: 100-continue` with an acceptable body: either `100 Continue`,
    /// then the final response once the body is sent; or (as nginx does for
    /// a static file) the final status at once, after which the connection
    /// is closed or still reads the body and serves the next request.
    fn expect_continue_acceptable_body(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(request("POST", "/post/form.txt", "Content-Length: 5\r\nExpect: 100-continue\r\n"));
        let first = c.read_response();
        if first.status == 100 {
            c.send("hello");
            c.read_response().assert_status(405);
        } else {
            first.assert_status(405);
            if first.is_close() {
                c.expect_closed(Duration::from_secs(2));
                return;
            }
            c.send("hello");
        }
        c.send(get("/hello.txt"));
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
    }

    /// A hundred requests in one write, answered in order.
    fn many_pipelined_requests_in_one_write(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        let paths = ["/hello.txt", "/sub/", "/nope", "/"];
        let batch: String = (0..100).map(|i| get(paths[i % 4])).collect();
        c.send(batch);
        for i in 0..100 {
            let r = c.read_response();
            match paths[i % 4] {
                "/hello.txt" => assert_eq!(r.assert_status(200).text(), HELLO_TXT, "#{i}"),
                "/sub/" => assert_eq!(r.assert_status(200).text(), SUB_INDEX_HTML, "#{i}"),
                "/nope" => {
                    r.assert_status(404);
                }
                _ => assert_eq!(r.assert_status(200).text(), INDEX_HTML, "#{i}"),
            }
        }
    }

    /// Requests pipelined after one with `Connection: close` are not answered.
    fn pipelined_request_after_close_is_not_answered(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(request("GET", "/hello.txt", "Connection: close\r\n") + &get("/"));
        let r = c.read_response();
        r.assert_status(200);
        assert!(r.is_close(), "no Connection: close:\n{}", r.raw_head);
        c.expect_closed(Duration::from_secs(2));
    }

    /// `keepalive_timeout 0` turns keep-alive off (nginx): each response says
    /// `Connection: close` and pipelined requests after it are not answered.
    fn keepalive_timeout_zero_closes_after_each_response(backend) {
        let config = site::CONFIG.replace("keepalive_timeout 5s;", "keepalive_timeout 0;");
        let berth = Berth::start(backend, &config, site::standard_files);
        let mut c = berth.connect();
        c.send(get("/hello.txt") + &get("/"));
        let r = c.read_response();
        assert_eq!(r.assert_status(200).text(), HELLO_TXT);
        assert!(r.is_close(), "no Connection: close with keepalive_timeout 0:\n{}", r.raw_head);
        c.expect_closed(Duration::from_secs(2));
        // HTTP/1.0 asking for keep-alive gets a close too.
        let mut c = berth.connect();
        c.send("GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = c.read_response();
        assert!(r.is_close(), "no Connection: close for 1.0:\n{}", r.raw_head);
        c.expect_closed(Duration::from_secs(2));
    }

    /// A GET with a body: the body is consumed, not taken as the next request.
    fn get_with_body_is_consumed(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(request("GET", "/hello.txt", "Content-Length: 9\r\n") + "GET / X\r\n" + &get("/"));
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
        assert_eq!(c.read_response().assert_status(200).text(), INDEX_HTML);
    }

    /// An absolute-form target is accepted (RFC 9112 §3.2.2).
    fn absolute_form_target_is_accepted(backend) {
        let berth = site::standard(backend);
        let raw = "GET http://localhost/hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";
        assert_eq!(berth.exchange(raw).assert_status(200).text(), HELLO_TXT);
    }

    /// Header names are case-insensitive.
    fn header_names_are_case_insensitive(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send("GET /hello.txt HTTP/1.1\r\nhOST: localhost\r\nconnection: CLOSE\r\n\r\n");
        let r = c.read_response();
        r.assert_status(200);
        assert!(r.is_close(), "lowercase connection: close not honoured:\n{}", r.raw_head);
        c.expect_closed(Duration::from_secs(2));
    }

    /// A Content-Length exactly at client_max_body_size is not a 413.
    fn content_length_at_limit_is_accepted(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        let limit = site::MAX_BODY;
        c.send(request("POST", "/post/form.txt", &format!("Content-Length: {limit}\r\n")));
        c.send("x".repeat(limit));
        c.read_response().assert_status(405);
        c.send(get("/hello.txt"));
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
    }

    /// A chunked body written one byte at a time.
    fn chunked_body_one_byte_per_write(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(request("POST", "/post/form.txt", "Transfer-Encoding: chunked\r\n"));
        c.send_slowly("2;a=b\r\nxy\r\n0\r\nT: 1\r\n\r\n", Duration::from_millis(2));
        c.read_response().assert_status(405);
        c.send(get("/hello.txt"));
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
    }

    /// Header lines trickling in forever do not keep a request open past
    /// client_header_timeout (slowloris): 408 and close.
    fn slowloris_header_trickle_gets_408(backend) {
        let berth = Berth::start(backend, TIMEOUT_CONFIG, site::standard_files);
        let mut c = berth.connect();
        c.send("GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n");
        let start = Instant::now();
        let got = loop {
            assert!(
                start.elapsed() < Duration::from_secs(1) + TIMEOUT_SLACK,
                "a trickling client was never timed out"
            );
            if c.try_send("X-Trickle: 1\r\n").is_err() {
                break Vec::new();
            }
            match c.wait_close(Duration::from_millis(200)) {
                tests::CloseState::StillOpen => continue,
                tests::CloseState::Data(d) => break d,
                tests::CloseState::Closed => break Vec::new(),
            }
        };
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 408"), "want a 408, got {text:?}");
    }

    /// A client that stops reading a large response is dropped after
    /// send_timeout instead of being kept forever.
    fn send_timeout_closes_non_reading_client(backend) {
        let config = TIMEOUT_CONFIG.replace("keepalive_timeout 1s;", "keepalive_timeout 1s;\nsend_timeout 1s;");
        let berth = Berth::start(backend, &config, site::standard_files);
        let mut c = berth.connect();
        let copies = 64;
        c.send(get("/big.bin").repeat(copies));
        std::thread::sleep(Duration::from_secs(1) + TIMEOUT_SLACK);
        let got = c.read_until_close();
        assert!(
            got.len() < copies * site::BIG_LEN,
            "all {} bytes were sent to a client that did not read",
            got.len()
        );
    }

    /// The keep-alive timer restarts with each request: a connection used
    /// every 0.6 s outlives a 1 s keepalive_timeout.
    fn keep_alive_timer_restarts_per_request(backend) {
        let berth = Berth::start(backend, TIMEOUT_CONFIG, site::standard_files);
        let mut c = berth.connect();
        for _ in 0..4 {
            c.send(get("/hello.txt"));
            assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
            std::thread::sleep(Duration::from_millis(600));
        }
    }

    /// A slow but steady reader of a large response is not cut off by
    /// send_timeout (the timer measures stalls, not the whole transfer).
    fn slow_steady_reader_is_not_cut(backend) {
        let config = TIMEOUT_CONFIG.replace("keepalive_timeout 1s;", "keepalive_timeout 1s;\nsend_timeout 1s;");
        let berth = Berth::start(backend, &config, site::standard_files);
        let mut c = berth.connect();
        let copies = 40;
        c.send(get("/big.bin").repeat(copies - 1) + &request("GET", "/big.bin", "Connection: close\r\n"));
        let mut total = Vec::new();
        let mut chunk = vec![0u8; 256 * 1024];
        let start = Instant::now();
        loop {
            assert!(start.elapsed() < Duration::from_secs(20), "transfer too slow");
            match std::io::Read::read(c.stream(), &mut chunk) {
                Ok(0) => break,
                Ok(n) => total.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("read after {} bytes: {e}", total.len()),
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let body_bytes: usize = copies * site::BIG_LEN;
        assert!(total.len() > body_bytes, "got {} bytes, want over {body_bytes}", total.len());
        // Every response is complete: count the status lines and check the tail.
        let heads = total.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count();
        assert_eq!(heads, copies, "responses received");
        assert!(total.ends_with(&site::big_body()[site::BIG_LEN - 1000..]), "last body cut");
    }

    /// Pipelined requests that add up to more than the 16 KiB head buffer.
    fn pipelined_requests_larger_than_buffer(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        let pad = format!("X-Pad: {}\r\n", "p".repeat(150));
        let n = 200;
        let batch: String = (0..n).map(|_| request("GET", "/hello.txt", &pad)).collect();
        assert!(batch.len() > 32 * 1024);
        c.send(batch);
        for i in 0..n {
            assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT, "#{i}");
        }
    }

    /// Requests that arrive while the server is blocked writing earlier
    /// responses (the client is not reading) are answered later, in order.
    fn requests_sent_while_output_blocked_are_answered(backend) {
        let berth = site::standard(backend);
        let mut c = berth.connect();
        let copies = 32;
        c.send(get("/big.bin").repeat(copies));
        std::thread::sleep(Duration::from_millis(100));
        c.send(get("/hello.txt"));
        std::thread::sleep(Duration::from_millis(100));
        c.send(get("/sub/"));
        let want = site::big_body();
        for i in 0..copies {
            let r = c.read_response();
            r.assert_status(200);
            assert!(r.body == want, "big response #{i} differs");
        }
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
        assert_eq!(c.read_response().assert_status(200).text(), SUB_INDEX_HTML);
    }

    /// `listen ... deferred`: requests are answered as usual, including one
    /// that comes a while after the connection; a client that never sends
    /// anything is still handed over by the kernel (after about a second)
    /// and cut at `client_header_timeout`, as without it.
    fn deferred_accept_answers_and_times_out_silent_clients(backend) {
        let berth = Berth::start(backend, DEFERRED_CONFIG, site::standard_files);
        let mut c = berth.connect();
        c.send(get("/hello.txt"));
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
        let mut late = berth.connect();
        std::thread::sleep(Duration::from_millis(300));
        late.send(get("/hello.txt") + &get("/sub/"));
        assert_eq!(late.read_response().assert_status(200).text(), HELLO_TXT);
        assert_eq!(late.read_response().assert_status(200).text(), SUB_INDEX_HTML);
        let mut silent = berth.connect();
        // Up to about 1 s in the kernel (plus a retransmitted SYN-ACK), then
        // the 1 s header timeout.
        match silent.wait_close(Duration::from_secs(2) + TIMEOUT_SLACK + TIMEOUT_SLACK) {
            tests::CloseState::StillOpen => panic!("silent connection still open"),
            tests::CloseState::Closed | tests::CloseState::Data(_) => {}
        }
    }
}
