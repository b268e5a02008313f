"""Fixed scrape addresses for the sweep's targets, which move to new ports with every cell.

Prometheus picks up a changed target only after up to ~10 s, longer than a cell's warm-up, so
it scrapes three fixed paths of this relay instead. A scrape makes the relay read the current
cell's app, upstream or Locust exporter at once and answer with that copy, every sample given
the cell's own ``job`` (Prometheus keeps it: ``honor_labels``) and no timestamp: Prometheus
stamps it with the scrape's own time, and so marks a series stale (ends its line) when a
scrape no longer has it, because the relay points at the next cell or the target is gone.
Prometheus applies no staleness to samples that carry a timestamp: they would hold their last
value for five minutes, through other cells' runs.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from mysite.launcher import LOOPBACK

# A scrape waits this share of the scrape interval (Prometheus's scrape timeout) for the read
# it asked for; a target slower than that (an event loop stalled by blocking calls answers
# /metrics only after the requests queued before it) is read on in the background, one read at
# a time, each allowed READ_TIMEOUT, and meanwhile a scrape gets the latest copy there is (its
# gauges only, once it has been served whole).
ANSWER_WITHIN = 0.6
READ_TIMEOUT = 15.0
REMEMBERED_READS = 200
# Families whose value holds between two reads. A counter's or histogram's copy served twice
# would put its increase at the second scrape (a rate of 0, then a spike); left out of a copy
# already served, its rate has no point there, as with any missing scrape.
HOLDING_TYPES = ("gauge", "untyped")
# A sample line: its metric name, the text inside its braces (quoted values may hold a brace),
# and the rest (value and timestamp).
_SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\})?(.*)')
_HAS_JOB = re.compile(r',\s*job\s*=\s*"')


def with_job(exposition: str, job: str) -> str:
    """The text exposition with ``job="..."`` on every sample that has none.

    Line by line, leaving HELP and TYPE as they are: a round trip through
    ``prometheus_client.parser`` would split a counter family from its ``_total`` samples
    (the text format's parser types them apart), which Prometheus refuses as a second TYPE.
    No timestamp is added: Prometheus's own, and its staleness markers, are wanted.
    """
    escaped = job.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    out = []
    for line in exposition.splitlines():
        sample = None if line.startswith("#") else _SAMPLE.fullmatch(line)
        if sample is None:
            out.append(line)
            continue
        name, labels, rest = sample.groups()
        if not (labels or "").strip():
            labels = f'job="{escaped}"'
        elif not _HAS_JOB.search("," + labels):
            labels = f'job="{escaped}",{labels}'
        out.append(f"{name}{{{labels}}}{rest}")
    return "\n".join(out) + "\n"


def holding_only(exposition: str) -> str:
    """The exposition with only the samples of gauge and untyped families (and every comment).

    A family's samples follow its ``# TYPE`` line (the text format keeps a family together).
    """
    out, kind = [], "untyped"
    for line in exposition.splitlines():
        if line.startswith("# HELP "):
            kind = "untyped"  # a new family, its TYPE line next if it has one
        elif line.startswith("# TYPE "):
            kind = line.split()[-1]
        if line.startswith("#") or kind in HOLDING_TYPES:
            out.append(line)
    return "\n".join(out) + "\n"


class ScrapeRelay:
    """Fixed scrape addresses for targets that move, read when Prometheus scrapes.

    ``point(job, url, label)``: from now on a scrape of ``/<job>/metrics`` has ``url``'s
    ``/metrics`` read (one read at a time, each allowed ``timeout``), and gets that copy, every
    sample labelled ``job=label``, as soon as it is in (at most ``ANSWER_WITHIN`` of
    ``interval`` later). A target that answers slower (an event loop stalled by blocking calls
    queues its ``/metrics`` too) is read on in the background, and a scrape meanwhile gets the
    latest copy read (its gauges only once it has been served whole: ``HOLDING_TYPES``), so
    Prometheus still records it instead of failing its one-second scrape
    timeout. Without a backend, or when the last read failed, a scrape gets a 503 (the target
    is down: Prometheus ends its series there).
    """

    def __init__(
        self,
        jobs: tuple[str, ...],
        host: str = LOOPBACK,
        interval: float = 1.0,
        timeout: float = READ_TIMEOUT,
    ) -> None:
        self.interval, self.timeout = interval, timeout
        self._lock = threading.Lock()
        self._backends: dict[str, tuple[str, str]] = {}  # job -> url, label
        # job -> (read number, the copy, its gauges only); and the number last served whole
        self._latest: dict[str, tuple[int, bytes, bytes]] = {}
        self._served: dict[str, int] = {}
        self._reads = {job: collections.deque(maxlen=REMEMBERED_READS) for job in jobs}
        self._readers = {job: ThreadPoolExecutor(1, f"relay-{job}") for job in jobs}
        self._pending: dict[str, Future] = {}  # job -> its read under way, or the last one
        self.reads = self.failures = 0
        self.busy_s = 0.0
        # No proxy: the backends are on loopback, whatever the environment says.
        self._http = httpx.Client(timeout=timeout, trust_env=False)
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                relay._serve(self)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.address = f"{host}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="relay", daemon=True).start()

    def point(self, job: str, url: str, label: str) -> None:
        with self._lock:
            if self._backends.get(job) != (url.rstrip("/"), label):
                self._backends[job] = (url.rstrip("/"), label)
                self._latest.pop(job, None)

    def clear(self, job: str) -> None:
        with self._lock:
            self._backends.pop(job, None)
            self._latest.pop(job, None)

    def read_started_after(self, job: str, moment: float) -> float | None:
        """When a read of ``job`` that began after ``moment`` ended, if one has."""
        with self._lock:
            return next((end for start, end in self._reads[job] if start > moment), None)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        for reader in self._readers.values():  # a read under way ends on its own, discarded
            reader.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    def _read(self, job: str) -> None:
        started = time.time()
        with self._lock:
            backend = self._backends.get(job)
        body = None
        if backend is not None:
            try:
                response = self._http.get(
                    backend[0] + "/metrics", headers={"Accept": "text/plain;version=0.0.4"}
                )
                body = with_job(response.raise_for_status().text, backend[1]).encode()
            except (httpx.HTTPError, ValueError):
                pass
        with self._lock:
            self._reads[job].append((started, time.time()))
            if backend is None:
                return
            self.reads += 1
            self.failures += body is None
            self.busy_s += time.time() - started
            if self._backends.get(job) != backend:
                return  # pointed elsewhere meanwhile: this read is the previous target's
            if body is None:
                self._latest.pop(job, None)
            else:
                self._latest[job] = (self.reads, body, holding_only(body.decode()).encode())

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        job = request.path.split("?")[0].strip("/").removesuffix("/metrics")
        if job in self._readers:
            with self._lock:
                pending = self._pending.get(job)
                if pending is None or pending.done():
                    pending = self._pending[job] = self._readers[job].submit(self._read, job)
            futures.wait([pending], timeout=ANSWER_WITHIN * self.interval)
        with self._lock:
            latest = self._latest.get(job)
            body = None
            if latest is not None:
                number, whole, holding = latest
                body = whole if self._served.get(job) != number else holding
                self._served[job] = number
        status = 200 if body is not None else 503
        data = body if body is not None else f"nothing read from {job!r} now\n".encode()
        request.send_response(status)
        request.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
