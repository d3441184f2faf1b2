#!/usr/bin/env bash
# bench/soak.sh - hours-of-churn in minutes: mixed load through a release
# switchyard while its servers flap, its config reloads and a plugin
# hot-swaps; reports requests sent/failed per kind of load and the proxy's
# RSS at start and end. Not CI: it takes DURATION seconds (default 600).
#
# Load, all at once for DURATION:
#   wrk  HTTP/1.1 keep-alive            (plain listener, 16 connections)
#   wrk  HTTP/1.1 fresh connection each (Connection: close, 8)
#   wrk  HTTP/1.1 over TLS keep-alive   (TLS listener, 8)
#   wrk  64 KiB uploads (POST)          (plain listener, 4)
#   h2load HTTP/2 over TLS              (8 connections x 8 streams)
#   bench/soak-ws.py WebSockets         (8 clients, 10 echoes per session)
# Churn, all at once for DURATION:
#   every FLAP s    one of three nginx origins is stopped, started FLAP/4 s later
#   every RELOAD s  the config changes (weights) and POST /api/reload
#   every SWAP s    PUT /api/plugins/guard hot-swaps the route's plugin
#
# Usage:
#   bench/soak.sh [--no-build]
# Environment:
#   DURATION=600 FLAP=20 RELOAD=15 SWAP=10   seconds
#   CARGO_TARGET_DIR   where the release build goes (default <repo>/target)
#   BIN                the binary to soak (default: that release build; with
#                      --no-build, e.g. a debug build to try the script out)
#   SOAK_DIR           scratch directory (default /tmp/switchyard-soak)
#
# Needs nginx, wrk, h2load (nghttp2-client), curl, openssl, python3
# (apt-get install -y nginx wrk nghttp2-client curl openssl python3) and
# the example plugins (scripts/setup builds them). The figures of the last
# full run are in docs/PERFORMANCE.md ("Soak").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
DURATION=${DURATION:-600}
FLAP=${FLAP:-20}
RELOAD=${RELOAD:-15}
SWAP=${SWAP:-10}
dir=${SOAK_DIR:-/tmp/switchyard-soak}
target=${CARGO_TARGET_DIR:-$repo/target}
bin=${BIN:-$target/release/switchyard}
plugin=$repo/plugins/target/wasm32-wasip2/release/request_guard.wasm
ports=(27001 27002 27003)
ws_port=27010
web=127.0.0.1:27080
secure=127.0.0.1:27443
admin=127.0.0.1:27901

if [ "${1:-}" != "--no-build" ]; then
  (cd "$repo" && cargo build --release -p switchyard)
fi
for tool in nginx wrk h2load curl openssl python3; do
  command -v "$tool" >/dev/null || { echo "soak.sh: $tool is missing" >&2; exit 2; }
done
[ -x "$bin" ] || { echo "soak.sh: no $bin" >&2; exit 2; }
[ -f "$plugin" ] || { echo "soak.sh: no $plugin (run scripts/setup)" >&2; exit 2; }

rm -rf "$dir" && mkdir -p "$dir"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for i in 0 1 2; do
    [ -f "$dir/nginx-$i/nginx.pid" ] && nginx_at "$i" -s stop 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Origins: three nginx instances (each can be stopped on its own) and the
# WebSocket echo origin.
for i in 0 1 2; do
  d=$dir/nginx-$i
  mkdir -p "$d/logs" "$d/tmp"
  cat >"$d/nginx.conf" <<EOF
worker_processes 1;
pid $d/nginx.pid;
error_log $d/logs/error.log crit;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $d/tmp;
  client_max_body_size 1m;
  client_body_buffer_size 128k;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:${ports[$i]};
    location / { return 200 "origin $i\n"; }
    location /upload { return 200 "stored\n"; }
  }
}
EOF
done
nginx_at() { local d=$dir/nginx-$1; shift; nginx -p "$d" -e "$d/logs/error.log" -c "$d/nginx.conf" "$@"; }
start_origin() { nginx_at "$1"; }
stop_origin() { nginx_at "$1" -s stop; }
for i in 0 1 2; do start_origin "$i"; done
python3 "$here/soak-ws.py" serve "$ws_port" &
pids+=($!)

# TLS certificate for the secure listener.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
  -keyout "$dir/site.key" -out "$dir/site.pem" 2>/dev/null

# The config; `weights A B C` writes it with those server weights.
weights() {
  cat >"$dir/switchyard.toml" <<EOF
workers = 2

[admin]
bind = "$admin"

[[listener]]
name = "web"
bind = "$web"

[[listener]]
name = "secure"
bind = "$secure"
tls = { cert = "site.pem", key = "site.key" }

[[route]]
path_prefix = "/ws"
pool = "ws"

[[route]]
pool = "app"
plugins = ["guard"]

[pool.app]
balance = "round_robin"
retries = 2
max_fails = 1
fail_timeout = "2s"
keepalive = 64
health = { path = "/", interval = "1s", timeout = "500ms", rise = 1, fall = 1 }
servers = [
  { address = "127.0.0.1:${ports[0]}", weight = $1 },
  { address = "127.0.0.1:${ports[1]}", weight = $2 },
  { address = "127.0.0.1:${ports[2]}", weight = $3 },
]

[pool.ws]
servers = [{ address = "127.0.0.1:$ws_port" }]

[plugin.guard]
path = "$plugin"
config = { deny_paths = ["/denied"] }
EOF
}
weights 1 1 1
"$bin" run -c "$dir/switchyard.toml" 2>"$dir/switchyard.log" &
proxy=$!
pids+=($proxy)
for _ in $(seq 100); do curl -fs "http://$web/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://$web/" >/dev/null || { echo "soak.sh: the proxy did not start:" >&2; cat "$dir/switchyard.log" >&2; exit 1; }
rss() { awk '/VmRSS/ { print $2 " KiB" }' "/proc/$proxy/status"; }
rss_start=$(rss)

# Churn.
(
  i=0
  while true; do
    sleep "$FLAP"; stop_origin $((i % 3)) || true
    sleep $((FLAP / 4)); start_origin $((i % 3)) || true
    i=$((i + 1))
  done
) &
pids+=($!)
flaps_pid=$!
(
  n=0
  while true; do
    sleep "$RELOAD"
    n=$((n + 1))
    weights $((n % 3 + 1)) $(((n + 1) % 3 + 1)) 1
    code=$(curl -s -o "$dir/reload.out" -w '%{http_code}' -X POST "http://$admin/api/reload")
    echo "$code" >>"$dir/reloads"
  done
) &
pids+=($!)
(
  while true; do
    sleep "$SWAP"
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary "@$plugin" "http://$admin/api/plugins/guard")
    echo "$code" >>"$dir/swaps"
  done
) &
pids+=($!)

# Load.
body=$(head -c 65536 /dev/zero | tr '\0' 'x')
cat >"$dir/upload.lua" <<EOF
wrk.method = "POST"
wrk.body = "$body"
wrk.headers["Content-Type"] = "application/octet-stream"
EOF
d=${DURATION}s
wrk -t1 -c16 -d"$d" --latency "http://$web/" >"$dir/keepalive.out" &
l1=$!
wrk -t1 -c8 -d"$d" -H "Connection: close" "http://$web/" >"$dir/fresh.out" &
l2=$!
wrk -t1 -c8 -d"$d" "https://$secure/" >"$dir/tls.out" &
l3=$!
wrk -t1 -c4 -d"$d" -s "$dir/upload.lua" "http://$web/upload" >"$dir/upload.out" &
l4=$!
h2load -D "$DURATION" -c8 -m8 "https://$secure/" >"$dir/h2.out" 2>&1 &
l5=$!
python3 "$here/soak-ws.py" load "$web" "$DURATION" 8 >"$dir/ws.out" &
l6=$!
wait "$l1" "$l2" "$l3" "$l4" "$l5" "$l6" || true
rss_end=$(rss)

# Report: requests sent and failed per load (failed = socket errors +
# non-2xx/3xx answers for wrk; failed + errored + timeout and non-2xx for
# h2load).
wrk_line() {
  local name=$1 file=$2 sent errs non2xx
  sent=$(awk '/requests in/ { print $1 }' "$file")
  errs=$(awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$file")
  non2xx=$(awk '/Non-2xx/ { print $5 }' "$file")
  echo "$name: ${sent:-0} sent, $(( ${errs:-0} + ${non2xx:-0} )) failed (socket errors ${errs:-0}, non-2xx ${non2xx:-0})"
}
echo "soak: ${DURATION}s, flap every ${FLAP}s, reload every ${RELOAD}s, swap every ${SWAP}s"
wrk_line "http1 keep-alive" "$dir/keepalive.out"
wrk_line "http1 fresh     " "$dir/fresh.out"
wrk_line "http1 tls       " "$dir/tls.out"
wrk_line "uploads 64KiB   " "$dir/upload.out"
awk '/^requests:/ { gsub(",", ""); sent=$2; failed=$10+$12+$14 }
     /^status codes:/ { gsub(",", ""); non2xx=$5+$7+$9 }
     END { printf "http2 tls       : %d sent, %d failed (failed/errored/timeout %d, non-2xx %d)\n", sent, failed+non2xx, failed, non2xx }' "$dir/h2.out"
cat "$dir/ws.out"
echo "reloads: $(grep -c '^200$' "$dir/reloads" 2>/dev/null || echo 0) ok of $(wc -l <"$dir/reloads" 2>/dev/null || echo 0)"
echo "plugin swaps: $(grep -c '^200$' "$dir/swaps" 2>/dev/null || echo 0) ok of $(wc -l <"$dir/swaps" 2>/dev/null || echo 0)"
echo "proxy RSS: start $rss_start, end $rss_end"
kill -0 "$proxy" && echo "proxy: still running" || echo "proxy: DIED"
