#!/usr/bin/env python3
"""A corpus of malformed, ambiguous and smuggling requests against a running
Berth, each with the status it must get; after each, a good request on a new
connection must be answered 200 (the server is still up and sane).

Usage: scripts/hostile-corpus.py PORT        (the site needs /hello.txt, and a
       location /post that allows POST with client_max_body_size 10; see
       scripts/reliability.sh, which starts such a server)
Exit status 0 when every case got its status, 1 otherwise. Prints one line per
failure and a summary line 'N passed, N failed'.
"""
import socket
import sys

PORT = int(sys.argv[1])
H = b"Host: x\r\n"


def req(line, headers=H, body=b""):
    return line + b"\r\n" + headers + b"\r\n" + body


CASES = []


def case(name, raw, status):
    CASES.append((name, raw, status))


# --- request line ---------------------------------------------------------
for name, line, status in [
    ("empty method", b" / HTTP/1.1", 400),
    ("lowercase method", b"get / HTTP/1.1", 501),
    ("unknown method", b"FOO / HTTP/1.1", 501),
    ("method with slash", b"GE/T / HTTP/1.1", 400),
    ("two spaces", b"GET  / HTTP/1.1", 400),
    ("tab separator", b"GET\t/ HTTP/1.1", 400),
    ("trailing space", b"GET / HTTP/1.1 ", 400),
    ("no version", b"GET /", 400),
    ("HTTP/0.9 style", b"GET / ", 400),
    ("version lowercase", b"GET / http/1.1", 400),
    ("version 2.0", b"GET / HTTP/2.0", 505),
    ("version 1.2", b"GET / HTTP/1.2", 505),
    ("version 3.0", b"GET / HTTP/3.0", 505),
    ("version 0.9", b"GET / HTTP/0.9", 505),
    ("version long", b"GET / HTTP/1.10", 400),
    ("version junk", b"GET / HTTP/1.x", 400),
    ("version missing minor", b"GET / HTTP/1", 400),
    ("no target", b"GET HTTP/1.1", 400),
    ("relative target", b"GET hello.txt HTTP/1.1", 400),
    ("asterisk with GET", b"GET * HTTP/1.1", 400),
    ("ftp absolute", b"GET ftp://x/ HTTP/1.1", 400),
    ("absolute no host", b"GET http:/// HTTP/1.1", 400),
    ("userinfo", b"GET http://u@x/ HTTP/1.1", 400),
    ("authority form", b"CONNECT x:80 HTTP/1.1", 400),
    ("control in target", b"GET /a\x01b HTTP/1.1", 400),
    ("DEL in target", b"GET /a\x7fb HTTP/1.1", 400),
    ("NUL in target", b"GET /a\x00b HTTP/1.1", 400),
    ("CR in line", b"GET /\rx HTTP/1.1", 400),
    ("quote in target (raw, as nginx)", b"GET /a\"b HTTP/1.1", 404),
    ("lt in target (raw, as nginx)", b"GET /a<b HTTP/1.1", 404),
    ("space encoded ok", b"GET /no%20such HTTP/1.1", 404),
    ("bad escape", b"GET /%zz HTTP/1.1", 400),
    ("short escape", b"GET /%2 HTTP/1.1", 400),
    ("encoded NUL", b"GET /a%00b HTTP/1.1", 400),
    ("TRACE", b"TRACE / HTTP/1.1", 405),
    ("CONNECT origin form", b"CONNECT / HTTP/1.1", 405),
    ("DELETE static", b"DELETE /hello.txt HTTP/1.1", 405),
    ("PUT static", b"PUT /hello.txt HTTP/1.1", 405),
]:
    case("request line: " + name, req(line), status)
case("request line: over 8 KiB", req(b"GET /" + b"a" * 9000 + b" HTTP/1.1"), 414)
case("request line: bare LF", b"GET /hello.txt HTTP/1.1\n" + H + b"\n", 200)
case("request line: CR without LF", b"GET /hello.txt HTTP/1.1\rHost: x\r\n\r\n", 400)

# --- traversal ----------------------------------------------------------------
for target in [b"/../secret", b"/%2e%2e/secret", b"/%2E%2E/secret", b"/a/../../secret",
               b"/./../secret", b"/..%2fsecret", b"/a%2f..%2f..%2fsecret", b"/%2e%2e%2fsecret",
               b"/.%2e/secret", b"/%2e./secret", b"/a/b/../../../secret"]:
    case("traversal " + target.decode(), req(b"GET " + target + b" HTTP/1.1"), 403)
case("traversal resolved inside", req(b"GET /a/../hello.txt HTTP/1.1"), 200)
case("dot segment inside", req(b"GET /./hello.txt HTTP/1.1"), 200)

# --- header syntax ---------------------------------------------------------
for name, headers, status in [
    ("space before colon", H + b"X-A : 1\r\n", 400),
    ("tab before colon", H + b"X-A\t: 1\r\n", 400),
    ("no colon", H + b"X-A 1\r\n", 400),
    ("empty name", H + b": 1\r\n", 400),
    ("obs-fold", H + b"X-A: 1\r\n continued\r\n", 400),
    ("obs-fold tab", H + b"X-A: 1\r\n\tcontinued\r\n", 400),
    ("leading whitespace first header", b" Host: x\r\n", 400),
    ("NUL in value", H + b"X-A: a\x00b\r\n", 400),
    ("CR in value", H + b"X-A: a\rb\r\n", 400),
    ("control in value (as nginx)", H + b"X-A: a\x01b\r\n", 200),
    ("DEL in value (as nginx)", H + b"X-A: a\x7fb\r\n", 200),
    ("bad name char", H + b"X(A): 1\r\n", 400),
    ("non-ascii name", H + b"X\xffA: 1\r\n", 400),
    ("high bytes value ok", H + b"X-A: caf\xc3\xa9\r\n", 200),
    ("missing host", b"", 400),
    ("two hosts", H + H, 400),
    ("host with path", b"Host: x/y\r\n", 400),
    ("host with space", b"Host: x y\r\n", 400),
    ("host with at", b"Host: u@x\r\n", 400),
    ("host odd port (as nginx)", b"Host: x:80a\r\n", 200),
    ("empty host ok", b"Host:\r\n", 200),
    ("host ipv6", b"Host: [::1]:80\r\n", 200),
    ("host open bracket (as nginx)", b"Host: [::1\r\n", 200),
    ("101 headers", H + b"".join(b"X-%d: v\r\n" % i for i in range(101)), 431),
    ("head over 16 KiB", H + b"X-Big: " + b"b" * 17000 + b"\r\n", 431),
    ("many header bytes", H + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 200) for i in range(90)), 431),
]:
    case("header: " + name, req(b"GET /hello.txt HTTP/1.1", headers), status)

# --- body framing and smuggling ------------------------------------------------
P = b"POST /post HTTP/1.1"
for name, headers, body, status in [
    ("CL and TE", b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n", 400),
    ("TE and CL", b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", b"0\r\n\r\n", 400),
    ("two CL differ", b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd", 400),
    ("two CL same", b"Content-Length: 3\r\nContent-Length: 3\r\n", b"abc", 400),
    ("CL list", b"Content-Length: 3, 3\r\n", b"abc", 400),
    ("CL negative", b"Content-Length: -1\r\n", b"", 400),
    ("CL plus", b"Content-Length: +3\r\n", b"abc", 400),
    ("CL hex", b"Content-Length: 0x3\r\n", b"abc", 400),
    ("CL space inside", b"Content-Length: 1 2\r\n", b"", 400),
    ("CL empty", b"Content-Length:\r\n", b"", 400),
    ("CL huge", b"Content-Length: 99999999999999999999999\r\n", b"", 400),
    ("CL over limit", b"Content-Length: 11\r\n", b"a" * 11, 413),
    ("CL leading zeros ok", b"Content-Length: 0003\r\n", b"abc", 405),
    ("TE gzip", b"Transfer-Encoding: gzip\r\n", b"", 501),
    ("TE chunked gzip", b"Transfer-Encoding: chunked, gzip\r\n", b"", 400),
    ("TE gzip chunked", b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n", 501),
    ("TE twice", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n", 400),
    ("TE chunked chunked", b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n", 400),
    ("TE empty", b"Transfer-Encoding:\r\n", b"", 400),
    ("TE with space name", b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n", 400),
    ("TE xchunked", b"Transfer-Encoding: xchunked\r\n", b"", 501),
    ("TE on 1.0 style identity", b"Transfer-Encoding: identity\r\n", b"", 501),
]:
    case("framing: " + name, req(P, H + headers, body), status)

CH = H + b"Transfer-Encoding: chunked\r\n"
for name, body, status in [
    ("valid", b"3\r\nabc\r\n0\r\n\r\n", 405),
    ("uppercase hex", b"A\r\n0123456789\r\n0\r\n\r\n", 405),
    ("extension", b"3;a=b\r\nabc\r\n0\r\n\r\n", 405),
    ("trailer", b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", 405),
    ("no size", b"\r\nabc\r\n0\r\n\r\n", 400),
    ("bad size char", b"3g\r\nabc\r\n0\r\n\r\n", 400),
    ("negative size", b"-3\r\nabc\r\n0\r\n\r\n", 400),
    ("size then space (BWS, as nginx)", b"3 \r\nabc\r\n0\r\n\r\n", 405),
    ("size 0x", b"0x3\r\nabc\r\n0\r\n\r\n", 400),
    ("size overflow", b"ffffffffffffffffff\r\nabc\r\n", 400),
    ("size over limit", b"b\r\n" + b"a" * 11 + b"\r\n0\r\n\r\n", 413),
    ("sum over limit", b"6\r\naaaaaa\r\n6\r\naaaaaa\r\n0\r\n\r\n", 413),
    ("data longer than size", b"3\r\nabcd\r\n0\r\n\r\n", 400),
    ("missing CRLF after data", b"3\r\nabc0\r\n\r\n", 400),
    ("LF only after data (strict: a smuggling vector)", b"3\r\nabc\n0\r\n\r\n", 400),
    ("bare CR after size", b"3\rabc\r\n0\r\n\r\n", 400),
    ("empty extension (ignored, as nginx)", b"3;=\r\nabc\r\n0\r\n\r\n", 405),
    ("bad trailer", b"3\r\nabc\r\n0\r\nbad trailer\r\n\r\n", 400),
    ("trailer obs-fold", b"3\r\nabc\r\n0\r\nX: 1\r\n 2\r\n\r\n", 400),
    ("long chunk line", b"3;" + b"x" * 5000 + b"\r\nabc\r\n0\r\n\r\n", 400),
]:
    case("chunked: " + name, req(P, CH, body), status)

# --- expect, methods, versions --------------------------------------------------
case("expect: 100-continue over limit", req(P, H + b"Content-Length: 100\r\nExpect: 100-continue\r\n"), 413)
case("expect: unknown expectation", req(b"GET /hello.txt HTTP/1.1", H + b"Expect: magic\r\n"), 200)
case("HTTP/1.0 without host", b"GET /hello.txt HTTP/1.0\r\n\r\n", 200)
case("HTTP/1.0 absolute", b"GET http://x/hello.txt HTTP/1.0\r\n\r\n", 200)
case("absolute form wins over host", req(b"GET http://x/hello.txt HTTP/1.1", b"Host: other\r\n"), 200)
case("OPTIONS asterisk (as nginx)", req(b"OPTIONS * HTTP/1.1"), 400)
case("HEAD ok", req(b"HEAD /hello.txt HTTP/1.1"), 200)
case("PATCH static", req(b"PATCH /hello.txt HTTP/1.1"), 405)
case("leading empty lines", b"\r\n\r\n" + req(b"GET /hello.txt HTTP/1.1"), 200)
case("leading junk line", b"x\r\n" + req(b"GET /hello.txt HTTP/1.1"), 400)
case("leading space line", b" \r\n" + req(b"GET /hello.txt HTTP/1.1"), 400)
for i in range(1, 21):
    # Printable-looking garbage of growing length.
    case("garbage %d" % i, (b"\x16\x03\x01" + bytes(range(32, 32 + i))) + b"\r\n\r\n", 400)

# A bare minimum of how many cases the issue asks for.
assert len(CASES) >= 150, len(CASES)


def status_of(raw):
    """Sends raw, returns the status of the first response (0 if none)."""
    s = socket.create_connection(("127.0.0.1", PORT), 5)
    try:
        s.settimeout(5)
        try:
            s.sendall(raw)
        except OSError:
            pass
        data = b""
        while b"\r\n" not in data:
            try:
                chunk = s.recv(4096)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        line = data.split(b"\r\n", 1)[0].split(b" ")
        return int(line[1]) if len(line) > 1 and line[1].isdigit() else 0
    finally:
        s.close()


failed = 0
for name, raw, want in CASES:
    got = status_of(raw)
    ok = got == want
    after = status_of(req(b"GET /hello.txt HTTP/1.1"))
    if not ok or after != 200:
        failed += 1
        print("FAIL %s: got %s, want %s; good request after it: %s" % (name, got, want, after))
print("hostile corpus: %d passed, %d failed" % (len(CASES) - failed, failed))
sys.exit(1 if failed else 0)
