#!/usr/bin/env bash
# bench/allocs.sh - heap allocations per request proxied by switchyard (plain HTTP/1).
#
# Runs the `allocs` benchmark (bench/allocs/benches/allocs/): switchyard started
# in-process on one runtime thread, between an origin and a client that allocate
# nothing per request, and a counting global allocator (dhat). Prints, for one
# kept-alive client connection and for a fresh client connection per request:
#     allocations/request   bytes allocated/request
# (a realloc counts as an allocation), then the heap the proxy holds per idle
# keep-alive client connection. It first checks that the client and origin alone
# allocate nothing.
#
# Usage:
#   bench/allocs.sh [--dev] [-n REQUESTS] [-w WARMUP] [-k IDLE] [-c CONFIG] [--sites DIR]
#
#   --dev         build with the dev profile instead of bench (= release):
#                 no release build of wasmtime, and target/debug is shared
#                 with the tests; per request the counts agree with
#                 release's, per connection dev makes one more
#                 (docs/PERFORMANCE.md)
#   -n, -w        counted and warm-up requests per variant (10000, 1000)
#   -k IDLE       idle connections held for the heap per connection (1000)
#   -c CONFIG     proxy config instead of the built-in one ({origin} is
#                 replaced by the origin's address; listener `bench`, port 0)
#   --sites DIR   also write DHAT profiles of the counted requests
#                 (DIR/dhat-keepalive.json, DIR/dhat-fresh.json): open them
#                 in DHAT's dh_view.html, or list the sites with
#                 `bench/dhat-top.py DIR/dhat-keepalive.json --requests N`
#
# Environment:
#   CARGO_TARGET_DIR  where cargo builds; for the release build use your own
#                     dir (e.g. /tmp/allocs-target): a cold one takes ~15 min
#                     (wasmtime) at low priority
#
# Not part of the test suite (`cargo test --workspace` builds nothing of it).
# See docs/PERFORMANCE.md, "Allocations and memory".
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
profile=()
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) profile=(--profile dev); shift;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0;;
    *) pass+=("$1"); shift;;
  esac
done

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$repo" status --porcelain -- host 2>/dev/null | head -1)
echo "# $(date -u '+%Y-%m-%dT%H:%M:%SZ') switchyard ${commit}${dirty:+ (host/ has uncommitted changes)} ${profile[*]:-release}"
cd "$repo"
nice -n 10 cargo bench "${profile[@]}" -p switchyard-allocs --bench allocs -- "${pass[@]}"
