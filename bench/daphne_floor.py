"""What daphne alone costs per idle websocket: the floor under bench 3's figure.

    .venv/bin/python bench/daphne_floor.py [--sockets 3000]

Runs daphne with a bare ASGI websocket echo app (tests/daphne_upgrade_app.py: no
Django, no Socket.IO), opens N websockets from this process (aiohttp), each sending one
message and reading the echo, and reports the server's RSS growth per socket, once with
daphne as shipped and once with serving/daphne_tuning.py's DAPHNE_RELEASE_UPGRADE_REQUEST
patch (RELEASE=1). Compare with Node socket.io's whole per-socket figure in bench 3.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import aiohttp

sys.path.insert(0, os.path.dirname(__file__))

import common as c  # noqa: E402


async def hold(port: int, n: int, pid: int) -> float:
    url = f"ws://127.0.0.1:{port}/ws"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for ws in [await session.ws_connect(url) for _ in range(50)]:  # warm-up
            await ws.close()
        await asyncio.sleep(2)
        before = c.rss_bytes(pid)
        gate = asyncio.Semaphore(100)

        async def one():
            async with gate:
                ws = await session.ws_connect(url)
                await ws.send_str("hello")
                assert (await ws.receive(timeout=30)).data == "hello"
                return ws

        sockets = await asyncio.gather(*(one() for _ in range(n)))
        await asyncio.sleep(4)
        grown = c.rss_bytes(pid) - before
        for ws in sockets:
            await ws.close()
    return grown / n / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sockets", type=int, default=3000)
    args = p.parse_args()
    c.raise_nofile()
    rows = []
    for release in ("0", "1"):
        port = c.free_port()
        proc = c.start([c.PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                        "tests.daphne_upgrade_app:app"], f"daphne-floor-{release}",
                       env={**os.environ, "RELEASE": release})
        try:
            c.wait_port(port, proc)
            per_socket = asyncio.run(hold(port, args.sockets, proc.pid))
        finally:
            c.stop(proc)
        rows.append(["daphne 4.2, bare ASGI echo app" + (", upgrade request released" if release == "1" else ""),
                     args.sockets, per_socket])
    print()
    print(f"daphne floor: idle websockets, no Django, no Socket.IO; {c.machine()}")
    print(c.table(["server", "sockets", "KiB/socket"], rows))


if __name__ == "__main__":
    main()
