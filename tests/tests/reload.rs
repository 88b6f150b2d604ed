//! SIGHUP reload (the configuration file re-read and applied, or kept on
//! error), log reopening, and `max_connections` (idle keep-alive connections
//! closed to make room; a huge value does not overflow).
#![forbid(unsafe_code)]

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::Command;
use std::time::{Duration, Instant};

use tests::server::free_ports;
use tests::{get, Berth, Client, TempDir};

/// How long a reload may take to show in the error log.
const RELOAD_WAIT: Duration = Duration::from_secs(5);
/// Logged once a reload has been applied.
const RELOADED: &str = "configuration reloaded";
/// Logged when a reload failed and the running configuration stays.
const KEPT: &str = "reload failed";

/// Size of the file whose response is in flight at SIGHUP: well over what
/// the loopback socket buffers hold, so the server is still writing.
const HUGE_LEN: usize = 16 * 1024 * 1024;

/// One server on `{port0}` serving `{dir}/{root}`, long timeouts (so only
/// the behaviour under test closes a connection).
fn config(root: &str, listens: &[String], extra: &str) -> String {
    let listens: String = listens.iter().map(|l| format!("    listen {l};\n")).collect();
    format!(
        "{extra}keepalive_timeout 30s;
client_header_timeout 30s;

server {{
{listens}    server_name localhost;
    root {{dir}}/{root};
}}
"
    )
}

fn port0() -> Vec<String> {
    vec!["127.0.0.1:{port0}".to_string()]
}

/// Two docroots: `old/` and `new/`, each with its own `which.txt`.
fn two_roots(dir: &TempDir) {
    dir.file("old/which.txt", "old\n").file("new/which.txt", "new\n");
}

fn huge_body() -> Vec<u8> {
    (0..HUGE_LEN).map(|i| (i % 253) as u8).collect()
}

/// Fills `{dir}`, `{port<i>}` of `template` with the running server's values.
fn render(berth: &Berth, template: &str) -> String {
    let mut text = template.replace("{dir}", &berth.dir().path().display().to_string());
    for i in (0..8).rev() {
        let key = format!("{{port{i}}}");
        if text.contains(&key) {
            text = text.replace(&key, &berth.port(i).to_string());
        }
    }
    text
}

/// How many times `needle` occurs in the server's stderr.
fn occurrences(berth: &Berth, needle: &str) -> usize {
    berth.stderr_text().matches(needle).count()
}

/// Writes `text` as the server's configuration file, sends SIGHUP and waits
/// until the error log says the reload was applied (`RELOADED`) or refused
/// (`KEPT`); returns which.
#[track_caller]
fn reload_with(berth: &Berth, text: &str) -> &'static str {
    let before = (occurrences(berth, RELOADED), occurrences(berth, KEPT));
    std::fs::write(berth.config_path(), text).unwrap_or_else(|e| panic!("write config: {e}"));
    berth.signal("HUP");
    let deadline = Instant::now() + RELOAD_WAIT;
    loop {
        if occurrences(berth, RELOADED) > before.0 {
            return RELOADED;
        }
        if occurrences(berth, KEPT) > before.1 {
            return KEPT;
        }
        assert!(
            Instant::now() < deadline,
            "no reload outcome logged within {RELOAD_WAIT:?}; stderr:\n{}",
            berth.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `GET path` on `c`, expecting 200 and returning the body.
#[track_caller]
fn fetch(c: &mut Client, path: &str) -> String {
    c.send(get(path));
    let r = c.read_response();
    r.assert_status(200);
    assert!(!r.is_close(), "keep-alive response closes:\n{}", r.raw_head);
    r.text()
}

/// Whether a connection to `addr` is refused (allowing a moment for a
/// closed listener's last queued connection to be reset).
fn refuses(addr: std::net::SocketAddr) -> bool {
    match Client::try_connect(addr) {
        Err(_) => true,
        Ok(mut c) => {
            // Accepted by the kernel before the listener closed: it must be
            // dropped without an answer.
            let _ = c.try_send(get("/which.txt"));
            matches!(c.wait_close(Duration::from_secs(2)), tests::CloseState::Closed)
        }
    }
}

tests::backend_tests! {
    /// A changed root is served after SIGHUP on a new connection and on a
    /// keep-alive connection opened before the reload.
    fn reload_changes_root(backend) {
        let mut berth = Berth::start(backend, &config("old", &port0(), ""), two_roots);
        let mut kept = berth.connect();
        assert_eq!(fetch(&mut kept, "/which.txt"), "old\n");
        let outcome = reload_with(&berth, &render(&berth, &config("new", &port0(), "")));
        assert_eq!(outcome, RELOADED, "stderr:\n{}", berth.stderr_text());
        assert_eq!(berth.get("/which.txt").assert_status(200).text(), "new\n");
        assert_eq!(fetch(&mut kept, "/which.txt"), "new\n", "kept connection uses the old config");
        berth.assert_running();
    }

    /// A `listen` added by a reload answers; the old port keeps serving.
    fn reload_adds_listener(backend) {
        let mut berth = Berth::start(backend, &config("old", &port0(), ""), two_roots);
        let extra = free_ports(&[IpAddr::V4(Ipv4Addr::LOCALHOST)])[0];
        let listens = vec!["127.0.0.1:{port0}".to_string(), format!("127.0.0.1:{extra}")];
        let outcome = reload_with(&berth, &render(&berth, &config("new", &listens, "")));
        assert_eq!(outcome, RELOADED, "stderr:\n{}", berth.stderr_text());
        let addr = std::net::SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), extra);
        let mut c = Client::connect(addr);
        assert_eq!(fetch(&mut c, "/which.txt"), "new\n");
        assert_eq!(berth.get("/which.txt").assert_status(200).text(), "new\n");
        berth.assert_running();
    }

    /// A `listen` removed by a reload refuses connections and its idle
    /// keep-alive connections are closed, while the other port keeps serving
    /// (on its connections opened before the reload too).
    fn reload_removes_listener(backend) {
        let both = vec!["127.0.0.1:{port0}".to_string(), "127.0.0.1:{port1}".to_string()];
        let mut berth = Berth::start(backend, &config("old", &both, ""), two_roots);
        let mut on0 = berth.connect_to(0);
        let mut on1 = berth.connect_to(1);
        assert_eq!(fetch(&mut on0, "/which.txt"), "old\n");
        assert_eq!(fetch(&mut on1, "/which.txt"), "old\n");
        let outcome = reload_with(&berth, &render(&berth, &config("new", &port0(), "")));
        assert_eq!(outcome, RELOADED, "stderr:\n{}", berth.stderr_text());
        on1.expect_closed(Duration::from_secs(2));
        assert!(refuses(berth.addr(1)), "a removed listener still serves");
        assert_eq!(fetch(&mut on0, "/which.txt"), "new\n");
        assert_eq!(berth.get("/which.txt").assert_status(200).text(), "new\n");
        berth.assert_running();
    }

    /// A broken configuration on SIGHUP: the error is logged as
    /// FILE:LINE:COL and the old configuration keeps serving, on old and new
    /// connections; a fixed file then reloads.
    fn reload_logs_the_new_files_warnings(backend) {
        let mut berth = Berth::start(backend, &config("old", &port0(), ""), two_roots);
        let text = render(&berth, &config("new", &port0(), ""))
            .replace(
                "    server_name localhost;",
                "    server_name localhost;\n    location /c { types { a/b x; a/c X; } }",
            );
        let line = text.lines().position(|l| l.contains("a/c X")).unwrap_or(0) + 1;
        assert_eq!(reload_with(&berth, &text), RELOADED);
        let want = format!(
            "[warn] {}:{line}:38: warning: duplicate extension \"X\"",
            berth.config_path().display()
        );
        let log = berth.stderr_text();
        assert!(log.contains(&want), "no {want:?} in stderr:\n{log}");
        assert_eq!(berth.get("/which.txt").assert_status(200).text(), "new\n");
        berth.assert_running();
    }

    fn reload_with_broken_config_keeps_old(backend) {
        let mut berth = Berth::start(backend, &config("old", &port0(), ""), two_roots);
        let mut kept = berth.connect();
        assert_eq!(fetch(&mut kept, "/which.txt"), "old\n");
        let broken = render(&berth, &config("new", &port0(), "")).replace("    root ", "    rooot ");
        let line = broken.lines().position(|l| l.contains("rooot")).unwrap_or(0) + 1;
        assert_eq!(reload_with(&berth, &broken), KEPT);
        let file = berth.config_path().display().to_string();
        let want = format!("{file}:{line}:5: unknown directive \"rooot\"");
        let log = berth.stderr_text();
        assert!(log.contains(&want), "no {want:?} in stderr:\n{log}");
        assert_eq!(berth.get("/which.txt").assert_status(200).text(), "old\n");
        assert_eq!(fetch(&mut kept, "/which.txt"), "old\n");
        berth.assert_running();
        let fixed = render(&berth, &config("new", &port0(), ""));
        assert_eq!(reload_with(&berth, &fixed), RELOADED);
        assert_eq!(fetch(&mut kept, "/which.txt"), "new\n");
    }

    /// A new address that cannot be bound fails the whole reload: nothing
    /// of the new configuration (here its root) is applied.
    fn reload_bind_failure_applies_nothing(backend) {
        let mut berth = Berth::start(backend, &config("old", &port0(), ""), two_roots);
        let taken = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let port = taken.local_addr().unwrap_or_else(|e| panic!("local_addr: {e}")).port();
        let listens = vec!["127.0.0.1:{port0}".to_string(), format!("127.0.0.1:{port}")];
        let text = render(&berth, &config("new", &listens, ""));
        assert_eq!(reload_with(&berth, &text), KEPT);
        let log = berth.stderr_text();
        assert!(log.contains(&format!("bind 127.0.0.1:{port}")), "stderr:\n{log}");
        assert_eq!(berth.get("/which.txt").assert_status(200).text(), "old\n");
        berth.assert_running();
    }

    /// A response in flight at SIGHUP is finished intact; the connection's
    /// next request uses the new configuration.
    fn reload_finishes_response_in_flight(backend) {
        let setup = |dir: &TempDir| {
            two_roots(dir);
            dir.file("old/huge.bin", huge_body());
        };
        let mut berth = Berth::start(backend, &config("old", &port0(), ""), setup);
        let mut c = berth.connect();
        c.send(get("/huge.bin"));
        let mut first = [0u8; 4096];
        let n = c.stream().read(&mut first).unwrap_or_else(|e| panic!("read: {e}"));
        assert!(n > 0, "connection closed before the response");
        let head_end = first[..n]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no response head in the first {n} bytes"))
            + 4;
        let head = String::from_utf8_lossy(&first[..head_end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 200"), "head:\n{head}");
        let outcome = reload_with(&berth, &render(&berth, &config("new", &port0(), "")));
        assert_eq!(outcome, RELOADED);
        let mut body = first[head_end..n].to_vec();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut chunk = vec![0u8; 64 * 1024];
        while body.len() < HUGE_LEN {
            assert!(Instant::now() < deadline, "body stalled at {} bytes", body.len());
            match c.stream().read(&mut chunk) {
                Ok(0) => break,
                Ok(k) => body.extend_from_slice(&chunk[..k]),
                Err(e) => panic!("read after {} bytes: {e}", body.len()),
            }
        }
        assert_eq!(body.len(), HUGE_LEN, "body cut short by the reload");
        assert!(body == huge_body(), "body corrupted");
        // The new root has no huge.bin; it does have which.txt.
        c.send(get("/huge.bin"));
        c.read_response().assert_status(404);
        assert_eq!(fetch(&mut c, "/which.txt"), "new\n");
        berth.assert_running();
    }

    /// A shorter keepalive_timeout applies to connections already idle.
    fn reload_applies_new_timeouts(backend) {
        let mut berth = Berth::start(backend, &config("old", &port0(), ""), two_roots);
        let mut c = berth.connect();
        assert_eq!(fetch(&mut c, "/which.txt"), "old\n");
        let text = render(&berth, &config("old", &port0(), "")).replace(
            "keepalive_timeout 30s;",
            "keepalive_timeout 1s;",
        );
        assert_eq!(reload_with(&berth, &text), RELOADED);
        let start = Instant::now();
        c.expect_closed(Duration::from_secs(5));
        assert!(start.elapsed() < Duration::from_secs(4), "closed after {:?}", start.elapsed());
        berth.assert_running();
    }

    /// SIGHUP reopens the access log: after the file is moved away (log
    /// rotation), new lines go to a new file at the configured path.
    fn reload_reopens_access_log(backend) {
        let text = config("old", &port0(), "access_log {dir}/access.log;\n");
        let mut berth = Berth::start(backend, &text, two_roots);
        berth.get("/which.txt?before").assert_status(200);
        let log = berth.dir().join("access.log");
        let rotated = berth.dir().join("access.log.1");
        wait_for_file_line(&log, "/which.txt?before");
        std::fs::rename(&log, &rotated).unwrap_or_else(|e| panic!("rename: {e}"));
        assert_eq!(reload_with(&berth, &render(&berth, &text)), RELOADED);
        berth.get("/which.txt?after").assert_status(200);
        wait_for_file_line(&log, "/which.txt?after");
        let old = std::fs::read_to_string(&rotated).unwrap_or_default();
        assert!(!old.contains("?after"), "a line went to the rotated file:\n{old}");
        berth.assert_running();
    }

    /// `listen ... deferred` turned on and off by reloads on the socket the
    /// reload keeps: a silent client then waits in the kernel (its server
    /// side in `SYN_RECV`, no process sees it) or is accepted at once.
    /// Linux only: read from `/proc/net/tcp`, and elsewhere `deferred` is
    /// only warned about.
    fn reload_turns_deferred_accept_on_and_off(backend) {
        if !cfg!(target_os = "linux") {
            return;
        }
        let mut berth = Berth::start(backend, &config("old", &port0(), ""), two_roots);
        let port = berth.port(0);
        let deferred = vec!["127.0.0.1:{port0} deferred".to_string()];
        let steps = [(port0(), false), (deferred, true), (port0(), false)];
        for (i, (listens, waits)) in steps.into_iter().enumerate() {
            // The first step is the configuration the server started with.
            if i > 0 {
                let outcome = reload_with(&berth, &render(&berth, &config("new", &listens, "")));
                assert_eq!(outcome, RELOADED, "stderr:\n{}", berth.stderr_text());
            }
            // The handshake is done (or nearly: the kernel may finish it in a
            // softirq a moment later) when `connect` returns, so the state
            // is read at once and for at most 300 ms until it is the one
            // expected. A deferred client is let in after about 1 s (a
            // retransmitted SYN-ACK), so a reading later than that (a
            // stalled test thread) proves nothing and is taken again.
            let expected = if waits { TCP_SYN_RECV } else { TCP_ESTABLISHED };
            let mut tries = 0;
            let mut silent = loop {
                tries += 1;
                let start = Instant::now();
                let mut silent = berth.connect();
                let client_port = silent.stream().local_addr().map_or(0, |a| a.port());
                let mut state = server_side_state(port, client_port);
                while state != Some(expected) && start.elapsed() < Duration::from_millis(300) {
                    std::thread::sleep(Duration::from_millis(10));
                    state = server_side_state(port, client_port);
                }
                if start.elapsed() < Duration::from_millis(800) || tries == 5 {
                    assert_eq!(state, Some(expected), "{listens:?}: server side of a silent client");
                    break silent;
                }
            };
            // A client that sends is served either way, the silent one too
            // once it sends.
            assert_eq!(berth.get("/which.txt").assert_status(200).text().len(), 4);
            silent.send(get("/which.txt"));
            silent.read_response().assert_status(200);
        }
        berth.assert_running();
    }

    /// max_connections 4 with 4 idle keep-alive connections: a 5th client is
    /// answered at once (the oldest idle connection is closed to make room,
    /// as nginx does), not after keepalive_timeout.
    fn max_connections_closes_oldest_idle(backend) {
        let text = config("old", &port0(), "max_connections 4;\n");
        let mut berth = Berth::start(backend, &text, two_roots);
        // Startup probes of the harness may still be counted: let them go.
        std::thread::sleep(Duration::from_millis(200));
        let mut idle: Vec<Client> = Vec::new();
        for _ in 0..4 {
            let mut c = berth.connect();
            assert_eq!(fetch(&mut c, "/which.txt"), "old\n");
            idle.push(c);
            std::thread::sleep(Duration::from_millis(20));
        }
        let start = Instant::now();
        let mut fifth = berth.connect();
        fifth.send(get("/which.txt"));
        let r = fifth.read_response();
        r.assert_status(200);
        let took = start.elapsed();
        assert!(took < Duration::from_secs(1), "5th client answered after {took:?}");
        // The oldest idle connection made room; the newest three stay open.
        idle[0].expect_closed(Duration::from_secs(1));
        for c in &mut idle[1..] {
            assert_eq!(fetch(c, "/which.txt"), "old\n");
        }
        berth.assert_running();
    }

    /// max_connections 2 with both connections busy (a request head being
    /// received): a 3rd client waits, and is served once one closes.
    fn max_connections_waits_when_none_idle(backend) {
        let text = config("old", &port0(), "max_connections 2;\n");
        let mut berth = Berth::start(backend, &text, two_roots);
        std::thread::sleep(Duration::from_millis(200));
        let mut busy: Vec<Client> = (0..2).map(|_| berth.connect()).collect();
        for c in &mut busy {
            c.send("GET /which.txt HTTP/1.1\r\n");
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut third = berth.connect();
        third.send(get("/which.txt"));
        third.expect_silent_open(Duration::from_millis(500));
        drop(busy);
        let r = third.read_response();
        r.assert_status(200);
        assert_eq!(r.text(), "old\n");
        berth.assert_running();
    }

    /// `max_connections 18446744073709551615;` (usize::MAX) passes `-t` and
    /// a real start stays up and serves (the fd-limit arithmetic used to
    /// overflow in debug builds).
    fn max_connections_huge_does_not_overflow(backend) {
        let text = config("old", &port0(), "max_connections 18446744073709551615;\n");
        let mut berth = Berth::start(backend, &text, two_roots);
        let out = Command::new(tests::berth_bin())
            .arg("-t")
            .arg("-c")
            .arg(berth.config_path())
            .output()
            .unwrap_or_else(|e| panic!("run berth -t: {e}"));
        assert!(out.status.success(), "berth -t: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(berth.get("/which.txt").assert_status(200).text(), "old\n");
        std::thread::sleep(Duration::from_millis(100));
        berth.assert_running();
        let log = berth.stderr_text();
        assert!(!log.contains("panicked"), "stderr:\n{log}");
    }
}

/// Waits until the file at `path` has a line containing `needle`.
#[track_caller]
fn wait_for_file_line(path: &std::path::Path, needle: &str) {
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

/// `/proc/net/tcp` states: a connection accepted by the kernel, and one
/// still waiting in the listener's SYN queue (a deferred accept holds a
/// silent client there).
const TCP_ESTABLISHED: u8 = 0x01;
const TCP_SYN_RECV: u8 = 0x03;

/// The state of the server's side of the loopback connection from
/// `client_port` to `server_port`, from `/proc/net/tcp` (Linux).
fn server_side_state(server_port: u16, client_port: u16) -> Option<u8> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{server_port:04X}");
    let remote = format!("0100007F:{client_port:04X}");
    table.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace().skip(1);
        let (l, r, st) = (fields.next()?, fields.next()?, fields.next()?);
        if l == local && r == remote {
            u8::from_str_radix(st, 16).ok()
        } else {
            None
        }
    })
}
