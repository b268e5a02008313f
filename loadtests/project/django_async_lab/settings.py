"""The project's own settings (``$LAB_PROJECT_SETTINGS``), measured: the lab's metrics middleware
first, ``/metrics`` beside its URLconf, and a private copy of its SQLite databases."""

import os
from importlib import import_module
from pathlib import Path

from . import DATA_DIR, PROJECT_SETTINGS

SQLITE_ENGINE = "django.db.backends.sqlite3"

project = import_module(os.environ[PROJECT_SETTINGS])
globals().update({name: getattr(project, name) for name in dir(project) if name.isupper()})
data = Path(os.environ[DATA_DIR])

# Under DEBUG Django keeps every query of every request in memory (connection.queries) and
# renders tracebacks: a load test would measure a growing, slower process, not the project.
DEBUG = False
# The lab only ever sends requests over loopback.
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
# First, so its clock covers every other middleware of the project.
MIDDLEWARE = [f"{__package__}.metrics.middleware.MetricsMiddleware", *project.MIDDLEWARE]
INSTALLED_APPS = [*project.INSTALLED_APPS, f"{__package__}.metrics"]
# The histogram boundaries the sweep picks for a cell's service time, as the lab's own settings
# read them (none: the metrics' defaults).
METRICS_BUCKETS = [b for b in os.environ.get("METRICS_BUCKETS", "").split(",") if b]
PROJECT_URLCONF = project.ROOT_URLCONF
ROOT_URLCONF = f"{__package__}.urls"
# Collected here, as a deployment does: with DEBUG off, a manifest storage (WhiteNoise's,
# Django's) answers 500 for any page that names a static file it has not collected.
STATIC_ROOT = str(data / "static")
# A copy of each SQLite database (made afresh by ``probe``), unless the project names a database
# of its own that is not SQLite: then it runs on its own, as configured.
databases = getattr(project, "DATABASES", {})
COPIES = (
    {alias: str(data / f"db-{alias}.sqlite3") for alias in databases}
    if all(db["ENGINE"] == SQLITE_ENGINE for db in databases.values())
    else {}
)
DATABASES = {alias: dict(db) for alias, db in databases.items()}
for alias, name in COPIES.items():
    DATABASES[alias]["NAME"] = name
