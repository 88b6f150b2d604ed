#!/usr/bin/env python3
"""Endurance against a running Berth: REQUESTS mixed requests (keep-alive
and close, 404s, bad requests, pipelined bursts) over a few client
connections, with the server's fd count and RSS sampled from /proc. Passes
when every response came, the fd count is back to its idle value, and RSS
grew less than 1 MiB from the end of the warm-up (the first tenth) to the end.

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


def read_responses(s, n, buf):
    """Reads n responses (Content-Length framed) from s; returns statuses."""
    statuses = []
    while len(statuses) < n:
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise IOError("connection closed after %d responses" % len(statuses))
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        while len(buf) < length:
            chunk = s.recv(65536)
            if not chunk:
                raise IOError("body cut")
            buf += chunk
        buf = buf[length:]
        statuses.append(status)
    return statuses, buf


GOOD = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
MISSING = b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
CLOSE = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
BAD = b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n"

idle_fds = fds()
done, errors, warm_rss = 0, 0, None
keep = socket.create_connection(("127.0.0.1", PORT), 5)
buf = b""
while done < TOTAL:
    if warm_rss is None and done >= TOTAL // 10:
        warm_rss = rss_kib()
    kind = done % 100
    try:
        if kind < 80:
            # A pipelined burst of 16 on the kept connection.
            keep.sendall((GOOD * 12) + (MISSING * 4))
            statuses, buf = read_responses(keep, 16, buf)
            errors += sum(1 for s in statuses[:12] if s != 200) + sum(1 for s in statuses[12:] if s != 404)
            done += 16
        elif kind < 95:
            s = socket.create_connection(("127.0.0.1", PORT), 5)
            s.sendall(CLOSE)
            statuses, _ = read_responses(s, 1, b"")
            errors += statuses != [200]
            s.close()
            done += 1
        else:
            s = socket.create_connection(("127.0.0.1", PORT), 5)
            s.sendall(BAD)
            statuses, _ = read_responses(s, 1, b"")
            errors += statuses != [400]
            s.close()
            done += 1
    except (IOError, OSError) as e:
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
growth = end_rss - (warm_rss or end_rss)
print("endurance: %d requests, %d errors, fds %d -> %d, RSS %d KiB after warm-up -> %d KiB (%+d KiB)"
      % (done, errors, idle_fds, end_fds, warm_rss or 0, end_rss, growth))
sys.exit(1 if errors or end_fds != idle_fds or growth >= 1024 else 0)
