//! Process lifecycle: the startup line, graceful stop on SIGTERM, SIGINT and
//! SIGQUIT, log reopening on SIGUSR1, and the signals sent by habit that must
//! not stop the server (SIGUSR2, SIGWINCH), as in the table of
//! `docs/operations.md`.
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::Path;
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

/// Waits until the file at `path` has a line containing `needle`.
#[track_caller]
fn wait_for_file_line(path: &Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().any(|l| l.contains(needle)) {
            return;
        }
        assert!(Instant::now() < deadline, "no {needle:?} in {}:\n{text}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the server's stderr contains `needle`.
#[track_caller]
fn wait_for_stderr(berth: &Berth, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !berth.stderr_text().contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?} in stderr:\n{}", berth.stderr_text());
        std::thread::sleep(Duration::from_millis(10));
    }
}

tests::backend_tests! {
    /// The startup line gives a URL to click for each listener.
    fn startup_line_has_a_url_per_listener(backend) {
        let text = site::CONFIG.replace(
            "listen 127.0.0.1:{port0};",
            "listen 127.0.0.1:{port0};\n    listen 127.0.0.1:{port1};",
        );
        let berth = Berth::start(backend, &text, site::standard_files);
        let want = format!(
            "berth started on http://127.0.0.1:{}/ http://127.0.0.1:{}/ ({backend}, pid {})",
            berth.port(0),
            berth.port(1),
            berth.pid()
        );
        assert!(berth.stderr_text().contains(&want), "stderr:\n{}", berth.stderr_text());
    }

    /// SIGQUIT, nginx's graceful stop: the same as SIGTERM, exit status 0.
    fn sigquit_stops_gracefully(backend) {
        let mut berth = Berth::start(backend, site::CONFIG, huge_site);
        let mut c = berth.connect();
        c.send(get("/huge.bin"));
        let mut first = [0u8; 4096];
        let n = c.stream().read(&mut first).unwrap_or_else(|e| panic!("read: {e}"));
        assert!(n > 0, "connection closed before the response");
        berth.signal("QUIT");
        let mut got = first[..n].to_vec();
        got.extend(c.read_until_close());
        let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |i| i + 4);
        assert_eq!(got.len() - head_end, HUGE_LEN, "the response in flight was cut at SIGQUIT");
        match berth.wait_exit(Duration::from_secs(5)) {
            Some(s) => assert!(s.success(), "exit status after SIGQUIT: {s}"),
            None => panic!("berth did not exit within 5 s of SIGQUIT"),
        }
        let log = berth.stderr_text();
        assert!(log.contains("SIGQUIT received, graceful shutdown"), "stderr:\n{log}");
    }

    /// SIGUSR1 (logrotate's postrotate habit): the logs are reopened at their
    /// configured paths and the server keeps serving, nothing is lost.
    fn sigusr1_reopens_the_logs_and_keeps_serving(backend) {
        let text = format!("access_log {{dir}}/access.log;\n{}", site::CONFIG);
        let mut berth = Berth::start(backend, &text, site::standard_files);
        let log = berth.dir().join("access.log");
        let rotated = berth.dir().join("access.log.1");
        berth.get("/hello.txt?before").assert_status(200);
        // Moved away while the line may still be buffered: the reopen
        // flushes it into the old file first.
        std::fs::rename(&log, &rotated).unwrap_or_else(|e| panic!("rename: {e}"));
        berth.signal("USR1");
        wait_for_stderr(&berth, "logs reopened");
        assert!(log.exists(), "no new access.log after SIGUSR1");
        berth.get("/hello.txt?after").assert_status(200);
        wait_for_file_line(&log, "/hello.txt?after");
        wait_for_file_line(&rotated, "/hello.txt?before");
        let old = std::fs::read_to_string(&rotated).unwrap_or_default();
        assert!(!old.contains("?after"), "a line went to the rotated file:\n{old}");
        let new = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(!new.contains("?before"), "a line went to the new file:\n{new}");
        berth.assert_running();
        assert!(berth.stderr_text().contains("SIGUSR1 received, reopening the logs"));
    }

    /// SIGUSR1 with the error log in a file: that one is reopened too.
    fn sigusr1_reopens_the_error_log(backend) {
        let text = format!("error_log {{dir}}/error.log;\n{}", site::CONFIG);
        let mut berth = Berth::start(backend, &text, site::standard_files);
        let log = berth.dir().join("error.log");
        wait_for_file_line(&log, "berth started on");
        std::fs::rename(&log, berth.dir().join("error.log.1")).unwrap_or_else(|e| panic!("{e}"));
        berth.signal("USR1");
        wait_for_file_line(&log, "logs reopened");
        berth.get("/hello.txt").assert_status(200);
        berth.assert_running();
    }

    /// SIGUSR2 and SIGWINCH (nginx's binary upgrade and worker stop) are
    /// logged and ignored: they used to kill Berth (exit 140).
    fn sigusr2_and_sigwinch_do_not_stop_the_server(backend) {
        let mut berth = site::standard(backend);
        for sig in ["USR2", "WINCH"] {
            berth.signal(sig);
            wait_for_stderr(&berth, &format!("SIG{sig} received, ignored"));
            berth.assert_running();
            assert_eq!(berth.get("/hello.txt").assert_status(200).text(), HELLO_TXT);
        }
        let status = berth.terminate();
        assert!(status.success(), "exit status after SIGTERM: {status}");
    }

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
