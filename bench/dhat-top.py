#!/usr/bin/env python3
"""bench/dhat-top.py - the allocation sites of a DHAT profile, most calls first.

Reads a profile written by `bench/allocs.sh --sites DIR` (DIR/dhat-keepalive.json
or DIR/dhat-fresh.json) and prints one line per site: allocations per request,
bytes per request, and the call stack from the first switchyard frame (who
asked for it) up through the frames it called toward the allocator. Stacks
that share those frames are added up. Build with debug line tables (both the
dev and the release profiles have them) for names and lines.

Usage: dhat-top.py FILE [--requests N] [--top K] [--frames F]
  --requests N   the counted requests (default 10000, allocs.sh's -n)
  --top K        sites shown (default 30)
  --frames F     frames shown per site before the switchyard one (default 2)
"""

import argparse
import json
import re
from collections import defaultdict

# switchyard's own frames (dhat keeps the last three path components).
OURS = re.compile(
    r"\(src/(proxy|listener|balance|health|metrics|ratelimit|plugin|tls|admin|config)/"
    r"|\(src/(server|access_log|logging)\.rs"
)
# The allocator and dhat's own frames at the top of every stack.
TOP = re.compile(r": (alloc|__rustc::__rust_\w+) \((dhat-|benches/allocs/)")


def name(frame):
    """`0x1234: fn (path/file.rs:12:5)` -> `fn (path/file.rs:12)`."""
    frame = re.sub(r"^0x[0-9a-f]+: ", "", frame)
    return re.sub(r":(\d+):\d+\)$", r":\1)", frame)


def site(frames, depth):
    """The first switchyard frame and the `depth` frames it called, or the
    first `depth` frames below the allocator when no switchyard frame is on
    the stack (hyper's connection tasks)."""
    frames = [f for f in frames if not TOP.search(f)]
    for i, f in enumerate(frames):
        if OURS.search(f):
            return tuple(name(g) for g in frames[max(0, i - depth) : i + 1])
    return tuple(name(g) for g in frames[:depth]) + ("(no switchyard frame)",)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file")
    p.add_argument("--requests", type=int, default=10000)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--frames", type=int, default=2)
    a = p.parse_args()

    with open(a.file) as f:
        prof = json.load(f)
    ftbl = prof["ftbl"]
    sites = defaultdict(lambda: [0, 0])
    total_blocks = total_bytes = 0
    for pp in prof["pps"]:
        key = site([ftbl[i] for i in pp["fs"]], a.frames)
        sites[key][0] += pp["tbk"]
        sites[key][1] += pp["tb"]
        total_blocks += pp["tbk"]
        total_bytes += pp["tb"]

    n = a.requests
    print(f"{a.file}: {total_blocks / n:.2f} allocations/request, "
          f"{total_bytes / n:.1f} bytes/request over {n} requests")
    ranked = sorted(sites.items(), key=lambda kv: -kv[1][0])
    for key, (blocks, size) in ranked[: a.top]:
        print(f"{blocks / n:6.2f}  {size / n:8.1f} B  " + "\n                   <- ".join(key))


if __name__ == "__main__":
    main()
