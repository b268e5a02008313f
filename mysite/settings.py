"""Django settings for the lab.

Every environment variable the project reads is read here, once, with an explicit default
(see the environment table in docs/REFERENCE.md). Apps read the resulting settings lazily through
their own ``conf`` modules, so ``override_settings`` works in tests.
"""

import os

from django.core.exceptions import ImproperlyConfigured


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false).")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off "
            "(the launchers generate one for local runs)."
        )
    SECRET_KEY = "django-insecure-debug-only-key-never-used-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "mysite",
    "mysite.metrics",
    "mysite.demo",
    "mysite.db",
    "django_async_backend",
]

# Order matters for what is measured. The metrics middleware is outermost so its clock covers
# everything Django does for a request. Every middleware here is async-native: under ASGI a
# MiddlewareMixin (Django's own SecurityMiddleware among them) costs two thread hops a request,
# which async views would pay too. Nothing is listed that these cookie-less, GET-only JSON
# views do not need.
MIDDLEWARE = [
    # Inside the metrics clock, before anything else: a bad Host or a request body is refused
    # (and counted) before any view or /metrics runs.
    "mysite.boundary.BoundaryMiddleware",
    "mysite.security.SecurityMiddleware",
]
if env_bool("METRICS_ENABLED", True):
    MIDDLEWARE.insert(0, "mysite.metrics.middleware.MetricsMiddleware")

ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"
ASGI_APPLICATION = "mysite.asgi.application"

# The views keep no sessions, templates or static files.
TEMPLATES = []
USE_TZ = True
USE_I18N = False
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Refuse oversized input before any view sees it (query strings are bounded by the server too).
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

# Security headers for a JSON API. HTTPS-only settings follow the deployment, which terminates
# TLS in front of the app; on loopback the lab speaks plain HTTP.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = False
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_TLS_PROXY", False) else None
)
SILENCED_SYSTEM_CHECKS = [
    # Django's SecurityMiddleware is listed as its async-native subclass, whose own deploy check
    # (mysite/security.py) runs Django's checks of the same settings.
    "security.W001",
    # No HTML is served, so there is nothing to frame (clickjacking) ...
    "security.W002",
    # ... and no cookies and no unsafe methods, so nothing for CSRF to protect.
    "security.W003",
    # HSTS preloading commits a whole domain, subdomains included, for months: a decision for
    # the domain's owner, who submits it, not a default the app can make (SECURE_HSTS_PRELOAD).
    "security.W021",
]

# The upstream that the aggregation views call.
UPSTREAM_URL = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8000/sync/api/")
UPSTREAM_TIMEOUT = os.environ.get("UPSTREAM_TIMEOUT", "5")
UPSTREAM_TRANSPORT = os.environ.get("UPSTREAM_TRANSPORT", "httpx")
# Seconds: one deadline for the whole of a fan-out request, all its calls included (the
# sequential baseline's too). Empty: 3 x UPSTREAM_TIMEOUT (mysite.demo.conf.fanout_deadline),
# so the baseline's default 10 calls of 1 s fit. It bounds the longest request (mysite.bounds).
FANOUT_DEADLINE = os.environ.get("FANOUT_DEADLINE", "")
# Connections per worker and client, and threads of the sync fan-out pool: the largest fan-out,
# so one request's calls never queue behind each other.
UPSTREAM_POOL_SIZE = os.environ.get("UPSTREAM_POOL_SIZE", "100")

# The database views' PostgreSQL (see mysite/db/databases.py): the lab's own throwaway cluster
# (python -m mysite.db.cluster), or DATABASE_URL. DB_POOL_SIZE connections per worker and path;
# DB_TIMEOUT seconds bound the wait for one of them and each statement. Workers (uvicorn's and
# gunicorn's WEB_CONCURRENCY, which the launcher sets) tell the system check how many pools
# PostgreSQL's max_connections must cover.
from mysite.db import cluster as _cluster  # noqa: E402
from mysite.db import databases as _databases  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL") or _cluster.lab_cluster().url()
DB_POOL_SIZE = _databases.parse_pool_size(
    os.environ.get("DB_POOL_SIZE", str(_databases.DEFAULT_POOL_SIZE))
)
DB_TIMEOUT = _databases.parse_timeout(os.environ.get("DB_TIMEOUT", str(_databases.DEFAULT_TIMEOUT)))
DB_WORKERS = os.environ.get("WEB_CONCURRENCY", "1")
DATABASES = _databases.databases(
    _databases.DatabaseSettings(DATABASE_URL, DB_POOL_SIZE, DB_TIMEOUT)
)
# django-async-backend: its request signals would run an async receiver through async_to_sync
# on every WSGI request of every view; the native view returns its connection itself. The sync
# side of the native alias, which the pool warning is about, is never used (WSGI gets a 501).
ASYNC_BACKEND_DISABLE_REQUEST_SIGNALS = True
ASYNC_BACKEND_DISABLE_POOL_WARNING = True

# Metrics (see mysite/metrics/conf.py for what each means).
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
METRICS_ALLOWED_CIDRS = env_list("METRICS_ALLOWED_CIDRS")
METRICS_BEARER_TOKEN = os.environ.get("METRICS_BEARER_TOKEN", "")

# --- What comes in from outside (hosts, proxies, bodies) and back from the upstream ------------
# The upstream's largest accepted body. The expected body is a JSON object under 200 bytes;
# 64 KiB leaves room for a richer upstream yet bounds a fan-out of 100 calls to 6.4 MB of
# bodies per request (an unbounded one took a worker past 1 GB). Same figure as the
# request-side DATA_UPLOAD_MAX_MEMORY_SIZE above.
UPSTREAM_MAX_BODY_BYTES = os.environ.get(
    "UPSTREAM_MAX_BODY_BYTES", str(DATA_UPLOAD_MAX_MEMORY_SIZE)
)
# Proxies whose forwarding headers (Forwarded, X-Forwarded-For, X-Real-IP) the app believes,
# as comma-separated networks. Empty: any forwarded request to /metrics is refused.
METRICS_TRUSTED_PROXIES = env_list("METRICS_TRUSTED_PROXIES")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "mysite": {"level": os.environ.get("MYSITE_LOG_LEVEL", "INFO"), "propagate": True},
    },
}
# Histogram boundaries in seconds, comma-separated; empty keeps the app's defaults.
METRICS_BUCKETS = env_list("METRICS_BUCKETS")
