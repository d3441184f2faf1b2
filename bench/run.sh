#!/usr/bin/env bash
# bench/run.sh - switchyard vs nginx vs haproxy, side by side, on loopback.
#
# Builds switchyard in release mode, then runs the shared peerbench.sh
# (shared/bench/peerbench.sh, next to this repo's checkout) with the targets
#     nginx haproxy custom -- <release binary> run -c bench/switchyard.toml
# and prints its result lines (one median line per target + the ratio line; the
# custom target is named "switchyard").
# Per-run lines and warnings (e.g. "other processes used ~N% CPU") go to stderr.
#
# Usage:
#   bench/run.sh [--workers 2] [--h2] [--no-build] [PEERBENCH OPTIONS...]
#
#   --workers 2   2-worker comparison: bench/switchyard-2w.toml with targets
#                 nginx:2@0,1 haproxy:2@0,1 custom@0,1 (all pinned to both cores)
#   --h2          TLS + HTTP/2 front (peerbench --h2, h2load -m10): switchyard gets
#                 bench/switchyard.toml with peerbench's certificate
#                 (/tmp/peerbench/tls, made here if missing) on its listener
#   --no-build    skip `cargo build` (the binary must already exist)
#   other args    passed to peerbench.sh before the targets, e.g. -d 10 -r 3 --keep
#
# Environment:
#   CARGO_TARGET_DIR  where cargo builds (default: <repo>/target); use your own
#                     dir (e.g. /tmp/bench-target) to avoid blocking other builds
#   PEERBENCH         path to peerbench.sh (default: <repo>/../shared/bench/peerbench.sh)
#   RESULTS           if set, the result lines are also appended to this file
#
# Examples:
#   CARGO_TARGET_DIR=/tmp/bench-target bench/run.sh -d 10 -r 3
#   CARGO_TARGET_DIR=/tmp/bench-target bench/run.sh --workers 2 -d 10 -r 3
#
# Needs nginx, haproxy, wrk, curl (apt-get install -y nginx haproxy wrk curl).
# Not part of the test suite: it takes minutes and wants a quiet machine.
# See docs/PERFORMANCE.md for methodology and the latest numbers.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
PEERBENCH=${PEERBENCH:-"$(dirname "$0")/../../shared/bench/peerbench.sh"}

workers=1
build=1
h2=0
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) workers=$2; shift 2;;
    --no-build) build=0; shift;;
    --h2) h2=1; shift;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0;;
    *) pass+=("$1"); shift;;
  esac
done

case "$workers" in
  1) config=$here/switchyard.toml; targets=(nginx haproxy custom);;
  2) config=$here/switchyard-2w.toml; targets=(nginx:2@0,1 haproxy:2@0,1 custom@0,1);;
  *) echo "run.sh: --workers must be 1 or 2" >&2; exit 2;;
esac

if [ "$h2" = 1 ]; then
  h2config=$(mktemp /tmp/switchyard-h2.XXXXXX.toml)
  "$here/h2-config.sh" "$config" "$h2config"
  config=$h2config
  pass=(--h2 "${pass[@]}")
fi

[ -f "$PEERBENCH" ] || { echo "run.sh: peerbench.sh not found at $PEERBENCH (set PEERBENCH)" >&2; exit 1; }

target_dir=${CARGO_TARGET_DIR:-$repo/target}
if [ "$build" = 1 ]; then
  echo "run.sh: cargo build --release -p switchyard (target dir $target_dir)" >&2
  (cd "$repo" && CARGO_TARGET_DIR=$target_dir cargo build --release -p switchyard)
fi
bin=$target_dir/release/switchyard
[ -x "$bin" ] || { echo "run.sh: $bin missing (build failed or --no-build without a build)" >&2; exit 1; }

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$repo" status --porcelain -- host 2>/dev/null | head -1)
header="# $(date -u '+%Y-%m-%dT%H:%M:%SZ') switchyard ${commit}${dirty:+ (host/ has uncommitted changes)} workers=$workers; peerbench ${pass[*]:-}"

out=$(mktemp)
trap 'rm -f "$out" ${h2config:-}' EXIT
# name the custom target "switchyard" in the output unless the caller chose a name
name=(--custom-name switchyard)
for a in "${pass[@]}"; do [ "$a" = --custom-name ] && name=(); done
bash "$PEERBENCH" "${name[@]}" "${pass[@]}" "${targets[@]}" -- "$bin" run -c "$config" >"$out"

{ echo "$header"; cat "$out"; } | tee -a "${RESULTS:-/dev/null}"
