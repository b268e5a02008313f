"""The typed records that cross module boundaries: a window, a cell, the run's metadata, a run.

They are ``results.json``'s shape, field for field (its keys are the field names), so the
report reads attributes, not string keys, and ``results`` validates the file against these
types on every write and read. Units are in the field names (``_s``, ``_ms``, ``_percent``,
``_mb``, ``rps``) or, where a name has none, in the type: ``UnixSeconds`` is a moment.
"""

from __future__ import annotations

from typing import Any

from msgspec import field

from loadtests.model.latency import LatencyMs
from loadtests.model.record import Record

# Units that a field name does not say.
UnixSeconds = float  # seconds since the epoch
Count = int

# 1: before "schema_version", the version was meta["schema"]. 3: confidence intervals, fresh
# runs as repeats, the steady warm-up, Little's-law check, per-worker counts (all optional, so
# a version 2 file reads as it is). 4: a capacity step's offered_rps is the realised arrival rate
# (the rate asked for is target_rps); steps, searches and entries gain optional fields.
# 5: a capacity step's latency from the send is its own record (send_latency_ms), not send_p*
# keys beside the intended start's. 6: every cell and capacity entry names its instrumentation
# stack; a cell lists Locust's own files.
SCHEMA_VERSION = 6


class ProcessUse(Record):
    """What a process tree used over a window; a cell's mean of its windows adds ``cores``."""

    cpu_percent: float | None = None  # of one core
    rss_mb: float | None = None
    threads: Count | None = None
    processes: Count | None = None
    cores: Count | None = None


class NodeCpu(Record):
    node: str | int
    cpu_percent: float


class GeneratorUse(Record):
    cpu_percent: float | None = None  # the busiest Locust process, of one core
    processes: Count = 0


class UpstreamUse(Record):
    cpu_percent: float | None = None
    calls: Count | None = None
    call_latency_ms: LatencyMs | None = None
    call_statuses: dict[str, Count] | None = None


class Window(Record):
    """One measured window of a cell: Locust's side, the server's side, the processes."""

    start: UnixSeconds
    end: UnixSeconds
    duration_s: float
    requests: Count
    failures: Count
    rps: float
    latency_ms: LatencyMs | None
    errors: list[tuple[str, Count]]
    generator_cpu: list[NodeCpu]
    server_process: ProcessUse | None = None
    upstream_process: ProcessUse | None = None
    server_latency_ms: LatencyMs | None = None
    server_requests: Count | None = None
    # How long the server kept each edge's scrape waiting (absent in runs before it was kept).
    scrape_s: list[float | None] | None = None
    run: Count | None = None  # which fresh run of the cell (1, 2, ...)
    # Requests each server worker (by pid) completed in the window, from its own metric file.
    server_requests_by_worker: dict[str, Count] | None = None
    # Seconds the sweep spent reading the metric files at each edge (no request to the server).
    read_s: list[float | None] | None = None


class Warmup(Record):
    """One fresh run's warm-up: how long until the steady rule held, or that it never did."""

    run: Count
    seconds: float
    steady: bool | None  # None: a fixed warm-up, no rule applied


class Cell(Record):
    """One measured combination: server kind x workers x scenario, its windows pooled.

    A cell that could not be measured has ``error`` and the plan's fields only.
    """

    server: str
    workers: Count
    scenario: str
    threads: Count
    users: Count
    requests: Count
    failures: Count
    rps: float | None
    latency_ms: LatencyMs | None
    server_latency_ms: LatencyMs | None
    littles_law_rps: float
    efficiency: float | None
    flags: list[str]
    error: str | None = None
    delay_s: float | None = None
    fanout: Count | None = None
    db_pool_size: Count | None = None  # DB_POOL_SIZE per worker (the database scenarios)
    service_time_s: float | None = None
    warmup_s: float | None = None
    window_s: float | None = None
    repeats: Count | None = None
    restart_per_repeat: bool | None = None
    connections: str | None = None
    workers_ready: Count | None = None
    rps_min: float | None = None
    rps_max: float | None = None
    rps_stdev: float | None = None
    rps_ci95: tuple[float, float] | None = None
    # Little's law on the cell's own data: rps x mean latency, and how far from ``users`` it
    # may stray by chance (loadtests.analysis.littles).
    concurrency_tolerance: float | None = None
    warmups: list[Warmup] | None = None
    # Requests per server worker over all windows, and max/mean of them (1.0: even).
    server_requests_by_worker: list[Count] | None = None
    worker_imbalance: float | None = None
    server_requests: Count | None = None
    server_statuses: dict[str, Count] | None = None
    model_rps: float | None = None
    model: str | None = None
    model_efficiency: float | None = None
    achieved_concurrency: float | None = None
    server_process: ProcessUse | None = None
    generator: GeneratorUse | None = None
    upstream: UpstreamUse | None = None
    errors: list[tuple[str, Count]] | None = None
    windows: list[Window] | None = None
    dir: str | None = None
    started_at: UnixSeconds | None = None
    ended_at: UnixSeconds | None = None
    # The Prometheus jobs that scraped this cell, when a Prometheus ran beside the sweep.
    extensions: dict[str, dict[str, str]] | None = None
    instrumentation: str | None = None  # the app's stack (loadtests.observability.stacks)
    # Locust's own report and statistics of each run (--html, --csv), relative to ``dir``.
    locust_files: list[str] | None = None

    @property
    def measured(self) -> bool:
        return self.rps is not None and not self.error


class Parameters(Record):
    """The profile a run used, after the command line's overrides."""

    name: str
    description: str
    matrix: list[tuple[list[str], list[int], list[str]]]
    users: Count
    delay: float  # seconds
    fanout: Count
    threads: Count
    warmup: float  # seconds
    window: float  # seconds
    repeats: Count
    restart_per_repeat: bool
    time_limit: float  # seconds
    windows_per_run: Count | None = None
    db_pools: list[Count] | None = None  # DB_POOL_SIZE of each database cell


class Machine(Record):
    cpu_model: str
    cpu_count: Count | None
    cpus_available: Count | None
    memory_gb: float | None
    platform: str
    python: str


class GitState(Record):
    commit: str | None
    dirty: bool | None


class GeneratorMode(Record):
    mode: str
    local_workers: Count
    remote_workers: Count


class RunMeta(Record):
    """What ran, where, when, and how it ended."""

    run_id: str
    profile: str
    parameters: Parameters
    connections: str
    command: str
    started_at: str  # ISO 8601
    ended_at: str | None
    status: str
    machine: Machine
    versions: dict[str, str | None]
    git: GitState
    pinning: str
    generator: GeneratorMode
    target: str
    planned_cells: Count
    skipped_cells: list[str]
    notes: list[str]
    duration_s: float | None = None
    # The Prometheus beside the sweep: its status and costs (``loadtests.prometheus.hook``).
    prometheus: dict[str, Any] | None = None


class InflightCost(Record, kw_only=True):
    """What one worker process held while ``concurrency`` requests of ``path`` waited
    ``delay_s`` at once (``loadtests.sweep.inflight``): its RSS and threads, at rest and at the
    peak. ``threads_blocked``: threads the kernel held in a blocking call (a query's socket, a
    blocking sleep), not parked on a lock or in the event loop's epoll; None without ``/proc``."""

    case: str
    server: str
    path: str
    concurrency: Count
    delay_s: float
    ok: Count = 0
    elapsed_s: float | None = None
    idle_rss_mib: float | None = None
    peak_rss_mib: float | None = None
    idle_threads: Count | None = None
    peak_threads: Count | None = None
    idle_threads_blocked: Count | None = None
    peak_threads_blocked: Count | None = None
    db_pool_size: Count | None = None  # DB_POOL_SIZE of a database path
    # The most queries PostgreSQL was running at once (waiting in pg_sleep), sampled with the
    # threads: what the blocked threads are compared with.
    peak_queries_in_flight: Count | None = None
    limited_by: str | None = None  # why ``concurrency`` is below the wanted count
    error: str | None = None

    def _per_request(self, idle: float | None, peak: float | None) -> float | None:
        return None if peak is None or idle is None else (peak - idle) / self.concurrency

    @property
    def kib_per_request(self) -> float | None:
        mib = self._per_request(self.idle_rss_mib, self.peak_rss_mib)
        return None if mib is None else mib * 1024

    @property
    def threads_per_request(self) -> float | None:
        return self._per_request(self.idle_threads, self.peak_threads)

    @property
    def blocked_per_request(self) -> float | None:
        return self._per_request(self.idle_threads_blocked, self.peak_threads_blocked)


class SlowClientsWindow(Record):
    """What the normal users got while ``slow_clients`` connections trickled their headers."""

    slow_clients: Count
    requests: Count
    failures: Count
    rps: float
    p50_ms: float | None = None
    p99_ms: float | None = None


class SlowClientsRun(Record, kw_only=True):
    """One server kind's short slow-client measurement (``loadtests.sweep.slowclients``)."""

    server: str
    workers: Count
    threads: Count
    path: str
    users: Count
    seconds: float  # each window's length
    trickle_interval_s: float
    user_timeout_s: float
    windows: list[SlowClientsWindow] = field(default_factory=list)
    error: str | None = None
