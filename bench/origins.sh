# bench/origins.sh - sourced by bench scripts: the three nginx origins.
#
# ensure_origins DIR CPU: unless something answers on 127.0.0.1:9001, starts
# one nginx (1 worker, pinned to CPU) serving `return 200 "ok"` on
# 127.0.0.1:9001-9003, as peerbench.sh starts its backends, with its files
# under DIR/origins; appends its pid to the caller's `pids` array (kill it
# on exit) and waits until it answers.
ensure_origins() {
  local dir=$1 cpu=$2 p
  curl -s -o /dev/null --max-time 1 http://127.0.0.1:9001/ && return 0
  mkdir -p "$dir/origins/logs"
  {
    echo "worker_processes 1; daemon off; pid $dir/origins/nginx.pid;"
    echo "error_log $dir/origins/logs/error.log warn; events { worker_connections 4000; }"
    echo "http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;"
    for p in 1 2 3; do
      echo "  server { listen 127.0.0.1:900$p backlog=4096; location / { return 200 \"ok\"; } }"
    done
    echo "}"
  } >"$dir/origins/nginx.conf"
  taskset -c "$cpu" nginx -p "$dir/origins" -c "$dir/origins/nginx.conf" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:9001/ && return 0; sleep 0.1; done
  echo "origins.sh: nginx did not answer on :9001" >&2
  return 1
}
