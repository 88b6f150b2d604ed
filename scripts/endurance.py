#!/usr/bin/env python3
"""Endurance against a running Berth: REQUESTS mixed requests (keep-alive
and close, 404s, bad requests, pipelined bursts, uploads fetched back and
deleted, CGI scripts) over a few client connections, with the server's fd
count and RSS sampled from /proc. Passes when every response came with the
status and body expected, the fd count is back to its idle value, RSS grew
less than 1 MiB from the end of the warm-up (the first tenth) to the end,
and the server has no zombie child.

The server must serve /hello.txt ("hello, world\n"), have no /missing,
run /cgi-bin/hello.sh (printing "hello from cgi" as a chunked or
Content-Length body) and store uploads POSTed to /up/NAME (a location with
`upload_store` that GET and DELETE reach).

Usage: scripts/endurance.py PORT PID REQUESTS
"""
import socket
import sys

PORT, PID, TOTAL = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])


def fds():
    import os
    return len(os.listdir("/proc/%d/fd" % PID))


def rss_kib():
    for line in open("/proc/%d/status" % PID):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fill(s, buf, n):
    """Reads from s until buf holds at least n bytes."""
    while len(buf) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise IOError("connection closed in a response")
        buf += chunk
    return buf


def read_responses(s, n, buf):
    """Reads n responses (Content-Length or chunked) from s; returns
    (statuses, bodies, rest of buf)."""
    statuses, bodies = [], []
    while len(statuses) < n:
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise IOError("connection closed after %d responses" % len(statuses))
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"transfer-encoding":
                chunked = value.strip().lower() == b"chunked"
        body = b""
        if chunked:
            while True:
                while b"\r\n" not in buf:
                    buf = fill(s, buf, len(buf) + 1)
                size_line, buf = buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                buf = fill(s, buf, size + 2)
                body += buf[:size]
                buf = buf[size + 2:]
                if size == 0:
                    break
        else:
            buf = fill(s, buf, length)
            body, buf = buf[:length], buf[length:]
        statuses.append(status)
        bodies.append(body)
    return statuses, bodies, buf


def zombies():
    """Children of the server that exited and were not reaped."""
    import os
    found = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open("/proc/%s/stat" % entry).read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[0] == "Z" and fields[1] == str(PID):
            found += 1
    return found


GOOD = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
MISSING = b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
CLOSE = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
BAD = b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n"

CGI = b"GET /cgi-bin/hello.sh?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
UPLOAD_DATA = bytes(range(256)) * 16


def upload(step):
    name = "e%d.bin" % step
    return (b"POST /up/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
            % (name.encode(), len(UPLOAD_DATA))) + UPLOAD_DATA


def send_upload(request, s, buf):
    """Sends an upload on s; returns (error count, stored URL, buf)."""
    s.sendall(request)
    while b"\r\n\r\n" not in buf:
        buf = fill(s, buf, len(buf) + 1)
    head = buf.split(b"\r\n\r\n", 1)[0]
    url = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"location":
            url = value.strip()
    statuses, _, buf = read_responses(s, 1, buf)
    return (statuses != [201]) + (url is None), url, buf


idle_fds = fds()
done, errors, warm_rss, step = 0, 0, None, 0
keep = socket.create_connection(("127.0.0.1", PORT), 5)
buf = b""
while done < TOTAL:
    if warm_rss is None and done >= TOTAL // 10:
        warm_rss = rss_kib()
    kind = step % 10
    step += 1
    try:
        if kind < 6:
            # A pipelined burst of 16 on the kept connection.
            keep.sendall((GOOD * 12) + (MISSING * 4))
            statuses, _, buf = read_responses(keep, 16, buf)
            errors += sum(1 for s in statuses[:12] if s != 200) + sum(1 for s in statuses[12:] if s != 404)
            done += 16
        elif kind == 6:
            s = socket.create_connection(("127.0.0.1", PORT), 5)
            s.sendall(CLOSE)
            statuses, _, _ = read_responses(s, 1, b"")
            errors += statuses != [200]
            s.close()
            done += 1
        elif kind == 7:
            s = socket.create_connection(("127.0.0.1", PORT), 5)
            s.sendall(BAD)
            statuses, _, _ = read_responses(s, 1, b"")
            errors += statuses != [400]
            s.close()
            done += 1
        elif kind == 8:
            # An upload, fetched back whole, then deleted (404 afterwards).
            bad, url, buf = send_upload(upload(step), keep, buf)
            errors += bad
            if url is not None:
                keep.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % url
                             + b"DELETE %s HTTP/1.1\r\nHost: x\r\n\r\n" % url
                             + b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % url)
                statuses, bodies, buf = read_responses(keep, 3, buf)
                errors += statuses != [200, 204, 404] or bodies[0] != UPLOAD_DATA
            done += 4
        else:
            keep.sendall(CGI)
            statuses, bodies, buf = read_responses(keep, 1, buf)
            errors += statuses != [200] or bodies[0] != b"hello from cgi\n"
            done += 1
    except (IOError, OSError, ValueError, IndexError) as e:
        print("endurance: %s after %d requests" % (e, done))
        errors += 1
        keep = socket.create_connection(("127.0.0.1", PORT), 5)
        buf = b""
keep.close()
import time
for _ in range(50):
    if fds() == idle_fds:
        break
    time.sleep(0.1)
end_fds, end_rss = fds(), rss_kib()
unreaped = zombies()
for _ in range(50):
    if not unreaped:
        break
    time.sleep(0.1)
    unreaped = zombies()
growth = end_rss - (warm_rss or end_rss)
print("endurance: %d requests, %d errors, fds %d -> %d, RSS %d KiB after warm-up -> %d KiB (%+d KiB), %d zombies"
      % (done, errors, idle_fds, end_fds, warm_rss or 0, end_rss, growth, unreaped))
sys.exit(1 if errors or end_fds != idle_fds or growth >= 1024 or unreaped else 0)
