"""The database comparison's contrasts and sentences, from windows made up to be alike or apart:
a paired ratio separates a constant difference that varies round to round, and calls 'not
significant' rounds whose ratios straddle 1."""

from loadtests.analysis import stats
from loadtests.analysis.db_compare import DbComparison, PairedWindow, contrasts
from loadtests.report import db_comparison
from loadtests.report.tables import markdown_table

PATHS = ["sync-db", "async-db", "async-db-native"]


def window(path: str, round_: int, p50: float, cpu: float, threads: int) -> PairedWindow:
    return PairedWindow(
        path=path,
        round=round_,
        start=0.0,
        end=1.0,
        requests=200,
        failures=0,
        rps=200.0,
        p50_ms=p50,
        p99_ms=2 * p50,
        server_cpu_ms_per_request=cpu,
        io_threads=threads,
    )


def comparison() -> DbComparison:
    drift = [1.0, 1.3, 0.8, 1.1, 0.9, 1.2]  # the machine's state, shared within a round
    wobble = [1.01, 0.99, 1.02, 0.98, 1.0, 1.01]
    windows = []
    for r, (d, w) in enumerate(zip(drift, wobble, strict=True), start=1):
        windows.append(window("sync-db", r, 110 * d, 2.0 * d, 30 + r % 2))
        windows.append(window("async-db", r, 110 * d * w, 2.6 * d, 31 - r % 2))  # CPU +30%
        windows.append(window("async-db-native", r, 110 * d / w, 1.5 * d, 0))
    return DbComparison(
        server="uvicorn",
        workers=1,
        users=32,
        delay_s=0.1,
        rows=10,
        db_pool_size=64,
        window_s=1.5,
        settle_s=0.3,
        rounds=len(drift),
        paths=PATHS,
        windows=windows,
        contrasts=contrasts(windows, PATHS),
    )


def find(c: DbComparison, a: str, b: str, metric: str):
    return next(x for x in c.contrasts if (x.a, x.b, x.metric) == (a, b, metric))


def test_pairing_separates_a_steady_difference_under_drift():
    c = comparison()
    cpu = find(c, "async-db", "sync-db", "server_cpu_ms_per_request")
    assert cpu.significant
    assert 1.29 < cpu.value < 1.31
    assert cpu.low > 1.0
    # Unpaired, the same figures' spread would swamp the 30%: the drift spans 0.8-1.3.
    p50 = find(c, "async-db", "sync-db", "p50_ms")
    assert not p50.significant
    assert p50.low < 1.0 < p50.high
    threads = find(c, "async-db-native", "async-db", "io_threads")
    assert threads.kind == "difference"
    assert threads.significant
    assert threads.high < 0


def test_sentences_say_not_significant_where_the_interval_holds_one():
    c = comparison()
    p50 = db_comparison.contrast_text(find(c, "async-db", "sync-db", "p50_ms"))
    assert p50.startswith("async-db against sync-db: p50 ")
    assert "not significant" in p50
    cpu = db_comparison.contrast_text(find(c, "async-db", "sync-db", "server_cpu_ms_per_request"))
    assert "not significant" not in cpu
    assert "1.30x" in cpu
    header, body = db_comparison.contrast_rows(c)
    row = next(r for r in body if r[0] == "async-db / sync-db")
    assert row[header.index("p50 (a / b)")].endswith(" n.s.")
    assert row[header.index("server CPU per request (a / b)")].startswith("1.30x [")
    assert not row[header.index("server CPU per request (a / b)")].endswith(" n.s.")
    headline = db_comparison.headline(c)
    assert headline.startswith("Separated: ")
    said = "Not significant (the interval holds 1, or 0): async-db against sync-db: "
    assert said + "throughput, p50, p99" in headline
    meaning = db_comparison.meaning(c)
    assert "cannot separate" not in meaning  # the CPU per request is separated here
    assert meaning.startswith("async-db-native parked fewer threads on the database socket")
    table = markdown_table(*db_comparison.rows(c))
    assert "\n| async-db-native | 6 |" in table


def test_paired_ratio_needs_two_pairs():
    assert stats.paired_ratio([1.0], [2.0]) is None
    r = stats.paired_ratio([2.0, 2.2, 1.8], [1.0, 1.1, 0.9])
    assert abs(r.value - 2.0) < 1e-9
    assert r.low == r.high or r.low < 2.0 < r.high
