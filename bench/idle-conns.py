#!/usr/bin/env python3
"""bench/idle-conns.py - hold N idle keep-alive HTTP/1.1 client connections.

The client half of bench/idle-mem.sh. Opens N connections to 127.0.0.1:PORT
(at most CONCURRENCY at once), sends `GET / HTTP/1.1` (Host: bench) on each
and reads its answer whole (a 200 with Content-Length), keeps every
connection open and idle, prints `ready N` on stdout, and waits for SIGTERM
or SIGINT; then it closes them all and exits 0, or 1 if the proxy closed
any of them meanwhile. With --close it closes them
as soon as all answered (a warm-up). Any refused connection, closed
connection or other answer than a 200 is an error: it says which on stderr
and exits 1, so a proxy that drops connections cannot look small.

Usage: idle-conns.py PORT N [--concurrency C] [--close] [--timeout SECS]
"""

import argparse
import asyncio
import signal
import sys

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


async def one(port, timeout):
    """A connection with one answered request, still open."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port), timeout
    )
    writer.write(REQUEST)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    status = head.split(b"\r\n", 1)[0]
    if not status.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(f"answer {status!r}")
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise RuntimeError("answer without Content-Length")
    await asyncio.wait_for(reader.readexactly(length), timeout)
    return reader, writer


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("port", type=int)
    p.add_argument("n", type=int)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--close", action="store_true")
    p.add_argument("--timeout", type=float, default=10.0)
    a = p.parse_args()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)

    gate = asyncio.Semaphore(a.concurrency)

    async def gated(i):
        async with gate:
            try:
                return await one(a.port, a.timeout)
            except Exception as e:  # noqa: BLE001 - any failure fails the run
                raise RuntimeError(f"connection {i}: {type(e).__name__}: {e}") from e

    conns = []
    try:
        conns = await asyncio.gather(*(gated(i) for i in range(a.n)))
        print(f"ready {len(conns)}", flush=True)
        if not a.close:
            await stop.wait()
    except RuntimeError as e:
        print(f"idle-conns.py: {e}", file=sys.stderr)
        return 1
    finally:
        # Seen before closing ours: the proxy closed these while they idled.
        dropped = sum(1 for r, _ in conns if r.at_eof())
        for _, w in conns:
            w.close()
    if dropped:
        print(f"idle-conns.py: the proxy closed {dropped} of {a.n} idle connections",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
