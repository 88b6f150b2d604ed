//! CGI/1.1 (issue 11) end to end: scripts written by each test into its
//! temporary docroot (python3 and /bin/sh), run by the real binary on every
//! backend: the environment, bodies in and out, the header block, failures,
//! timeouts and kills, reaping and descriptors, and the loop staying free
//! for other clients while a script works.
#![cfg(target_os = "linux")]
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use tests::{request, Berth, TempDir};

const CONFIG: &str = "\
client_header_timeout 5s;
client_body_timeout 5s;
keepalive_timeout 5s;
send_timeout 5s;
cgi_timeout 5s;

server {
    listen 127.0.0.1:{port0};
    server_name localhost;
    root {dir}/www;
    client_max_body_size 64m;

    location /cgi-bin {
        cgi .py /usr/bin/python3;
        cgi .sh /bin/sh;
        cgi .cgi;
        cgi .nope no-such-interpreter-for-berth;
    }
    location /sess {
        session on;
        cgi .py /usr/bin/python3;
    }
    location /quick {
        cgi .sh /bin/sh;
        cgi .py /usr/bin/python3;
        cgi_timeout 1s;
    }
}
";

/// Prints the environment, the body's length and bytes (hex), and the
/// script's descriptors with what they are.
const ENV_PY: &str = r#"import os, sys
body = sys.stdin.buffer.read()
out = ["Content-Type: text/plain", "X-Script: env", ""]
for k in sorted(os.environ):
    out.append(f"{k}={os.environ[k]}")
out.append(f"BODYLEN={len(body)}")
out.append(f"BODYHEX={body.hex()}")
me = os.listdir("/proc/self/fd")
for fd in sorted(me, key=int):
    try:
        out.append(f"FD {fd} {os.readlink('/proc/self/fd/' + fd)}")
    except OSError:
        pass
out.append(f"CWD={os.getcwd()}")
out.append(f"ARGV={sys.argv}")
sys.stdout.write("\n".join(out) + "\n")
"#;

fn files(dir: &TempDir) {
    dir.file("www/index.html", "static index\n")
        .file("www/hello.txt", "hello, world\n")
        .file("www/cgi-bin/env.py", ENV_PY)
        .file("www/sess/env.py", ENV_PY)
        .file(
            "www/sess/count.py",
            "import os\nn = int(os.environ.get('BERTH_SESSION_VAR_n', '0')) + 1\n\
             print('Content-Type: text/plain')\nprint(f'X-Berth-Session: n={n}')\nprint()\nprint(n)\n",
        )
        .file("www/cgi-bin/hello.sh", "printf 'Content-Type: text/plain\\n\\nhello from sh\\n'\n")
        .file(
            "www/cgi-bin/status.py",
            "print('Status: 418 I am a teapot')\nprint('Content-Type: text/plain')\nprint()\nprint('short and stout')\n",
        )
        .file("www/cgi-bin/local.sh", "printf 'Location: /hello.txt\\n\\n'\n")
        .file("www/cgi-bin/away.sh", "printf 'Location: http://example.test/x\\n\\n'\n")
        .file("www/cgi-bin/crash.sh", "kill -SEGV $$\n")
        .file("www/cgi-bin/exits.py", "import sys\nsys.exit(3)\n")
        .file("www/cgi-bin/garbage.sh", "echo '<html>this is not a header block'\n")
        .file(
            "www/cgi-bin/length.sh",
            "printf 'Content-Type: text/plain\\nContent-Length: 5\\n\\nhelloEXTRA'\n",
        )
        .file(
            "www/cgi-bin/noread.sh",
            "printf 'Content-Type: text/plain\\n\\ndid not read\\n'\n",
        )
        .file(
            "www/cgi-bin/big.py",
            "import sys\nsys.stdout.write('Content-Type: application/octet-stream\\n\\n')\n\
             sys.stdout.flush()\nblock = b'x' * 65536\nfor _ in range(800):\n    sys.stdout.buffer.write(block)\n",
        )
        .file(
            "www/cgi-bin/endless.sh",
            "echo $$ > \"$DOCUMENT_ROOT/../endless.pid\"\nprintf 'Content-Type: text/plain\\n\\n'\n\
             while :; do echo 'more and more output'; done\n",
        )
        .file("www/cgi-bin/nox.cgi", "#!/bin/sh\necho 'Content-Type: text/plain'\necho\n")
        .file("www/cgi-bin/ok.cgi", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nexecuted\\n'\n")
        .file("www/cgi-bin/t.nope", "never runs\n")
        .file("www/cgi-bin/stderr.sh", "echo 'something went wrong' >&2\nprintf 'Content-Type: text/plain\\n\\nok\\n'\n")
        .file(
            "www/cgi-bin/napper.sh",
            "sleep 2\nprintf 'Content-Type: text/plain\\n\\nrested\\n'\n",
        )
        .file(
            "www/quick/forever.sh",
            "sleep 1000 &\necho $! > \"$DOCUMENT_ROOT/../forever.pid\"\necho $$ >> \"$DOCUMENT_ROOT/../forever.pid\"\nwait\n",
        )
        .file(
            "www/quick/trickle.sh",
            "printf 'Content-Type: text/plain\\n\\nfirst\\n'\nsleep 1000\n",
        );
    set_mode(&dir.join("www/cgi-bin/ok.cgi"), 0o755);
    set_mode(&dir.join("www/cgi-bin/nox.cgi"), 0o644);
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn start(backend: &str) -> Berth {
    Berth::start(backend, CONFIG, files)
}

/// `NAME=value` lines of an env dump.
fn var<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

/// Children of `pid` (pid, state letter), from /proc.
fn children(pid: u32) -> Vec<(u32, char)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for entry in dir.flatten() {
        let Some(p) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // pid (comm) S ppid ...: comm may hold spaces, so split after ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = fields.next().and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push((p, state));
        }
    }
    out
}

/// Whether process `pid` is gone (or only a zombie of someone else's).
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')),
    }
}

/// Waits (bounded) until `cond` holds.
fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pids_in(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

tests::backend_tests! {
    /// GET with a path and a query: the meta-variables of RFC 3875 and
    /// DESIGN.md §5, HTTP_* for headers, never HTTP_PROXY (httpoxy), and
    /// nothing of the server's own environment but PATH.
    fn get_sees_the_cgi_environment(backend) {
        let berth = start(backend);
        let mut c = berth.connect();
        c.send(
            "GET /cgi-bin/env.py/extra/path?x=1&y=%20 HTTP/1.1\r\nHost: localhost\r\n\
             X-Custom-Thing: yes\r\nAccept: a/b\r\nAccept: c/d\r\nProxy: http://evil.test:1/\r\n\r\n",
        );
        let r = c.read_response();
        r.assert_status(200);
        assert_eq!(r.header("X-Script"), Some("env"));
        assert_eq!(r.media_type().as_deref(), Some("text/plain"));
        assert_eq!(r.header("Transfer-Encoding"), Some("chunked"), "{}", r.raw_head);
        let t = r.text();
        let root = berth.dir().join("www").canonicalize().unwrap_or_else(|e| panic!("{e}"));
        let www = berth.dir().join("www").display().to_string();
        let want = [
            ("GATEWAY_INTERFACE", "CGI/1.1".to_string()),
            ("REQUEST_METHOD", "GET".into()),
            ("SCRIPT_NAME", "/cgi-bin/env.py".into()),
            ("PATH_INFO", "/extra/path".into()),
            ("PATH_TRANSLATED", format!("{www}/extra/path")),
            ("QUERY_STRING", "x=1&y=%20".into()),
            ("REQUEST_URI", "/cgi-bin/env.py/extra/path?x=1&y=%20".into()),
            ("SCRIPT_FILENAME", root.join("cgi-bin/env.py").display().to_string()),
            ("DOCUMENT_ROOT", www.clone()),
            ("SERVER_NAME", "localhost".into()),
            ("SERVER_PORT", berth.port(0).to_string()),
            ("SERVER_PROTOCOL", "HTTP/1.1".into()),
            ("REMOTE_ADDR", "127.0.0.1".into()),
            ("REDIRECT_STATUS", "200".into()),
            ("HTTP_HOST", "localhost".into()),
            ("HTTP_X_CUSTOM_THING", "yes".into()),
            ("HTTP_ACCEPT", "a/b, c/d".into()),
            ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
            ("CWD", root.join("cgi-bin").display().to_string()),
            ("BODYLEN", "0".into()),
        ];
        for (name, value) in want {
            assert_eq!(var(&t, name), Some(value.as_str()), "{name} in:\n{t}");
        }
        let port = var(&t, "REMOTE_PORT").and_then(|p| p.parse::<u16>().ok());
        assert!(port.is_some_and(|p| p > 0), "{t}");
        for absent in ["HTTP_PROXY", "CONTENT_LENGTH", "CONTENT_TYPE", "HOME", "USER", "CARGO"] {
            assert_eq!(var(&t, absent), None, "{absent} in:\n{t}");
        }
        assert!(t.contains(&format!("ARGV=['{}']", root.join("cgi-bin/env.py").display())), "{t}");
    }

    /// In a `session on` location the script gets its session's variables
    /// and sets values with X-Berth-Session, which is not passed on.
    fn session_variables_reach_the_script(backend) {
        let berth = start(backend);
        let r = berth.get("/sess/count.py");
        r.assert_status(200);
        assert_eq!(r.text(), "1\n");
        assert_eq!(r.header("X-Berth-Session"), None, "{}", r.raw_head);
        let cookie = r.expect_header("Set-Cookie").split(';').next().unwrap_or("").to_string();
        assert!(cookie.starts_with("BERTHSID="), "{cookie}");
        let with_cookie = |path: &str| {
            berth.exchange(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\n\r\n"))
        };
        assert_eq!(with_cookie("/sess/count.py").assert_status(200).text(), "2\n");
        let t = with_cookie("/sess/env.py").assert_status(200).text();
        assert_eq!(var(&t, "BERTH_SESSION_ID"), cookie.strip_prefix("BERTHSID="));
        assert_eq!(var(&t, "BERTH_SESSION_VAR_n"), Some("2"));
        assert_eq!(var(&t, "BERTH_SESSION_REQUESTS"), Some("3"));
        // Outside a session location: no session variables.
        let t = berth.get("/cgi-bin/env.py").text();
        assert!(!t.contains("BERTH_SESSION_"), "{t}");
    }

    /// The script inherits its three pipes (stdin /dev/null without a body)
    /// and nothing else of the server's.
    fn script_inherits_only_its_pipes(backend) {
        let berth = start(backend);
        let t = berth.get("/cgi-bin/env.py").assert_status(200).text();
        let fds: Vec<&str> = t.lines().filter(|l| l.starts_with("FD ")).collect();
        // (The script's own listing of /proc/self/fd is closed by the time
        // it reads the links.)
        let ok = |l: &&str| {
            l.starts_with("FD 0 /dev/null") || l.starts_with("FD 1 pipe:") || l.starts_with("FD 2 pipe:")
        };
        assert_eq!(fds.len(), 3, "{fds:?}");
        assert!(fds.iter().all(ok), "{fds:?}");
        let mut c = berth.connect();
        c.send(request("POST", "/cgi-bin/env.py", "Content-Length: 2\r\n") + "hi");
        let t = c.read_response().text();
        assert!(t.contains("FD 0 pipe:"), "{t}");
    }

    /// POST with Content-Length: every byte value reaches the script, and
    /// CONTENT_LENGTH and CONTENT_TYPE are set.
    fn post_with_content_length_reaches_the_script(backend) {
        let berth = start(backend);
        let body: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        let mut c = berth.connect();
        let head = request(
            "POST",
            "/cgi-bin/env.py",
            &format!("Content-Type: application/x-test\r\nContent-Length: {}\r\n", body.len()),
        );
        c.send(head);
        c.send(&body);
        let t = c.read_response().assert_status(200).text();
        assert_eq!(var(&t, "CONTENT_LENGTH"), Some("100000"));
        assert_eq!(var(&t, "CONTENT_TYPE"), Some("application/x-test"));
        assert_eq!(var(&t, "BODYLEN"), Some("100000"));
        assert_eq!(var(&t, "BODYHEX"), Some(hex(&body).as_str()));
    }

    /// A chunked body is de-chunked first: CONTENT_LENGTH is exact and the
    /// script reads the exact bytes to EOF.
    fn post_chunked_reaches_the_script_with_exact_length(backend) {
        let berth = start(backend);
        let body: Vec<u8> = (0..=255u8).rev().cycle().take(70_001).collect();
        let mut wire = request("POST", "/cgi-bin/env.py", "Transfer-Encoding: chunked\r\n").into_bytes();
        for part in body.chunks(7_000) {
            wire.extend_from_slice(format!("{:x};ext=1\r\n", part.len()).as_bytes());
            wire.extend_from_slice(part);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
        let mut c = berth.connect();
        c.send(&wire);
        let t = c.read_response().assert_status(200).text();
        assert_eq!(var(&t, "CONTENT_LENGTH"), Some("70001"));
        assert_eq!(var(&t, "BODYLEN"), Some("70001"));
        assert_eq!(var(&t, "BODYHEX"), Some(hex(&body).as_str()));
        // No spool file is left behind in the temp folder for this body.
        let left = std::fs::read_dir(std::env::temp_dir())
            .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(".berth-")).count())
            .unwrap_or(0);
        assert!(left < 50, "{left} spool files left in the temp folder");
    }

    /// `Status`, a local `Location` (served by Berth), a client `Location`
    /// (302), the script's Content-Length (extra output not sent), a shell
    /// script, an executable run directly.
    fn status_and_location_headers(backend) {
        let berth = start(backend);
        let r = berth.get("/cgi-bin/status.py");
        r.assert_status(418);
        assert_eq!(r.text(), "short and stout\n");
        let r = berth.get("/cgi-bin/local.sh");
        r.assert_status(200);
        assert_eq!(r.text(), "hello, world\n");
        let r = berth.get("/cgi-bin/away.sh");
        r.assert_status(302);
        assert_eq!(r.header("Location"), Some("http://example.test/x"));
        let r = berth.get("/cgi-bin/length.sh");
        r.assert_status(200);
        assert_eq!(r.header("Content-Length"), Some("5"));
        assert_eq!(r.text(), "hello");
        assert_eq!(berth.get("/cgi-bin/hello.sh").assert_status(200).text(), "hello from sh\n");
        assert_eq!(berth.get("/cgi-bin/ok.cgi").assert_status(200).text(), "executed\n");
        // HTTP/1.0: close-delimited.
        let mut c = berth.connect();
        c.send("GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n");
        let raw = c.read_until_close();
        let raw = String::from_utf8_lossy(&raw);
        assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
        assert!(!raw.contains("Transfer-Encoding") && !raw.contains("Content-Length"), "{raw}");
        assert!(raw.ends_with("\r\n\r\nhello from sh\n"), "{raw}");
    }

    /// A crash, an exit before any header, garbage, a script that cannot
    /// run: 502 with an error-log line saying which; a missing script 404.
    fn failing_scripts_get_502(backend) {
        let berth = start(backend);
        for path in ["/cgi-bin/crash.sh", "/cgi-bin/exits.py", "/cgi-bin/garbage.sh", "/cgi-bin/nox.cgi", "/cgi-bin/t.nope"] {
            let r = berth.get(path);
            r.assert_status(502);
            assert!(!r.text().contains("never runs"), "{path}");
        }
        berth.get("/cgi-bin/missing.py").assert_status(404);
        berth.get("/cgi-bin/missing.py/x").assert_status(404);
        let log = || berth.stderr_text();
        for want in [
            "CGI script \"/cgi-bin/crash.sh\" ended before sending a valid header",
            "CGI script \"/cgi-bin/garbage.sh\" sent an invalid header: a header line that is not",
            "nox.cgi\" is not executable and its extension has no interpreter",
            "cannot start interpreter \"no-such-interpreter-for-berth\" for CGI script",
        ] {
            wait_for(want, Duration::from_secs(3), || log().contains(want));
        }
        // And the server still serves.
        berth.get("/hello.txt").assert_status(200);
    }

    /// stderr lines reach the error log with the script's name.
    fn stderr_goes_to_the_error_log(backend) {
        let berth = start(backend);
        assert_eq!(berth.get("/cgi-bin/stderr.sh").assert_status(200).text(), "ok\n");
        let want = "CGI script \"/cgi-bin/stderr.sh\" stderr: something went wrong";
        wait_for("the stderr line", Duration::from_secs(3), || berth.stderr_text().contains(want));
    }

    /// 50 MiB of output streams through with the server's RSS bounded.
    fn large_output_streams_with_bounded_memory(backend) {
        let berth = start(backend);
        let before = berth.rss_kib();
        let mut c = berth.connect();
        c.send(request("GET", "/cgi-bin/big.py", ""));
        let mut total = 0usize;
        let mut peak = before;
        let mut buf = vec![0u8; 256 * 1024];
        let deadline = Instant::now() + Duration::from_secs(60);
        let stream = c.stream();
        let mut seen_end = false;
        let mut tail: Vec<u8> = Vec::new();
        while Instant::now() < deadline {
            let n = stream.read(&mut buf).unwrap_or_else(|e| panic!("read: {e}"));
            assert!(n > 0, "closed after {total} bytes");
            total += n;
            tail.extend_from_slice(&buf[..n]);
            if tail.len() > 16 {
                tail.drain(..tail.len() - 16);
            }
            if total % (4 << 20) < n {
                peak = peak.max(berth.rss_kib());
            }
            if tail.ends_with(b"\r\n0\r\n\r\n") {
                seen_end = true;
                break;
            }
        }
        assert!(seen_end, "no last chunk after {total} bytes");
        assert!(total > 50 * 1024 * 1024, "{total}");
        assert!(peak < before + 16 * 1024, "RSS grew from {before} KiB to {peak} KiB");
    }

    /// A script that never reads its stdin answers a 10 MiB POST: the body
    /// is read and dropped, nothing stalls.
    fn script_that_never_reads_stdin_does_not_stall(backend) {
        let berth = start(backend);
        let body = vec![b'z'; 10 * 1024 * 1024];
        let mut c = berth.connect();
        c.send(request("POST", "/cgi-bin/noread.sh", &format!("Content-Length: {}\r\n", body.len())));
        c.send(&body);
        let r = c.read_response();
        r.assert_status(200);
        assert_eq!(r.text(), "did not read\n");
        // The connection is still usable.
        c.send(request("GET", "/hello.txt", ""));
        c.read_response().assert_status(200);
    }

    /// A script that sleeps forever: 504 after cgi_timeout, the script and
    /// the process it started are killed, and meanwhile a static request on
    /// another connection is answered at once.
    fn silent_script_times_out_and_is_killed_with_its_children(backend) {
        let berth = start(backend);
        let mut c = berth.connect();
        c.send(request("GET", "/quick/forever.sh", ""));
        let pidfile = berth.dir().join("forever.pid");
        wait_for("the script's pids", Duration::from_secs(5), || pids_in(&pidfile).len() == 2);
        let started = Instant::now();
        let r = c.read_response();
        r.assert_status(504);
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        for pid in pids_in(&pidfile) {
            wait_for(&format!("process {pid} to be killed"), Duration::from_secs(5), || is_gone(pid));
        }
        let server = berth.pid();
        wait_for("no child left", Duration::from_secs(5), || children(server).is_empty());
    }

    /// Must show: while a script sleeps, a static request on another
    /// connection is answered in under 50 ms.
    fn static_request_is_fast_while_a_script_sleeps(backend) {
        let berth = start(backend);
        let mut sleeper = berth.connect();
        sleeper.send(request("GET", "/cgi-bin/napper.sh", ""));
        std::thread::sleep(Duration::from_millis(200));
        let mut worst = Duration::ZERO;
        let mut c = berth.connect();
        for _ in 0..5 {
            let t = Instant::now();
            c.send(request("GET", "/hello.txt", ""));
            c.read_response().assert_status(200);
            worst = worst.max(t.elapsed());
        }
        assert!(worst < Duration::from_millis(50), "static request took {worst:?}");
        assert_eq!(sleeper.read_response().assert_status(200).text(), "rested\n");
    }

    /// After its header, a silent script is cut: the client sees the
    /// connection close before the body's end; the script is killed.
    fn script_silent_after_its_header_is_cut(backend) {
        let berth = start(backend);
        let mut c = berth.connect();
        c.send(request("GET", "/quick/trickle.sh", ""));
        let raw = c.read_until_close();
        let raw = String::from_utf8_lossy(&raw);
        assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
        assert!(raw.contains("first\n") && !raw.ends_with("0\r\n\r\n"), "{raw}");
        let server = berth.pid();
        wait_for("the script reaped", Duration::from_secs(5), || children(server).is_empty());
    }

    /// The client goes away in the middle of an endless response: the
    /// script is killed and reaped.
    fn client_gone_mid_response_kills_the_script(backend) {
        let berth = start(backend);
        let mut c = berth.connect();
        c.send(request("GET", "/cgi-bin/endless.sh", ""));
        let mut buf = [0u8; 4096];
        let n = c.stream().read(&mut buf).unwrap_or_else(|e| panic!("read: {e}"));
        assert!(n > 0);
        let pidfile = berth.dir().join("endless.pid");
        wait_for("the script's pid", Duration::from_secs(5), || pids_in(&pidfile).len() == 1);
        drop(c);
        for pid in pids_in(&pidfile) {
            wait_for(&format!("process {pid} to be killed"), Duration::from_secs(5), || is_gone(pid));
        }
        let server = berth.pid();
        wait_for("no child left", Duration::from_secs(5), || children(server).is_empty());
        berth.get("/hello.txt").assert_status(200);
    }

    /// 500 CGI requests in a row leave no zombie and no extra descriptor.
    fn many_requests_leave_no_zombie_and_no_fd(backend) {
        let berth = start(backend);
        let mut c = berth.connect();
        c.send(request("GET", "/cgi-bin/hello.sh", ""));
        c.read_response().assert_status(200);
        // The baseline is taken once the server has closed this connection
        // (its EOF reached us), not while it may still hold the socket.
        c.shutdown_write();
        let _ = c.read_until_close();
        let server = berth.pid();
        wait_for("the first child reaped", Duration::from_secs(5), || children(server).is_empty());
        let fds = berth.fd_count();
        let mut c = berth.connect();
        for i in 0..500 {
            c.send(request("GET", "/cgi-bin/hello.sh", ""));
            let r = c.read_response();
            assert_eq!(r.status, 200, "request {i}");
        }
        drop(c);
        wait_for("every child reaped", Duration::from_secs(10), || children(server).is_empty());
        wait_for("descriptors back to the baseline", Duration::from_secs(5), || {
            berth.fd_count() == fds
        });
    }

    /// The source of a script is never served, whatever the method.
    fn script_source_is_never_served(backend) {
        let berth = start(backend);
        for method in ["GET", "HEAD", "POST"] {
            let mut c = berth.connect();
            c.send(request(method, "/cgi-bin/t.nope", "Content-Length: 0\r\n"));
            let r = if method == "HEAD" { c.read_head_response() } else { c.read_response() };
            assert_eq!(r.status, 502, "{method}");
            assert!(!r.text().contains("never runs"), "{method}");
        }
        let r = berth.get("/cgi-bin/T.NOPE");
        assert!(!r.text().contains("never runs"));
    }

    /// Shutdown ends every script and reaps it.
    fn shutdown_ends_running_scripts(backend) {
        let mut berth = start(backend);
        let mut c = berth.connect();
        c.send(request("GET", "/quick/forever.sh", ""));
        let pidfile = berth.dir().join("forever.pid");
        wait_for("the script's pids", Duration::from_secs(5), || pids_in(&pidfile).len() == 2);
        berth.signal("TERM");
        let status = berth.wait_exit(Duration::from_secs(15));
        assert!(status.is_some(), "berth did not stop");
        for pid in pids_in(&pidfile) {
            wait_for(&format!("process {pid} to end"), Duration::from_secs(5), || is_gone(pid));
        }
        let _ = c.stream().write_all(b"");
    }
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}
