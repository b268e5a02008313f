"""What an in-flight request costs a worker: its memory (RSS) and threads while C requests wait.

``hold`` opens C connections at once on an asyncio loop (cheap for the client), each asking for
a view that waits ``delay`` seconds, and samples the one worker process meanwhile; the cost per
in-flight request is the peak over the idle worker, divided by C.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import psutil

SAMPLE_INTERVAL = 0.05


@dataclass(frozen=True)
class Cost:
    label: str
    concurrency: int
    delay: float
    ok: int
    elapsed_s: float
    idle_rss_mib: float
    peak_rss_mib: float
    idle_threads: int
    peak_threads: int

    @property
    def kib_per_request(self) -> float:
        return (self.peak_rss_mib - self.idle_rss_mib) * 1024 / self.concurrency

    def __str__(self) -> str:
        return (
            f"{self.label}: {self.ok}/{self.concurrency} answered in {self.elapsed_s:.1f} s; "
            f"RSS {self.idle_rss_mib:.0f} -> {self.peak_rss_mib:.0f} MiB "
            f"({self.kib_per_request:.1f} KiB per request), threads "
            f"{self.idle_threads} -> {self.peak_threads}"
        )


async def _request(host: str, port: int, target: str) -> int:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 16)
    try:
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await reader.readline()
        await reader.read()
        return int(status_line.split()[1]) if status_line else 0
    except (OSError, ValueError, IndexError):
        return 0
    finally:
        writer.close()


async def _all(url: str, target: str, concurrency: int, seconds: float) -> list[int]:
    address = urlsplit(url)
    async with asyncio.timeout(seconds):
        return await asyncio.gather(
            *(_request(address.hostname, address.port, target) for _ in range(concurrency))
        )


def hold(
    label: str, url: str, worker: psutil.Process, path: str, concurrency: int, delay: float,
    timeout: float,
) -> Cost:  # fmt: skip
    """``concurrency`` requests of ``path?delay=delay`` at once; the worker sampled meanwhile."""
    idle_rss, idle_threads = worker.memory_info().rss, worker.num_threads()
    peak = {"rss": idle_rss, "threads": idle_threads}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_INTERVAL):
            peak["rss"] = max(peak["rss"], worker.memory_info().rss)
            peak["threads"] = max(peak["threads"], worker.num_threads())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        statuses = asyncio.run(_all(url, f"{path}?delay={delay}", concurrency, timeout))
    finally:
        done.set()
        sampler.join()
    mib = 1024 * 1024
    return Cost(
        label, concurrency, delay, statuses.count(200), time.monotonic() - started,
        idle_rss / mib, peak["rss"] / mib, idle_threads, peak["threads"],
    )  # fmt: skip
