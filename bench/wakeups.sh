#!/usr/bin/env bash
# bench/wakeups.sh - how often the proxy's peers sleep and must be woken, per request.
#
# The kernel's share of a proxied request is most of its CPU, and it is not
# only the system calls: when wrk and the origins (on the other core) run
# out of work they sleep, and each wake-up costs an IPI and a schedule,
# paid partly inside the proxy's own system calls. This script runs NGINX
# (configured as peerbench.sh configures it) and then switchyard BINARY
# with CONFIG, alternating for ROUNDS rounds, each pinned to PIN_PROXY with
# wrk -t1 -c64 and the origins on PIN_LOAD, and prints per 1,000 requests:
# the context switches of the origin worker, of wrk and of the proxy
# (/proc/PID/status), and the rescheduling + function-call IPIs of both
# cores (/proc/interrupts), beside req/s and the proxy's CPU µs/request.
# See docs/PERFORMANCE.md ("Update, stop 24") for what it showed.
#
# Usage:
#   bench/wakeups.sh [-r ROUNDS] [-d SECS] BINARY [CONFIG]
# Defaults: -r 3 -d 5, CONFIG bench/switchyard.toml. Origins: one nginx on
# 127.0.0.1:9001-9003 (started here unless one answers already).
# Needs nginx, wrk, taskset, curl, ss (iproute2) and GNU time (Debian: time).
# Not part of the test suite.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ROUNDS=3; SECS=5
PIN_PROXY=${PIN_PROXY:-1}; PIN_LOAD=${PIN_LOAD:-0}
while getopts "r:d:" o; do
  case $o in r) ROUNDS=$OPTARG;; d) SECS=$OPTARG;; *) exit 2;; esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2; }
BIN=$1; CONFIG=${2:-$here/switchyard.toml}
for t in nginx wrk taskset curl ss /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "wakeups.sh: $t not installed" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/switchyard-wakeups.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

answers() { curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; }
. "$here/origins.sh"
ensure_origins "$dir" "$PIN_LOAD"
# The origins' worker: the busiest process listening on :9001.
listeners() { ss -Htlnp "sport = :$1" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u; }
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
busiest() { local best= most=-1 p c; for p in "$@"; do c=$(cpu_of "$p"); [ "$c" -gt "$most" ] && { most=$c; best=$p; }; done; echo "$best"; }

mkdir -p "$dir/nginx/logs"
{
  echo "worker_processes 1; daemon off; master_process on; pid $dir/nginx/nginx.pid;"
  echo "error_log $dir/nginx/logs/error.log warn; worker_rlimit_nofile 16384;"
  echo "events { worker_connections 8000; }"
  echo "http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;"
  echo "  upstream be { server 127.0.0.1:9001; server 127.0.0.1:9002; server 127.0.0.1:9003;"
  echo "    keepalive 1024; keepalive_requests 10000000; keepalive_timeout 300s; }"
  echo "  server { listen 127.0.0.1:8080 backlog=4096; location / { proxy_pass http://be;"
  echo "    proxy_http_version 1.1; proxy_set_header Connection \"\"; } } }"
} >"$dir/nginx/nginx.conf"

switches() { awk '/ctxt_switches/{s += $2} END{print s}' "/proc/$1/status"; }
ipis() { awk '/RES:|CAL:/{s += $2 + $3} END{print s}' /proc/interrupts; }

round() { # NAME CMD...
  local name=$1; shift
  taskset -c "$PIN_PROXY" "$@" >"$dir/proxy.log" 2>&1 &
  local started=$!
  for _ in $(seq 100); do answers 8080 && break; sleep 0.1; done
  taskset -c "$PIN_LOAD" wrk -t1 -c64 -d1s http://127.0.0.1:8080/ >/dev/null
  local origin proxy
  origin=$(busiest $(listeners 9001)); proxy=$(busiest $(listeners 8080))
  local o0 p0 c0 i0 o1 p1 c1 i1 out wrk_cs n
  o0=$(switches "$origin"); p0=$(switches "$proxy"); c0=$(cpu_of "$proxy"); i0=$(ipis)
  out=$( { /usr/bin/time -f "wrk_cs %w %c" taskset -c "$PIN_LOAD" wrk -t1 -c64 -d"${SECS}s" http://127.0.0.1:8080/; } 2>&1)
  o1=$(switches "$origin"); p1=$(switches "$proxy"); c1=$(cpu_of "$proxy"); i1=$(ipis)
  kill -TERM "$started" 2>/dev/null || true
  wait "$started" 2>/dev/null || true
  for _ in $(seq 50); do answers 8080 || break; sleep 0.1; done
  n=$(awk '/requests in/{print $1}' <<<"$out")
  wrk_cs=$(awk '/^wrk_cs/{print $2 + $3}' <<<"$out")
  awk -v name="$name" -v n="$n" -v s="$SECS" -v hz="$(getconf CLK_TCK)" -v o=$((o1 - o0)) \
    -v w="$wrk_cs" -v p=$((p1 - p0)) -v c=$((c1 - c0)) -v i=$((i1 - i0)) 'BEGIN {
    printf "%-10s req/s=%6.0f proxy_us/req=%5.2f per 1k requests: origin_cs=%5.1f wrk_cs=%5.1f proxy_cs=%4.1f ipis=%5.1f\n",
      name, n / s, c / hz * 1e6 / n, o * 1e3 / n, w * 1e3 / n, p * 1e3 / n, i * 1e3 / n }'
}

for ((r = 1; r <= ROUNDS; r++)); do
  round nginx nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf"
  round switchyard "$BIN" run -c "$CONFIG"
done
