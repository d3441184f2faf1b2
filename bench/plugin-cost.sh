#!/usr/bin/env bash
# bench/plugin-cost.sh - what a plugin on every request costs: the same release
# binary, interleaved rounds, three configs:
#   bin0 native  bench/switchyard.toml (round_robin over the 3 nginx backends)
#   bin1 canary  the same + a route plugin `canary` with percent = 0: one
#                on-request call per request that reads a header and a cookie
#                and sets `x-canary: 0` upstream
#   bin2 ll      the same pool with balance = "plugin", plugin `least-latency`:
#                one pick-backend call per request (3 candidates)
# It builds the release binary (CARGO_TARGET_DIR, default <repo>/target) and the
# example plugins (plugins/target), writes the configs and one wrapper per
# config into a temp dir, and hands the wrappers to bench/ab.sh, whose
# "rps_vs_bin0" column is then the plugin's ratio to native (paired per round).
#
# Usage:
#   bench/plugin-cost.sh [--no-build] [-r ROUNDS] [-d SECS]
# Defaults (ab.sh's): -r 8 -d 5; pinning proxy=1, load+backends=0.
# Example:
#   CARGO_TARGET_DIR=/tmp/plug3-release bench/plugin-cost.sh -r 10 -d 5
# Needs nginx, wrk, taskset. Not part of the test suite; see docs/PERFORMANCE.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
build=1
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0; shift;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0;;
    *) pass+=("$1"); shift;;
  esac
done

if [ "$build" = 1 ]; then
  (cd "$repo" && cargo build --release -p switchyard >&2)
  (cd "$repo" && cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml >&2)
fi
bin=$target/release/switchyard
wasm=$repo/plugins/target/wasm32-wasip2/release
for f in "$bin" "$wasm/canary.wasm" "$wasm/least_latency.wasm"; do
  [ -e "$f" ] || { echo "plugin-cost.sh: $f missing (build first)" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/switchyard-plugin-cost.XXXXXX)
trap 'rm -rf "$dir"' EXIT

# The plugins get a generous timeout: a call cut off on a loaded box would
# fail open and measure the deadline, not the plugin.
cp "$here/switchyard.toml" "$dir/native.toml"
sed 's/^pool = "be"$/pool = "be"\nplugins = ["canary"]/' "$here/switchyard.toml" >"$dir/canary.toml"
cat >>"$dir/canary.toml" <<EOF

[plugin.canary]
path = "$wasm/canary.wasm"
timeout = "1s"
config = { percent = 0, pool = "be" }
EOF
sed 's/^balance = "round_robin"$/balance = "plugin"\nplugin = "ll"\nfallback = "round_robin"/' "$here/switchyard.toml" >"$dir/ll.toml"
cat >>"$dir/ll.toml" <<EOF

[plugin.ll]
path = "$wasm/least_latency.wasm"
timeout = "1s"
EOF
grep -q 'plugins = \["canary"\]' "$dir/canary.toml" && grep -q 'plugin = "ll"' "$dir/ll.toml" ||
  { echo "plugin-cost.sh: could not derive the configs from bench/switchyard.toml" >&2; exit 1; }
for c in native canary ll; do
  "$bin" check -c "$dir/$c.toml" >&2
  # ab.sh runs `BINARY run -c CONFIG`: each wrapper runs the one binary with
  # its own config instead (exec: same pid, so ab.sh's CPU accounting holds).
  printf '#!/bin/sh\nexec %q run -c %q\n' "$bin" "$dir/$c.toml" >"$dir/$c"
  chmod +x "$dir/$c"
done

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$here/ab.sh" "${pass[@]}" "$dir/native" "$dir/canary" "$dir/ll"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
