#!/usr/bin/env bash
# Checks the I/O rule of DESIGN.md §6 on a real run, under strace, for every
# backend given (default: epoll poll): every socket and pipe is read or
# written only in a loop iteration whose wait reported it, at most once per
# direction per iteration.
#
# Traffic: keep-alive 1 KiB requests, 16 pipelined requests in one packet, a
# 4 MiB download read slowly, a 404, HTTP/1.0, and CGI: a script's 4 MiB of
# output read slowly, a 1 MiB POST streamed to a script's stdin, a chunked
# POST. The analysis maps poller tokens to fds through epoll_ctl (epoll) or
# reads poll(2)'s revents. Only the server is traced (no -f: the scripts it
# starts are not, and its own calls are never split by theirs).
#
# Usage: scripts/strace-check.sh [BACKEND...]   (needs strace, python3)
# BERTH=path checks another build of berth (e.g. an older one, to compare).
set -euo pipefail
cd "$(dirname "$0")/.."
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(epoll poll)
command -v strace >/dev/null || { echo "strace-check: install strace" >&2; exit 1; }
berth=${BERTH:-}
if [ -z "$berth" ]; then
  cargo build --release -q -p server --bin berth
  berth=target/release/berth
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/www/cgi"
head -c 1024 /dev/urandom > "$work/www/1k.bin"
printf 'printf "Content-Type: application/octet-stream\\n\\n"\nhead -c 4194304 /dev/zero\n' > "$work/www/cgi/big.sh"
printf 'printf "Content-Type: text/plain\\n\\n"\nwc -c\n' > "$work/www/cgi/count.sh"
head -c $((4 * 1024 * 1024)) /dev/urandom > "$work/www/4m.bin"
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cat > "$work/berth.conf" <<CONF
access_log $work/access.log;
server {
    listen 127.0.0.1:$port;
    root $work/www;
    location /cgi { cgi .sh /bin/sh; client_max_body_size 10m; }
}
CONF

status=0
for backend in "${backends[@]}"; do
  trace="$work/trace-$backend"
  strace -tt -e trace=epoll_wait,epoll_pwait,poll,ppoll,epoll_ctl,read,recvfrom,write,writev,sendto,sendfile,close,accept4 \
    -e signal=none -o "$trace" "$berth" -c "$work/berth.conf" --poller "$backend" 2>/dev/null &
  pid=$!
  for _ in $(seq 100); do
    python3 -c "import socket;socket.create_connection(('127.0.0.1',$port),0.1)" 2>/dev/null && break
    sleep 0.05
  done
  python3 - "$port" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def conn():
    return socket.create_connection(("127.0.0.1", port), 2)
def read_all(s, want):
    got = b""
    while len(got) < want:
        b = s.recv(65536)
        if not b: break
        got += b
    return got
s = conn()
for _ in range(50):
    s.sendall(b"GET /1k.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    read_all(s, 1024 + 100)
s.sendall(b"GET /1k.bin HTTP/1.1\r\nHost: x\r\n\r\n" * 16)
time.sleep(0.2)
big = conn()
big.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
big.sendall(b"GET /4m.bin HTTP/1.1\r\nHost: x\r\n\r\n")
n = 0
while n < 4 * 1024 * 1024:
    b = big.recv(65536)
    if not b: break
    n += len(b)
    time.sleep(0.001)
c = conn(); c.sendall(b"GET /missing HTTP/1.0\r\n\r\n"); c.recv(4096)
cgi = conn()
cgi.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
cgi.sendall(b"GET /cgi/big.sh HTTP/1.0\r\n\r\n")
n = 0
while True:
    b = cgi.recv(65536)
    if not b: break
    n += len(b)
    time.sleep(0.001)
assert n > 4 * 1024 * 1024, n
post = conn()
body = b"p" * (1024 * 1024)
post.sendall(b"POST /cgi/count.sh HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
assert read_all(post, 10**9).endswith(b"1048576\n")
ch = conn()
ch.sendall(b"POST /cgi/count.sh HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + b"5\r\nhello\r\n0\r\n\r\n")
assert read_all(ch, 10**9).endswith(b"2\r\n5\n\r\n0\r\n\r\n")
PY
  # Stop berth itself (strace's child); strace exits with it.
  kill -TERM "$(pgrep -P "$pid")"; wait "$pid" || true
  python3 - "$trace" "$backend" <<'PY' || status=1
import re, sys
path, backend = sys.argv[1], sys.argv[2]
registered = {}   # token -> fd (epoll)
watched = set()   # fds ever given to the poller
reported = {}     # fd -> set of "r"/"w" for the current iteration
used = {}         # (fd, dir) -> count in the current iteration
violations, iterations, ios = [], 0, 0
io_dir = {"read": "r", "recvfrom": "r", "write": "w", "writev": "w", "sendto": "w", "sendfile": "w"}
for line in open(path):
    m = re.match(r"(?:\d+\s+)?[\d:.]+\s+(\w+)\((.*)", line)
    if not m or "<unfinished" in line or "resumed>" in line:
        continue
    call, rest = m.group(1), m.group(2)
    if call == "epoll_ctl":
        mm = re.match(r"\d+, EPOLL_CTL_(\w+), (\d+)(?:, \{.*u64=(\d+)\})?", rest)
        if mm:
            op, fd = mm.group(1), int(mm.group(2))
            if op in ("ADD", "MOD") and mm.group(3):
                registered[int(mm.group(3))] = fd
                watched.add(fd)
        continue
    if call in ("epoll_wait", "epoll_pwait"):
        iterations += 1
        reported, used = {}, {}
        for ev in re.finditer(r"\{events=([A-Z|]+), data=\{u32=\d+, u64=(\d+)\}\}", rest):
            fd = registered.get(int(ev.group(2)))
            if fd is None: continue
            dirs = set()
            if re.search("EPOLLIN|EPOLLHUP|EPOLLRDHUP|EPOLLERR", ev.group(1)): dirs.add("r")
            if re.search("EPOLLOUT|EPOLLERR|EPOLLHUP", ev.group(1)): dirs.add("w")
            reported[fd] = dirs
        continue
    if call in ("poll", "ppoll"):
        iterations += 1
        reported, used = {}, {}
        asked = re.match(r"\[(.*?)\], \d+", rest)
        if asked:
            for fd in re.findall(r"fd=(\d+)", asked.group(1)): watched.add(int(fd))
        tail = rest.split(" = ", 1)[-1]
        for fd, ev in re.findall(r"\{fd=(\d+), revents=([A-Z|]+)\}", tail):
            dirs = set()
            if re.search("POLLIN|POLLHUP|POLLERR|POLLRDHUP", ev): dirs.add("r")
            if re.search("POLLOUT|POLLERR|POLLHUP", ev): dirs.add("w")
            reported[int(fd)] = dirs
        continue
    if call in io_dir:
        fd = int(re.match(r"(\d+)", rest).group(1))
        if fd not in watched or fd <= 2:
            continue   # log files and stderr, the file side of sendfile
        ios += 1
        d = io_dir[call]
        used[(fd, d)] = used.get((fd, d), 0) + 1
        if d not in reported.get(fd, set()):
            violations.append(f"iteration {iterations}: {call} on fd {fd} not reported {d}: {line.strip()}")
        elif used[(fd, d)] > 1:
            violations.append(f"iteration {iterations}: second {call} on fd {fd}: {line.strip()}")
print(f"strace-check {backend}: {iterations} iterations, {ios} socket/pipe reads and writes, {len(violations)} violations")
for v in violations[:20]:
    print("  " + v)
sys.exit(1 if violations or ios == 0 else 0)
PY
done
exit $status
