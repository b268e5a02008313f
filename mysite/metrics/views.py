"""``/metrics``: this app's exposition, merged across every worker process of the server."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client.exposition import choose_encoder

# Relative, as every import of this package: it also serves under another top-level name.
from ..errors import require_safe
from .access import scrape_allowed
from .multiprocess import scrape_registry


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not scrape_allowed(request):
        return JsonResponse({"error": "not allowed to scrape metrics"}, status=403)
    # Prometheus asks for OpenMetrics in its Accept header; anything else gets the text format.
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(scrape_registry()), content_type=content_type)
