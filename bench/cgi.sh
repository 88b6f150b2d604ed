#!/usr/bin/env bash
# Runs Berth beside lighttpd's mod_cgi on this machine, in one run, with wrk
# against the same trivial /bin/sh CGI script, and prints requests/s and
# Berth's ratio. Each request starts a process, so this measures the cost of
# spawning, feeding and reaping a script in each server's loop.
#
# Usage: bench/cgi.sh [DURATION] [CONNECTIONS]   (defaults: 10s 10)
# Needs: lighttpd, wrk (installed with apt-get when run as root). Servers are
# pinned to core 0 and wrk to core 1 when there are two or more cores (the
# scripts run wherever the kernel puts them). Never run by the test suite or CI.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
conns=${2:-10}

need=()
for tool in lighttpd:lighttpd wrk:wrk; do
  command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "bench: install ${need[*]} first" >&2; exit 1
  fi
fi
PATH=$PATH:/usr/sbin
if [ "$(nproc)" -ge 2 ]; then srv_pin="taskset -c 0"; cli_pin="taskset -c 1"; else srv_pin=""; cli_pin=""; fi

cargo build --release -q -p server --bin berth
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/www/cgi-bin" "$work/logs"
printf 'printf "Content-Type: text/plain\\n\\nhello from %%s\\n" "$QUERY_STRING"\n' > "$work/www/cgi-bin/hello.sh"

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
p_berth=$(free_port); p_lighttpd=$(free_port)

cat > "$work/berth.conf" <<CONF
server {
    listen 127.0.0.1:$p_berth;
    root $work/www;
    location /cgi-bin { cgi .sh /bin/sh; }
}
CONF
cat > "$work/lighttpd.conf" <<CONF
server.modules = ("mod_cgi")
server.document-root = "$work/www"
server.bind = "127.0.0.1"
server.port = $p_lighttpd
server.errorlog = "$work/logs/lighttpd-error.log"
server.max-keep-alive-requests = 1000000
server.max-connections = 4096
\$HTTP["url"] =~ "^/cgi-bin/" { cgi.assign = (".sh" => "/bin/sh") }
CONF

$srv_pin "${CARGO_TARGET_DIR:-target}/release/berth" -c "$work/berth.conf" 2>"$work/logs/berth.err" & pids+=($!)
$srv_pin lighttpd -D -f "$work/lighttpd.conf" 2>"$work/logs/lighttpd.err" & pids+=($!)

url_of() { echo "http://127.0.0.1:$1/cgi-bin/hello.sh?bench"; }
wait_port() {
  for _ in $(seq 50); do
    [ "$(curl -sf "$(url_of "$1")")" = "hello from bench" ] && return 0
    sleep 0.1
  done
  echo "bench: the CGI script on port $1 did not answer" >&2; cat "$work"/logs/*.err >&2; exit 1
}
wait_port "$p_berth"; wait_port "$p_lighttpd"

declare -A rps
for name in berth lighttpd; do
  port_var="p_$name"
  out=$($cli_pin wrk -t1 -c"$conns" -d"$duration" "$(url_of "${!port_var}")")
  rps[$name]=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  errors=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)
  printf '%-9s %12s req/s %s\n' "$name" "${rps[$name]}" "${errors:+($errors)}"
done
awk -v b="${rps[berth]}" -v l="${rps[lighttpd]}" 'BEGIN { printf "\nberth/lighttpd = %.2f\n", b / l }'
zombies=$(ps -o stat= --ppid "${pids[0]}" | grep -c Z || true)
echo "zombies left under berth: $zombies"
echo "($(date -u +%F), $(nproc) cores, wrk -t1 -c$conns -d$duration, /bin/sh CGI script, keep-alive)"
