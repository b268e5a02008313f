"""The app under OpenTelemetry's Django instrumentation instead of the lab's middleware.

``DJANGO_SETTINGS_MODULE=loadtests.observability.settings_opentelemetry``, with the environment
of ``stacks.STACKS["opentelemetry"]`` (endpoint, sampler, conventions). The app itself never
imports OpenTelemetry: this module, on the measuring side, turns it on.
"""

from mysite.settings import *  # noqa: F403
from mysite.settings import INSTALLED_APPS, MIDDLEWARE

INSTALLED_APPS = [*INSTALLED_APPS, "loadtests.observability.sdk.OpenTelemetryConfig"]
# Ours is taken out whatever METRICS_ENABLED says, so only one library measures; the SDK's
# start (sdk.OpenTelemetryConfig.ready) puts OpenTelemetry's middleware first.
MIDDLEWARE = [name for name in MIDDLEWARE if not name.startswith("mysite.metrics.")]
