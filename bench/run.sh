#!/usr/bin/env bash
# The project's benchmark: Berth beside nginx (one worker) and lighttpd on
# equivalent configurations (same files, access logs off, sendfile on,
# keep-alive on, deferred accept: TCP_DEFER_ACCEPT of 1 s), each server pinned to core 0 and the load (wrk) to core 1,
# every scenario against each server in turn, in one run. Prints requests/s,
# server CPU microseconds per request (from /proc/PID/stat), Berth's ratios,
# and writes bench/results.md and a chart, bench/results.png (gnuplot); the
# short mode prints its table only (as .ci/run runs it).
#
# Scenarios: 1 KiB keep-alive at 50 and 500 connections, 1 MiB at 10,
# 1 KiB with `Connection: close` at 50, a 404 at 50, pipelined requests
# (depth 16) at 50, a CGI hello (a /bin/sh script) at 10 beside lighttpd's
# mod_cgi (nginx has no CGI), and idle keep-alive connections (RSS per
# connection).
#
# Usage: bench/run.sh [--short] [--only REGEX] [--rounds N] [--no-deferred]
#                     [--cap PERCENT]
#   --short: one 3 s run per server and scenario, 1,000 idle connections (a
#   smoke run); default: five rounds of 3 s (medians, and medians of each
#   round's ratios) and 10,000 idle connections.
#   --only REGEX: only the scenarios whose name matches (grep -E; the idle
#   row's name is "idle"), for a closer look at one row by hand.
#   --rounds N: N rounds instead of five.
#   --no-deferred: all three servers without deferred accept.
#   --cap PERCENT: each server in a cgroup of its own with a CPU quota of
#   PERCENT of a core (cgroup v1 `cpu.cfs_quota_us` or v2 `cpu.max`; needs
#   root): the same budget for all three, so that the server, not the load
#   generator on the other core, sets the rate (wrk's core saturates at
#   `Connection: close` on two cores; see bench/README.md).
# A short run, or one with --only, prints its table and leaves the committed
# bench/results.md and bench/results.png alone.
# Installs nginx-light, lighttpd, wrk and gnuplot-nox with apt-get when run as
# root. Never run by the tests; machines here are shared, so read ratios from
# one run, not absolute numbers across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
duration=3s; rounds=5; idle=10000; out=bench; only=""; partial=0; deferred=1; cap=""
while [ $# -gt 0 ]; do
  case $1 in
    --short) duration=3s; rounds=1; idle=1000; partial=1; shift ;;
    --only) only=$2; partial=1; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --no-deferred) deferred=0; partial=1; shift ;;
    --cap) cap=$2; partial=1; shift 2 ;;
    *) echo "usage: bench/run.sh [--short] [--only REGEX] [--rounds N] [--no-deferred] [--cap PERCENT]" >&2; exit 2 ;;
  esac
done

need=()
for tool in nginx:nginx-light lighttpd:lighttpd wrk:wrk gnuplot:gnuplot-nox; do
  command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "bench: install ${need[*]} first" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
export PATH=$PATH:/usr/sbin
if [ "$(nproc)" -ge 2 ]; then srv_pin="taskset -c 0"; cli_pin="taskset -c 1"; else srv_pin=""; cli_pin=""; fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Room for the idle connections (the client holds them too) under the limit.
fds=$(ulimit -n)
if [ "$fds" != unlimited ] && [ "$idle" -gt $((fds - 200)) ]; then idle=$((fds - 200)); fi

cargo build --release -q -p server --bin berth
berth_bin=$PWD/${CARGO_TARGET_DIR:-target}/release/berth
work=$(mktemp -d)
declare -A pid
groups=()
cleanup() {
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  sleep 0.1
  for g in "${groups[@]}"; do rmdir "$g" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# A short or partial run prints its table but leaves the committed full run's
# files alone.
if [ "$partial" = 1 ]; then out=$work; fi
mkdir -p "$work/www/cgi-bin" "$work/logs"
printf 'printf "Content-Type: text/plain\\n\\nhello\\n"\n' > "$work/www/cgi-bin/hello.sh"
head -c 1024 /dev/urandom | base64 -w 0 | head -c 1024 > "$work/www/1k.txt"
head -c $((1024 * 1024)) /dev/urandom > "$work/www/1m.bin"
cat > "$work/pipeline.lua" <<'LUA'
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, "/1k.txt") end
  req = table.concat(r)
end
request = function() return req end
LUA

declare -A port
for s in berth nginx lighttpd; do port[$s]=$(free_port); done
write_configs "$work" "${port[berth]}" "${port[nginx]}" "${port[lighttpd]}" "$deferred"

$srv_pin "$berth_bin" -c "$work/berth.conf" 2>"$work/logs/berth.err" & pid[berth]=$!
$srv_pin nginx -c "$work/nginx.conf" -p "$work" 2>"$work/logs/nginx.err" & pid[nginx]=$!
$srv_pin lighttpd -D -f "$work/lighttpd.conf" 2>"$work/logs/lighttpd.err" & pid[lighttpd]=$!
for s in berth nginx lighttpd; do
  ok=0
  for _ in $(seq 50); do
    curl -sf -o /dev/null "http://127.0.0.1:${port[$s]}/1k.txt" && { ok=1; break; }
    sleep 0.1
  done
  [ $ok = 1 ] || { echo "bench: $s did not answer" >&2; cat "$work"/logs/*.err >&2; exit 1; }
done

# --cap: a cgroup with a CPU quota for each server (and the CGI scripts it
# starts, which inherit it).
if [ -n "$cap" ]; then
  for s in berth nginx lighttpd; do
    if [ -w /sys/fs/cgroup/cpu ]; then
      g=/sys/fs/cgroup/cpu/berth-bench-$s
      mkdir -p "$g" && echo 100000 > "$g/cpu.cfs_period_us" && echo $((cap * 1000)) > "$g/cpu.cfs_quota_us"
    elif grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
      echo +cpu > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
      g=/sys/fs/cgroup/berth-bench-$s
      mkdir -p "$g" && echo "$((cap * 1000)) 100000" > "$g/cpu.max"
    else
      echo "bench: --cap needs a writable cgroup cpu controller (run as root)" >&2; exit 1
    fi
    groups+=("$g")
    echo "${pid[$s]}" > "$g/cgroup.procs"
  done
  echo "(each server capped at $cap % of a core)"
fi

servers="berth nginx lighttpd"
# A warm-up for each server before the first row (1 s of its load): the
# first wrk run of a fresh run was slower whatever it ran against, and
# Berth's row always comes first.
for s in $servers; do $cli_pin wrk -t1 -c50 -d1s "http://127.0.0.1:${port[$s]}/1k.txt" >/dev/null; done
tck=$(getconf CLK_TCK)
rows=()
# Steal time (what the hypervisor gave the machine's neighbours) and all
# time, in ticks of every CPU, from /proc/stat.
steal_total() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t }' /proc/stat; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b) printf "%.3f", a / b; else print 0 }'; }
# CPU seconds of the finished children of this shell (wrk and the tools of
# a round), from what `times` wrote: `times` itself must run in this shell,
# not in a $(...) subshell, which has children of its own.
children_cpu() {
  awk 'NR == 2 { split($1, u, "m"); split($2, s, "m"); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$work/times"
}
# scenario NAME CONNS PATH [wrk options...]: $rounds wrk runs per server.
scenario() {
  local name=$1 conns=$2 path=$3; shift 3
  if [ -n "$only" ] && ! grep -qE -- "$only" <<<"$name"; then return; fi
  declare -A r c rs cs
  r[nginx]=0; c[nginx]=0
  local st0 st1 ng="" lt="" ld="" rn rl steal load
  read -r -a st0 <<<"$(steal_total)"
  # Rounds: the servers take turns (A B C A B C ...); each figure is the
  # median of its rounds and each ratio the median of the rounds' ratios
  # (Berth's rate over the other's in the same round, seconds apart), so a
  # burst of load from the machine's neighbours (steal time) does not
  # decide a row.
  for _ in $(seq "$rounds"); do
    declare -A got=()
    for s in $servers; do
      local t0 t1 out reqs c0 c1 w0 w1
      t0=$(cpu_ticks "${pid[$s]}")
      times > "$work/times"; c0=$(children_cpu); w0=$EPOCHREALTIME
      out=$($cli_pin wrk -t1 -c"$conns" -d"$duration" "$@" "http://127.0.0.1:${port[$s]}$path")
      w1=$EPOCHREALTIME; times > "$work/times"; c1=$(children_cpu)
      t1=$(cpu_ticks "${pid[$s]}")
      ld+=" $(awk -v a="$c0" -v b="$c1" -v x="$w0" -v y="$w1" 'BEGIN { printf "%.0f", (y > x ? 100 * (b - a) / (y - x) : 0) }')"
      got[$s]=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
      rs[$s]+=" ${got[$s]}"
      reqs=$(awk '/requests in/ {print $1}' <<<"$out")
      cs[$s]+=" $(awk -v t=$((t1 - t0)) -v hz="$tck" -v n="$reqs" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')"
      if grep -q 'Socket errors' <<<"$out"; then echo "  ($s: $(grep 'Socket errors' <<<"$out" | xargs))" >&2; fi
    done
    ng+=" $(ratio "${got[berth]}" "${got[nginx]:-0}")"
    lt+=" $(ratio "${got[berth]}" "${got[lighttpd]}")"
  done
  read -r -a st1 <<<"$(steal_total)"
  steal=$(awk -v s=$((st1[0] - st0[0])) -v t=$((st1[1] - st0[1])) 'BEGIN { printf "%.0f", t ? 100 * s / t : 0 }')
  for s in $servers; do
    r[$s]=$(median ${rs[$s]})
    c[$s]=$(median ${cs[$s]})
  done
  rn=$(median $ng); rl=$(median $lt); load=$(median $ld)
  rows+=("$name|${r[berth]}|${c[berth]}|${r[nginx]}|${c[nginx]}|${r[lighttpd]}|${c[lighttpd]}|$rn|$rl|$steal|$load")
  printf '%-28s %9s %7s %9s %7s %9s %7s %6.2f %6.2f %5s%% %5s%%\n' "$name" "${r[berth]}" "${c[berth]}" "${r[nginx]}" "${c[nginx]}" \
    "${r[lighttpd]}" "${c[lighttpd]}" "$rn" "$rl" "$steal" "$load"
}

printf '%-28s %9s %7s %9s %7s %9s %7s %6s %6s %6s %6s\n' scenario berth "us/req" nginx "us/req" lighttpd "us/req" "b/ng" "b/lt" steal wrk
scenario "1 KiB keep-alive, 50" 50 /1k.txt
scenario "1 KiB keep-alive, 500" 500 /1k.txt
scenario "1 MiB keep-alive, 10" 10 /1m.bin
scenario "1 KiB Connection: close, 50" 50 /1k.txt -H "Connection: close"
scenario "404, 50" 50 /missing
scenario "pipelined x16, 50" 50 /1k.txt -s "$work/pipeline.lua"
servers="berth lighttpd" scenario "CGI hello (sh), 10" 10 /cgi-bin/hello.sh

# Idle keep-alive memory: RSS growth per connection held open after one
# request each.
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
declare -A per
for s in berth nginx lighttpd; do
  if [ -n "$only" ] && ! grep -qE -- "$only" <<<idle; then per[$s]=0; continue; fi
  before=$(rss_kib "${pid[$s]}")
  after=$(python3 - "${port[$s]}" "$idle" "${pid[$s]}" <<'PY'
import socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
conns = []
req = b"GET /1k.txt HTTP/1.1\r\nHost: x\r\n\r\n"
for _ in range(n):
    c = socket.create_connection(("127.0.0.1", port), 5)
    c.sendall(req)
    got = b""
    while len(got) < 1024 or b"\r\n\r\n" not in got:
        got += c.recv(65536)
    conns.append(c)
time.sleep(1)
for line in open("/proc/%d/status" % pid):
    if line.startswith("VmRSS:"):
        print(line.split()[1])
for c in conns:
    c.close()
PY
)
  per[$s]=$(awk -v a="$after" -v b="$before" -v n="$idle" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
done
printf '%-28s %9s %7s %9s %7s %9s %7s\n' "idle keep-alive, B/conn" "${per[berth]}" "" "${per[nginx]}" "" "${per[lighttpd]}" ""

{
  echo "| scenario | Berth | nginx | lighttpd | Berth/nginx | Berth/lighttpd | steal | wrk CPU |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for row in "${rows[@]}"; do
    IFS='|' read -r name rb cb rn cn rl cl qn ql st ld <<<"$row"
    nginx_cell="$rn, $cn us"; [ "$rn" = 0 ] && nginx_cell="n/a"
    qn=$(awk -v q="$qn" 'BEGIN { if (q > 0) printf "%.2f", q; else printf "n/a" }')
    printf '| %s | %s, %s us | %s | %s, %s us | %s | %.2f | %s %% | %s %% |\n' "$name" "$rb" "$cb" "$nginx_cell" "$rl" "$cl" "$qn" "$ql" "$st" "$ld"
  done
  printf '| idle keep-alive memory | %s B/conn | %s B/conn | %s B/conn | %s | %s | | |\n' "${per[berth]}" "${per[nginx]}" "${per[lighttpd]}" \
    "$(awk -v a="${per[berth]}" -v b="${per[nginx]}" 'BEGIN{printf "%.2fx", b ? a / b : 0}')" \
    "$(awk -v a="${per[berth]}" -v b="${per[lighttpd]}" 'BEGIN{printf "%.2fx", b ? a / b : 0}')"
  echo
  echo "($(date -u +%F), $(nproc) cores, wrk -t1, median of $rounds rounds of $duration taken in turns, ratios the median of the rounds' ratios, servers on core 0${cap:+ (each capped at $cap % of it)}, wrk on core 1; requests/s and server CPU per request; steal: the share of the machine's CPU time the hypervisor gave to others during the row; wrk CPU: the load generator's share of its core, median of the row's runs (near 100 %, the client sets the rate and the server CPU per request tells the servers apart); $idle idle connections)"
} > "$out/results.md"

# The chart: requests/s relative to nginx, per scenario and server.
for row in "${rows[@]}"; do
  IFS='|' read -r name _ _ rn _ _ _ qn ql _ <<<"$row"
  [ "$rn" = 0 ] && continue   # no nginx figure (CGI): not on a chart relative to nginx
  printf '"%s" %s %s %s\n' "$name" "$qn" 1 "$(awk -v n="$qn" -v l="$ql" 'BEGIN { print l ? n / l : 0 }')"
done > "$work/chart.dat"
[ ${#rows[@]} -gt 0 ] && gnuplot <<GP
set terminal pngcairo size 1000,520 font "sans,10"
set output "$out/results.png"
set title "Requests/s relative to nginx (one worker), one run on $(nproc) cores"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y 2
set yrange [0.25:64]
set ylabel "x nginx (log scale)"
set xtics rotate by -20
set key top left
plot "$work/chart.dat" using 2:xtic(1) title "Berth", "" using 3 title "nginx", "" using 4 title "lighttpd"
GP
if [ "$out" = bench ]; then echo "wrote bench/results.md and bench/results.png"; else cat "$out/results.md"; fi
