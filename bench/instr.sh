#!/usr/bin/env bash
# bench/instr.sh - instructions per proxied request (valgrind callgrind), switchyard beside nginx.
#
# On this shared box requests/s swing ±10 % between runs of one binary, so a
# change worth 1-2 % of CPU cannot be seen with wrk. An instruction count can:
# callgrind counts the same total for the same binary and inputs whatever
# else the host does. For each BINARY (run with CONFIG), and for nginx as a
# reverse proxy configured as peerbench.sh configures it (unless --no-nginx),
# this serves N/5 and then N kept-alive requests (h2load --h1 -c16, pinned to
# PIN_LOAD) under callgrind (pinned to PIN_PROXY) and prints
#     Ir/request = (Ir(N) - Ir(N/5)) / (N - N/5)
# i.e. with start-up, config loading and shutdown subtracted. --cache adds
# callgrind's simulated cache misses per request (I1mr: instruction L1,
# D1mr/D1mw: data L1 read/write; a model, not this CPU). Instructions are not
# time: a lock-prefixed atomic, a cache miss or a clock read costs far more
# than its count, so read this beside bench/ab.sh and a perf profile.
#
# Origins: one nginx on 127.0.0.1:9001-9003 answering `return 200 "ok"` (as
# ab.sh and peerbench start them); one already answering there is used as is.
# Every request must come back 200: a run with another status fails.
#
# Usage:
#   bench/instr.sh [-n N] [-c CONFIG] [--h2] [--cache] [--no-nginx] [--functions DIR] BINARY...
# Defaults: -n 20000, -c bench/switchyard.toml (127.0.0.1:8080, 1 worker).
# --h2: TLS + HTTP/2 clients (h2load -m10) with peerbench's certificate
#       (/tmp/peerbench/tls, made if missing), as `bench/run.sh --h2`.
# --functions DIR: also write DIR/NAME.tsv, each function's own (exclusive)
#       Ir per request, most first: diff two with bench/instr-diff.py to
#       see where a change (another binary, or another -c config such as a
#       plugin on every request) adds or saves instructions.
# HEADERS=FILE: every request also carries the fields in FILE (one
#       `Name: value` per line), e.g. bench/browser.headers, as in ab.sh;
#       h2load alone sends Host, User-Agent and Accept.
# Needs valgrind, nginx, h2load (nghttp2-client), curl, taskset. Takes about
# a minute per binary. Not part of the test suite; see docs/PERFORMANCE.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
N=20000; CONFIG=$here/switchyard.toml; H2=0; CACHE=0; NGINX=1; FUNCS=
PIN_PROXY=${PIN_PROXY:-1}; PIN_LOAD=${PIN_LOAD:-0}
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N=$2; shift 2;;
    -c) CONFIG=$2; shift 2;;
    --h2) H2=1; shift;;
    --cache) CACHE=1; shift;;
    --no-nginx) NGINX=0; shift;;
    --functions) FUNCS=$2; mkdir -p "$FUNCS"; shift 2;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0;;
    *) break;;
  esac
done
for t in valgrind nginx h2load curl taskset; do
  command -v "$t" >/dev/null || { echo "instr.sh: $t not installed" >&2; exit 1; }
done
[ $# -ge 1 ] || [ "$NGINX" = 1 ] || { echo "instr.sh: no BINARY given" >&2; exit 2; }

dir=$(mktemp -d /tmp/switchyard-instr.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

scheme=http; load=(--h1 -m 1)
if [ "$H2" = 1 ]; then
  tls=/tmp/peerbench/tls
  "$here/h2-config.sh" "$CONFIG" "$dir/h2.toml"
  CONFIG=$dir/h2.toml; scheme=https; load=(-m 10)
fi
url=$scheme://127.0.0.1:8080/
if [ -n "${HEADERS:-}" ]; then
  while IFS= read -r line; do [ -n "$line" ] && load+=(-H "$line"); done <"$HEADERS"
fi

# The origins.
. "$here/origins.sh"
ensure_origins "$dir" "$PIN_LOAD"

# One proxy under callgrind serving N requests: prints the summed event
# counts (Ir, and the cache events with --cache) of all its processes.
run() { # run N COMMAND...
  local n=$1; shift
  local out=$dir/cg.$n
  rm -f "$out".*
  local vg=(valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$out.%p")
  [ "$CACHE" = 1 ] && vg+=(--cache-sim=yes)
  taskset -c "$PIN_PROXY" "${vg[@]}" "$@" >"$dir/proxy.log" 2>&1 &
  local pid=$!
  local up=0
  for _ in $(seq 300); do
    curl -sk -o /dev/null --max-time 2 "$url" && { up=1; break; }
    sleep 0.1
  done
  [ "$up" = 1 ] || { echo "instr.sh: $* did not answer on $url" >&2; tail -5 "$dir/proxy.log" >&2; exit 1; }
  taskset -c "$PIN_LOAD" h2load "${load[@]}" -n "$n" -c 16 "$url" >"$dir/load.out" 2>&1
  local ok
  ok=$(awk '/^status codes:/{gsub(",","");print $3}' "$dir/load.out")
  [ "$ok" = "$n" ] || { echo "instr.sh: $n requests, $ok answered 2xx" >&2; cat "$dir/load.out" >&2; exit 1; }
  # SIGQUIT: nginx's graceful stop (its master exits after its worker, so
  # once it is reaped every process's file is written); switchyard drains
  # on SIGTERM.
  case "$1" in nginx) kill -QUIT "$pid";; *) kill -TERM "$pid";; esac
  wait "$pid" 2>/dev/null || true
  if [ -n "$FUNCS" ]; then
    # Each function's own Ir, summed over the processes' files.
    for f in "$out".*; do callgrind_annotate --inclusive=no --auto=no --threshold=100 "$f"; done |
      awk '/file:function/{t=1; next} t && /^-+$/{t=2; next} t==2 && /^ *[0-9,]+ /{v=$1; gsub(",","",v); $1=""; sub(/^ +/,""); sub(/^\( *[0-9.]+%\) +/,""); sub(/ \[[^]]*\]$/,""); s[$0]+=v; next} t==2 && /^ *$/{t=0}
           END{for(k in s) printf "%d\t%s\n", s[k], k}' >"$dir/funcs.$n"
  fi
  cat "$out".* | awk '/^summary:/{for(i=2;i<=NF;i++) s[i]+=$i; n=NF} END{for(i=2;i<=n;i++) printf "%d ", s[i]; print ""}'
}

measure() { # measure NAME COMMAND...
  local name=$1; shift
  local a b
  a=$(run $((N / 5)) "$@")
  b=$(run "$N" "$@")
  if [ -n "$FUNCS" ]; then
    "$here/instr-diff.py" --per "$((N - N / 5))" "$dir/funcs.$((N / 5))" "$dir/funcs.$N" >"$FUNCS/$name.tsv"
  fi
  python3 - "$name" "$N" "$a" "$b" "$CACHE" <<'PY'
import sys
name, n, a, b, cache = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split(), sys.argv[5]
per = [(int(y) - int(x)) / (n - n // 5) for x, y in zip(a, b)]
line = f"{name:11s} Ir/request={per[0]:.0f}"
if cache == "1" and len(per) >= 6:
    line += f" I1mr={per[3]:.0f} D1mr={per[4]:.0f} D1mw={per[5]:.0f}"
print(line)
PY
}

echo "# callgrind, $N kept-alive requests (minus $((N / 5))), h2load ${load[*]} -c16, $url" >&2
if [ "$NGINX" = 1 ]; then
  mkdir -p "$dir/nginx/logs"
  listen="listen 127.0.0.1:8080 backlog=4096;"
  [ "$H2" = 1 ] && listen="listen 127.0.0.1:8080 ssl http2 backlog=4096; ssl_certificate $tls/cert.pem; ssl_certificate_key $tls/key.pem; http2_max_concurrent_streams 256;"
  {
    echo "user root; worker_processes 1; daemon off; master_process on; pid $dir/nginx/nginx.pid;"
    echo "error_log $dir/nginx/logs/error.log warn; events { worker_connections 8000; }"
    echo "http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;"
    echo "  upstream be { server 127.0.0.1:9001; server 127.0.0.1:9002; server 127.0.0.1:9003;"
    echo "    keepalive 1024; keepalive_requests 10000000; keepalive_timeout 300s; }"
    echo "  server { $listen location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
    echo "}"
  } >"$dir/nginx/nginx.conf"
  measure nginx nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf"
fi
for bin in "$@"; do
  measure "$(basename "$bin")" "$bin" run -c "$CONFIG"
done
