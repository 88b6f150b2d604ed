//! Process lifecycle: graceful stop on SIGTERM and SIGINT.
#![forbid(unsafe_code)]

use std::io::Read;
use std::time::{Duration, Instant};

use tests::site::{self, HELLO_TXT};
use tests::{get, Berth, TempDir};

/// Size of the file whose response is in flight at SIGTERM: well over what
/// the loopback socket buffers hold, so the server is still writing.
const HUGE_LEN: usize = 16 * 1024 * 1024;

fn huge_body() -> Vec<u8> {
    (0..HUGE_LEN).map(|i| (i % 253) as u8).collect()
}

fn huge_site(dir: &TempDir) {
    site::standard_files(dir);
    dir.file("www/huge.bin", huge_body());
}

tests::backend_tests! {
    /// SIGTERM on an idle server: exit status 0, promptly.
    fn sigterm_exits_zero(backend) {
        let mut berth = site::standard(backend);
        berth.get("/hello.txt").assert_status(200);
        let start = Instant::now();
        let status = berth.terminate();
        assert!(status.success(), "exit status after SIGTERM: {status}");
        assert!(start.elapsed() < Duration::from_secs(3), "slow exit: {:?}", start.elapsed());
    }

    /// SIGINT: the same graceful stop.
    fn sigint_exits_zero(backend) {
        let mut berth = site::standard(backend);
        berth.signal("INT");
        let status = berth.wait_exit(Duration::from_secs(5));
        match status {
            Some(s) => assert!(s.success(), "exit status after SIGINT: {s}"),
            None => panic!("berth did not exit within 5 s of SIGINT"),
        }
    }

    /// A response in flight at SIGTERM is finished, then the server exits 0.
    fn sigterm_finishes_response_in_flight(backend) {
        let mut berth = Berth::start(backend, site::CONFIG, huge_site);
        let mut c = berth.connect();
        c.send(get("/huge.bin"));
        // Read a little so the response is surely under way, then signal.
        let mut first = [0u8; 4096];
        let n = c.stream().read(&mut first).unwrap_or_else(|e| panic!("read: {e}"));
        assert!(n > 0, "connection closed before the response");
        let mut got = first[..n].to_vec();
        berth.signal("TERM");
        std::thread::sleep(Duration::from_millis(100));
        got.extend(c.read_until_close());
        let head_end = got
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no response head in {} bytes", got.len()))
            + 4;
        let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 200"), "head:\n{head}");
        let body = &got[head_end..];
        assert_eq!(body.len(), HUGE_LEN, "body cut short at SIGTERM\nhead:\n{head}");
        assert!(body == huge_body().as_slice(), "body corrupted");
        match berth.wait_exit(Duration::from_secs(5)) {
            Some(s) => assert!(s.success(), "exit status after SIGTERM: {s}"),
            None => panic!("berth did not exit after finishing the response"),
        }
    }

    /// An idle keep-alive connection does not hold up a SIGTERM stop.
    fn sigterm_with_idle_keep_alive_connection(backend) {
        let mut berth = site::standard(backend);
        let mut c = berth.connect();
        c.send(get("/hello.txt"));
        assert_eq!(c.read_response().assert_status(200).text(), HELLO_TXT);
        let start = Instant::now();
        let status = berth.terminate();
        assert!(status.success(), "exit status after SIGTERM: {status}");
        assert!(start.elapsed() < Duration::from_secs(3), "waited for the idle connection");
        c.expect_closed(Duration::from_secs(1));
    }

    /// SIGHUP does not stop the server.
    fn sighup_keeps_serving(backend) {
        let mut berth = site::standard(backend);
        berth.signal("HUP");
        std::thread::sleep(Duration::from_millis(200));
        berth.assert_running();
        assert_eq!(berth.get("/hello.txt").assert_status(200).text(), HELLO_TXT);
    }

    /// A request half received at SIGTERM is still answered once complete,
    /// with `Connection: close`; then the server exits 0.
    fn sigterm_answers_request_being_received(backend) {
        let mut berth = site::standard(backend);
        let mut c = berth.connect();
        c.send("GET /hello.txt HTTP/1.1\r\nHo");
        std::thread::sleep(Duration::from_millis(50));
        berth.signal("TERM");
        std::thread::sleep(Duration::from_millis(200));
        c.send("st: localhost\r\n\r\n");
        let r = c.read_response();
        r.assert_status(200);
        assert_eq!(r.text(), HELLO_TXT);
        assert!(r.is_close(), "no Connection: close during shutdown:\n{}", r.raw_head);
        match berth.wait_exit(Duration::from_secs(3)) {
            Some(s) => assert!(s.success(), "exit status after SIGTERM: {s}"),
            None => panic!("berth did not exit after the last response"),
        }
    }

    /// After SIGTERM the listeners are closed: new connections are refused.
    fn sigterm_stops_accepting(backend) {
        let mut berth = Berth::start(backend, site::CONFIG, huge_site);
        // Keep the server busy with a response in flight so it is still
        // running while we try to connect.
        let mut c = berth.connect();
        c.send(get("/huge.bin"));
        let mut first = [0u8; 1024];
        let n = c.stream().read(&mut first).unwrap_or_else(|e| panic!("read: {e}"));
        assert!(n > 0);
        berth.signal("TERM");
        std::thread::sleep(Duration::from_millis(300));
        berth.assert_running();
        let refused = tests::Client::try_connect(berth.addr(0)).is_err();
        assert!(refused, "a new connection was accepted after SIGTERM");
        c.read_until_close();
        assert!(berth.wait_exit(Duration::from_secs(5)).is_some_and(|s| s.success()));
    }
}
