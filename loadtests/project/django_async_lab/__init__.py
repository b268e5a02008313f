"""The lab's package in a project it measures: copied into the project's own environment as
``django_async_lab`` (a name no project uses, so a project whose package is ``mysite`` keeps it),
beside the lab's metrics app and the two modules of ``mysite`` that app imports.

Everything here runs under the PROJECT's Python, never the lab's: it imports only the standard
library, Django, the metrics app and what the project's settings name. ``settings`` is the
project's own with the lab's metrics, ``urls`` adds ``/metrics`` beside the project's URLconf,
``asgi`` wraps the project's ASGI application in the lifespan that runs the metrics app's
per-worker hooks, and ``probe`` readies the copy of the database and says what Django sees.
"""

# What the lab tells these modules, through the environment of every process it starts.
PROJECT_SETTINGS = "LAB_PROJECT_SETTINGS"  # the project's own settings module
DATA_DIR = "LAB_DATA_DIR"  # where the copies of its databases and its static files go
