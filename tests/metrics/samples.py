"""Reading metric samples: from this process's registry, or from a live server's /metrics."""

import math

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from mysite.metrics import names


def local(name: str, **labels: str) -> float:
    """A sample of this process's registry; 0 when the series does not exist yet."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def local_count(route: str, method: str = "GET", status: int = 200) -> float:
    return local(
        names.SERVER_DURATION + "_count",
        **{names.ROUTE: route, names.METHOD: method, names.STATUS: str(status)},
    )


def local_label_values(metric: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in REGISTRY.collect()
        if family.name == metric
        for sample in family.samples
        if label in sample.labels
    }


Samples = dict[tuple[str, frozenset], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str) -> Samples:
    response = httpx.get(url + "/metrics", timeout=30)
    response.raise_for_status()
    return parse(response.text)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return math.fsum(
        value
        for (sample_name, sample_labels), value in samples.items()
        if sample_name == name and wanted <= sample_labels
    )


def route_count(samples: Samples, route: str, status: int = 200) -> float:
    return total(
        samples,
        names.SERVER_DURATION + "_count",
        **{names.ROUTE: route, names.STATUS: str(status)},
    )


def active(samples: Samples) -> float:
    return total(samples, names.SERVER_ACTIVE)
