"""README's database comparison block: generated from the stored run it quotes, or saying that
the run predates the comparison (never figures typed by hand)."""

from loadtests import docs_tables
from loadtests.analysis import results as results_file


def test_the_db_comparison_block_is_generated_or_says_why_not():
    readme = docs_tables.README.read_text()
    shown = docs_tables.block(readme, docs_tables.DB_BLOCK)
    assert shown is not None, "README has no db_comparison block"
    run = docs_tables.quoted_run(readme)
    table = docs_tables.db_comparison_table(results_file.load(run / "results.json"))
    if table is None:
        assert shown.startswith("Not yet generated: the stored run")
        assert str(docs_tables.RUNS / run.name) in shown
    else:
        assert shown == f"From `{docs_tables.RUNS / run.name}`. " + table
