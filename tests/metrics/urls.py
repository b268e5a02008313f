"""Test-only routes beside the app's own: views that raise, that report their thread and the
in-flight gauge, and one behind nested includes. The app never sees them."""

import threading

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from mysite.metrics import names

from .samples import local


class Boom(Exception):
    """What the raising views raise (the test expects it)."""


def sync_raises(request: HttpRequest):
    raise Boom("sync view failed")


async def async_raises(request: HttpRequest):
    raise Boom("async view failed")


async def async_where(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"thread": threading.get_ident()})


def sync_in_flight(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"active": local(names.SERVER_ACTIVE, **{names.METHOD: "GET"})})


def item(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse({"pk": pk})


nested = [path("inner/<int:pk>/", item)]

urlpatterns = [
    path("", include("mysite.urls")),
    path("test/sync-raises/", sync_raises),
    path("test/async-raises/", async_raises),
    path("test/async-where/", async_where),
    path("test/sync-in-flight/", sync_in_flight),
    path("test/outer/", include(nested)),
]
