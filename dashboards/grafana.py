"""The Grafana dashboards, built with the official grafana-foundation-sdk from ``panels``.

Each dashboard is a function listing its rows and panels; ``panel`` turns a ``panels.Panel``
into a Grafana panel with the shared defaults. Every query goes to the dashboard's
``datasource`` variable; the other variables are added when a panel's queries use them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from grafana_foundation_sdk.builders.common import VizLegendOptions, VizTooltipOptions
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DatasourceVariable,
    QueryVariable,
    Row,
    TimePicker,
)
from grafana_foundation_sdk.builders.heatmap import HeatmapColorOptions, YAxisConfig
from grafana_foundation_sdk.builders.heatmap import Panel as Heatmap
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.heatmap import HeatmapColorMode, HeatmapColorScale
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from mysite.metrics import names as n

from . import db_panels as db
from . import locust_exporter as lx
from . import panels as p
from . import promql

DATASOURCE_VARIABLE = "datasource"
DATASOURCE = DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")
TAGS = ["django-async-lab"]
WIDTH = 24  # Grafana's grid
HEIGHT = 8


@dataclass(frozen=True)
class Section:
    """A row of panels; ``repeat`` names a variable to repeat the row for, one per value."""

    title: str
    panels: tuple[Callable[[], p.Panel], ...]
    repeat: str | None = None
    width: int = 12


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    title: str
    description: str
    sections: tuple[Section, ...]

    def panels(self) -> list[p.Panel]:
        return [make() for section in self.sections for make in section.panels]


# --- the dashboards ------------------------------------------------------------------------------


def django_red() -> DashboardSpec:
    return DashboardSpec(
        "django-red",
        "Django: requests per route (RED)",
        "Rate, errors and duration of every route, from the app's server-side histogram; "
        "then one row per selected route.",
        (
            Section(
                "All routes",
                (p.request_rate, p.error_ratio, p.latency_p99, p.active_requests),
            ),
            Section(
                f"Route ${promql.ROUTE}",
                (p.route_status_rate, p.route_latency, p.route_heatmap),
                repeat=promql.ROUTE,
                width=8,
            ),
        ),
    )


def django_runtime() -> DashboardSpec:
    return DashboardSpec(
        "django-runtime",
        "Django: upstream calls, database and event loop",
        "The fan-out views' upstream calls, the database views' queries and pools, the "
        "requests in flight and the workers' event-loop lag.",
        (
            Section(
                "Upstream calls",
                (p.upstream_rate, p.upstream_error_ratio, p.upstream_latency),
                width=8,
            ),
            Section(
                "Database queries, by path's pool",
                (db.db_operation_rate, db.db_error_ratio, db.db_operation_latency),
                width=8,
            ),
            Section("Database pools", (db.db_connections, db.db_connection_wait)),
            Section("Event loop", (p.loop_lag_max, p.loop_lag_quantiles)),
            Section("In flight", (p.active_requests,)),
        ),
    )


def load_test() -> DashboardSpec:
    return DashboardSpec(
        "load-test",
        "Load test: Locust beside the server",
        "Locust's client-side view (left) beside the app's server-side view (right).",
        (
            Section("Side by side", (p.throughput_compare, p.latency_compare)),
            Section("Throughput", (p.locust_request_rate, p.request_rate)),
            Section("Failures and errors", (p.locust_failure_ratio, p.error_ratio)),
            Section("Latency", (p.locust_latency, p.route_latency)),
            Section("Concurrency", (p.locust_users, p.active_requests)),
            Section("Saturation", (p.locust_cpu, p.loop_lag_max)),
        ),
    )


DASHBOARDS: tuple[Callable[[], DashboardSpec], ...] = (django_red, django_runtime, load_test)


# --- variables -----------------------------------------------------------------------------------


def _query_variable(name: str, label: str, query: str) -> QueryVariable:
    return (
        QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def _label_values(metric: str, label: str) -> str:
    return f"label_values({metric}, {label})"


def variables(used: Iterable[str]) -> list:
    """The datasource variable, then those of ``used``, in a fixed order."""
    used = set(used)
    unknown = used - {promql.JOB, promql.LOCUST_JOB, promql.ROUTE}
    if unknown:
        raise ValueError(f"panels use undefined variables: {sorted(unknown)}")
    result: list = [DatasourceVariable(DATASOURCE_VARIABLE).label("Prometheus").type("prometheus")]
    if promql.JOB in used:
        result.append(
            _query_variable(
                promql.JOB, "App job", _label_values(n.SERVER_DURATION + "_count", promql.JOB_LABEL)
            )
        )
    if promql.LOCUST_JOB in used:
        result.append(
            _query_variable(
                promql.LOCUST_JOB, "Locust job", _label_values(lx.USERS, promql.JOB_LABEL)
            )
        )
    if promql.ROUTE in used:
        app_counts = promql.series(
            n.SERVER_DURATION + "_count", promql.eq(promql.JOB_LABEL, f"${promql.JOB}")
        )
        result.append(
            _query_variable(promql.ROUTE, "Route", _label_values(app_counts, n.ROUTE))
            .multi(True)
            .include_all(True)
            .all_value(promql.ALL_ROUTES)
        )
    return result


# --- panels --------------------------------------------------------------------------------------


def _target(query: promql.Query) -> Dataquery:
    target = Dataquery().expr(query.expr).legend_format(query.legend).ref_id(query.ref_id)
    if query.format == "heatmap":
        target = target.format(PromQueryFormat.HEATMAP)
    return target.range()


def _timeseries() -> Timeseries:
    return (
        Timeseries()
        .min(0)
        .fill_opacity(10)
        .line_width(1)
        .legend(
            VizLegendOptions()
            .display_mode(LegendDisplayMode.TABLE)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max", "lastNotNull"])
        )
        .tooltip(VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING))
    )


def _heatmap(spec: p.Panel) -> Heatmap:
    return (
        Heatmap()
        .calculate(False)
        .color(
            HeatmapColorOptions()
            .mode(HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .scale(HeatmapColorScale.EXPONENTIAL)
            .exponent(0.5)
            .steps(64)
        )
        .y_axis(YAxisConfig().unit(spec.unit))
        .cell_gap(1)
        .mode(TooltipDisplayMode.SINGLE)  # the tooltip's mode (Grafana 11 replaced its on/off)
        .show_legend()
    )


def panel(spec: p.Panel, panel_id: int, width: int, height: int = HEIGHT):
    """A Grafana panel of ``spec``: its title, description, unit and queries."""
    builder = _heatmap(spec) if spec.kind == "heatmap" else _timeseries()
    builder = (
        builder.id(panel_id)
        .title(spec.title)
        .description(spec.description)
        .datasource(DATASOURCE)
        .unit(spec.unit)
        .span(width)
        .height(height)
    )
    for query in spec.queries:
        builder = builder.with_target(_target(query))
    return builder


def build(spec: DashboardSpec) -> Dashboard:
    used = set().union(*(panel.variables for panel in spec.panels()))
    dashboard = (
        Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(TAGS)
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-15m", "now")
        .refresh("5s")
        .timepicker(TimePicker().refresh_intervals(["1s", "5s", "10s", "30s", "1m", "5m"]))
        .variables(variables(used))
        .annotations([])
    )
    panel_id = 0
    for section in spec.sections:
        panel_id += 1
        row = Row(section.title).id(panel_id)
        if section.repeat:
            row = row.repeat(section.repeat)
        dashboard = dashboard.with_row(row)
        for make in section.panels:
            panel_id += 1
            dashboard = dashboard.with_panel(panel(make(), panel_id, section.width))
    return dashboard


def render(spec: DashboardSpec) -> str:
    """The dashboard's JSON: keys sorted, two-space indent, a trailing newline."""
    return JSONEncoder(sort_keys=True, indent=2).encode(build(spec).build()) + "\n"
