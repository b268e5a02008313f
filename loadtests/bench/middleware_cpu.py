"""The CPU the metrics middleware adds to one request, measured in-process.

No server, no network: the middleware wraps a handler that returns a ready response, in its sync
and its async path, in multi-process mode as under the servers, and the bare handler is timed
the same way. A microbenchmark's minimum over repeats hardly moves with other load on the
machine, so it bounds the cost that the throughput comparison of ``loadtests.bench.overhead``
can only estimate within its noise.

    python -m loadtests.bench.middleware_cpu    # prints {"sync": us, "async": us} as JSON
"""

import asyncio
import json
import os
import secrets
import sys
import tempfile
import timeit

REQUESTS = 20_000
REPEATS = 7


def _best(run) -> float:
    """Microseconds per request: the fastest of several repeats, the least disturbed one (with
    the garbage collector on, which timeit turns off: the middleware's garbage is its cost)."""
    times = timeit.repeat(run, setup="import gc; gc.enable()", number=1, repeat=REPEATS)
    return min(times) / REQUESTS * 1e6


def measure() -> dict[str, float]:
    from django.http import HttpResponse
    from django.test import AsyncRequestFactory, RequestFactory
    from django.urls import resolve

    from mysite.metrics.middleware import MetricsMiddleware

    response = HttpResponse(b"{}")

    def handler(request):
        return response

    async def async_handler(request):
        return response

    def sync_loop(call, request):
        for _ in range(REQUESTS):
            call(request)

    def async_loop(call, request):
        async def requests():
            for _ in range(REQUESTS):
                await call(request)

        asyncio.run(requests())

    costs = {}
    for name, factory, bare, loop in [
        ("sync", RequestFactory(), handler, sync_loop),
        ("async", AsyncRequestFactory(), async_handler, async_loop),
    ]:
        request = factory.get("/sync/api/")
        request.resolver_match = resolve("/sync/api/")
        middleware = MetricsMiddleware(bare)
        loop(middleware, request)  # warm up: label children, metric files
        costs[name] = _best(lambda m=middleware, r=request, f=loop: f(m, r)) - _best(
            lambda b=bare, r=request, f=loop: f(b, r)
        )
    return costs


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="middleware-cpu-") as directory:
        # Before prometheus_client is imported: values then live in files, as under the servers.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
        import django

        django.setup()
        json.dump(measure(), sys.stdout)
        print()


if __name__ == "__main__":
    main()
