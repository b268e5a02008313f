"""The app with django-prometheus's middleware instead of ours: the overhead benchmark's comparison.

Benchmark-only (``DJANGO_SETTINGS_MODULE=loadtests.bench.settings_django_prometheus``); the app
itself never imports django-prometheus, a dev dependency.
"""

from mysite.settings import *  # noqa: F403
from mysite.settings import INSTALLED_APPS, MIDDLEWARE

INSTALLED_APPS = [*INSTALLED_APPS, "django_prometheus"]
# Outermost and innermost, as django-prometheus documents; ours is taken out whatever
# METRICS_ENABLED says, so only one library measures.
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    *(name for name in MIDDLEWARE if not name.startswith("mysite.metrics.")),
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
