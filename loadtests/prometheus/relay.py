"""Fixed scrape addresses for the sweep's targets, which move to new ports with every cell.

Prometheus picks up a changed target only after up to ~10 s, longer than a cell's warm-up, so
it scrapes three fixed paths of this relay instead, which reads the current cell's app, upstream
and Locust exporter every second and serves its latest copy, every sample given the cell's own
``job`` and the moment it was read (Prometheus keeps both: ``honor_labels``, timestamps).
"""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mysite.launcher import LOOPBACK

# The relay reads each target every second, one read at a time, each allowed this long: an
# event loop stalled by blocking calls answers /metrics only after the requests queued before.
READ_TIMEOUT = 15.0
MIN_GAP = 0.2  # between the end of a slow read and the next
REMEMBERED_READS = 200
_SAMPLE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_HAS_JOB = re.compile(r',\s*job\s*=\s*"')


def _split_sample(line: str) -> tuple[str, str | None, str] | None:
    """A sample line's metric name, the text inside its braces (None: no braces), the rest."""
    name = _SAMPLE.match(line)
    if name is None:
        return None
    at = name.end()
    if not line.startswith("{", at):
        return name.group(), None, line[at:]
    index, quoted = at + 1, False
    while index < len(line):
        char = line[index]
        if quoted and char == "\\":
            index += 1
        elif char == '"':
            quoted = not quoted
        elif char == "}" and not quoted:
            return name.group(), line[at + 1 : index], line[index + 1 :]
        index += 1
    return None


def with_job(exposition: str, job: str, timestamp_ms: int | None = None) -> str:
    """The text exposition with ``job="..."`` on every sample that has none.

    Line by line, leaving HELP and TYPE as they are: a round trip through
    ``prometheus_client.parser`` would split a counter family from its ``_total`` samples
    (the text format's parser types them apart), which Prometheus refuses as a second TYPE.

    With ``timestamp_ms``, samples without a timestamp get that one: the moment the target was
    read, which Prometheus keeps (``honor_timestamps``, its default).
    """
    escaped = job.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    out = []
    for line in exposition.splitlines():
        parts = None if line.startswith("#") else _split_sample(line)
        if parts is None:
            out.append(line)
            continue
        name, labels, rest = parts
        if labels is None or not labels.strip():
            labels = f'job="{escaped}"'
        elif not _HAS_JOB.search("," + labels):
            labels = f'job="{escaped}",{labels}'
        if timestamp_ms is not None and len(rest.split()) == 1:
            rest = f"{rest.rstrip()} {timestamp_ms}"
        out.append(f"{name}{{{labels}}}{rest}")
    return "\n".join(out) + "\n"


class ScrapeRelay:
    """Fixed scrape addresses for targets that move, read at their own pace.

    ``point(job, url, label)``: from now on a poller reads ``url``'s ``/metrics`` every
    ``interval`` (one read at a time, each allowed ``timeout``) and keeps the latest answer,
    every sample labelled ``job=label`` and stamped with the moment it was read. Prometheus
    scrapes ``/<job>/metrics`` and gets that copy at once, so a target that answers slowly
    (an event loop stalled by blocking calls queues its ``/metrics`` too) is still recorded, at
    the times it answered, instead of failing Prometheus's one-second scrape timeout. Without
    a backend, or when the last read failed, a scrape gets a 503 (the target is down).
    """

    def __init__(
        self, jobs: tuple[str, ...], host: str = LOOPBACK, interval: float = 1.0,
        timeout: float = READ_TIMEOUT,
    ) -> None:  # fmt: skip
        self.interval, self.timeout = interval, timeout
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._backends: dict[str, tuple[str, str, int]] = {}  # job -> url, label, generation
        self._latest: dict[str, bytes] = {}
        self._reads: dict[str, list[tuple[float, float]]] = {job: [] for job in jobs}
        self._generation = 0
        self.reads = self.failures = 0
        self.busy_s = 0.0
        # No proxy: the backends are on loopback, whatever the environment says.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                relay._serve(self)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.address = f"{host}:{self._server.server_address[1]}"
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="relay", daemon=True),
            *(
                threading.Thread(target=self._poll, args=(job,), name=f"relay-{job}", daemon=True)
                for job in jobs
            ),
        ]
        for thread in self._threads:
            thread.start()

    def point(self, job: str, url: str, label: str) -> None:
        with self._lock:
            current = self._backends.get(job)
            if current is None or current[:2] != (url.rstrip("/"), label):
                self._generation += 1
                self._backends[job] = (url.rstrip("/"), label, self._generation)
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
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads[1:]:
            thread.join(timeout=1.0)  # a read under way ends on its own; it is discarded

    def _poll(self, job: str) -> None:
        while not self._closed.is_set():
            started = time.time()
            with self._lock:
                backend = self._backends.get(job)
            if backend is not None:
                self._read(job, *backend, started)
            with self._lock:
                reads = self._reads[job]
                reads.append((started, time.time()))
                del reads[:-REMEMBERED_READS]
            self._closed.wait(max(MIN_GAP, self.interval - (time.time() - started)))

    def _read(self, job: str, url: str, label: str, generation: int, started: float) -> None:
        request = urllib.request.Request(
            url + "/metrics", headers={"Accept": "text/plain;version=0.0.4"}
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                text = response.read().decode()
            read_at = time.time()
            body = with_job(text, label, round(read_at * 1000)).encode()
        except (OSError, ValueError, urllib.error.URLError):
            body = None
        with self._lock:
            self.reads += 1
            self.failures += body is None
            self.busy_s += time.time() - started
            if self._backends.get(job, (None, None, None))[2] != generation:
                return  # pointed elsewhere meanwhile: this read is the previous target's
            if body is None:
                self._latest.pop(job, None)
            else:
                self._latest[job] = body

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        job = request.path.split("?")[0].strip("/").removesuffix("/metrics")
        with self._lock:
            body = self._latest.get(job)
        status = 200 if body is not None else 503
        data = body if body is not None else f"nothing read from {job!r} now\n".encode()
        request.send_response(status)
        request.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
