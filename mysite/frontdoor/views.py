"""``/``: the front door of ``make run``, every route with its parameters and the commands that
measure it (HTML for a browser, JSON for anything that asks for it)."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import format_html, format_html_join

from mysite.errors import require_safe

from .catalogue import Route, routes

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>django-async-lab</title>
<style>body{{font:15px system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}}
td{{padding:.3em .6em;vertical-align:top;border-top:1px solid #ddd}}code{{font-size:90%}}</style>
</head><body><h1>django-async-lab</h1>
<p>Every route this app serves. All are GET (or HEAD); a bad parameter is a 400 with the reason.
Measure a route with the command beside it, from the repository root.</p>
<table><tr><th>route</th><th>what it does</th><th>parameters</th><th>measure it</th></tr>
{rows}</table></body></html>"""


def _row(route: Route) -> tuple:
    params = format_html_join(
        "", "<div><code>{}</code>: {}</div>", ((p.name, p.rule) for p in route.parameters)
    )
    commands = format_html_join("", "<div><code>{}</code></div>", ((c,) for c in route.commands))
    summary = route.summary or "undocumented"
    return (route.example(), route.path, summary, params, commands)


def _json(route: Route) -> dict:
    return {
        "path": route.path,
        "name": route.name,
        "summary": route.summary,
        "parameters": {p.name: p.rule for p in route.parameters},
        "commands": list(route.commands),
        "example": route.example(),
    }


@require_safe
def front_door(request: HttpRequest) -> HttpResponse:
    listed = routes()
    if not request.accepts("text/html"):
        return JsonResponse({"routes": [_json(route) for route in listed]})
    rows = format_html_join(
        "\n",
        '<tr><td><a href="{}"><code>{}</code></a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (_row(route) for route in listed),
    )
    return HttpResponse(format_html(_PAGE, rows=rows))
