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
            request = _request(host, *make(n))
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")  # status line and headers at once
            await reader.readexactly(_content_length(head))
            result.latencies_ms.append((time.perf_counter() - start) * 1000)
            if not head.startswith(b"HTTP/1.1 200 "):
                result.errors += 1
            result.requests += 1
    finally:
        writer.close()


def _request(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n").encode() + body


def _content_length(head: bytes) -> int:
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = head.index(b"\r\n", at + 2)
    return int(head[at + 17:end])


def run_load(host: str, port: int, clients: int, seconds: float,
             make: Callable[[int], tuple[str, bytes, dict[str, str]]]) -> LoadResult:
    """Run `clients` keep-alive connections for `seconds`, on uvloop when it is installed
    (it comes with uvicorn): the generator's own CPU is taken from the server under test."""
    result = LoadResult(0, 0, 0.0, [])
    counter = [0]

    async def main() -> None:
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        await asyncio.gather(*(_client(host, port, make, deadline, result, counter)
                               for _ in range(clients)))
        result.seconds = time.perf_counter() - start

    try:
        from uvloop import new_event_loop
    except ImportError:  # plain asyncio: slower, still correct
        from asyncio import new_event_loop
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main())
    return result
