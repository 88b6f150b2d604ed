#!/usr/bin/env bash
# Compares two builds of Berth on the same machine in one run: 1 KiB
# keep-alive requests/s and server CPU per request, the builds taking turns
# (A B A B ...) so that drift in the machine's load hits both alike.
#
# Usage: bench/before-after.sh OLD_BERTH [NEW_BERTH] [ROUNDS] [DURATION] [CONNECTIONS]
#   NEW_BERTH defaults to target/release/berth (built here); 3 rounds of 10s, 50 conns.
# Needs wrk (installed with apt-get when run as root). The server is pinned
# to core 0 and wrk to core 1 when there are two cores. Never run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: bench/before-after.sh OLD_BERTH [NEW_BERTH] [ROUNDS] [DURATION] [CONNECTIONS]}
new=${2:-}
rounds=${3:-3}
duration=${4:-10s}
conns=${5:-50}
if ! command -v wrk >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "bench: install wrk first" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
if [ -z "$new" ]; then
  cargo build --release -q -p server --bin berth
  new=target/release/berth
fi
if [ "$(nproc)" -ge 2 ]; then srv_pin="taskset -c 0"; cli_pin="taskset -c 1"; else srv_pin=""; cli_pin=""; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/www"
head -c 1024 /dev/urandom | base64 -w 0 | head -c 1024 > "$work/www/1k.txt"
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
printf 'server {\n    listen 127.0.0.1:%s;\n    root %s/www;\n}\n' "$port" "$work" > "$work/berth.conf"
tck=$(getconf CLK_TCK)

# Prints "requests/s cpu-us-per-request" for one run of binary $1.
run() {
  $srv_pin "$1" -c "$work/berth.conf" 2>/dev/null &
  local pid=$!
  for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/1k.txt" && break; sleep 0.1; done
  local t0; t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  local out; out=$($cli_pin wrk -t1 -c"$conns" -d"$duration" "http://127.0.0.1:$port/1k.txt")
  local t1; t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local rps; rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  local reqs; reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  awk -v r="$rps" -v n="$reqs" -v t=$((t1 - t0)) -v hz="$tck" 'BEGIN { printf "%.0f %.2f\n", r, t / hz * 1e6 / n }'
}

printf '%-6s %-5s %12s %14s\n' round build "requests/s" "CPU us/req"
sums_old=(0 0); sums_new=(0 0)
for i in $(seq "$rounds"); do
  read -r r c < <(run "$old"); printf '%-6s %-5s %12s %14s\n' "$i" old "$r" "$c"
  sums_old=($(awk -v a="${sums_old[0]}" -v b="${sums_old[1]}" -v r="$r" -v c="$c" 'BEGIN{print a+r, b+c}'))
  read -r r c < <(run "$new"); printf '%-6s %-5s %12s %14s\n' "$i" new "$r" "$c"
  sums_new=($(awk -v a="${sums_new[0]}" -v b="${sums_new[1]}" -v r="$r" -v c="$c" 'BEGIN{print a+r, b+c}'))
done
awk -v n="$rounds" -v ro="${sums_old[0]}" -v co="${sums_old[1]}" -v rn="${sums_new[0]}" -v cn="${sums_new[1]}" 'BEGIN {
  printf "\nmean   old %10.0f req/s %8.2f us/req\n", ro / n, co / n
  printf "mean   new %10.0f req/s %8.2f us/req\n", rn / n, cn / n
  printf "new/old    %10.3f       %8.3f\n", rn / ro, cn / co
}'
echo "($(date -u +%F), $(nproc) cores, wrk -t1 -c$conns -d$duration, 1 KiB file, keep-alive, $rounds rounds)"
