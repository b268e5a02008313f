"""The capacity map's figures (p99 against offered load per scenario, λ* against workers), and
how a configuration is named in them and grouped into a line of worker counts."""

from __future__ import annotations

from collections import defaultdict

from loadtests.analysis.capacity import CapacityEntry

from .plots import COLORS, _plain_log, _pyplot, _svg

STYLE_LINES = ("-", "--", ":", "-.")
STYLE_MARKERS = ("o", "s", "^", "D")


def label(entry: CapacityEntry) -> str:
    threads = (
        f", {entry.threads} threads" if "gthread" in entry.server or "wsgi" in entry.server else ""
    )
    variant = f", {entry.variant}" if entry.variant else ""
    pool = f", pool {entry.db_pool_size}" if entry.db_pool_size else ""
    return f"{entry.server} x{entry.workers}{threads}{pool}{variant}"


def _series(done):
    series = defaultdict(list)
    for e in done:
        threads = e.threads if "gthread" in e.server or "wsgi" in e.server else 0
        series[(e.server, threads, e.scenario, e.variant)].append(e)
    return {k: sorted(v, key=lambda e: e.workers) for k, v in series.items()}


def latency_figure(entries: list[CapacityEntry]) -> str | None:
    scenarios = list(dict.fromkeys(e.scenario for e in entries if e.steps))
    if not scenarios:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.2 * len(scenarios), 3.2), squeeze=False)
    for ax, scenario in zip(axes[0], scenarios, strict=True):
        mine = [e for e in entries if e.scenario == scenario and e.steps]
        seen: dict[str, int] = defaultdict(int)  # a server's configurations: one style each
        for e in mine:
            points = sorted((s.offered_rps, s.latency_ms.p99) for s in e.steps if s.latency_ms.p99)
            style = seen[e.server]
            seen[e.server] += 1
            ax.plot(
                *zip(*points, strict=True),
                marker=STYLE_MARKERS[style % len(STYLE_MARKERS)],
                ls=STYLE_LINES[style % len(STYLE_LINES)],
                ms=3,
                label=label(e),
                color=COLORS.get(e.server),
            )
        for slo in sorted({e.slo_p99_ms for e in mine}):
            ax.axhline(slo, color="#555", ls="--", lw=0.8)
            ax.annotate(
                f"SLO {slo:g} ms", (0.01, slo), xycoords=("axes fraction", "data"), fontsize=7
            )
        _plain_log(ax, "xy")
        ax.set(
            title=scenario,
            xlabel="offered req/s",
            ylabel="p99 from intended start, ms",
        )
        ax.legend(fontsize=6)
    return _svg(fig)


def workers_figure(entries: list[CapacityEntry]) -> str | None:
    # Only the configurations mapped at more than one worker count make a line.
    lines = _series([e for e in entries if e.is_result]).items()
    series = {k: v for k, v in lines if len(v) > 1}
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for (server, threads, scenario, variant), mapped in series.items():
        points = [(e.workers, e.lambda_star_rps) for e in mapped]
        name = (
            f"{scenario}, {server}"
            + (f", {threads} threads" if threads else "")
            + (f", {variant}" if variant else "")
        )
        ax.plot(*zip(*points, strict=True), marker="o", label=name, color=COLORS.get(server))
    ax.set(xlabel="workers", ylabel="λ*, req/s", title="λ* against worker count", ylim=(0, None))
    ax.set_xticks(sorted({e.workers for mapped in series.values() for e in mapped}))
    ax.legend(fontsize=6)
    return _svg(fig)
