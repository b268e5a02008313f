"""Metric and label names: the one place they are spelled.

The instruments, the dashboards, the Prometheus rules and the benchmark's scraper all import
them from here. This module imports nothing, so the measuring side can use it without loading
prometheus_client's multi-process machinery or Django.
"""

# OpenTelemetry HTTP semantic conventions, as Prometheus spells them.
SERVER_DURATION = "http_server_request_duration_seconds"
SERVER_ACTIVE = "http_server_active_requests"
CLIENT_DURATION = "http_client_request_duration_seconds"

# How late each worker's event loop wakes up: a histogram of every sample across workers, and
# the worst sample of the last second per worker process (label ``pid``).
LOOP_LAG = "event_loop_lag_seconds"
LOOP_LAG_MAX = "event_loop_lag_max_seconds"

# OpenTelemetry database client conventions, for the three database paths.
DB_OPERATION_DURATION = "db_client_operation_duration_seconds"
DB_CONNECTION_COUNT = "db_client_connection_count"
DB_CONNECTION_WAIT = "db_client_connection_wait_time_seconds"

ROUTE = "http_route"
METHOD = "http_request_method"
STATUS = "http_response_status_code"
SERVER_ADDRESS = "server_address"
ERROR_TYPE = "error_type"
PID = "pid"
DB_SYSTEM = "db_system_name"
DB_OPERATION = "db_operation_name"
DB_POOL = "db_client_connection_pool_name"
DB_CONNECTION_STATE = "db_client_connection_state"
DB_STATE_IDLE = "idle"
DB_STATE_USED = "used"

# The route label of requests that matched no URL pattern: one value, whatever the path.
UNMATCHED_ROUTE = "unmatched"
# The method label of anything outside the standard methods.
OTHER_METHOD = "_OTHER"
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"}
)

# The metrics directory's own health: dead workers' files set aside as unreadable (kept under
# a ``.quarantined-`` name, never merged or deleted), and files a scrape could not read.
FILES_QUARANTINED = "metrics_files_quarantined"
FILES_UNREADABLE = "metrics_files_unreadable"
