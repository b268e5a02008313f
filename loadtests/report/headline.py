"""The report's first lines: the three headline questions (async against sync under uvicorn x 1;
gunicorn gthread against uvicorn; one worker against two) answered from λ*'s ratio with its 95%
interval, or said why not (``headline``), for ``templates/headline.*.j2``.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtests.analysis.capacity import CapacityEntry
from loadtests.analysis.lambda_star import REPEATS, lambda_ratio
from loadtests.analysis.stats import POWER, Ratio, ratio_digits
from mysite.launcher import DEFAULT_THREADS

from . import database
from .jinja import Sentences

say = Sentences("capacity.j2")

# The three questions make bench answers first, each as (question, a, b): λ*(a) / λ*(b), the
# configurations named by their keys (``CapacityEntry.key``).
UVICORN_1 = f"uvicorn/1x{DEFAULT_THREADS}"
GTHREAD_1 = f"gunicorn-gthread/1x{DEFAULT_THREADS}"
GTHREAD_2 = f"gunicorn-gthread/2x{DEFAULT_THREADS}"
HEADLINE_QUESTIONS = (
    ("Async or sync view, under uvicorn x 1?", f"{UVICORN_1}/async-api", f"{UVICORN_1}/sync-api"),
    (
        "Gunicorn gthread or uvicorn (the sync view, one worker)?",
        f"{GTHREAD_1}/sync-api",
        f"{UVICORN_1}/sync-api",
    ),
    (
        "One worker or two (gunicorn gthread, the sync view)?",
        f"{GTHREAD_2}/sync-api",
        f"{GTHREAD_1}/sync-api",
    ),
)
HEADLINE_TITLE = "The headline answers: capacity (λ*) with 95% intervals"


@dataclass(frozen=True)
class Headline:
    """One headline question's answer, every figure from the run (the templates say it)."""

    question: str
    a: str  # the configurations' keys
    b: str
    a_lambda: str = ""  # "950 req/s (95% CI 900-1,000, 3 searches)"
    b_lambda: str = ""
    ratio: str = ""  # "1.53x (95% CI 1.40-1.68)"
    verdict: str = ""  # "significant" / "not significant"
    detectable: str = ""  # "14%": the smallest difference the run could have detected
    unanswered: str = ""  # why there is no verdict ("" : answered)
    caveats: tuple[str, ...] = ()


def lambda_text(e: CapacityEntry) -> str:
    """λ* with its interval, the searches behind it, and a lower bound said as one."""
    return say.lambda_text(e, e.repeats or len(e.repeats_lambda_star_rps) or 1)


def _ratio_text(ratio: Ratio) -> str:
    return say.ratio(ratio, ratio_digits(ratio.low, ratio.high))


def compare_lambdas(
    a: CapacityEntry, b: CapacityEntry, names: tuple[str, str] | None = None
) -> str:
    """Two mapped configurations' λ* (by default named by their scenarios) as a ratio with
    Welch's 95% interval over their searches, as the headline answers compare them; entries of
    one search each fall back to what their brackets can say (``database.compare``)."""
    compared = lambda_ratio(a, b)
    if compared is None:
        return database.compare(a, b, names)
    ratio, detectable = compared
    name_a, name_b = names or (a.scenario, b.scenario)
    higher = (
        (name_a if a.lambda_star_rps > b.lambda_star_rps else name_b) if ratio.significant else None
    )
    return say.lambdas(name_a, name_b, a, b, _ratio_text(ratio), higher, detectable - 1)


def _answer(question: str, key_a: str, key_b: str, a, b) -> Headline:
    missing = [k for k, e in ((key_a, a), (key_b, b)) if e is None]
    if missing:
        why = say.not_mapped(missing, key_a, key_b, REPEATS)
        return Headline(question, key_a, key_b, unanswered=why)
    broken = [e for e in (a, b) if not e.is_result]
    if broken:
        return Headline(question, key_a, key_b, unanswered=say.no_lambda(broken))
    caveats = tuple(say.lower_bound(e) for e in (a, b) if e.lower_bound)
    texts = {"a_lambda": lambda_text(a), "b_lambda": lambda_text(b), "caveats": caveats}
    compared = lambda_ratio(a, b)
    if compared is None:
        plain = f"{a.lambda_star_rps / b.lambda_star_rps:.2f}x"
        why = say.one_search(key_a, key_b, REPEATS)
        return Headline(question, key_a, key_b, ratio=plain, unanswered=why, **texts)
    ratio, detectable = compared
    return Headline(
        question,
        key_a,
        key_b,
        ratio=_ratio_text(ratio),
        verdict="significant" if ratio.significant else "not significant",
        detectable=f"{detectable - 1:.0%}",
        **texts,
    )


def headline(entries: list[CapacityEntry]) -> list[Headline]:
    """The three questions, answered from λ*'s ratio and its Welch interval over the fresh
    searches, or said why not. Nothing when the run mapped none of their configurations."""
    by_key = {e.key: e for e in entries if not e.variant}
    if not any(k in by_key for _, a, b in HEADLINE_QUESTIONS for k in (a, b)):
        return []
    return [_answer(q, a, b, by_key.get(a), by_key.get(b)) for q, a, b in HEADLINE_QUESTIONS]


def headline_rule() -> str:
    return say.headline_rule(POWER)
