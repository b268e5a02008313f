"""The report's section "Slow clients": from ``results.json``'s ``slow_clients`` records alone
(``loadtests.sweep.slowclients``), per server kind the normal users' req/s and p99 with no slow
connection and with N of them; sentences generated from those values say which kinds were held
(their normal users lost most of their throughput), how each kind reads a request (who holds a
thread per connection), and the deployment advice that follows.
"""

from __future__ import annotations

from loadtests.analysis.records import SlowClientsRun, SlowClientsWindow
from loadtests.analysis.results import Results
from loadtests.model.experiment import READS_REQUESTS, THREAD_PER_CONNECTION

from .jinja import Sentences
from .tables import Part, Table

say = Sentences("serverlife.j2")

TITLE = "Slow clients: what N connections that trickle their headers do to normal users"
# A kind was "held" when its normal users kept less than this share of their req/s, or failed.
HELD_BELOW = 0.1


def _pair(run: SlowClientsRun) -> tuple[SlowClientsWindow, SlowClientsWindow] | None:
    if run.error or len(run.windows) < 2 or run.windows[0].slow_clients != 0:
        return None
    return run.windows[0], run.windows[-1]


def held(run: SlowClientsRun) -> bool | None:
    """True when the slow connections took (almost) all of the normal users' throughput."""
    pair = _pair(run)
    if pair is None:
        return None
    calm, crowded = pair
    return crowded.rps < HELD_BELOW * calm.rps or (crowded.failures > 0 and calm.failures == 0)


def _slots(run: SlowClientsRun) -> str:
    return say.slots(run, run.server in THREAD_PER_CONNECTION)


def rows(runs: list[SlowClientsRun]) -> Table:
    counts = sorted({w.slow_clients for r in runs for w in r.windows})
    header = ["server", "workers", *[f"N = {n}" for n in counts], "held"]
    body = []
    for r in runs:
        by_n = {w.slow_clients: w for w in r.windows}
        cells = [say.window(by_n[n]) if n in by_n else "-" for n in counts]
        if r.error:
            cells[-1:] = [f"failed: {r.error[:80]}"]
        verdict = held(r)
        body.append(
            [r.server, _slots(r), *cells, "-" if verdict is None else "yes" if verdict else "no"]
        )
    return header, body


def sentences(runs: list[SlowClientsRun]) -> list[str]:
    said, held_kinds, free_kinds = [], [], []
    for r in runs:
        pair, verdict = _pair(r), held(r)
        if pair is None:
            continue
        calm, crowded = pair
        (held_kinds if verdict else free_kinds).append(r)
        share = crowded.rps / calm.rps if calm.rps else 0.0
        expected = (r.server in THREAD_PER_CONNECTION) == verdict
        reads = READS_REQUESTS.get(r.server)
        said.append(say.slow_kind(r, _slots(r), calm, crowded, share, reads, expected))
    if held_kinds:
        said += [say.held(held_kinds, free_kinds), say.proxy(held_kinds)]
    elif free_kinds:
        said.append(say.none_held())
    return said + [say.run_failed(r) for r in runs if r.error]


def rule(runs: list[SlowClientsRun]) -> str:
    return say.slow_rule(runs[0])


def part(record: Results) -> Part | None:
    runs = record.slow_clients
    return Part(TITLE, sentences(runs), rows(runs), rule(runs)) if runs else None
