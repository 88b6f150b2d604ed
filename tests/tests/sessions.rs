//! Cookies and sessions, black-box: the `BERTHSID` cookie issued once and
//! kept, forged and expired ids replaced, the `session_max` cap, sessions
//! kept across SIGHUP, several `Cookie` headers and junk, and the
//! `session status` page (visits counted, POST ends the session).
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use tests::{request, Berth, Response};

const CONF: &str = r#"
session_timeout {timeout};
session_max {max};
server {
    listen 127.0.0.1:{port0};
    root {dir}/www;
    location /app { session on; }
    location /session { session status; }
}
"#;

fn start(backend: &str, timeout: &str, max: usize) -> Berth {
    let conf = CONF.replace("{timeout}", timeout).replace("{max}", &max.to_string());
    Berth::start(backend, &conf, |dir| {
        std::fs::create_dir_all(dir.join("www/app")).unwrap_or_else(|e| panic!("mkdir: {e}"));
        std::fs::write(dir.join("www/app/index.html"), "app").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("www/plain.txt"), "plain").unwrap_or_else(|e| panic!("{e}"));
    })
}

/// `GET target` with these `Cookie` header lines.
fn get_with(berth: &Berth, target: &str, cookies: &[&str]) -> Response {
    let extra: String = cookies.iter().map(|c| format!("Cookie: {c}\r\n")).collect();
    let r = berth.exchange(request("GET", target, &extra));
    assert!(r.status < 400, "GET {target}: {}", r.raw_head);
    r
}

/// The session id a response sets, checking the cookie's attributes.
#[track_caller]
fn issued(r: &Response, max_age: u64) -> String {
    let all = r.header_all("set-cookie");
    assert_eq!(all.len(), 1, "one Set-Cookie: {all:?}");
    let v = all[0];
    let id = v
        .strip_prefix("BERTHSID=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("not a session cookie: {v}"));
    assert_eq!(id.len(), 32, "{v}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{v}");
    assert_eq!(
        v,
        format!("BERTHSID={id}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax"),
        "attributes"
    );
    id.to_string()
}

fn visits(berth: &Berth, id: &str) -> u64 {
    let extra = format!("Cookie: BERTHSID={id}\r\nAccept: application/json\r\n");
    let r = berth.exchange(request("GET", "/session", &extra));
    r.assert_status(200);
    assert!(r.header("set-cookie").is_none(), "known session: {}", r.raw_head);
    let text = r.text();
    let n = text.split("\"requests\":").nth(1).and_then(|t| t.split(',').next());
    n.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no count in {text}"))
}

tests::backend_tests! {
    fn cookie_issued_once_and_kept(backend) {
        let berth = start(backend, "1h", 100);
        let first = get_with(&berth, "/app/", &[]);
        let id = issued(&first, 3600);
        for _ in 0..3 {
            let again = get_with(&berth, "/app/", &[&format!("BERTHSID={id}")]);
            assert!(again.header("set-cookie").is_none(), "kept: {}", again.raw_head);
        }
        assert_eq!(visits(&berth, &id), 5);
        // Outside a session location: no cookie at all.
        assert!(get_with(&berth, "/plain.txt", &[]).header("set-cookie").is_none());
        // Several Cookie headers, junk among them: the id is still found.
        let r = get_with(&berth, "/app/", &["junk; =x; a=\"1\"", &format!("theme=dark; BERTHSID={id}")]);
        assert!(r.header("set-cookie").is_none(), "{}", r.raw_head);
        // A request whose Cookie header is all junk is answered all the same.
        let r = get_with(&berth, "/app/", &[";;;=; ,,\" x"]);
        r.assert_status(200);
        assert_ne!(issued(&r, 3600), id);
    }

    fn forged_and_expired_ids_are_replaced(backend) {
        let berth = start(backend, "1s", 100);
        for forged in ["0123456789abcdef0123456789abcdef", "../../etc", "\"quoted\""] {
            let r = get_with(&berth, "/app/", &[&format!("BERTHSID={forged}")]);
            let id = issued(&r, 1);
            assert_ne!(id, forged, "no fixation");
        }
        let id = issued(&get_with(&berth, "/app/", &[]), 1);
        assert!(get_with(&berth, "/app/", &[&format!("BERTHSID={id}")]).header("set-cookie").is_none());
        std::thread::sleep(Duration::from_millis(1300));
        let r = get_with(&berth, "/app/", &[&format!("BERTHSID={id}")]);
        assert_ne!(issued(&r, 1), id, "an expired id gets a fresh session");
    }

    fn session_max_evicts_the_least_recently_used(backend) {
        let berth = start(backend, "1h", 2);
        let a = issued(&get_with(&berth, "/app/", &[]), 3600);
        let b = issued(&get_with(&berth, "/app/", &[]), 3600);
        // `a` used again: `b` is the least recently used when `c` comes.
        assert!(get_with(&berth, "/app/", &[&format!("BERTHSID={a}")]).header("set-cookie").is_none());
        let c = issued(&get_with(&berth, "/app/", &[]), 3600);
        for kept in [&a, &c] {
            let r = get_with(&berth, "/app/", &[&format!("BERTHSID={kept}")]);
            assert!(r.header("set-cookie").is_none(), "{kept} kept");
        }
        let r = get_with(&berth, "/app/", &[&format!("BERTHSID={b}")]);
        assert_ne!(issued(&r, 3600), b, "evicted");
    }

    fn sessions_survive_sighup(backend) {
        let berth = start(backend, "1h", 100);
        let id = issued(&get_with(&berth, "/session", &[]), 3600);
        assert_eq!(visits(&berth, &id), 2);
        let before = berth.stderr_text().matches("configuration reloaded").count();
        berth.signal("HUP");
        let deadline = Instant::now() + Duration::from_secs(10);
        while berth.stderr_text().matches("configuration reloaded").count() == before {
            assert!(Instant::now() < deadline, "no reload: {}", berth.stderr_text());
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(visits(&berth, &id), 3, "the same session, its count kept");
    }

    fn status_page_counts_and_ends(backend) {
        let berth = start(backend, "1h", 100);
        let first = get_with(&berth, "/session", &[]);
        assert_eq!(first.media_type().as_deref(), Some("text/html"));
        assert!(first.text().contains("<strong id=\"visits\">1</strong>"), "{}", first.text());
        let id = issued(&first, 3600);
        let second = get_with(&berth, "/session", &[&format!("BERTHSID={id}")]);
        assert!(second.text().contains("<strong id=\"visits\">2</strong>"));
        // POST ends it: 303 back to the page, the cookie expired.
        let extra = format!("Cookie: BERTHSID={id}\r\nContent-Length: 0\r\n");
        let end = berth.exchange(request("POST", "/session", &extra));
        end.assert_status(303);
        assert_eq!(end.header("location"), Some("/session"));
        assert_eq!(
            end.header_all("set-cookie"),
            ["BERTHSID=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax"]
        );
        let after = get_with(&berth, "/session", &[&format!("BERTHSID={id}")]);
        assert_ne!(issued(&after, 3600), id, "an ended session is gone");
        assert!(after.text().contains("<strong id=\"visits\">1</strong>"));
    }
}
