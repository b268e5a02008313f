"""The names of the files in a multi-process metrics directory, spelled once.

prometheus_client names each process's file ``<type>_<pid>.db`` (gauges: ``gauge_<mode>_<pid>.db``,
see its ``values.py``); the compaction adds its archives, claimed and set-aside files, journal
and lock. Whatever deletes, claims or trusts a file there matches its whole name against these:
a name that merely contains ``.db`` (``app.db``, ``notes.dbx``) is never ours. A pid is ASCII
digits only (``_PID``): a regular expression's digit class also takes other scripts' digits,
and ``int`` reads ``counter_١٢.db`` as pid 12, a file no process of ours wrote.

Imports nothing beyond the standard library, so the launcher can use it before Django loads.
"""

import re

# Types whose values the collector sums across processes (a dead process's values stay).
SUMMED_TYPES = ("counter", "histogram", "summary")
# prometheus_client's ``Gauge._MULTIPROC_MODES``.
GAUGE_MODES = (
    "all",
    "liveall",
    "min",
    "livemin",
    "max",
    "livemax",
    "sum",
    "livesum",
    "mostrecent",
    "livemostrecent",
)

_SUMMED = "|".join(SUMMED_TYPES)
_GAUGE = "gauge_(?:{})".format("|".join(GAUGE_MODES))
_LIVE_GAUGE = "gauge_(?:{})".format("|".join(m for m in GAUGE_MODES if m.startswith("live")))
_PID = "[0-9]+"

# A live or dead process's own file.
WORKER_FILE = re.compile(rf"(?P<type>{_SUMMED}|{_GAUGE})_(?P<pid>{_PID})\.db")
# The files compaction merges once their process is dead.
SUMMED_FILE = re.compile(rf"(?P<type>{_SUMMED})_(?P<pid>{_PID})\.db")
# Live gauges (in-flight requests, loop lag): they go with their process.
LIVE_GAUGE_FILE = re.compile(rf"{_LIVE_GAUGE}_(?P<pid>{_PID})\.db")

# The compaction's own names.
LOCK_NAME = ".compaction.lock"
JOURNAL_NAME = ".compaction.journal"
TMP_SUFFIX = ".tmp"
CLAIM_MARK = ".merging-"
QUARANTINE_MARK = ".quarantined-"
REJECTED_MARK = ".rejected-"
# Archive of merged dead processes (``carry`` layers hold the rounding the first one could not).
ARCHIVE_FILE = re.compile(rf"(?P<type>{_SUMMED})_archive(?:\.carry-(?P<layer>[0-9]+))?\.db")
CLAIMED_FILE = re.compile(rf"(?:{_SUMMED})_{_PID}\.db{re.escape(CLAIM_MARK)}[0-9a-f]{{8}}")
QUARANTINED_FILE = re.compile(
    rf"(?:{_SUMMED}|{_GAUGE})_(?:{_PID}|archive(?:\.carry-[0-9]+)?)\.db"
    rf"(?:{re.escape(CLAIM_MARK)}[0-9a-f]{{8}})?"
    rf"{re.escape(QUARANTINE_MARK)}[0-9a-f]{{8}}"
)
STAGED_ARCHIVE_FILE = re.compile(ARCHIVE_FILE.pattern + re.escape(TMP_SUFFIX))
REJECTED_JOURNAL_FILE = re.compile(re.escape(JOURNAL_NAME + REJECTED_MARK) + "[0-9a-f]{8}")

# The running server's lock: held for its lifetime, never deleted.
OWNER_LOCK_NAME = ".server.lock"


def archive_name(metric_type: str, layer: int = 0) -> str:
    return f"{metric_type}_archive.db" if layer == 0 else f"{metric_type}_archive.carry-{layer}.db"


def metric_type(name: str) -> str:
    """The type a summed file's name starts with (``counter_archive.db`` -> ``counter``)."""
    return name.partition("_")[0]


def is_collected(name: str) -> bool:
    """Whether a scrape reads ``name``: a process's own file or an archive, nothing else."""
    return bool(WORKER_FILE.fullmatch(name) or ARCHIVE_FILE.fullmatch(name))


def is_removable(name: str) -> bool:
    """Whether a fresh server may delete ``name``: only files that prometheus_client or the
    compaction wrote (the lock files stay: someone may hold them)."""
    return name in (JOURNAL_NAME, JOURNAL_NAME + TMP_SUFFIX) or any(
        pattern.fullmatch(name)
        for pattern in (
            WORKER_FILE,
            ARCHIVE_FILE,
            CLAIMED_FILE,
            QUARANTINED_FILE,
            STAGED_ARCHIVE_FILE,
            REJECTED_JOURNAL_FILE,
        )
    )
