"""The documents name only files the repository has, and their generated blocks are current."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from loadtests import docs_tables
from loadtests.analysis import results as results_file
from mysite.db import cluster

ROOT = Path(__file__).resolve().parents[1]
# Made by running the lab, never committed: a document may name what they will hold.
GENERATED = ("reports/", "var/", ".venv/", ".pytest_cache/")
# Files a run writes (a run's report, the metrics directory's lock), named by their own names.
RUN_FILES = {"results.json", "summary.md", "report.html", ".compaction.lock"}
# What the lab's PostgreSQL makes under its root (var/postgres/), named relative to that root, and
# PostgreSQL's own configuration files in its data directory.
_CLUSTER = cluster.Cluster(Path())
CLUSTER_FILES = {
    f"{_CLUSTER.data}/",
    f"{_CLUSTER.socket_dir}/",
    str(_CLUSTER.data / cluster.CONFIG_NAME),
    "pg_hba.conf",
    "postgresql.conf",
}
MEDIA_TYPES = ("application/", "text/", "image/")
# Issue 20: the quick start, the latest answers, the commands and links; the rest lives in docs/.
README_MAX_LINES = 250
EXTENSIONS = (".py", ".md", ".yml", ".yaml", ".json", ".toml", ".conf", ".html", ".lock", ".cfg")


def tracked() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if (ROOT / line).exists()]


def documents() -> list[str]:
    return [path for path in tracked() if path.endswith(".md")]


def named_files(text: str) -> set[str]:
    """What a document names as a file: code spans and link targets that look like paths."""
    candidates = re.findall(r"`([^`\s]+)`", text) + re.findall(r"\]\(([^)\s]+)\)", text)
    found = set()
    for token in candidates:
        token = token.split("#")[0].split("::")[0].rstrip(".,:;)")
        if "://" in token or token.startswith(("/", "~", "$", "-")) or "=" in token:
            continue
        if token.endswith(EXTENSIONS) or ("/" in token and re.search(r"[A-Za-z]", token)):
            found.add(token)
    return found


def exists(name: str, document: str, files: list[str]) -> bool:
    if name.startswith(GENERATED) or name in RUN_FILES | CLUSTER_FILES:
        return True
    if name.startswith(MEDIA_TYPES):
        return True
    here = os.path.dirname(document)
    if re.search(r"[<*{\[]", name):  # a pattern: some file must match it
        parts = re.split(r"(<[^>]*>|\{[^}]*\}|\*|\[[^\]]*\])", name.rstrip("/"))
        pattern = "".join("[^/]*" if i % 2 else re.escape(part) for i, part in enumerate(parts))
        prefixes = ("", re.escape(here + "/") if here else "")
        return any(re.fullmatch(p + pattern + "(/.*)?", f) for p in prefixes for f in files)
    for base in (name, os.path.normpath(os.path.join(here, name))):
        base = base.rstrip("/")
        if any(f == base or f.startswith(base + "/") for f in files):
            return True
    if "/" not in name:  # a bare file name: some file of the repository has it
        return any(os.path.basename(f) == name for f in files)
    return False


@pytest.mark.parametrize("document", documents())
def test_a_document_names_only_files_the_repository_has(document):
    files = tracked()
    text = (ROOT / document).read_text()
    missing = sorted(name for name in named_files(text) if not exists(name, document, files))
    assert missing == [], f"{document} names files the repository does not have"


def test_the_check_catches_a_missing_file():
    files = tracked()
    text = "See `CONTRACT.md`, `loadtests/sweep.py` and `mysite/metrics/names.py`."
    missing = {n for n in named_files(text) if not exists(n, "README.md", files)}
    assert missing == {"CONTRACT.md", "loadtests/sweep.py"}


def test_every_generated_block_is_in_the_document_it_belongs_to():
    for name, document in docs_tables.DOCUMENTS.items():
        assert docs_tables.block(document.read_text(), name) is not None, (name, document)
    others = [path for path in documents() if ROOT / path not in docs_tables.DOCUMENTS.values()]
    strays = {
        (path, name)
        for path in others
        for name in docs_tables.DOCUMENTS
        if f"<!-- generated: {name} -->" in (ROOT / path).read_text()
    }
    assert strays == set(), "a generated block outside its document is never rewritten"


def test_the_profiles_table_is_generated_from_the_profiles():
    assert docs_tables.shown(docs_tables.PROFILES_BLOCK) == docs_tables.profiles_table()


def test_the_readmes_results_table_is_generated_from_the_run_it_names():
    shown = docs_tables.shown(docs_tables.RESULTS_BLOCK)
    run = docs_tables.quoted_run(docs_tables.RESULTS_BLOCK)
    assert run is not None, "the results block names no stored run"
    table = docs_tables.results_table(results_file.load(run / "results.json"))
    assert shown == f"From `{docs_tables.RUNS / run.name}`. " + table


@pytest.mark.parametrize(
    ("name", "table"),
    [
        (docs_tables.MAP_BLOCK, docs_tables.capacity_map_table),
        (docs_tables.STACKS_BLOCK, docs_tables.stack_cost_table),
        (docs_tables.FANOUT_STACKS_BLOCK, docs_tables.stack_cost_table),
    ],
)
def test_a_stored_capacity_runs_block_is_generated_from_the_run_it_names(name, table):
    runs = docs_tables.quoted_runs(name)
    assert runs, f"the {name} block names no stored run"
    content = table(*(results_file.load(run / "results.json") for run in runs))
    assert docs_tables.shown(name) == docs_tables._quoting(runs, content)


def test_the_readme_stays_a_five_minute_read():
    lines = docs_tables.README.read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines"


def test_the_metrics_table_is_generated_from_the_instruments():
    from dashboards.metrics_doc import metrics_table

    assert docs_tables.shown(docs_tables.METRICS_BLOCK) == metrics_table()
