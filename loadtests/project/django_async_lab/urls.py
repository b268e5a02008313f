"""``/metrics`` beside the project's own URLconf, with the project's error views."""

from importlib import import_module

from django.conf import settings

from .metrics.urls import urlpatterns as metrics_urlpatterns

HANDLERS = ("handler400", "handler403", "handler404", "handler500")

project_urls = import_module(settings.PROJECT_URLCONF)
urlpatterns = [*metrics_urlpatterns, *project_urls.urlpatterns]
globals().update({h: getattr(project_urls, h) for h in HANDLERS if hasattr(project_urls, h)})
