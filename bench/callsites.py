#!/usr/bin/env python3
"""bench/callsites.py - which call sites call a function, and how often.

callgrind's caller trees name the calling *function*; on the request path
most `memcpy` calls come from two or three huge inlined futures
(`Proxy::handle`, the HTTP/1 listener's `serve`), so that says little. With
`--dump-instr=yes` callgrind records each call's instruction address: this
prints one line per call site of TARGET (a substring of the callee's name),
by inclusive cost, with the call count. Given the BINARY, it also prints the
source line (addr2line, innermost inlined frame last) and, for calls whose
length is a constant (a move of a value: `mov $SIZE,%edx` just before the
call), that length in bytes.

Record (a request path under load, as bench/instr.sh does):
    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file=/tmp/cg.%p \
        target/release/switchyard run -c bench/switchyard.toml
    h2load --h1 -n 10000 -c16 http://127.0.0.1:8080/ ; kill -TERM <pid>
Then:
    bench/callsites.py /tmp/cg.<pid> memcpy --binary target/release/switchyard -n 40

Divide the counts by the requests served. Needs binutils (objdump,
addr2line) for --binary. Not part of the test suite.
"""
import argparse
import collections
import re
import subprocess


def call_sites(path, target):
    """(cost, calls) per (caller, address) of calls into a function whose name contains target."""
    names = {}
    cost = collections.Counter()
    calls = collections.Counter()
    fn = cfn = None
    last = 0
    pending = None

    def name(text):
        # Compressed names: "(12) full::name" defines id 12, "(12)" reuses it.
        m = re.match(r"\((\d+)\)(?: (.*))?", text)
        if not m:
            return text
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), "?")

    def position(tok):
        # Instruction positions: absolute, "+n"/"-n" relative, "*" the same.
        nonlocal last
        if tok != "*":
            last = last + int(tok, 0) if tok[0] in "+-" else int(tok, 0)
        return last

    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("positions:") and "instr" not in line.split():
                # Without instruction positions the first number is a line.
                raise SystemExit(f"{path}: recorded without --dump-instr=yes")
            if line.startswith("fn="):
                fn = name(line[3:].strip())
            elif line.startswith("cfn="):
                cfn = name(line[4:].strip())
            elif line.startswith("calls="):
                pending = int(line[6:].split()[0])
            elif line[:1].isdigit() or line[:1] in "+-*":
                toks = line.split()
                addr = position(toks[0])
                if pending is not None:
                    if cfn and target in cfn:
                        key = (fn, addr)
                        cost[key] += int(toks[-1])
                        calls[key] += pending
                    pending = None
    return cost, calls


def moved_bytes(binary, addr):
    """The constant length passed to the call at addr, if there is one: the
    last `mov $N,%edx` since the previous call (a window that starts
    mid-instruction decodes wrongly at first, hence the margin)."""
    out = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", f"--start-address={addr - 64}",
         f"--stop-address={addr}", binary],
        capture_output=True, text=True).stdout
    since_call = re.split(r"\bcall", out)[-1]
    sizes = re.findall(r"mov\s+\$0x([0-9a-f]+),%edx", since_call)
    return int(sizes[-1], 16) if sizes else None


def source(binary, addr):
    out = subprocess.run(["addr2line", "-i", "-C", "-e", binary, hex(addr)],
                         capture_output=True, text=True).stdout.splitlines()
    # One frame per line, innermost first: "path:line [(discriminator n)]".
    frames = [re.sub(r"^.*/(src|library)/", "", f.split(" (")[0]) for f in out]
    return " <- ".join(reversed(frames))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("callgrind_out")
    p.add_argument("target", help="substring of the callee's name, e.g. memcpy")
    p.add_argument("--binary", help="the profiled binary: source lines and moved bytes")
    p.add_argument("-n", type=int, default=30, help="call sites to print")
    a = p.parse_args()
    cost, calls = call_sites(a.callgrind_out, a.target)
    print(f"{'Ir':>12} {'calls':>8} {'bytes':>6} address caller")
    for (fn, addr), ir in cost.most_common(a.n):
        size = moved_bytes(a.binary, addr) if a.binary else None
        print(f"{ir:>12,} {calls[(fn, addr)]:>8} {size or '':>6} {hex(addr)} {fn[:90]}")
        if a.binary:
            print(f"{'':>29}{source(a.binary, addr)[:160]}")


if __name__ == "__main__":
    main()
