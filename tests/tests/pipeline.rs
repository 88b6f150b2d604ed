//! The request pipeline's defects, found in black-box runs of the old core
//! and fixed by the new one: each test is named after what broke.
#![forbid(unsafe_code)]

use std::io::Read;
use std::time::{Duration, Instant};

use tests::site;
use tests::tempdir::TempDir;
use tests::{get, Berth};

/// Size of the download that a graceful stop must not stall: far more than
/// the kernel's socket buffers hold.
const DOWNLOAD: usize = 16 * 1024 * 1024;

fn big(dir: &TempDir) {
    site::standard_files(dir);
    let data: Vec<u8> = (0..DOWNLOAD).map(|i| (i % 251) as u8).collect();
    dir.file("www/huge.bin", data);
}

fn logged(dir: &TempDir) {
    site::standard_files(dir);
    dir.symlink("www/loop", "loop");
}

const LOGGED: &str = "\
access_log {dir}/access.log;
error_log {dir}/error.log;
server {
    listen 127.0.0.1:{port0};
    server_name localhost;
    root {dir}/www;
}
";

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

tests::backend_tests! {
    /// SIGTERM while a client reads a large file slowly: the download goes
    /// on to its last byte (it stalled after the kernel's buffers were sent:
    /// no write event came again for that socket).
    fn graceful_stop_finishes_a_slow_download(backend) {
        let mut berth = Berth::start(backend, site::CONFIG, big);
        let mut c = berth.connect();
        c.send(get("/huge.bin"));
        let mut first = vec![0; 64 * 1024];
        c.stream().read_exact(&mut first).unwrap_or_else(|e| panic!("read: {e}"));
        berth.signal("TERM");
        std::thread::sleep(Duration::from_millis(300));
        let rest = c.read_until_close();
        let head_end = first.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
        let body = first.len() - head_end + rest.len();
        assert_eq!(body, DOWNLOAD, "the download stopped early");
        let status = berth.wait_exit(Duration::from_secs(5));
        assert!(status.is_some_and(|s| s.success()), "exit: {status:?}");
    }

    /// Requests behind a long file are answered after it, in order: one
    /// pipelined with the file's request, one sent while the file is under
    /// way (the connection then watches only writability, level-triggered,
    /// and must find what arrived meanwhile when it watches reads again).
    fn requests_behind_a_long_file_are_answered_after_it(backend) {
        let berth = Berth::start(backend, site::CONFIG, big);
        let mut c = berth.connect();
        c.send(format!("{}{}", get("/huge.bin"), get("/hello.txt")));
        let mut first = vec![0; 256 * 1024];
        c.stream().read_exact(&mut first).unwrap_or_else(|e| panic!("read: {e}"));
        c.send("GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let mut all = first;
        all.extend(c.read_until_close());
        let head_end = all.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
        let head = String::from_utf8_lossy(all.get(..head_end).unwrap_or_default()).into_owned();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains(&format!("Content-Length: {DOWNLOAD}")), "{head}");
        let body = all.get(head_end..head_end + DOWNLOAD).unwrap_or_default();
        assert!(body.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8), "the file's bytes");
        let rest = String::from_utf8_lossy(all.get(head_end + DOWNLOAD..).unwrap_or_default())
            .into_owned();
        assert_eq!(rest.matches("HTTP/1.1 200 OK").count(), 2, "{rest}");
        assert_eq!(rest.matches(site::HELLO_TXT).count(), 2, "{rest}");
        assert!(rest.ends_with(site::HELLO_TXT), "{rest}");
    }

    /// The access log shows the request line the parser parsed: after the
    /// empty lines RFC 9112 §2.2 lets a server skip, and whole when long.
    fn access_log_shows_the_parsed_request_line(backend) {
        let mut berth = Berth::start(backend, LOGGED, logged);
        berth.exchange("\r\n\r\nGET /../secret HTTP/1.1\r\nHost: a\r\n\r\n").assert_status(403);
        let long = format!("/hello.txt?{}", "q".repeat(3000));
        berth.get(&long).assert_status(200);
        berth.terminate();
        let log = read(&berth.dir().join("access.log"));
        assert!(log.contains("\"GET /../secret HTTP/1.1\" 403 "), "{log}");
        assert!(log.contains(&format!("\"GET {long} HTTP/1.1\" 200 13 ")), "{log}");
    }

    /// A name too long for the file system is 404 and a symlink loop 403,
    /// as nginx answers, each with its cause in the error log (both were a
    /// bare 500).
    fn name_too_long_is_404_and_symlink_loop_is_403_with_causes(backend) {
        let mut berth = Berth::start(backend, LOGGED, logged);
        berth.get(&format!("/{}", "a".repeat(300))).assert_status(404);
        berth.get("/loop").assert_status(403);
        berth.get("/../x").assert_status(403);
        berth.terminate();
        let log = read(&berth.dir().join("error.log"));
        assert!(log.contains("(36: File name too long)") || log.contains("(63: File name too long)"), "{log}");
        assert!(log.contains("symbolic links"), "{log}");
        assert!(log.contains("climbs above the root"), "{log}");
        assert!(log.contains("request: \"GET /loop HTTP/1.1\""), "{log}");
    }

    /// A reload that removes a connection's address: a request still
    /// buffered on it is never answered by another virtual host (it was
    /// routed to the first server of the file whatever its Host).
    fn reload_does_not_cross_virtual_hosts(backend) {
        let two = "\
server {
    listen 127.0.0.1:{port0};
    server_name public.test;
    root {dir}/public;
}
server {
    listen 127.0.0.1:{port1};
    server_name internal.test;
    root {dir}/internal;
}
";
        let setup = |dir: &TempDir| {
            dir.file("public/who.txt", "public\n").file("internal/who.txt", "internal\n");
        };
        let berth = Berth::start(backend, two, setup);
        let mut c = berth.connect_to(0);
        c.send("GET /who.txt HTTP/1.1\r\nHost: public.test\r\n\r\n");
        assert_eq!(c.read_response().text(), "public\n");
        c.send("GET /who.txt HTTP/1.1\r\nHost: public.test\r\n");
        let only_internal = two
            .split("server {")
            .nth(2)
            .map(|s| format!("server {{{s}"))
            .unwrap_or_default()
            .replace("{dir}", &berth.dir().path().display().to_string())
            .replace("{port1}", &berth.port(1).to_string());
        std::fs::write(berth.config_path(), only_internal).unwrap_or_else(|e| panic!("{e}"));
        berth.signal("HUP");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !berth.stderr_text().contains("configuration reloaded") {
            assert!(Instant::now() < deadline, "no reload: {}", berth.stderr_text());
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = c.try_send("\r\n");
        let rest = String::from_utf8_lossy(&c.read_until_close()).into_owned();
        assert!(!rest.contains("internal"), "another virtual host answered:\n{rest}");
    }
}
