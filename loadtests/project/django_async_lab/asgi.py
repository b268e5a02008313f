"""The project's ASGI application, with the lab's lifespan (the metrics app's per-worker hooks)."""

from importlib import import_module

from .lifespan import with_lifespan
from .probe import application_path

module, _, attribute = application_path("ASGI_APPLICATION", "asgi").partition(":")
application = with_lifespan(getattr(import_module(module), attribute))
