#!/usr/bin/env python3
"""bench/instr-diff.py - where two bench/instr.sh --functions tables differ.

Each table (BASE.tsv, OTHER.tsv) holds a run's per-function exclusive
instructions per request. This prints OTHER minus BASE by function, the
largest differences first, and the total; functions are matched by name
(file:function as callgrind_annotate prints it; a function inlined
elsewhere is counted where it was inlined). E.g. what a plugin on every
request adds, same binary:

    bench/instr.sh --no-nginx -n 10000 --functions /tmp/fn-native BIN
    bench/instr.sh --no-nginx -n 10000 -c plugin.toml --functions /tmp/fn-plugin BIN
    bench/instr-diff.py /tmp/fn-native/BIN.tsv /tmp/fn-plugin/BIN.tsv

bench/instr.sh itself makes each table with `--per N SMALL BIG`: the
counts of a run of N more requests minus a shorter run's, per request, as
a table (start-up and shutdown cancel out).

Usage: bench/instr-diff.py [-n TOP] BASE.tsv OTHER.tsv
       bench/instr-diff.py --per N SMALL BIG
"""
import sys


def load(path):
    table = {}
    for line in open(path):
        value, name = line.rstrip("\n").split("\t", 1)
        table[name] = table.get(name, 0.0) + float(value)
    return table


def difference(base, other, per=1.0):
    """OTHER minus BASE by function, divided by `per`."""
    return {k: (other.get(k, 0.0) - base.get(k, 0.0)) / per for k in set(base) | set(other)}


def main(argv):
    if len(argv) == 4 and argv[0] == "--per":
        table = difference(load(argv[2]), load(argv[3]), float(argv[1]))
        for name, value in sorted(table.items(), key=lambda kv: -kv[1]):
            if abs(value) >= 0.5:
                print(f"{value:.1f}\t{name}")
        return
    top = 40
    if len(argv) >= 2 and argv[0] == "-n":
        top, argv = int(argv[1]), argv[2:]
    if len(argv) != 2:
        sys.exit("usage: bench/instr-diff.py [-n TOP] BASE.tsv OTHER.tsv | --per N SMALL BIG")
    diff = difference(load(argv[0]), load(argv[1]))
    rows = sorted(diff.items(), key=lambda kv: -abs(kv[1]))
    total = sum(diff.values())
    print(f"{total:+10.0f}  total (Ir per request, OTHER - BASE)")
    for name, value in rows[:top]:
        print(f"{value:+10.1f}  {name[:160]}")


if __name__ == "__main__":
    main(sys.argv[1:])
