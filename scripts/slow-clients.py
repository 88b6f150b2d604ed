#!/usr/bin/env python3
"""Slow clients against a running Berth whose client_header_timeout,
client_body_timeout and send_timeout are 2 s (scripts/reliability.sh):
ATTACKERS connections split between slowloris (a head trickled a byte at a
time), slow body (a POST body trickled) and slow read (/big.bin, far larger
than the socket buffers, never read), while a probe client makes a request every 50 ms and must be answered
within 100 ms each time. Afterwards every attacker must have been cut (EOF or
reset) within the timeouts plus a margin.

Usage: scripts/slow-clients.py PORT ATTACKERS
"""
import socket
import sys
import time

PORT, ATTACKERS = int(sys.argv[1]), int(sys.argv[2])
DURATION = 6.0      # seconds of attack: three times the timeouts
MARGIN = 3.0        # seconds after the timeouts by which every attacker is cut
PROBE_LIMIT = 0.100


def connect():
    s = socket.create_connection(("127.0.0.1", PORT), 2)
    s.setblocking(False)
    return s


attackers = []
for i in range(ATTACKERS):
    try:
        s = connect()
    except OSError as e:
        print("slow-clients: connect failed: %s" % e)
        sys.exit(1)
    kind = ("loris", "body", "read")[i % 3]
    if kind == "body":
        s.send(b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
    elif kind == "read":
        # A response far larger than the socket buffers, never read.
        s.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    attackers.append([s, kind, None])

start = time.monotonic()
worst, probes, slow = 0.0, 0, 0
loris = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
step = 0
while time.monotonic() - start < DURATION:
    step += 1
    for a in attackers:
        s, kind, cut = a
        if cut is not None:
            continue
        try:
            if kind == "loris":
                s.send(loris[step % len(loris):step % len(loris) + 1])
            elif kind == "body" and step % 60 == 0:
                s.send(b"a")
            elif kind == "read":
                # Never read: just notice when the server gave up.
                pass
            if kind != "read":
                data = s.recv(4096)
                if data == b"" or data.startswith(b"HTTP/1.1 408"):
                    a[2] = time.monotonic() - start
        except BlockingIOError:
            pass
        except OSError:
            a[2] = time.monotonic() - start
    t0 = time.monotonic()
    p = socket.create_connection(("127.0.0.1", PORT), 2)
    p.settimeout(2)
    p.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    got = b""
    while True:
        chunk = p.recv(4096)
        if not chunk:
            break
        got += chunk
    p.close()
    took = time.monotonic() - t0
    probes += 1
    worst = max(worst, took)
    if took > PROBE_LIMIT or not got.startswith(b"HTTP/1.1 200"):
        slow += 1
    time.sleep(0.05)

# Slow readers: the server cuts them at send_timeout; a read now finds the
# data it managed to send and then EOF or a reset.
deadline = time.monotonic() + MARGIN
for a in attackers:
    s, kind, cut = a
    if cut is not None:
        continue
    s.setblocking(True)
    s.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        while True:
            data = s.recv(1 << 20)
            if not data:
                a[2] = time.monotonic() - start
                break
    except socket.timeout:
        pass
    except OSError:
        a[2] = time.monotonic() - start

uncut = [a[1] for a in attackers if a[2] is None]
for a in attackers:
    a[0].close()
kinds = {k: uncut.count(k) for k in set(uncut)}
if uncut:
    print("slow-clients: not cut, by kind: %s" % kinds)
print("slow-clients: %d attackers, %d probes, worst probe %.1f ms, %d over %d ms, %d attackers not cut"
      % (len(attackers), probes, worst * 1000, slow, PROBE_LIMIT * 1000, len(uncut)))
sys.exit(1 if slow or uncut or probes == 0 else 0)
