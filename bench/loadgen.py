"""A small HTTP/1.1 load generator: keep-alive GETs over a few connections, with latencies.

Written here because no load tool is part of the project's dependencies; it
uses raw asyncio streams so that the client costs far less CPU per request than
the server it measures.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


async def _worker(
    host: str,
    port: int,
    make_path: Callable[[random.Random], str],
    deadline: float,
    seed: int,
    out: LoadResult,
) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            path = make_path(rng)
            t0 = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            out.latencies.append(time.perf_counter() - t0)
            out.requests += 1
            if not head.startswith(b"HTTP/1.1 200"):
                out.errors += 1
    finally:
        writer.close()


def run_load(
    url: str,
    make_path: Callable[[random.Random], str],
    *,
    seconds: float = 10,
    connections: int = 8,
) -> LoadResult:
    """GET ``make_path(rng)`` as fast as the server answers, for ``seconds``."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    out = LoadResult(0, 0.0, [], 0)

    async def main() -> None:
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        await asyncio.gather(
            *(_worker(host, port, make_path, deadline, seed, out) for seed in range(connections))
        )
        out.seconds = time.perf_counter() - start

    asyncio.run(main())
    return out
