#!/usr/bin/env bash
# bench/idle-mem.sh - memory per idle keep-alive client connection, switchyard beside nginx.
#
# Starts 3 nginx origins (127.0.0.1:9001-9003, `return 200 "ok"`, as peerbench and
# ab.sh do), then for each proxy in turn (nginx as a reverse proxy, 1 worker, with an
# upstream keepalive pool as peerbench configures it; then each switchyard BINARY
# with CONFIG), listening on 127.0.0.1:8080:
#   1. starts it and records its memory idle after start;
#   2. warms it up (30 requests on 30 connections, then closed) and records the base;
#   3. opens N keep-alive client connections (bench/idle-conns.py), one request each,
#      answer read whole, left idle; waits SETTLE s; records memory again;
#   4. closes them, waits SETTLE s, records memory once more; stops the proxy.
# Memory is summed over all the proxy's processes (nginx: master + worker):
# RSS from /proc/PID/status (VmRSS) and PSS from /proc/PID/smaps_rollup (shared
# pages split between the processes that map them). It prints one line per proxy:
#   idle_rss        RSS idle after start (KiB)
#   base_rss        after the warm-up (KiB)
#   conns_rss       with N idle connections (KiB)
#   closed_rss      after closing them (KiB)
#   kib_per_conn    (conns_rss - base_rss) / N, and the same for PSS
# The requests go one connection at a time (idle-conns.py --concurrency 1), so
# each proxy needs only about one upstream connection per origin and the delta is
# the client connections' alone.
#
# Usage:
#   bench/idle-mem.sh [-n N] [-c CONFIG] [-s SETTLE] [SWITCHYARD_BINARY...]
# Defaults: -n 2000, -c bench/switchyard.toml (workers = 1, 127.0.0.1:8080 ->
# 9001-9003), -s 2, binary ${CARGO_TARGET_DIR:-target}/release/switchyard. Several
# binaries (a change and its baseline) are measured one after another.
# Needs nginx (apt-get install -y nginx), python3, ss. Loopback only. Raises the
# open-file limit to the hard limit. Stops everything it started. Not part of the
# test suite. See docs/PERFORMANCE.md, "Allocations and memory".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
N=2000; CONFIG=$here/switchyard.toml; SETTLE=2
while getopts "n:c:s:h" o; do
  case $o in
    n) N=$OPTARG;; c) CONFIG=$OPTARG;; s) SETTLE=$OPTARG;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2;;
  esac
done
shift $((OPTIND - 1))
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || BINS=("${CARGO_TARGET_DIR:-$repo/target}/release/switchyard")
for b in "${BINS[@]}"; do [ -x "$b" ] || { echo "idle-mem.sh: $b is not executable" >&2; exit 1; }; done
[ -f "$CONFIG" ] || { echo "idle-mem.sh: no config $CONFIG" >&2; exit 1; }
command -v nginx >/dev/null || { echo "idle-mem.sh: nginx missing (apt-get install -y nginx)" >&2; exit 1; }

# N client sockets in the helper, N + a few in the proxy: raise the limit for
# both (they inherit it).
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((N + 200)) ] ||
  { echo "idle-mem.sh: open-file limit $(ulimit -n) is too low for -n $N" >&2; exit 1; }

for p in 8080 9001 9002 9003; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "idle-mem.sh: port $p busy" >&2; exit 1; fi
done

DIR=$(mktemp -d /tmp/switchyard-idle-mem.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_bg LOG CMD... -> $STARTED, the leader of a session of its own (so the
# proxy's processes are exactly that session's).
start_bg() {
  local log=$1; shift
  setsid "$@" >"$log" 2>&1 </dev/null &
  STARTED=$!
  PIDS+=("$STARTED")
}
forget() {
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
wait_port() { local i; for i in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "idle-mem.sh: nothing on :$1" >&2; exit 1; }
stop() {
  local pid=$1 i
  kill -TERM -- "-$pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget "$pid"
  for i in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/8080") 2>/dev/null || return 0; sleep 0.1; done
}

# mem SID -> "RSS_KIB PSS_KIB" summed over the processes of session SID.
mem() {
  local rss=0 pss=0 p r s
  for p in $(pgrep -s "$1"); do
    r=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || true)
    s=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
    rss=$((rss + ${r:-0})); pss=$((pss + ${s:-0}))
  done
  echo "$rss $pss"
}

# Origins: as peerbench's and ab.sh's.
mkdir -p "$DIR/be/logs"
{
  echo "user root; worker_processes 1; daemon off; master_process on; pid $DIR/be/nginx.pid;"
  echo "error_log $DIR/be/logs/error.log warn; worker_rlimit_nofile 16384;"
  echo "events { worker_connections 8000; }"
  echo "http { access_log off; default_type text/plain; keepalive_requests 10000000; keepalive_timeout 300s;"
  for i in 1 2 3; do echo "  server { listen 127.0.0.1:900$i backlog=4096; location / { add_header X-Backend $i; return 200 \"ok\"; } }"; done
  echo "}"
} >"$DIR/be/nginx.conf"
start_bg "$DIR/be/out.log" nginx -p "$DIR/be" -c "$DIR/be/nginx.conf"
for p in 9001 9002 9003; do wait_port $p; done

# The nginx proxy: peerbench's nginx target at 1 worker.
mkdir -p "$DIR/px/logs"
{
  echo "user root; worker_processes 1; daemon off; master_process on; pid $DIR/px/nginx.pid;"
  echo "error_log $DIR/px/logs/error.log warn; worker_rlimit_nofile 16384;"
  echo "events { worker_connections 8000; }"
  echo "http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;"
  echo "  upstream be { server 127.0.0.1:9001; server 127.0.0.1:9002; server 127.0.0.1:9003;"
  echo "    keepalive 1024; keepalive_requests 10000000; keepalive_timeout 300s; }"
  echo "  server { listen 127.0.0.1:8080 backlog=4096;"
  echo "    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
  echo "}"
} >"$DIR/px/nginx.conf"

# measure NAME CMD... : one proxy, one result line.
measure() {
  local name=$1; shift
  local pid idle base conns closed hp rc
  start_bg "$DIR/proxy.log" "$@"
  pid=$STARTED
  wait_port 8080
  sleep 1
  idle=$(mem "$pid")
  python3 "$here/idle-conns.py" 8080 30 --close >/dev/null
  sleep 1
  base=$(mem "$pid")
  python3 "$here/idle-conns.py" 8080 "$N" >"$DIR/conns.out" 2>"$DIR/conns.err" &
  hp=$!
  while ! grep -qs '^ready' "$DIR/conns.out"; do
    kill -0 "$hp" 2>/dev/null || { cat "$DIR/conns.err" >&2; echo "idle-mem.sh: $name: client failed" >&2; exit 1; }
    sleep 0.1
  done
  sleep "$SETTLE"
  conns=$(mem "$pid")
  local est
  est=$(ss -Htn state established '( dport = :8080 )' | wc -l)
  kill -TERM "$hp"
  rc=0; wait "$hp" || rc=$?
  [ "$rc" = 0 ] || { cat "$DIR/conns.err" >&2; echo "idle-mem.sh: $name: connections lost while idle" >&2; exit 1; }
  [ "$est" -ge "$N" ] || { echo "idle-mem.sh: $name: only $est of $N client connections established" >&2; exit 1; }
  sleep "$SETTLE"
  closed=$(mem "$pid")
  stop "$pid"
  set -- $idle $base $conns $closed
  awk -v name="$name" -v n="$N" -v ir="$1" -v br="$3" -v bp="$4" -v cr="$5" -v cp="$6" -v xr="$7" \
    'BEGIN{printf "%-12s idle_rss=%d base_rss=%d conns_rss=%d closed_rss=%d KiB  kib_per_conn=%.2f (pss %.2f)\n",
      name, ir, br, cr, xr, (cr-br)/n, (cp-bp)/n}'
}

echo "# $(date -u '+%Y-%m-%dT%H:%M:%SZ') idle-mem.sh -n $N -c $CONFIG; $(nginx -v 2>&1)"
measure nginx nginx -p "$DIR/px" -c "$DIR/px/nginx.conf"
for b in "${BINS[@]}"; do
  measure switchyard "$b" run -c "$CONFIG"
  echo "  ($b)"
done
