"""docs/DATABASE.md's generated blocks, the paired comparison and the paths at capacity:
generated from the stored runs they quote, or saying that the run predates the comparison (never
figures typed by hand)."""

from loadtests import docs_tables
from loadtests.analysis import results as results_file


def test_the_db_comparison_block_is_generated_or_says_why_not():
    shown = docs_tables.shown(docs_tables.DB_BLOCK)
    assert shown is not None, "docs/DATABASE.md has no db_comparison block"
    run = docs_tables.quoted_run(docs_tables.DB_BLOCK)
    assert run is not None, shown[:200]
    table = docs_tables.db_comparison_table(results_file.load(run / "results.json"))
    if table is None:
        assert shown.startswith("Not yet generated: the stored run")
        assert str(docs_tables.RUNS / run.name) in shown
    else:
        assert shown == f"From `{docs_tables.RUNS / run.name}`. " + table


def test_the_db_capacity_block_is_generated_from_the_run_it_names():
    shown = docs_tables.shown(docs_tables.DB_CAPACITY_BLOCK)
    assert shown is not None, "docs/DATABASE.md has no db_capacity block"
    run = docs_tables.quoted_run(docs_tables.DB_CAPACITY_BLOCK)
    assert run is not None, shown[:200]
    assert (run / "results.json").exists(), run
    table = docs_tables.db_capacity_table(results_file.load(run / "results.json"))
    assert table is not None, f"{run} mapped no database path"
    assert shown == f"From `{docs_tables.RUNS / run.name}`. " + table


def test_a_run_without_database_paths_at_capacity_has_no_db_capacity_table():
    run = results_file.load(docs_tables.ROOT / "tests/loadtests/data/results.json")
    assert not [e for e in run.capacity if e.db_pool_size]
    assert docs_tables.db_capacity_table(run) is None
