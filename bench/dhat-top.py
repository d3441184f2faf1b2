#!/usr/bin/env python3
"""bench/dhat-top.py - the allocation sites of a DHAT profile, most calls first.

Reads a profile written by `bench/allocs.sh --sites DIR` (DIR/dhat-keepalive.json
or DIR/dhat-fresh.json) and prints one line per site: allocations per request,
bytes per request, and the call stack's first frames outside the standard
library and the allocator (the allocating code), down to the first switchyard
frame (who asked for it). Stacks that share those frames are added up.

Usage: dhat-top.py FILE [--requests N] [--top K] [--frames F]
  --requests N   the counted requests (default 10000, allocs.sh's -n)
  --top K        sites shown (default 30)
  --frames F     frames shown per site before the switchyard one (default 3)
"""

import argparse
import json
import re
from collections import defaultdict

# Frames of the allocation machinery itself, not of the code that allocates.
PLUMBING = re.compile(
    r"^(<?(alloc|core|std|dhat|backtrace|hashbrown)::|__rust|\[root\]|<dhat::|"
    r"<alloc::|<core::|<std::|<hashbrown::)"
)


def name(frame):
    """`0x1234: path::to::fn (file.rs:12:5)` -> `path::to::fn (file.rs:12)`."""
    frame = re.sub(r"^0x[0-9a-f]+: ", "", frame)
    frame = re.sub(r"\([^()]*/([^/()]+\.rs):(\d+)(:\d+)?\)$", r"(\1:\2)", frame)
    return frame


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file")
    p.add_argument("--requests", type=int, default=10000)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--frames", type=int, default=3)
    a = p.parse_args()

    with open(a.file) as f:
        prof = json.load(f)
    ftbl = prof["ftbl"]
    sites = defaultdict(lambda: [0, 0])
    total_blocks = total_bytes = 0
    for pp in prof["pps"]:
        frames = [name(ftbl[i]) for i in pp["fs"]]
        own = [f for f in frames if not PLUMBING.match(f)]
        key = []
        for f in own:
            key.append(f)
            if f.startswith("switchyard::") or len(key) >= a.frames + 4:
                break
        key = tuple(key[: a.frames]) + ((key[-1],) if len(key) > a.frames else ())
        sites[key][0] += pp["tbk"]
        sites[key][1] += pp["tb"]
        total_blocks += pp["tbk"]
        total_bytes += pp["tb"]

    n = a.requests
    print(f"{a.file}: {total_blocks / n:.2f} allocations/request, "
          f"{total_bytes / n:.1f} bytes/request over {n} requests")
    ranked = sorted(sites.items(), key=lambda kv: -kv[1][0])
    for key, (blocks, size) in ranked[: a.top]:
        print(f"{blocks / n:6.2f}  {size / n:8.1f} B  " + "\n                   <- ".join(key or ("?",)))


if __name__ == "__main__":
    main()
