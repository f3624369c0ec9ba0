"""A small HTTP/1.1 keep-alive load generator (asyncio, raw sockets): cheap enough per
request that the machine's cores go to the server, not to the client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def _client(host: str, port: int, make: Callable[[int], tuple[str, bytes, dict[str, str]]],
                  deadline: float, result: LoadResult, counter: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            n = counter[0]
            counter[0] += 1
            path, body, headers = make(n)
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            request = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n{head}\r\n").encode() + body
            start = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            result.latencies_ms.append((time.perf_counter() - start) * 1000)
            if b" 200 " not in status_line:
                result.errors += 1
            result.requests += 1
    finally:
        writer.close()


def run_load(host: str, port: int, clients: int, seconds: float,
             make: Callable[[int], tuple[str, bytes, dict[str, str]]]) -> LoadResult:
    result = LoadResult(0, 0, 0.0, [])
    counter = [0]

    async def main() -> None:
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        await asyncio.gather(*(_client(host, port, make, deadline, result, counter)
                               for _ in range(clients)))
        result.seconds = time.perf_counter() - start

    asyncio.run(main())
    return result
