#!/usr/bin/env bash
# bench/ab.sh - A/B (/C...) comparison of switchyard binaries, many short interleaved rounds.
#
# peerbench.sh compares one proxy against nginx/haproxy; to judge a code change
# (a few % at most) the box's noise (often ±10% between runs of the *same* binary
# here) needs more, shorter, interleaved rounds and paired ratios. This script:
#   - starts the same 3 nginx backends as peerbench (127.0.0.1:9001-9003, `return 200 "ok"`),
#   - for ROUNDS rounds, for each binary in turn: starts it with CONFIG pinned to
#     PIN_PROXY, warms up 1 s, runs `wrk -t1 -c64 -dSECS` pinned to PIN_LOAD,
#     records rps and the proxy's CPU µs per request (and its user and
#     system parts: a change to the proxy's own code shows in `user`, while
#     `sys` swings with the kernel's state from round to round), stops it,
#   - prints per-binary medians and the median of per-round paired rps ratios
#     against the first binary (the baseline).
#
# Usage:
#   bench/ab.sh [-r ROUNDS] [-d SECS] [-c CONFIG] BASE_BINARY OTHER_BINARY...
# Defaults: -r 8 -d 5 -c bench/switchyard.toml; pinning proxy=1, load+backends=0
# (override with PIN_PROXY / PIN_LOAD env). Needs nginx, wrk (h2load with
# H2=1), taskset.
# REUSE_BACKENDS=1: if 127.0.0.1:9001-9003 already answer (an identical nginx
# left by another run), use them instead of refusing to start.
# HEADERS=FILE: every request also carries the fields in FILE (one
# `Name: value` per line), e.g. bench/browser.headers, a browser's page
# request; wrk alone sends only `Host`.
# H2=1: TLS + HTTP/2 clients instead, as `bench/run.sh --h2`: CONFIG gets
# peerbench's certificate (bench/h2-config.sh) and the load is
# `h2load -t1 -c64 -m10 -D SECS` (HEADERS are sent with it too).
# Build the variants into separate target dirs (or copy the binary away after
# each build) so they do not overwrite each other. Not part of the test suite.
set -euo pipefail

ROUNDS=8; SECS=5; CONFIG="$(dirname "$0")/switchyard.toml"
PIN_PROXY=${PIN_PROXY:-1}; PIN_LOAD=${PIN_LOAD:-0}
while getopts "r:d:c:" o; do
  case $o in r) ROUNDS=$OPTARG;; d) SECS=$OPTARG;; c) CONFIG=$OPTARG;; *) exit 2;; esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2; }
BINS=("$@")
WRK_H=()
if [ -n "${HEADERS:-}" ]; then
  while IFS= read -r line; do [ -n "$line" ] && WRK_H+=(-H "$line"); done <"$HEADERS"
fi
H2=${H2:-0}
for b in "${BINS[@]}"; do [ -x "$b" ] || { echo "ab.sh: $b is not executable" >&2; exit 1; }; done

REUSE_BACKENDS=${REUSE_BACKENDS:-0}
busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if busy 8080; then echo "ab.sh: port 8080 busy" >&2; exit 1; fi
start_backends=1
if [ "$REUSE_BACKENDS" = 1 ] && busy 9001 && busy 9002 && busy 9003; then
  start_backends=0
  echo "ab.sh: reusing the backends already on :9001-9003" >&2
else
  for p in 9001 9002 9003; do
    if busy $p; then echo "ab.sh: port $p busy (REUSE_BACKENDS=1 to use it)" >&2; exit 1; fi
  done
fi

DIR=$(mktemp -d /tmp/switchyard-ab.XXXXXX)
if [ "$H2" = 1 ]; then
  "$(dirname "$0")/h2-config.sh" "$CONFIG" "$DIR/h2.toml"
  CONFIG=$DIR/h2.toml
fi
# load SECS -> the load tool's output; rps_of OUTPUT -> requests/s.
load() {
  if [ "$H2" = 1 ]; then
    taskset -c "$PIN_LOAD" nice -n -20 h2load -t1 -c64 -m10 -D "$1" "${WRK_H[@]}" https://127.0.0.1:8080/
  else
    taskset -c "$PIN_LOAD" nice -n -20 wrk -t1 -c64 -d"${1}s" "${WRK_H[@]}" http://127.0.0.1:8080/
  fi
}
rps_of() {
  if [ "$H2" = 1 ]; then
    awk '/^finished in/{gsub(/,/, "", $4); printf "%.0f", $4}' <<<"$1"
  else
    awk '/^Requests\/sec:/{printf "%.0f", $2}' <<<"$1"
  fi
}
errors_of() {
  if [ "$H2" = 1 ]; then
    awk '/^requests:/ && ($10 != 0 || $12 != 0) {print} /^status codes:/ && ($5 != 0 || $7 != 0 || $9 != 0) {print}' <<<"$1"
  else
    awk '/Non-2xx|Socket errors/{print}' <<<"$1"
  fi
}
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

# start_bg CPUS LOG CMD... -> $STARTED (own session; nice -20 incl. autogroup, like peerbench)
start_bg() {
  local cpus=$1 log=$2; shift 2
  setsid taskset -c "$cpus" sh -c 'echo -20 >/proc/self/autogroup 2>/dev/null; exec nice -n -20 "$@"' sh "$@" >"$log" 2>&1 </dev/null &
  STARTED=$!
  PIDS+=("$STARTED")
}
wait_port() { local i; for i in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "ab.sh: nothing on :$1" >&2; exit 1; }
stop() {
  local pid=$1 i keep=() p
  kill -TERM -- "-$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  for i in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/8080") 2>/dev/null || return 0; sleep 0.1; done
}

mkdir -p "$DIR/be/logs"
[ "$start_backends" = 1 ] && {
  echo "worker_processes 1; daemon off; master_process on; pid $DIR/be/nginx.pid;"
  echo "error_log $DIR/be/logs/error.log warn; worker_rlimit_nofile 16384;"
  echo "events { worker_connections 8000; }"
  echo "http { access_log off; default_type text/plain; keepalive_requests 10000000; keepalive_timeout 300s;"
  for i in 1 2 3; do echo "  server { listen 127.0.0.1:900$i backlog=4096; location / { add_header X-Backend $i; return 200 \"ok\"; } }"; done
  echo "}"
} >"$DIR/be/nginx.conf" && start_bg "$PIN_LOAD" "$DIR/be/out.log" nginx -p "$DIR/be" -c "$DIR/be/nginx.conf"
for p in 9001 9002 9003; do wait_port $p; done

HZ=$(getconf CLK_TCK)
declare -A RPS US USR SYS
for ((r = 1; r <= ROUNDS; r++)); do
  for ((i = 0; i < ${#BINS[@]}; i++)); do
    start_bg "$PIN_PROXY" "$DIR/proxy.log" "${BINS[$i]}" run -c "$CONFIG"
    pid=$STARTED
    wait_port 8080
    load 1 >/dev/null
    read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    out=$(load "$SECS")
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    stop "$pid"
    rps=$(rps_of "$out")
    errs=$(errors_of "$out")
    per_req() { awk -v t="$1" -v hz="$HZ" -v r="$rps" -v d="$SECS" 'BEGIN{printf "%.2f", t/hz*1e6/(r*d)}'; }
    us=$(per_req $((u1 - u0 + s1 - s0)))
    RPS[$i,$r]=$rps; US[$i,$r]=$us; USR[$i,$r]=$(per_req $((u1 - u0))); SYS[$i,$r]=$(per_req $((s1 - s0)))
    echo "round $r bin$i rps=$rps us_per_req=$us user=${USR[$i,$r]} sys=${SYS[$i,$r]} ${errs:+ERRORS: $errs}" >&2
  done
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }
for ((i = 0; i < ${#BINS[@]}; i++)); do
  rs=(); us=(); rat=(); urat=(); usr=(); sys=()
  for ((r = 1; r <= ROUNDS; r++)); do
    rs+=("${RPS[$i,$r]}"); us+=("${US[$i,$r]}"); usr+=("${USR[$i,$r]}"); sys+=("${SYS[$i,$r]}")
    rat+=("$(awk -v a="${RPS[$i,$r]}" -v b="${RPS[0,$r]}" 'BEGIN{printf "%.4f", a/b}')")
    urat+=("$(awk -v a="${US[$i,$r]}" -v b="${US[0,$r]}" 'BEGIN{printf "%.4f", a/b}')")
  done
  printf 'bin%d rps=%.0f us_per_req=%s rps_vs_bin0=%s us_vs_bin0=%s user=%s sys=%s  %s\n' "$i" "$(median "${rs[@]}")" \
    "$(median "${us[@]}")" "$(median "${rat[@]}")" "$(median "${urat[@]}")" \
    "$(median "${usr[@]}")" "$(median "${sys[@]}")" "${BINS[$i]}"
done
