"""Settings for servers that never become ready (test_harness.py), chosen by the server kind.

The sweep passes its environment on to the servers it starts, so a test runs it with
``DJANGO_SETTINGS_MODULE`` naming this module: no test hook in the app. Only a server's own
processes misbehave (they have ``PROMETHEUS_MULTIPROC_DIR``; the launcher's system check runs
without it and passes):

- a gunicorn gthread worker hangs while it imports the app: the master has bound the port, so
  connections are accepted, and nothing ever answers them;
- a gunicorn worker with uvicorn workers fails while it imports the app: gunicorn stops with
  "Worker failed to boot" before it is ready;
- anything else (uvicorn) gets the real settings and serves.
"""

import os
import sys
import time

from django.core.exceptions import ImproperlyConfigured

from mysite.settings import *  # noqa: F403

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    if "gthread" in sys.argv:
        while True:
            time.sleep(3600)
    if any(arg.endswith(".UvicornWorker") for arg in sys.argv):
        raise ImproperlyConfigured("never_ready_settings: this worker refuses to start")
