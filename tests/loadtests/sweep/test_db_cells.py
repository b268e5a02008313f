"""The closed-loop cells on the database paths: picked from the command line, the pool a sweep
dimension of the full profile, the model bound by the pool, the native path skipped under WSGI."""

from loadtests.scenarios import DB_SCENARIOS, NATIVE_ASGI_ONLY
from loadtests.sweep import cli
from loadtests.sweep.cell import server_env
from loadtests.sweep.plan import FULL_POOL_SIZES, PROFILES, from_args
from mysite.db.databases import DEFAULT_POOL_SIZE


def plans_of(*argv: str):
    return from_args(cli.parse_args(list(argv)))[1]


def test_a_database_scenario_and_cell_from_the_command_line():
    plans = plans_of("--scenarios", "sync-db", "--servers", "uvicorn", "--workers", "1")
    assert [p.key for p in plans] == [f"uvicorn/1/sync-db/pool{DEFAULT_POOL_SIZE}"]
    assert [p.key for p in plans_of("--scenario", "sync-db")] == [p.key for p in plans]
    [cell] = plans_of("--cell", "uvicorn:1:async-db")
    assert cell.spec is DB_SCENARIOS["async-db"]
    assert cell.db_pool == DEFAULT_POOL_SIZE


def test_the_cell_model_is_bound_by_the_pool_when_it_is_below_the_users():
    [small] = plans_of("--cell", "uvicorn:2:sync-db", "--db-pool-sizes", "4", "--users", "32")
    rps, why = small.model()
    assert rps == 2 * 4 / small.delay
    assert "pooled database connections" in why
    [large] = plans_of("--cell", "uvicorn:1:sync-db", "--db-pool-sizes", "64", "--users", "32")
    assert large.model()[0] == 32 / large.delay  # the users bind, not the pool
    env = server_env(small, None, {"DATABASE_URL": "postgresql://x"})
    assert env["DB_POOL_SIZE"] == "4"
    assert env["DATABASE_URL"] == "postgresql://x"


def test_the_full_profile_sweeps_every_path_at_each_pool_size():
    plans = plans_of("--profile", "full")
    db = [p for p in plans if p.spec.uses_database]
    assert {p.scenario for p in db} == set(DB_SCENARIOS)
    assert {p.db_pool for p in db} == set(FULL_POOL_SIZES)
    assert len(FULL_POOL_SIZES) > 1
    assert all(p.db_pool == 0 for p in plans if not p.spec.uses_database)
    assert len({p.key for p in plans}) == len(plans)
    assert PROFILES["full"].db_pools == FULL_POOL_SIZES


def test_the_native_path_under_a_wsgi_kind_is_skipped_with_its_reason():
    plans = plans_of(
        "--cell", "gunicorn-gthread:1:async-db-native", "--cell", "uvicorn:1:async-db-native"
    )
    assert [p.skipped for p in plans] == [NATIVE_ASGI_ONLY, ""]
    assert plans[0].skipped == DB_SCENARIOS["async-db-native"].asgi_only
