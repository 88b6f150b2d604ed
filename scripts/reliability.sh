#!/usr/bin/env bash
# Reliability checks of a release build of berth, per backend (epoll, poll):
#
#  1. hostile corpus: >= 150 malformed, ambiguous and smuggling requests, each
#     with its expected status, a good request answered after each
#     (scripts/hostile-corpus.py);
#  2. slow clients: hundreds of slowloris, slow-body and slow-read attackers
#     while a probe client keeps getting answers within 100 ms; the attackers
#     are cut at the configured timeouts (scripts/slow-clients.py);
#  3. EMFILE: a low descriptor limit and more clients than descriptors; the
#     server's CPU stays low while it cannot accept, and it serves again once
#     the clients are gone;
#  4. siege -b -c 255 with a bounded request count on an empty page and a
#     small file: 100.00 % availability, no failed transaction;
#  5. endurance: mixed requests (keep-alive and close, 404s, bad requests,
#     uploads fetched back and deleted, CGI) with fds and RSS sampled from
#     /proc: fds back to the idle count, RSS growth under 1 MiB after
#     warm-up, no zombie child (scripts/endurance.py).
#
# Bounded by default (what .ci/run runs, a few minutes); RELIABILITY_FULL=1
# runs the long forms (1,000,000 endurance requests, more attackers).
# Installs siege, curl and python3 with apt-get when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
full=${RELIABILITY_FULL:-0}
backends=${RELIABILITY_BACKENDS:-epoll poll}
if [ "$full" = 1 ]; then
  siege_reps=4000; endurance=1000000; attackers=600
else
  siege_reps=200; endurance=100000; attackers=200
fi
need=()
for t in siege curl python3; do command -v "$t" >/dev/null || need+=("$t"); done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "reliability: install ${need[*]}" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release -q -p server --bin berth
berth=$PWD/target/release/berth
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/www/post" "$work/www/cgi-bin" "$work/www/up"
printf 'printf "Content-Type: text/plain\\n\\nhello from cgi\\n"\n' > "$work/www/cgi-bin/hello.sh"
printf 'hello, world\n' > "$work/www/hello.txt"
: > "$work/www/empty.html"
head -c $((8 * 1024 * 1024)) /dev/zero > "$work/www/big.bin"
printf 'TOP-SECRET\n' > "$work/secret"
failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# start BACKEND [ULIMIT]: starts berth on a fresh port, sets $port and $pid.
start() {
  port=$(free_port)
  cat > "$work/berth.conf" <<CONF
max_connections 4096;
client_header_timeout 2s;
client_body_timeout 2s;
send_timeout 2s;
keepalive_timeout 5s;
server {
    listen 127.0.0.1:$port;
    root $work/www;
    client_max_body_size 10;
    location /post { methods GET HEAD POST; }
    location /cgi-bin { cgi .sh /bin/sh; }
    location /up {
        methods GET HEAD POST DELETE;
        upload_store $work/www/up;
        client_max_body_size 64k;
    }
}
CONF
  if [ -n "${2:-}" ]; then
    (ulimit -n "$2"; exec "$berth" -c "$work/berth.conf" --poller "$1") 2>"$work/err.log" &
  else
    "$berth" -c "$work/berth.conf" --poller "$1" 2>"$work/err.log" &
  fi
  pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/hello.txt" && return 0; sleep 0.05; done
  echo "berth did not start:"; cat "$work/err.log"; exit 1
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=""; }
fds() { ls "/proc/$pid/fd" | wc -l; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

for backend in $backends; do
  echo "=== $backend"
  start "$backend"
  if python3 scripts/hostile-corpus.py "$port" > "$work/corpus.txt"; then
    pass "$backend hostile corpus: $(tail -1 "$work/corpus.txt")"
  else
    cat "$work/corpus.txt"; fail "$backend hostile corpus"
  fi
  if python3 scripts/slow-clients.py "$port" "$attackers"; then
    pass "$backend slow clients"
  else
    fail "$backend slow clients"
  fi
  for page in empty.html hello.txt; do
    out=$(siege -b -c 255 -r "$siege_reps" "http://127.0.0.1:$port/$page" 2>&1 || true)
    # siege prints a table or, from 4.1 on, JSON.
    avail=$(grep -oiE '"?availability"?:[[:space:]]+[0-9.]+' <<<"$out" | grep -oE '[0-9.]+$' | head -1)
    failed=$(grep -oiE '"?failed[_ ]transactions"?:[[:space:]]+[0-9]+' <<<"$out" | grep -oE '[0-9]+$' | head -1)
    if [ "$avail" = "100.00" ] && [ "$failed" = "0" ]; then
      pass "$backend siege -c 255 /$page: availability $avail %, $failed failed"
    else
      echo "$out" | tail -20; fail "$backend siege -c 255 /$page: availability ${avail:-?} %, ${failed:-?} failed"
    fi
  done
  if python3 scripts/endurance.py "$port" "$pid" "$endurance"; then
    pass "$backend endurance ($endurance requests)"
  else
    fail "$backend endurance"
  fi
  stop

  # EMFILE: 64 descriptors, 200 clients holding connections open.
  start "$backend" 64
  python3 - "$port" <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
held = []
for _ in range(200):
    try:
        held.append(socket.create_connection(("127.0.0.1", port), 2))
    except OSError:
        pass
time.sleep(3)
PY
  holder=$!
  sleep 0.5
  t0=$(cpu_ticks); sleep 2; t1=$(cpu_ticks)
  wait "$holder" || true
  sleep 1
  used=$(( (t1 - t0) * 1000 / $(getconf CLK_TCK) ))
  if curl -sf -o /dev/null "http://127.0.0.1:$port/hello.txt" && [ "$used" -lt 500 ]; then
    pass "$backend EMFILE: ${used} ms CPU in 2 s at the limit, serving again afterwards"
  else
    fail "$backend EMFILE: ${used} ms CPU in 2 s at the limit, or not serving afterwards"
  fi
  stop
done
echo
if [ "$failures" -eq 0 ]; then echo "reliability: all checks passed"; else echo "reliability: $failures failed"; fi
[ "$failures" -eq 0 ]
