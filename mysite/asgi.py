"""ASGI entry point: ``mysite.asgi:application`` (uvicorn, gunicorn with uvicorn workers)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

from mysite.http_limits import limit_request_size
from mysite.lifespan import with_lifespan

application = with_lifespan(limit_request_size(get_asgi_application()))
