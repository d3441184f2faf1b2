#!/usr/bin/env python3
"""WebSocket origin and load for bench/soak.sh (standard library only).

  soak-ws.py serve PORT
      An echo origin: answers the upgrade with 101, then echoes every frame
      (text, binary, ping as pong, close) until the client closes.
  soak-ws.py load HOST:PORT SECONDS CLIENTS
      CLIENTS loops, each for SECONDS: upgrade through the proxy at
      HOST:PORT (path /ws), send 10 masked messages, check each echo, close.
      Prints one line: "ws: sessions N ok, M failed, messages K".
"""

import asyncio
import base64
import hashlib
import os
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    return head.decode("latin-1")


async def read_frame(reader):
    b0, b1 = await reader.readexactly(2)
    opcode, masked, n = b0 & 0x0F, b1 & 0x80, b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if masked else None
    data = await reader.readexactly(n)
    if mask:
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return opcode, data


def frame(opcode, data, mask):
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    n = len(data)
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask:
        key = os.urandom(4)
        return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return head + data


async def serve_one(reader, writer):
    try:
        head = await read_head(reader)
        key = ""
        for line in head.split("\r\n"):
            if line.lower().startswith("sec-websocket-key:"):
                key = line.split(":", 1)[1].strip()
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        writer.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        while True:
            opcode, data = await read_frame(reader)
            if opcode == 8:
                writer.write(frame(8, data, False))
                await writer.drain()
                break
            writer.write(frame(10 if opcode == 9 else opcode, data, False))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port):
    server = await asyncio.start_server(serve_one, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


async def session(host, port):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(read_head(reader), 10)
        if not head.startswith("HTTP/1.1 101"):
            return 0
        for i in range(10):
            msg = os.urandom(16 + i * 50)
            writer.write(frame(2, msg, True))
            opcode, echo = await asyncio.wait_for(read_frame(reader), 10)
            if (opcode, echo) != (2, msg):
                return 0
        writer.write(frame(8, b"\x03\xe8", True))
        await asyncio.wait_for(read_frame(reader), 10)
        return 10
    finally:
        writer.close()


async def load(target, seconds, clients):
    host, port = target.rsplit(":", 1)
    deadline = time.monotonic() + seconds
    counts = {"ok": 0, "failed": 0, "messages": 0}

    async def loop():
        while time.monotonic() < deadline:
            try:
                n = await session(host, int(port))
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                n = 0
            counts["ok" if n else "failed"] += 1
            counts["messages"] += n

    await asyncio.gather(*(loop() for _ in range(clients)))
    print(f"ws: sessions {counts['ok']} ok, {counts['failed']} failed, messages {counts['messages']}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        asyncio.run(serve(int(sys.argv[2])))
    elif len(sys.argv) == 5 and sys.argv[1] == "load":
        asyncio.run(load(sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
    else:
        sys.exit(__doc__)
