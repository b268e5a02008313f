"""A closed loop that switches path on a schedule: the database comparison's load, one process.

``python -m loadtests.sweep.paired_load SPEC.json OUT.json``: ``users`` asyncio tasks each send
their next request as soon as the last is answered (no think time, as Locust's users), to the
path of the window the clock is in. Windows follow each other back to back; each request is
timed from its send and counted in the window its answer arrived in, with its path, so the
sweep can drop the answers of the previous path that arrive in the next window's settling
time. Locust is not used here: one of its runs has one user class, and a run per window would
pay its start (seconds) fifteen times. aiohttp keeps connections alive, as the load's cost on
the generator's core must stay far below the server's.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import sys
import time
from pathlib import Path

import aiohttp

TIMEOUT_S = 10.0


async def _user(session, spec: dict, starts: list[float], answers: list[list], k: int) -> None:
    paths, query, end = spec["paths"], spec["query"], starts[-1]
    await asyncio.sleep(spec["stagger_s"] * k / spec["users"])  # not in lockstep
    while (now := time.time()) < end:
        index = bisect.bisect_right(starts, now) - 1
        path, sent = paths[index], time.perf_counter()
        try:
            async with session.get(f"{spec['url']}{path}?{query}") as response:
                body = await response.read()
                ok = response.status == 200 and b'"rows"' in body
                error = "" if ok else f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = type(exc).__name__
        took_ms = (time.perf_counter() - sent) * 1000.0
        done = time.time()
        window = bisect.bisect_right(starts, done) - 1 if done < end else None
        if window is not None:
            answers[window].append((path, round(took_ms, 2), error, round(done, 4)))


async def run(spec: dict) -> list[dict]:
    """Every window's answers: (path, ms from send, error or "", unix time of the answer)."""
    count = len(spec["paths"])
    starts = [time.time() + spec["lead_s"]]
    for seconds in spec["windows_s"]:
        starts.append(starts[-1] + seconds)
    first = starts[0]
    answers: list[list] = [[] for _ in range(count)]
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.sleep(max(0.0, first - time.time()))
        users = [_user(session, spec, starts, answers, k) for k in range(spec["users"])]
        await asyncio.gather(*users)
    return [
        {"path": spec["paths"][i], "start": starts[i], "end": starts[i + 1], "answers": answers[i]}
        for i in range(count)
    ]


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    if spec.get("cpus"):
        os.sched_setaffinity(0, spec["cpus"])
    windows = asyncio.run(run(spec))
    tmp = Path(argv[1]).with_suffix(".tmp")
    tmp.write_text(json.dumps({"windows": windows}))
    tmp.replace(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
