#!/usr/bin/env bash
# Two rows of run.sh against a ceiling, bench/ceiling/ceiling.c: the least
# an HTTP server can do for the row (no parsing, no files to look up, no
# timers). Servers on core 0, wrk -t1 on core 1, rounds of 3 s in turns;
# prints the medians of requests/s, of the server's and of wrk's CPU per
# request, and of each round's ratio to the row's reference server.
#
#   `Connection: close`, 50 connections (reference: nginx, one worker):
#   Berth, nginx, the ceiling (one fixed response, then close), and the
#   ceiling closing with a reset, which a real server must not do (a client
#   that has not read the response, or has sent more, can lose it); it is
#   measured only to show what the FIN handshake costs the client.
#
#   1 MiB keep-alive, 10 connections (reference: lighttpd): Berth, lighttpd,
#   and the ceiling sending the file with sendfile(2) 256 KiB a call (as
#   Berth and lighttpd do) and 1 MiB a call.
#
# When a ceiling is no faster than the reference, the row is decided by
# the client's core: no server, however little it does, can show more
# requests a second to that client.
#
# Usage: bench/ceiling.sh [ROUNDS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-5}
for tool in nginx:nginx-light lighttpd:lighttpd wrk:wrk cc:gcc; do
  if ! command -v "${tool%%:*}" >/dev/null && [ ! -x "/usr/sbin/${tool%%:*}" ]; then
    [ "$(id -u)" = 0 ] || { echo "ceiling: install ${tool#*:} first" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool#*:}" >/dev/null
  fi
done
export PATH=$PATH:/usr/sbin
if [ "$(nproc)" -ge 2 ]; then srv_pin="taskset -c 0"; cli_pin="taskset -c 1"; else srv_pin=""; cli_pin=""; fi

cargo build --release -q -p server --bin berth
berth_bin=$PWD/${CARGO_TARGET_DIR:-target}/release/berth
work=$(mktemp -d)
declare -A pid port
cleanup() {
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cc -O2 -o "$work/ceiling" bench/ceiling/ceiling.c
mkdir -p "$work/www" "$work/logs"
head -c 1024 /dev/urandom | base64 -w 0 | head -c 1024 > "$work/www/1k.txt"
head -c $((1024 * 1024)) /dev/urandom > "$work/www/1m.bin"
all="berth nginx lighttpd ceiling reset file256 file1024"
for s in $all; do port[$s]=$(free_port); done
write_configs "$work" "${port[berth]}" "${port[nginx]}" "${port[lighttpd]}" 1
$srv_pin "$berth_bin" -c "$work/berth.conf" 2>"$work/logs/berth.err" & pid[berth]=$!
$srv_pin nginx -c "$work/nginx.conf" -p "$work" 2>"$work/logs/nginx.err" & pid[nginx]=$!
$srv_pin lighttpd -D -f "$work/lighttpd.conf" 2>"$work/logs/lighttpd.err" & pid[lighttpd]=$!
$srv_pin "$work/ceiling" "${port[ceiling]}" "$work/www/1k.txt" close & pid[ceiling]=$!
$srv_pin "$work/ceiling" "${port[reset]}" "$work/www/1k.txt" abortive & pid[reset]=$!
$srv_pin "$work/ceiling" "${port[file256]}" "$work/www/1m.bin" file 256 & pid[file256]=$!
$srv_pin "$work/ceiling" "${port[file1024]}" "$work/www/1m.bin" file 1024 & pid[file1024]=$!
for s in $all; do
  ok=0
  want=1024; case $s in file*) want=$((1024 * 1024)) ;; esac
  for _ in $(seq 50); do
    [ "$(curl -s "http://127.0.0.1:${port[$s]}/$([ "$want" = 1024 ] && echo 1k.txt || echo 1m.bin)" | wc -c)" = "$want" ] && { ok=1; break; }
    sleep 0.1
  done
  [ $ok = 1 ] || { echo "ceiling: $s did not answer" >&2; cat "$work"/logs/*.err >&2; exit 1; }
done

tck=$(getconf CLK_TCK)
TIMEFORMAT='%U %S'
# row TITLE REFERENCE "SERVERS" CONNS PATH [wrk options...]
row() {
  local title=$1 ref=$2 servers=$3 conns=$4 path=$5; shift 5
  declare -A rate=() srv=() cli=() rat=()
  for _ in $(seq "$rounds"); do
    declare -A got=()
    for s in $servers; do
      local t0 t1 n
      t0=$(cpu_ticks "${pid[$s]}")
      { time $cli_pin wrk -t1 -c"$conns" -d3s "$@" "http://127.0.0.1:${port[$s]}$path" > "$work/out"; } 2> "$work/time"
      t1=$(cpu_ticks "${pid[$s]}")
      n=$(awk '/requests in/ {print $1}' "$work/out")
      got[$s]=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/out")
      rate[$s]+=" ${got[$s]}"
      srv[$s]+=" $(awk -v t=$((t1 - t0)) -v hz="$tck" -v n="$n" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')"
      cli[$s]+=" $(awk -v n="$n" '{ printf "%.1f", n ? ($1 + $2) * 1e6 / n : 0 }' "$work/time")"
      if grep -q 'Socket errors' "$work/out"; then echo "  ($s: $(grep 'Socket errors' "$work/out" | xargs))" >&2; fi
    done
    for s in $servers; do rat[$s]+=" $(awk -v a="${got[$s]}" -v b="${got[$ref]}" 'BEGIN { printf "%.3f", b ? a / b : 0 }')"; done
  done
  echo "$title"
  printf '  %-10s %10s %13s %13s %8s\n' server "req/s" "server us/req" "wrk us/req" "x $ref"
  for s in $servers; do
    printf '  %-10s %10s %13s %13s %8.2f\n' "$s" "$(median ${rate[$s]})" "$(median ${srv[$s]})" "$(median ${cli[$s]})" "$(median ${rat[$s]})"
  done
}
row "1 KiB Connection: close, 50" nginx "berth nginx ceiling reset" 50 /1k.txt -H 'Connection: close'
row "1 MiB keep-alive, 10" lighttpd "berth lighttpd file256 file1024" 10 /1m.bin
echo "($(date -u +%F), $(nproc) cores, wrk -t1, median of $rounds rounds of 3 s in turns; ceiling, reset, file256, file1024: bench/ceiling/ceiling.c)"
