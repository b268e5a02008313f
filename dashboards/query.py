"""A small client of Prometheus's HTTP query API, and the dashboards' panels evaluated with it.

``evaluate_panels`` runs exactly the PromQL of ``panels`` (the dashboards' variables filled in
the way Grafana fills them) over a time window and returns plain data, ready for
``results.json``; the report draws its time series from that.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from . import panels as p
from . import promql
from .prometheus_server import APP_JOB, LOCUST_JOB, SCRAPE_INTERVAL, duration


class PrometheusError(RuntimeError):
    """Prometheus refused a query or could not be reached."""


class PrometheusClient:
    """``query``, ``query_range`` and ``targets`` of one Prometheus server."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _api(self, path: str, form: Mapping[str, str] | None = None) -> Any:
        try:
            # POST: a panel's expression can be longer than a URL should be.
            if form is None:
                response = self._http.get(f"/api/v1/{path}")
            else:
                response = self._http.post(f"/api/v1/{path}", data=dict(form))
        except httpx.HTTPError as exc:
            raise PrometheusError(f"{self.base_url}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            raise PrometheusError(
                f"{self.base_url}/api/v1/{path} answered {response.status_code}: "
                f"{response.text[:200]}"
            ) from None
        if body.get("status") != "success":
            raise PrometheusError(
                f"{body.get('errorType', response.status_code)}: {body.get('error')}"
                + (f" (query: {form['query']})" if form and "query" in form else "")
            )
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query: ``[{"metric": {...}, "value": [t, "v"]}, ...]``."""
        form = {"query": expr}
        if at is not None:
            form["time"] = repr(at)
        return _vector(self._api("query", form))

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """A range query: ``[{"metric": {...}, "values": [[t, "v"], ...]}, ...]``."""
        form = {"query": expr, "start": repr(start), "end": repr(end), "step": repr(step)}
        return _vector(self._api("query_range", form))

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets, each with ``labels``, ``health`` and ``lastError``."""
        return self._api("targets")["activeTargets"]

    def rule_groups(self) -> list[dict[str, Any]]:
        """The loaded rule groups, each with ``name`` and ``rules`` (and their health)."""
        return self._api("rules")["groups"]


def _vector(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    if data["resultType"] not in ("vector", "matrix"):
        raise PrometheusError(f"expected series, got a {data['resultType']}")
    return data["result"]


# --- panels ---------------------------------------------------------------------------------


def rate_interval(step: float, scrape_interval: float = SCRAPE_INTERVAL) -> str:
    """Grafana's ``$__rate_interval``: max(step + scrape interval, 4 scrape intervals)."""
    return duration(max(step + scrape_interval, 4 * scrape_interval))


def default_variables(
    job: str = APP_JOB, locust_job: str = LOCUST_JOB, route: str = promql.ALL_ROUTES
) -> dict[str, str]:
    return {promql.JOB: job, promql.LOCUST_JOB: locust_job, promql.ROUTE: route}


_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def substitute(expr: str, variables: Mapping[str, str], rate_window: str) -> str:
    """``expr`` with ``$__rate_interval`` and the dashboard variables replaced by values."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name == "__rate_interval":
            return rate_window
        if name not in variables:
            raise KeyError(f"no value for the variable ${name} in {expr}")
        return variables[name]

    return _VARIABLE.sub(value, expr)


def legend(template: str, labels: Mapping[str, str]) -> str:
    """A Grafana legend format with ``{{label}}`` replaced by the series's label values."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template).strip()


def _number(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def evaluate_panels(
    base_url: str,
    start: float,
    end: float,
    step: float,
    *,
    variables: Mapping[str, str] | None = None,
    scrape_interval: float = SCRAPE_INTERVAL,
    keys: Iterable[str] | None = None,
    timeout: float = 30.0,
    rate_window: str | None = None,
) -> dict[str, Any]:
    """Every panel's queries over ``[start, end]`` (Unix seconds) every ``step`` seconds.

    ``variables`` fills the dashboards' variables (default: ``default_variables()``);
    ``keys`` picks panels (default: all, in ``panels.PANELS`` order); ``rate_window`` replaces
    ``$__rate_interval`` (default: Grafana's, ``rate_interval``). Returns JSON-ready data::

        {"window": {"start", "end", "step", "rate_interval"},
         "variables": {...},
         "panels": {key: {"title", "description", "unit", "kind",
                          "queries": [{"ref_id", "expr", "legend",
                                       "series": [{"name", "labels", "points": [[t, v]...]}]}]}}}

    ``expr`` is the query as sent; ``v`` is a float, or None where Prometheus said NaN or
    infinity (a ratio with no traffic, a quantile of an empty histogram). Raises
    ``PrometheusError`` when a query fails.
    """
    variables = dict(default_variables() if variables is None else variables)
    window = rate_window or rate_interval(step, scrape_interval)
    selected = p.all_panels()
    if keys is not None:
        wanted = list(keys)
        missing = set(wanted) - set(selected)
        if missing:
            raise KeyError(f"no such panels: {sorted(missing)}")
        selected = {key: selected[key] for key in wanted}
    result: dict[str, Any] = {}
    with PrometheusClient(base_url, timeout=timeout) as client:
        for key, panel in selected.items():
            queries = []
            for query in panel.queries:
                expr = substitute(query.expr, variables, window)
                series = [
                    {
                        "name": legend(query.legend, item["metric"]) or expr,
                        "labels": dict(sorted(item["metric"].items())),
                        "points": [[t, _number(v)] for t, v in item["values"]],
                    }
                    for item in client.query_range(expr, start, end, step)
                ]
                series.sort(key=lambda s: (s["name"], sorted(s["labels"].items())))
                queries.append(
                    {"ref_id": query.ref_id, "expr": expr, "legend": query.legend, "series": series}
                )
            result[key] = {
                "title": panel.title,
                "description": panel.description,
                "unit": panel.unit,
                "kind": panel.kind,
                "queries": queries,
            }
    return {
        "window": {"start": start, "end": end, "step": step, "rate_interval": window},
        "variables": variables,
        "panels": result,
    }
