"""The app's Prometheus instruments and the cheap calls that record into them.

In multi-process mode (``PROMETHEUS_MULTIPROC_DIR`` set before this module is imported) every
value lives in a per-process memory-mapped file, which the exposition view merges, so counts
are exact whatever the number of workers. Label children are cached: ``labels()`` takes a lock
and builds a key on every call, which the request path should not pay again and again.
"""

from prometheus_client import Gauge, Histogram

from . import conf, names

server_duration = Histogram(
    names.SERVER_DURATION,
    "Duration of HTTP server requests, from the first middleware to the response.",
    [names.ROUTE, names.METHOD, names.STATUS],
    buckets=conf.buckets(),
)
server_active = Gauge(
    names.SERVER_ACTIVE,
    "HTTP server requests in flight.",
    [names.METHOD],
    multiprocess_mode="livesum",
)
client_duration = Histogram(
    names.CLIENT_DURATION,
    "Duration of the upstream calls the fan-out views make.",
    [names.SERVER_ADDRESS, names.METHOD, names.STATUS, names.ERROR_TYPE],
    buckets=conf.buckets(),
)
loop_lag = Histogram(
    names.LOOP_LAG,
    "How late a worker's event loop ran a timer it had asked for.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
loop_lag_max = Gauge(
    names.LOOP_LAG_MAX,
    "The worst event-loop lag of the last second, per worker process.",
    multiprocess_mode="liveall",
)
db_operation_duration = Histogram(
    names.DB_OPERATION_DURATION,
    "Duration of the database views' statements, or of a query that failed before it ran.",
    [names.DB_SYSTEM, names.DB_OPERATION, names.DB_POOL, names.ERROR_TYPE],
    buckets=conf.buckets(),
)
db_connection_count = Gauge(
    names.DB_CONNECTION_COUNT,
    "Connections of each database pool, idle in the pool or used by a query.",
    [names.DB_CONNECTION_STATE, names.DB_POOL],
    multiprocess_mode="livesum",
)
db_connection_wait = Histogram(
    names.DB_CONNECTION_WAIT,
    "Time a query waited for a connection from its pool (given one or not).",
    [names.DB_POOL],
    buckets=conf.buckets(),
)

_server_children: dict[tuple[str, str, int], Histogram] = {}
_active_children: dict[str, Gauge] = {}
_client_children: dict[tuple[str, str, str, str], Histogram] = {}


def method_label(method: str | None) -> str:
    return method if method in names.STANDARD_METHODS else names.OTHER_METHOD


def active_requests(method: str) -> Gauge:
    child = _active_children.get(method)
    if child is None:
        child = _active_children[method] = server_active.labels(method)
    return child


def observe_server_request(route: str, method: str, status: int, seconds: float) -> None:
    key = (route, method, status)
    child = _server_children.get(key)
    if child is None:
        child = _server_children[key] = server_duration.labels(route, method, str(status))
    child.observe(seconds)


def observe_client_request(
    server_address: str, method: str, status: str, error_type: str, seconds: float
) -> None:
    key = (server_address, method, status, error_type)
    child = _client_children.get(key)
    if child is None:
        child = _client_children[key] = client_duration.labels(*key)
    child.observe(seconds)


_db_operation_children: dict[tuple[str, str, str, str], Histogram] = {}


def observe_db_operation(
    system: str, operation: str, pool: str, error_type: str, seconds: float
) -> None:
    key = (system, operation, pool, error_type)
    child = _db_operation_children.get(key)
    if child is None:
        child = _db_operation_children[key] = db_operation_duration.labels(*key)
    child.observe(seconds)
