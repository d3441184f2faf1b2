#!/usr/bin/env bash
# bench/scale.sh - does a request's cost grow with the size of the configuration?
#
# Measures, with wrk against release builds, requests/s through switchyard for
# five configs, in interleaved rounds (the box is noisy; see bench/ab.sh):
#   routes1     1 route (catch-all), 3 servers, round_robin     (the baseline)
#   routes10k   10,000 exact-host routes, then the catch-all the request hits
#   rr1000      1 route, 1,000 servers, round_robin
#   lc3         1 route, 3 servers, least_conn
#   lc1000      1 route, 1,000 servers, least_conn
# and prints, per binary, the median rps of each and the medians of the paired
# per-round ratios routes10k/routes1, rr1000/routes1 and lc1000/lc3.
# Backends: one nginx (Debian package) whose single server block listens on
# 127.0.0.1:19000-19999 and answers `return 200 "ok"`; the proxy listens on
# 127.0.0.1:18080 (ports away from bench/ab.sh's and peerbench's).
#
# Usage:
#   bench/scale.sh [-r ROUNDS] [-d SECS] BINARY...
# Defaults: -r 5 -d 5; pinning proxy=1, load+backends=0 (override with
# PIN_PROXY / PIN_LOAD env). With several binaries (e.g. a build of the
# commit before, then this one) each round runs every binary on every config.
# Needs nginx, wrk, taskset (apt-get install -y nginx wrk). Not part of the
# test suite: it takes minutes and wants a quiet machine.
set -euo pipefail

ROUNDS=5; SECS=5
PIN_PROXY=${PIN_PROXY:-1}; PIN_LOAD=${PIN_LOAD:-0}
PROXY_PORT=18080; BASE_PORT=19000; N_BACKENDS=1000; N_ROUTES=10000
while getopts "r:d:" o; do
  case $o in r) ROUNDS=$OPTARG;; d) SECS=$OPTARG;; *) exit 2;; esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2; }
BINS=("$@")
for b in "${BINS[@]}"; do [ -x "$b" ] || { echo "scale.sh: $b is not executable" >&2; exit 1; }; done
for c in nginx wrk taskset; do command -v $c >/dev/null || { echo "scale.sh: needs $c" >&2; exit 1; }; done
# 1,000 upstream connections plus the clients' need more than the usual 1024 fds.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $PROXY_PORT $BASE_PORT $((BASE_PORT + N_BACKENDS - 1)); do
  if port_open "$p"; then echo "scale.sh: port $p busy" >&2; exit 1; fi
done

DIR=$(mktemp -d /tmp/switchyard-scale.XXXXXX)
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

# start_bg CPUS LOG CMD... -> $STARTED (own session; nice -20 incl. autogroup, like ab.sh)
start_bg() {
  local cpus=$1 log=$2; shift 2
  setsid taskset -c "$cpus" sh -c 'echo -20 >/proc/self/autogroup 2>/dev/null; exec nice -n -20 "$@"' sh "$@" >"$log" 2>&1 </dev/null &
  STARTED=$!
  PIDS+=("$STARTED")
}
wait_port() { local i; for i in $(seq 100); do port_open "$1" && return 0; sleep 0.1; done; echo "scale.sh: nothing on :$1" >&2; exit 1; }
stop() {
  local pid=$1 i keep=() p
  kill -TERM -- "-$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  for i in $(seq 50); do port_open $PROXY_PORT || return 0; sleep 0.1; done
}

# ---- backends: one nginx, one server block, N_BACKENDS listen lines
mkdir -p "$DIR/be/logs"
{
  echo "worker_processes 1; daemon off; master_process on; pid $DIR/be/nginx.pid;"
  echo "error_log $DIR/be/logs/error.log warn; worker_rlimit_nofile 65536;"
  echo "events { worker_connections 16000; }"
  echo "http { access_log off; default_type text/plain; keepalive_requests 10000000; keepalive_timeout 300s;"
  echo "  server {"
  for ((i = 0; i < N_BACKENDS; i++)); do echo "    listen 127.0.0.1:$((BASE_PORT + i));"; done
  echo "    location / { return 200 \"ok\"; }"
  echo "  }"
  echo "}"
} >"$DIR/be/nginx.conf"
start_bg "$PIN_LOAD" "$DIR/be/out.log" nginx -p "$DIR/be" -c "$DIR/be/nginx.conf"
wait_port $BASE_PORT
wait_port $((BASE_PORT + N_BACKENDS - 1))

# ---- proxy configs
# config NAME BALANCE N_SERVERS N_HOST_ROUTES
config() {
  local f="$DIR/$1.toml" i
  {
    echo "workers = 1"
    echo "[[listener]]"
    echo "name = \"bench\""
    echo "bind = \"127.0.0.1:$PROXY_PORT\""
    for ((i = 0; i < $4; i++)); do
      printf '[[route]]\nhost = "h%d.example.com"\npool = "be"\n' "$i"
    done
    echo "[[route]]"
    echo "pool = \"be\""
    echo "[pool.be]"
    echo "balance = \"$2\""
    echo "keepalive = 256"
    echo "servers = ["
    for ((i = 0; i < $3; i++)); do echo "  { address = \"127.0.0.1:$((BASE_PORT + i))\" },"; done
    echo "]"
  } >"$f"
}
config routes1 round_robin 3 0
config routes10k round_robin 3 $N_ROUTES
config rr1000 round_robin $N_BACKENDS 0
config lc3 least_conn 3 0
config lc1000 least_conn $N_BACKENDS 0
CONFIGS=(routes1 routes10k rr1000 lc3 lc1000)

declare -A RPS
for ((r = 1; r <= ROUNDS; r++)); do
  for ((i = 0; i < ${#BINS[@]}; i++)); do
    for c in "${CONFIGS[@]}"; do
      start_bg "$PIN_PROXY" "$DIR/proxy.log" "${BINS[$i]}" run -c "$DIR/$c.toml"
      pid=$STARTED
      wait_port $PROXY_PORT
      # Warm-up long enough to open the upstream connections to 1,000 servers.
      taskset -c "$PIN_LOAD" wrk -t1 -c64 -d2s "http://127.0.0.1:$PROXY_PORT/" >/dev/null
      out=$(taskset -c "$PIN_LOAD" nice -n -20 wrk -t1 -c64 -d"${SECS}s" "http://127.0.0.1:$PROXY_PORT/")
      stop "$pid"
      rps=$(awk '/^Requests\/sec:/{printf "%.0f", $2}' <<<"$out")
      errs=$(awk '/Non-2xx|Socket errors/{print}' <<<"$out")
      RPS[$i,$c,$r]=$rps
      echo "round $r bin$i $c rps=$rps ${errs:+ERRORS: $errs}" >&2
    done
  done
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }
# ratio_median BIN NUM DEN: median over rounds of RPS[NUM]/RPS[DEN]
ratio_median() {
  local rs=() r
  for ((r = 1; r <= ROUNDS; r++)); do
    rs+=("$(awk -v a="${RPS[$1,$2,$r]}" -v b="${RPS[$1,$3,$r]}" 'BEGIN{printf "%.4f", a/b}')")
  done
  median "${rs[@]}"
}
for ((i = 0; i < ${#BINS[@]}; i++)); do
  line="bin$i"
  for c in "${CONFIGS[@]}"; do
    rs=()
    for ((r = 1; r <= ROUNDS; r++)); do rs+=("${RPS[$i,$c,$r]}"); done
    line+=" $c=$(median "${rs[@]}" | cut -d. -f1)"
  done
  line+=" routes10k/routes1=$(ratio_median "$i" routes10k routes1)"
  line+=" rr1000/routes1=$(ratio_median "$i" rr1000 routes1)"
  line+=" lc1000/lc3=$(ratio_median "$i" lc1000 lc3)"
  echo "$line  ${BINS[$i]}"
done
