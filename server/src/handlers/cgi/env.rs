//! The environment of a CGI script (RFC 3875 §4.1): pure, from the request
//! and the resolved script, so it is tested as a table without a process.
//!
//! Nothing of the server's own environment is passed but a safe `PATH`.
//! Request headers become `HTTP_*` (`-` -> `_`, uppercase); a header whose
//! name has an `_` is dropped (it could pose as another one once `-` is
//! mapped to `_`; nginx's `underscores_in_headers off`), and so is `Proxy`
//! (`HTTP_PROXY` would be taken for a proxy setting by the script's HTTP
//! libraries: httpoxy, CVE-2016-5385). Repeated headers are joined with
//! `, ` (RFC 9110 §5.3), cookies with `; ` (RFC 6265 §5.4).

use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The only variable of the server's own environment a script gets.
pub const SAFE_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What the environment is made of.
#[derive(Debug, Clone, Copy)]
pub struct Meta<'a> {
    /// `GET`, `POST`...
    pub method: &'a str,
    /// The request target as received (path and query, still encoded).
    pub request_uri: &'a [u8],
    /// The query string without `?` (empty when there is none).
    pub query: &'a [u8],
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub protocol: &'a str,
    /// The URL path up to and including the script.
    pub script_name: &'a str,
    /// The script's file.
    pub script_filename: &'a Path,
    /// The URL path after the script (decoded), possibly empty.
    pub path_info: &'a str,
    /// `PATH_INFO` mapped through the root, when there is a `PATH_INFO`.
    pub path_translated: Option<&'a Path>,
    /// The location's root or alias.
    pub document_root: &'a Path,
    /// The matched server's name.
    pub server_name: &'a str,
    /// The port the request arrived on.
    pub server_port: u16,
    /// The client.
    pub remote: SocketAddr,
    /// The body's exact length, when there is a body.
    pub content_length: Option<u64>,
}

/// The environment for `meta` and the request headers `headers` (name,
/// value as received), as `(NAME, value)` pairs in a fixed order: the
/// meta-variables first, then the `HTTP_*` ones in the order their headers
/// first appear. Values never hold a NUL byte (a header value with one is
/// dropped; the request parser refuses them anyway).
pub fn build<'h>(
    meta: &Meta<'_>,
    headers: impl Iterator<Item = (&'h [u8], &'h [u8])> + Clone,
) -> Vec<(String, Vec<u8>)> {
    let mut env: Vec<(String, Vec<u8>)> = Vec::with_capacity(24);
    let mut put = |name: &str, value: &[u8]| env.push((name.to_string(), value.to_vec()));
    put("PATH", SAFE_PATH.as_bytes());
    put("GATEWAY_INTERFACE", b"CGI/1.1");
    put("SERVER_SOFTWARE", crate::http::response::SERVER.as_bytes());
    put("SERVER_NAME", meta.server_name.as_bytes());
    put("SERVER_PORT", meta.server_port.to_string().as_bytes());
    put("SERVER_PROTOCOL", meta.protocol.as_bytes());
    put("REQUEST_METHOD", meta.method.as_bytes());
    put("REQUEST_URI", meta.request_uri);
    put("QUERY_STRING", meta.query);
    put("SCRIPT_NAME", meta.script_name.as_bytes());
    put("SCRIPT_FILENAME", meta.script_filename.as_os_str().as_bytes());
    put("PATH_INFO", meta.path_info.as_bytes());
    if let Some(t) = meta.path_translated {
        put("PATH_TRANSLATED", t.as_os_str().as_bytes());
    }
    put("DOCUMENT_ROOT", meta.document_root.as_os_str().as_bytes());
    put("REMOTE_ADDR", meta.remote.ip().to_string().as_bytes());
    put("REMOTE_PORT", meta.remote.port().to_string().as_bytes());
    put("REDIRECT_STATUS", b"200");
    if let Some(n) = meta.content_length {
        put("CONTENT_LENGTH", n.to_string().as_bytes());
        let ctype = headers.clone().find(|(n, _)| n.eq_ignore_ascii_case(b"content-type"));
        if let Some((_, v)) = ctype.filter(|(_, v)| !v.contains(&0)) {
            put("CONTENT_TYPE", v);
        }
    }
    let mut http: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, value) in headers {
        let Some(var) = http_name(name) else { continue };
        if value.contains(&0) {
            continue;
        }
        match http.iter_mut().find(|(n, _)| *n == var) {
            Some((_, joined)) => {
                let sep: &[u8] = if var == "HTTP_COOKIE" { b"; " } else { b", " };
                joined.extend_from_slice(sep);
                joined.extend_from_slice(value);
            }
            None => http.push((var, value.to_vec())),
        }
    }
    env.extend(http);
    env
}

/// `HTTP_ACCEPT_LANGUAGE` for `Accept-Language`; `None` for the headers
/// that are not passed (see the module docs) and those that have their own
/// variable (`Content-Type`, `Content-Length`).
fn http_name(name: &[u8]) -> Option<String> {
    if name.is_empty()
        || name.contains(&b'_')
        || name.eq_ignore_ascii_case(b"proxy")
        || name.eq_ignore_ascii_case(b"content-type")
        || name.eq_ignore_ascii_case(b"content-length")
        || !name.iter().all(|b| b.is_ascii_alphanumeric() || b"-!#$%&'*+.^`|~".contains(b))
    {
        return None;
    }
    let mut var = String::with_capacity(5 + name.len());
    var.push_str("HTTP_");
    for &b in name {
        var.push(if b == b'-' { '_' } else { char::from(b.to_ascii_uppercase()) });
    }
    Some(var)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta<'static> {
        Meta {
            method: "POST",
            request_uri: b"/cgi-bin/app.py/extra/path?x=1",
            query: b"x=1",
            protocol: "HTTP/1.1",
            script_name: "/cgi-bin/app.py",
            script_filename: Path::new("/srv/www/cgi-bin/app.py"),
            path_info: "/extra/path",
            path_translated: Some(Path::new("/srv/www/extra/path")),
            document_root: Path::new("/srv/www"),
            server_name: "example.test",
            server_port: 8080,
            remote: "192.0.2.7:51000".parse().unwrap_or_else(|e| panic!("{e}")),
            content_length: Some(5),
        }
    }

    fn get<'e>(env: &'e [(String, Vec<u8>)], name: &str) -> Option<&'e str> {
        env.iter().find(|(n, _)| n == name).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    #[test]
    fn meta_variables_table() {
        let headers: &[(&[u8], &[u8])] = &[
            (b"Host", b"example.test:8080"),
            (b"Content-Type", b"application/x-www-form-urlencoded"),
            (b"Content-Length", b"5"),
        ];
        let env = build(&meta(), headers.iter().copied());
        let want = [
            ("PATH", SAFE_PATH),
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_SOFTWARE", crate::http::response::SERVER),
            ("SERVER_NAME", "example.test"),
            ("SERVER_PORT", "8080"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REQUEST_METHOD", "POST"),
            ("REQUEST_URI", "/cgi-bin/app.py/extra/path?x=1"),
            ("QUERY_STRING", "x=1"),
            ("SCRIPT_NAME", "/cgi-bin/app.py"),
            ("SCRIPT_FILENAME", "/srv/www/cgi-bin/app.py"),
            ("PATH_INFO", "/extra/path"),
            ("PATH_TRANSLATED", "/srv/www/extra/path"),
            ("DOCUMENT_ROOT", "/srv/www"),
            ("REMOTE_ADDR", "192.0.2.7"),
            ("REMOTE_PORT", "51000"),
            ("REDIRECT_STATUS", "200"),
            ("CONTENT_LENGTH", "5"),
            ("CONTENT_TYPE", "application/x-www-form-urlencoded"),
            ("HTTP_HOST", "example.test:8080"),
        ];
        let got: Vec<(&str, &str)> = env
            .iter()
            .map(|(n, v)| (n.as_str(), std::str::from_utf8(v).unwrap_or("<binary>")))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn no_body_no_content_variables_no_path_translated() {
        let m = Meta { content_length: None, path_info: "", path_translated: None, ..meta() };
        let headers: &[(&[u8], &[u8])] = &[(b"Content-Type", b"text/plain")];
        let env = build(&m, headers.iter().copied());
        for absent in ["CONTENT_LENGTH", "CONTENT_TYPE", "PATH_TRANSLATED", "HTTP_CONTENT_TYPE"] {
            assert_eq!(get(&env, absent), None, "{absent}");
        }
        assert_eq!(get(&env, "PATH_INFO"), Some(""));
    }

    #[test]
    fn http_headers_table() {
        // Headers in, (variable, value) expected; None: not passed.
        type Case<'a> = (&'a [(&'a [u8], &'a [u8])], &'a [(&'a str, Option<&'a str>)]);
        let cases: &[Case<'_>] = &[
            (&[(b"Accept-Language", b"fr")], &[("HTTP_ACCEPT_LANGUAGE", Some("fr"))]),
            (&[(b"x-custom-thing", b"1")], &[("HTTP_X_CUSTOM_THING", Some("1"))]),
            // httpoxy: never HTTP_PROXY, in any case.
            (&[(b"Proxy", b"http://evil:1")], &[("HTTP_PROXY", None)]),
            (&[(b"PROXY", b"http://evil:1")], &[("HTTP_PROXY", None)]),
            // An underscore would pose as a dash.
            (&[(b"X_Forwarded_For", b"1.2.3.4")], &[("HTTP_X_FORWARDED_FOR", None)]),
            // Joined per RFC 9110 §5.3; cookies per RFC 6265 §5.4.
            (
                &[(b"Accept", b"a/b"), (b"Host", b"h"), (b"accept", b"c/d")],
                &[("HTTP_ACCEPT", Some("a/b, c/d")), ("HTTP_HOST", Some("h"))],
            ),
            (&[(b"Cookie", b"a=1"), (b"Cookie", b"b=2")], &[("HTTP_COOKIE", Some("a=1; b=2"))]),
            // Their own variables, never HTTP_*.
            (&[(b"Content-Length", b"5")], &[("HTTP_CONTENT_LENGTH", None)]),
            // Not passed: NUL in a value.
            (&[(b"X-Nul", b"a\0b")], &[("HTTP_X_NUL", None)]),
        ];
        let m = Meta { content_length: None, ..meta() };
        for (headers, want) in cases {
            let env = build(&m, headers.iter().copied());
            for (name, value) in *want {
                assert_eq!(get(&env, name), *value, "{headers:?}: {name}");
            }
        }
    }

    #[test]
    fn http_variables_follow_the_headers_order() {
        let headers: &[(&[u8], &[u8])] = &[(b"B", b"1"), (b"A", b"2"), (b"b", b"3")];
        let env = build(&meta(), headers.iter().copied());
        let http: Vec<&str> =
            env.iter().filter(|(n, _)| n.starts_with("HTTP_")).map(|(n, _)| n.as_str()).collect();
        assert_eq!(http, ["HTTP_B", "HTTP_A"]);
    }
}
