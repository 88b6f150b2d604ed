#!/usr/bin/env bash
# Runs Berth beside nginx (one worker) and lighttpd on this machine, in one run,
# with wrk against the same 1 KiB file, and prints requests/s and Berth's ratio.
#
# Usage: bench/compare.sh [DURATION] [CONNECTIONS]   (defaults: 10s 50)
# Needs: nginx, lighttpd, wrk (bench/compare.sh installs them with apt-get when
# run as root). Servers are pinned to core 0 and wrk to core 1 when there are two
# or more cores. Benchmarks are never run by the test suite or CI.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
conns=${2:-50}

need=()
for tool in nginx:nginx-light lighttpd:lighttpd wrk:wrk; do
  command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "bench: install ${need[*]} first" >&2; exit 1
  fi
fi

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

mkdir -p "$work/www" "$work/logs"
head -c 1024 /dev/urandom | base64 -w 0 | head -c 1024 > "$work/www/1k.txt"

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
p_berth=$(free_port); p_nginx=$(free_port); p_lighttpd=$(free_port)

cat > "$work/berth.conf" <<CONF
server {
    listen 127.0.0.1:$p_berth;
    root $work/www;
}
CONF
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $work/nginx.pid;
error_log $work/logs/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $work/logs;
    proxy_temp_path $work/logs;
    fastcgi_temp_path $work/logs;
    uwsgi_temp_path $work/logs;
    scgi_temp_path $work/logs;
    server { listen 127.0.0.1:$p_nginx; root $work/www; }
}
CONF
cat > "$work/lighttpd.conf" <<CONF
server.document-root = "$work/www"
server.bind = "127.0.0.1"
server.port = $p_lighttpd
server.errorlog = "$work/logs/lighttpd-error.log"
server.max-keep-alive-requests = 1000000
server.network-backend = "sendfile"
server.max-connections = 4096
CONF

$srv_pin "${CARGO_TARGET_DIR:-target}/release/berth" -c "$work/berth.conf" 2>"$work/logs/berth.err" & pids+=($!)
$srv_pin nginx -c "$work/nginx.conf" -p "$work" 2>"$work/logs/nginx.err" & pids+=($!)
$srv_pin lighttpd -D -f "$work/lighttpd.conf" 2>"$work/logs/lighttpd.err" & pids+=($!)

wait_port() {
  for _ in $(seq 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$1/1k.txt" && return 0
    sleep 0.1
  done
  echo "bench: server on port $1 did not answer" >&2; cat "$work"/logs/*.err >&2; exit 1
}
wait_port "$p_berth"; wait_port "$p_nginx"; wait_port "$p_lighttpd"

declare -A rps
for name in berth nginx lighttpd; do
  port_var="p_$name"
  out=$($cli_pin wrk -t1 -c"$conns" -d"$duration" "http://127.0.0.1:${!port_var}/1k.txt")
  rps[$name]=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  errors=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)
  printf '%-9s %12s req/s %s\n' "$name" "${rps[$name]}" "${errors:+($errors)}"
done
awk -v b="${rps[berth]}" -v n="${rps[nginx]}" -v l="${rps[lighttpd]}" \
  'BEGIN { printf "\nberth/nginx    = %.2f\nberth/lighttpd = %.2f\n", b / n, b / l }'
echo "($(date -u +%F), $(nproc) cores, wrk -t1 -c$conns -d$duration, 1 KiB file, keep-alive)"
