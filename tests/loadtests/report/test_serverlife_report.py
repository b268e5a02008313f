"""The report's server-life sections (in-flight cost, slow clients), rendered from a stored
results.json with planted ``inflight`` and ``slow_clients`` records; and an older file without
them still renders, without the sections."""

from __future__ import annotations

import json

import msgspec

from loadtests import report
from loadtests.analysis.records import InflightCost, SlowClientsRun, SlowClientsWindow
from loadtests.model.experiment import READS_REQUESTS, THREAD_PER_CONNECTION
from loadtests.report import inflight, slowclients


def _cost(
    case: str,
    path: str,
    idle: int,
    peak: int,
    in_io: int | None,
    queries: int | None,
    pool: int | None = None,
    **fields,
) -> InflightCost:
    return InflightCost(
        case=case,
        server="uvicorn",
        path=path,
        concurrency=1000,
        delay_s=1.0,
        ok=1000,
        elapsed_s=4.5,
        idle_rss_mib=100.0,
        peak_rss_mib=170.0,
        idle_threads=idle,
        peak_threads=peak,
        idle_threads_blocked=0 if in_io is not None else None,
        peak_threads_blocked=in_io,
        peak_queries_in_flight=queries,
        db_pool_size=pool,
        **fields,
    )


COSTS = [
    _cost("async view", "/async/api/", 7, 1005, 0, None),
    _cost("sync view under ASGI", "/sync/api/", 6, 1005, 0, None),
    _cost("sync ORM, sync view under ASGI", "/sync/db/", 9, 1009, 696, 854, 1000),
    _cost("async ORM, async view", "/async/db/", 9, 1009, 580, 588, 1000),
    _cost("native async backend, async view", "/async/db_native/", 5, 1005, 0, 710, 1000),
]


def _window(n: int, rps: float, p99: float | None, failures: int = 0) -> SlowClientsWindow:
    return SlowClientsWindow(
        slow_clients=n,
        requests=int(rps * 2),
        failures=failures,
        rps=rps,
        p50_ms=p99 and p99 / 2,
        p99_ms=p99,
    )


def _run(kind: str, windows: list[SlowClientsWindow]) -> SlowClientsRun:
    return SlowClientsRun(
        server=kind,
        workers=2,
        threads=8,
        path="/x",
        users=4,
        seconds=2.0,
        trickle_interval_s=0.5,
        user_timeout_s=3.0,
        windows=windows,
    )


RUNS = [
    _run("uvicorn", [_window(0, 1205, 7), _window(50, 1239, 6)]),
    _run("gunicorn-gthread", [_window(0, 1325, 8), _window(50, 0, None, failures=4)]),
    _run("granian", [_window(0, 759, 20), _window(50, 726, 21)]),
]


def _plant(stored_run, costs, runs) -> None:
    path = stored_run / "results.json"
    data = json.loads(path.read_text())
    data["inflight"] = [msgspec.to_builtins(c) for c in costs]
    data["slow_clients"] = [msgspec.to_builtins(r) for r in runs]
    path.write_text(json.dumps(data))


def test_in_flight_section_says_which_paths_hold_a_thread_per_query(stored_run):
    _plant(stored_run, COSTS, RUNS)
    summary, page = report.render(stored_run)
    text, html = summary.read_text(), page.read_text()
    assert f"## {inflight.TITLE}" in text
    assert f"<h2>{inflight.TITLE}</h2>" in html
    # The views: every in-flight request held a thread (1,000 requests, ~1,000 threads).
    assert "every in-flight request held a thread, whatever its view" in text
    assert "async view (uvicorn): threads 7 → 1005 for 1000 requests, 72 KiB each, 0 " in text
    # The database paths: from the blocked threads against the queries in PostgreSQL.
    assert (
        "async ORM, async view (/async/db/, pool 1000): at most 588 queries ran in PostgreSQL "
        "at once (the 1,000 requests did not all wait at once: they were answered over 4.5 s "
        "for a 1 s wait) and 580 of the worker's threads were blocked: a thread per in-flight "
        "query, blocked on the query's socket." in text
    )
    assert (
        "and 0 of the worker's threads were blocked: no thread waits for its query (the event "
        "loop awaits it)." in text
    )
    assert "sync ORM, sync view under ASGI and async ORM, async view wait for the query" in text
    assert "| sync ORM, sync view under ASGI | uvicorn | /sync/db/ | 1000 |" in text
    assert "| 9 → 1009 | 1.00 | 0 → 696 | 854 |" in text


def test_in_flight_sentences_follow_the_values_not_the_labels():
    # A native path whose threads did wait on sockets is not called thread-free.
    odd = _cost("native async backend, async view", "/async/db_native/", 5, 1005, 600, 610, 1000)
    said = " ".join(inflight.sentences([odd]))
    assert "a thread per in-flight query" in said
    assert "no thread waits" not in said
    # Fewer threads than requests: no claim that every request held one.
    few = _cost("async view", "/async/api/", 7, 40, 0, None)
    assert "held a thread, whatever its view" not in " ".join(inflight.sentences([few]))
    # A limited count and a failure are said, with their reasons.
    reason = "PostgreSQL's max_connections allows 292 pooled connections"
    limited = msgspec.structs.replace(
        _cost("async ORM, async view", "/async/db/", 9, 300, 280, 290, 292),
        concurrency=292,
        limited_by=reason,
    )
    failed = InflightCost(
        case="async view",
        server="uvicorn",
        path="/async/api/",
        concurrency=1000,
        delay_s=1.0,
        error="server did not start",
    )
    said = inflight.sentences([limited, failed])
    assert f"async ORM, async view (uvicorn): 292 in flight, not more: {reason}." in said
    assert "async view (uvicorn) could not be measured: server did not start" in said
    assert inflight.rows([failed])[1][0][4] == "failed: server did not start"


def test_slow_clients_section_names_who_holds_a_thread_per_connection(stored_run):
    _plant(stored_run, COSTS, RUNS)
    summary, page = report.render(stored_run)
    text, html = summary.read_text(), page.read_text()
    assert f"## {slowclients.TITLE}" in text
    assert "<h2>Slow clients: what N connections" in html
    assert (
        "gunicorn-gthread (2 workers x 8 threads): 1,325 req/s with no slow connection, 0 (0%) "
        "with 50, 4 requests failed (a user gives up after 3 s); it reads a request "
        f"{READS_REQUESTS['gunicorn-gthread']}." in text
    )
    assert "uvicorn (2 workers): 1,205 req/s with no slow connection, 1,239 (103%) with 50" in text
    assert "Who holds a thread per connection: gunicorn-gthread." in text
    assert "50 slow connections outnumber its 16 threads" in text
    assert "uvicorn, granian kept serving" in text
    assert "Deployment: put a buffering reverse proxy (nginx" in text
    assert "in front of gunicorn-gthread" in text
    assert (
        "| gunicorn-gthread | 2 workers x 8 threads | 1,325 req/s, p99 8 ms | 0 req/s, no "
        "answer, 4 failed | yes |" in text
    )
    assert "| uvicorn | 2 workers | 1,205 req/s, p99 7 ms | 1,239 req/s, p99 6 ms | no |" in text


def test_slow_clients_verdict_comes_from_the_data():
    assert "gunicorn-gthread" in THREAD_PER_CONNECTION
    # gthread that kept serving: not called held, and flagged against its design.
    kept = _run("gunicorn-gthread", [_window(0, 1300, 8), _window(50, 1200, 9)])
    said = slowclients.sentences([kept])
    assert slowclients.held(kept) is False
    assert "not what its design predicts" in said[0]
    assert not any("Deployment" in s for s in said)
    assert "No kind measured here was held" in said[-1]
    # A failed kind is said, and has no verdict.
    broken = _run("granian", [])
    broken.error = "not ready within 60 s"
    assert slowclients.held(broken) is None
    assert slowclients.sentences([broken]) == [
        "granian could not be measured: not ready within 60 s"
    ]


def test_an_older_results_json_renders_without_the_sections(stored_run):
    data = json.loads((stored_run / "results.json").read_text())
    assert "inflight" not in data
    assert "slow_clients" not in data
    summary, page = report.render(stored_run)
    assert inflight.TITLE not in summary.read_text()
    assert slowclients.TITLE not in page.read_text()
