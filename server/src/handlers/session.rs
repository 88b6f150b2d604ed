//! Sessions: the `BERTHSID` cookie and the server-side store behind it.
//!
//! A request to a location with `session on` presents its `BERTHSID`
//! cookie; a known, unexpired id is that session, anything else (no cookie,
//! an unknown or forged id, an expired one) gets a fresh session with a new
//! random id from the OS, so a client can never choose its id (no session
//! fixation). The cookie is `HttpOnly; SameSite=Lax; Path=/` with `Max-Age`
//! = `session_timeout`; it is sent when the session starts, and again once
//! half of that time has passed since it was last sent (so an active
//! session's cookie does not run out while the server still knows it).
//!
//! The store lives in the [`crate::site::Runtime`], so a reload keeps every
//! session. It is bounded by `session_max`: when full, the session used
//! least recently is evicted. A session expires `session_timeout` after its
//! last use.
//!
//! For CGI (the handler in [`super::cgi`] calls these):
//! [`SessionStore::cgi_env`] gives a script its
//! session as `BERTH_SESSION_ID`, `BERTH_SESSION_CREATED`,
//! `BERTH_SESSION_REQUESTS` and `BERTH_SESSION_VAR_<NAME>`; a script sets a
//! value with the response header `X-Berth-Session: NAME=VALUE` (`NAME=`
//! clears it, `end` ends the session), which [`SessionStore::apply`]
//! applies and the server strips. Values are bounded: [`MAX_VALUES`] per
//! session, names of [`MAX_VALUE_NAME_BYTES`], values of [`MAX_VALUE_BYTES`].

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::time::{Duration, Instant, SystemTime};

use crate::error::HttpError;
use crate::http::path::percent_encode_path;
use crate::http::response::{html_escape, Reply, ReplyBody};

/// The session cookie's name.
pub const COOKIE: &str = "BERTHSID";
/// The cookie's attributes besides `Max-Age`.
pub const COOKIE_ATTRIBUTES: &str = "Path=/; HttpOnly; SameSite=Lax";
/// Bytes of randomness in an id (128 bits), written as hex.
pub const ID_BYTES: usize = 16;
/// Most named values one session keeps.
pub const MAX_VALUES: usize = 16;
/// Longest value name: ASCII letters, digits and `_`.
pub const MAX_VALUE_NAME_BYTES: usize = 32;
/// Longest value: printable ASCII.
pub const MAX_VALUE_BYTES: usize = 256;
/// The response header through which a CGI script sets or clears a value
/// (`NAME=VALUE`, `NAME=`) or ends its session (`end`); the server applies
/// it with [`SessionStore::apply`] and never passes it on.
pub const SET_HEADER: &str = "X-Berth-Session";
/// Prefix of the CGI environment variables of a session
/// ([`SessionStore::cgi_env`]).
pub const ENV_PREFIX: &str = "BERTH_SESSION_";

/// Why a [`SET_HEADER`] value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueError {
    /// Not `end`, `NAME=VALUE` or `NAME=`, or a name or value out of bounds.
    Malformed,
    /// The session already holds [`MAX_VALUES`] values.
    Full,
    /// The session is gone.
    NoSession,
}

/// What [`SessionStore::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A value was set or cleared.
    Value,
    /// The session ended: the response must expire the cookie
    /// ([`expired_cookie`]).
    Ended,
}

/// One session.
#[derive(Debug, Clone)]
pub struct Session {
    /// When it started (wall clock, for display and CGI).
    pub created: SystemTime,
    /// Its last request.
    pub last_use: Instant,
    /// Requests made in it, this one included.
    pub requests: u64,
    /// Named values set by CGI scripts ([`SessionStore::apply`]), in the
    /// order they were first set; at most [`MAX_VALUES`].
    pub values: Vec<(String, String)>,
    /// When its cookie was last sent.
    cookie_sent: Instant,
    /// Its place in the least-recently-used order.
    seq: u64,
}

/// What [`SessionStore::track`] decided for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// The session's id (hex).
    pub id: String,
    /// Whether it was created by this request.
    pub new: bool,
    /// The `Set-Cookie` value to send with the response, if any.
    pub set_cookie: Option<String>,
}

/// Every live session, bounded.
#[derive(Debug, Default)]
pub struct SessionStore {
    sessions: HashMap<String, Session>,
    /// Sequence number of last use -> id: the first is the least recently used.
    order: BTreeMap<u64, String>,
    next_seq: u64,
}

impl SessionStore {
    /// Finds or starts the session of a request that presented `cookie`
    /// (the `BERTHSID` value, if any) at `now`, with `timeout` =
    /// `session_timeout` and at most `max` sessions.
    ///
    /// # Errors
    /// When the OS gives no randomness for a new id.
    pub fn track(
        &mut self,
        cookie: Option<&[u8]>,
        now: Instant,
        timeout: Duration,
        max: usize,
    ) -> io::Result<Tracked> {
        let known = cookie
            .and_then(|c| std::str::from_utf8(c).ok())
            .filter(|id| self.sessions.get(*id).is_some_and(|s| now < s.last_use + timeout))
            .map(str::to_string);
        if let Some(id) = known {
            let seq = self.bump();
            let Some(s) = self.sessions.get_mut(&id) else {
                return Err(io::Error::other("session vanished while in use"));
            };
            self.order.remove(&s.seq);
            self.order.insert(seq, id.clone());
            s.seq = seq;
            s.last_use = now;
            s.requests += 1;
            let refresh = now.saturating_duration_since(s.cookie_sent) >= timeout / 2;
            if refresh {
                s.cookie_sent = now;
            }
            let set_cookie = refresh.then(|| cookie_value(&id, timeout));
            return Ok(Tracked { id, new: false, set_cookie });
        }
        if let Some(stale) = cookie.and_then(|c| std::str::from_utf8(c).ok()) {
            // Expired: forget it now rather than when it is evicted.
            self.end(stale);
        }
        let id = new_id()?;
        while self.sessions.len() >= max.max(1) {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            self.sessions.remove(&oldest);
        }
        let seq = self.bump();
        let session = Session {
            created: SystemTime::now(),
            last_use: now,
            requests: 1,
            values: Vec::new(),
            cookie_sent: now,
            seq,
        };
        self.order.insert(seq, id.clone());
        self.sessions.insert(id.clone(), session);
        let set_cookie = Some(cookie_value(&id, timeout));
        Ok(Tracked { id, new: true, set_cookie })
    }

    /// The session `id`, if the store has it.
    pub fn get(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// Ends the session `id`; returns whether there was one.
    pub fn end(&mut self, id: &str) -> bool {
        match self.sessions.remove(id) {
            Some(s) => {
                self.order.remove(&s.seq);
                true
            }
            None => false,
        }
    }

    /// The CGI environment of session `id` (RFC 3875 §4.1.18 allows
    /// extra variables): `BERTH_SESSION_ID`, `BERTH_SESSION_CREATED` (Unix
    /// seconds), `BERTH_SESSION_REQUESTS`, and `BERTH_SESSION_VAR_<NAME>`
    /// for each value. Empty when the store has no such session.
    pub fn cgi_env(&self, id: &str) -> Vec<(String, String)> {
        let Some(s) = self.sessions.get(id) else { return Vec::new() };
        let created = s.created.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut env = vec![
            (format!("{ENV_PREFIX}ID"), id.to_string()),
            (format!("{ENV_PREFIX}CREATED"), created.to_string()),
            (format!("{ENV_PREFIX}REQUESTS"), s.requests.to_string()),
        ];
        for (name, value) in &s.values {
            env.push((format!("{ENV_PREFIX}VAR_{name}"), value.clone()));
        }
        env
    }

    /// Applies one [`SET_HEADER`] value a script sent for session `id`:
    /// `NAME=VALUE` sets a value, `NAME=` clears it, `end` ends the session.
    ///
    /// # Errors
    /// A malformed header, a full session (nothing changes), or no session.
    pub fn apply(&mut self, id: &str, header: &[u8]) -> Result<Applied, ValueError> {
        let header = std::str::from_utf8(header).map_err(|_| ValueError::Malformed)?.trim();
        if header == "end" {
            return if self.end(id) { Ok(Applied::Ended) } else { Err(ValueError::NoSession) };
        }
        let (name, value) = header.split_once('=').ok_or(ValueError::Malformed)?;
        let name_ok = !name.is_empty()
            && name.len() <= MAX_VALUE_NAME_BYTES
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let value_ok =
            value.len() <= MAX_VALUE_BYTES && value.bytes().all(|b| (0x20..0x7f).contains(&b));
        if !name_ok || !value_ok {
            return Err(ValueError::Malformed);
        }
        let s = self.sessions.get_mut(id).ok_or(ValueError::NoSession)?;
        let at = s.values.iter().position(|(n, _)| n == name);
        match (at, value.is_empty()) {
            (Some(i), true) => {
                s.values.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => {
                if let Some(slot) = s.values.get_mut(i) {
                    slot.1 = value.to_string();
                }
            }
            (None, false) if s.values.len() >= MAX_VALUES => return Err(ValueError::Full),
            (None, false) => s.values.push((name.to_string(), value.to_string())),
        }
        Ok(Applied::Value)
    }

    /// How many sessions the store holds.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    fn bump(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
}

/// The built-in page of a `session status` location: `GET` shows the
/// request's session (HTML, or JSON when `Accept` asks for it); `POST`
/// ends it, expires the cookie and sends the client back with `303` to see
/// its fresh session.
#[derive(Debug)]
pub struct SessionPage {
    /// `POST`: end the session.
    end: bool,
    /// Answer in JSON.
    json: bool,
    /// The page's own path, where `303` sends the client back.
    path: String,
    /// The session, once the connection has told.
    id: Option<String>,
}

impl SessionPage {
    /// The page for a request to `path`.
    pub fn new(end: bool, json: bool, path: &str) -> SessionPage {
        SessionPage { end, json, path: path.to_string(), id: None }
    }
}

impl super::Handler for SessionPage {
    fn session(&mut self, _cx: &mut super::Cx<'_>, id: &str) {
        self.id = Some(id.to_string());
    }

    fn reply(&mut self, cx: &mut super::Cx<'_>) -> Result<Option<Reply>, HttpError> {
        let Some(id) = self.id.as_deref() else {
            return Err(HttpError::refused(500, "session page without a session"));
        };
        if self.end {
            cx.rt.sessions.end(id);
            let mut reply = if self.json {
                json_reply(200, "{\"ended\":true}\n".to_string())
            } else {
                Reply::redirect(303, percent_encode_path(&self.path))
            };
            reply.headers.push(("Set-Cookie", expired_cookie()));
            return Ok(Some(reply));
        }
        let Some(s) = cx.rt.sessions.get(id) else {
            return Err(HttpError::refused(500, "session gone before its page"));
        };
        let created = platform::httpdate::fmt_http_date(s.created);
        let idle = cx.rt.clock.now.saturating_duration_since(s.last_use).as_secs();
        let timeout = cx.site.config.session_timeout.as_secs();
        // Only the start of the id: the page may be screenshotted or shared.
        let short = id.get(..8).unwrap_or(id);
        if self.json {
            let body = format!(
                "{{\"id\":\"{short}\",\"requests\":{},\"created\":\"{created}\",\"timeout\":{timeout}}}\n",
                s.requests
            );
            return Ok(Some(json_reply(200, body)));
        }
        let values: String = s
            .values
            .iter()
            .map(|(n, v)| {
                format!("<tr><th>{}</th><td>{}</td></tr>\n", html_escape(n), html_escape(v))
            })
            .collect();
        let action = html_escape(&percent_encode_path(&self.path));
        let visits = s.requests;
        let plural = if visits == 1 { "" } else { "s" };
        let body = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>Your session</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n\
             <body>\n<main>\n<h1>Your session</h1>\n\
             <p class=\"lead\">You have seen this page <strong id=\"visits\">{visits}</strong> time{plural} \
             in this session. Reload it to count one more.</p>\n\
             <table class=\"session\">\n\
             <tr><th>Session</th><td><code>{short}…</code> (cookie <code>{COOKIE}</code>, HttpOnly)</td></tr>\n\
             <tr><th>Started</th><td>{created}</td></tr>\n\
             <tr><th>Requests</th><td>{visits}</td></tr>\n\
             <tr><th>Idle before this one</th><td>{idle} s (it ends after {timeout} s unused)</td></tr>\n\
             {values}</table>\n\
             <form method=\"post\" action=\"{action}\"><button type=\"submit\">End this session</button></form>\n\
             <p><a href=\"/\">Back to the start page</a></p>\n</main>\n</body>\n</html>\n"
        );
        let mut reply = Reply::new(200);
        reply.content_type = Some(Cow::Borrowed("text/html"));
        reply.headers.push(("Cache-Control", "no-store".to_string()));
        reply.body = ReplyBody::Bytes(Cow::Owned(body.into_bytes()));
        Ok(Some(reply))
    }
}

fn json_reply(status: u16, body: String) -> Reply {
    let mut reply = Reply::new(status);
    reply.content_type = Some(Cow::Borrowed("application/json"));
    reply.headers.push(("Cache-Control", "no-store".to_string()));
    reply.body = ReplyBody::Bytes(Cow::Owned(body.into_bytes()));
    reply
}

/// The `Set-Cookie` value of session `id`.
pub fn cookie_value(id: &str, timeout: Duration) -> String {
    crate::http::cookie::set_cookie(COOKIE, id, timeout.as_secs().max(1), COOKIE_ATTRIBUTES)
}

/// The `Set-Cookie` value that makes the client drop its session cookie.
pub fn expired_cookie() -> String {
    crate::http::cookie::set_cookie(COOKIE, "", 0, COOKIE_ATTRIBUTES)
}

/// A fresh id: [`ID_BYTES`] random bytes from the OS, as lowercase hex.
fn new_id() -> io::Result<String> {
    let mut bytes = [0u8; ID_BYTES];
    platform::random::random_bytes(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn track(store: &mut SessionStore, cookie: Option<&str>, now: Instant, max: usize) -> Tracked {
        store
            .track(cookie.map(str::as_bytes), now, HOUR, max)
            .unwrap_or_else(|e| panic!("track: {e}"))
    }

    #[test]
    fn known_ids_are_kept_others_replaced() {
        let mut store = SessionStore::default();
        let t0 = Instant::now();
        let a = track(&mut store, None, t0, 10);
        assert!(a.new && a.id.len() == 2 * ID_BYTES);
        assert!(a.id.bytes().all(|b| b.is_ascii_hexdigit()));
        let cookie = a.set_cookie.clone().unwrap_or_default();
        assert_eq!(
            cookie,
            format!("BERTHSID={}; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax", a.id)
        );
        // Known: the same session, no new cookie; its count goes up.
        let again = track(&mut store, Some(&a.id), t0 + Duration::from_secs(1), 10);
        assert_eq!((again.id.as_str(), again.new, again.set_cookie), (a.id.as_str(), false, None));
        assert_eq!(store.get(&a.id).map(|s| s.requests), Some(2));
        // Forged or unknown: a fresh one, never the id the client chose.
        for forged in ["0123456789abcdef0123456789abcdef", "x", ""] {
            let t = track(&mut store, Some(forged), t0, 10);
            assert!(t.new && t.id != forged && t.set_cookie.is_some(), "{forged}");
        }
        // Half the timeout later the cookie is sent again, same id.
        let later = track(&mut store, Some(&a.id), t0 + HOUR / 2 + HOUR / 4, 10);
        assert_eq!((later.id.as_str(), later.new), (a.id.as_str(), false));
        assert!(later.set_cookie.is_some());
        // Expired (idle past the timeout): replaced, and forgotten.
        let expired = track(&mut store, Some(&a.id), t0 + 2 * HOUR, 10);
        assert!(expired.new && expired.id != a.id);
        assert!(store.get(&a.id).is_none());
    }

    #[test]
    fn values_and_cgi_environment() {
        let mut store = SessionStore::default();
        let id = track(&mut store, None, Instant::now(), 10).id;
        // Header value, outcome.
        let cases: &[(&str, Result<Applied, ValueError>)] = &[
            ("theme=dark", Ok(Applied::Value)),
            (" cart_items=3 ", Ok(Applied::Value)),
            ("theme=light", Ok(Applied::Value)),
            ("gone=", Ok(Applied::Value)),
            ("no equals", Err(ValueError::Malformed)),
            ("=x", Err(ValueError::Malformed)),
            ("bad-name=x", Err(ValueError::Malformed)),
            ("ctl=a\u{1}b", Err(ValueError::Malformed)),
        ];
        for (header, want) in cases {
            assert_eq!(store.apply(&id, header.as_bytes()), *want, "{header:?}");
        }
        let long = format!("v={}", "x".repeat(MAX_VALUE_BYTES + 1));
        assert_eq!(store.apply(&id, long.as_bytes()), Err(ValueError::Malformed));
        let env = store.cgi_env(&id);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("BERTH_SESSION_ID"), Some(id.as_str()));
        assert_eq!(get("BERTH_SESSION_REQUESTS"), Some("1"));
        assert!(get("BERTH_SESSION_CREATED").is_some_and(|c| c.parse::<u64>().is_ok()));
        assert_eq!(get("BERTH_SESSION_VAR_theme"), Some("light"));
        assert_eq!(get("BERTH_SESSION_VAR_cart_items"), Some("3"));
        assert_eq!(store.apply(&id, b"theme="), Ok(Applied::Value));
        assert_eq!(store.cgi_env(&id).len(), 4, "cleared");
        for i in 0..MAX_VALUES - 1 {
            assert_eq!(store.apply(&id, format!("k{i}=v").as_bytes()), Ok(Applied::Value));
        }
        assert_eq!(store.apply(&id, b"one_more=v"), Err(ValueError::Full));
        assert_eq!(store.apply(&id, b"k0=changed"), Ok(Applied::Value), "replacing fits");
        assert_eq!(store.apply(&id, b"end"), Ok(Applied::Ended));
        assert!(store.get(&id).is_none() && store.cgi_env(&id).is_empty());
        assert_eq!(store.apply(&id, b"x=1"), Err(ValueError::NoSession));
    }

    #[test]
    fn the_cap_evicts_the_least_recently_used() {
        let mut store = SessionStore::default();
        let t0 = Instant::now();
        let a = track(&mut store, None, t0, 2).id;
        let b = track(&mut store, None, t0, 2).id;
        // `a` is used again: `b` is now the least recently used.
        track(&mut store, Some(&a), t0, 2);
        let c = track(&mut store, None, t0, 2).id;
        assert_eq!(store.len(), 2);
        assert!(store.get(&a).is_some() && store.get(&c).is_some() && store.get(&b).is_none());
        assert!(track(&mut store, Some(&b), t0, 2).new, "an evicted id gets a fresh session");
        assert!(store.end(&c), "ending a live session");
        assert!(!store.end(&c) && store.get(&c).is_none(), "it is gone");
        assert_eq!(expired_cookie(), "BERTHSID=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax");
    }
}
