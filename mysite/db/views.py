"""Three views, one query: ``rows`` seeded rows, read in a statement that also waits ``delay``
seconds inside PostgreSQL, through each of the three database paths.

The wait is ``pg_sleep`` in an uncorrelated sub-select of the WHERE clause, which PostgreSQL
runs once per statement (an InitPlan), so the statement holds its connection and its server
process for ``delay`` seconds, as a slow query would.

A query that fails answers 503 with the reason (no connection within ``DB_TIMEOUT``, PostgreSQL
unreachable, connection lost), or 504 when PostgreSQL cancelled the statement at ``DB_TIMEOUT``;
never a 500.
"""

import time

import psycopg
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import Error as DjangoDatabaseError
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, JsonResponse
from django_async_backend.db import async_connections

from mysite.demo.validated import with_query

from . import instrumentation, params
from .databases import ASYNC_ORM, NATIVE, SYNC
from .models import Item

FIELDS = ("id", "name", "value")
_DATABASE_ERRORS = (DjangoDatabaseError, psycopg.Error)
_REASONS = {
    instrumentation.POOL_TIMEOUT: "no pooled database connection became free within {timeout:g} s",
    instrumentation.CONNECTION_ERROR: "PostgreSQL could not be reached within {timeout:g} s",
    instrumentation.STATEMENT_TIMEOUT: "PostgreSQL cancelled the query at {timeout:g} s",
    instrumentation.CONNECTION_LOST: "the database connection failed during the query",
    instrumentation.DATABASE_ERROR: "the database refused the query",
}


with_db_params = with_query(params.parse)


def rows_query(queryset: QuerySet, p: params.DbParams) -> QuerySet:
    """The one query of all three paths: the first ``rows`` rows, after ``delay`` in PostgreSQL."""
    slept = RawSQL("(SELECT pg_sleep(%s)) IS NOT NULL", (p.delay,), output_field=BooleanField())
    return queryset.filter(slept).order_by("id").values(*FIELDS)[: p.rows]


def _answer(rows: list[dict], p: params.DbParams, started: float) -> JsonResponse:
    elapsed = round(time.perf_counter() - started, 3)
    return JsonResponse({"rows": rows, "delay": p.delay, "elapsed": elapsed})


def _failure(error: BaseException) -> JsonResponse:
    error_type = instrumentation.classify(error)
    status = 504 if error_type == instrumentation.STATEMENT_TIMEOUT else 503
    reason = _REASONS[error_type].format(timeout=settings.DB_TIMEOUT)
    return JsonResponse({"error": reason, "error_type": error_type}, status=status)


@with_db_params
def sync_db(request: HttpRequest, p: params.DbParams) -> JsonResponse:
    """A sync view: Django's ORM on a connection from Django's psycopg pool."""
    started = time.perf_counter()
    instrumentation.sync_pool(SYNC)
    try:
        rows = list(rows_query(Item.objects.using(SYNC), p))
    except _DATABASE_ERRORS as error:
        return _failure(error)
    return _answer(rows, p, started)


@with_db_params
async def async_db(request: HttpRequest, p: params.DbParams) -> JsonResponse:
    """An async view on Django's async ORM API: Django runs the query in a thread of its own
    for the request, which the thread stays in until the query is done."""
    started = time.perf_counter()
    instrumentation.sync_pool(ASYNC_ORM)
    try:
        rows = [row async for row in rows_query(Item.objects.using(ASYNC_ORM), p)]
    except _DATABASE_ERRORS as error:
        return _failure(error)
    return _answer(rows, p, started)


@with_db_params
async def async_db_native(request: HttpRequest, p: params.DbParams) -> JsonResponse:
    """An async view on django-async-backend: an asyncio psycopg connection from an async pool,
    awaited on the worker's event loop, no thread."""
    if not isinstance(request, ASGIRequest):
        # Under WSGI each async view runs on an event loop of its own, which the async pool,
        # bound to one loop, cannot serve. Said, not faked.
        return JsonResponse(
            {"error": "/async/db_native/ needs an ASGI server (django-async-backend is ASGI only)"},
            status=501,
        )
    started = time.perf_counter()
    connection = async_connections[NATIVE]
    instrumentation.async_pool(NATIVE)
    try:
        rows = [row async for row in rows_query(Item.async_objects.using(NATIVE), p)]
    except _DATABASE_ERRORS as error:
        return _failure(error)
    finally:
        # Back to the pool now (the backend's request signals are off: see settings.py).
        await connection.close()
    return _answer(rows, p, started)
