"""One headroom notion per cell: the share of the lower ceiling, with the limit that sets it."""

from loadtests.analysis.headroom import USERS, headroom
from loadtests.report import findings
from loadtests.report.tables import detail_rows, overview_rows
from loadtests.scenarios import SLOTS
from tests.loadtests.conftest import a_cell

THREADS = {
    "server": "gunicorn-gthread",
    "users": 32,
    "rps": 39.0,
    "littles_law_rps": 160.0,
    "efficiency": 0.244,
    "model_rps": 40.0,
    "model_efficiency": 0.975,
    "model": "1 worker(s) x 8 threads / 0.2 s",
    "service_time_s": 0.2,
}
USERS_BOUND = {
    "users": 32,
    "rps": 120.0,
    "littles_law_rps": 160.0,
    "efficiency": 0.75,
    "model_rps": 160.0,
    "model_efficiency": 0.75,
    "model": "32 users / 0.2 s",
    "service_time_s": 0.2,
}


def test_the_lower_ceiling_is_the_one_and_its_limit_is_named():
    slots, users = headroom(a_cell(**THREADS)), headroom(a_cell(**USERS_BOUND))
    assert (slots.ceiling_rps, slots.binds, slots.share) == (40.0, SLOTS, 0.975)
    assert (users.ceiling_rps, users.binds, users.share) == (160.0, USERS, 0.75)
    assert "1 worker(s) x 8 threads / 0.2 s" in slots.arithmetic


def test_a_run_without_a_model_falls_back_to_the_users_ceiling():
    old = headroom(a_cell(rps=30.0, littles_law_rps=40.0, efficiency=0.75, service_time_s=0.2))
    assert (old.ceiling_rps, old.binds, old.share, old.arithmetic) == (
        40.0,
        USERS,
        0.75,
        "8 users / 0.2 s",
    )
    assert headroom(a_cell(rps=None, efficiency=None, error="exited")) is None


def test_tables_and_sentences_show_one_share_not_two():
    cells = [a_cell(**THREADS), a_cell(**USERS_BOUND, workers=2)]
    header, rows = detail_rows(cells)
    assert "of ceiling" in header
    assert not {"eff.", "of model", "Little ceiling"} & set(header)
    assert [r[header.index("ceiling (binds)")] for r in rows] == ["40 (slots)", "160 (users)"]
    assert ["async-api", "gunicorn-gthread", "39 (98%, slots)", ""] in overview_rows(cells)[1]
    said = " ".join(findings.efficiency(cells))
    assert "24%" not in said, "the users' share of a slot-bound cell is not quoted"
    assert "1 of 2 cells reached 90% of their ceiling" in said
    assert "75% of its ceiling (160 req/s, set by the users: 32 users / 0.2 s)" in said
