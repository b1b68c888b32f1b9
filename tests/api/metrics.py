"""Reading ``/metrics`` as Prometheus does, with prometheus_client's own parser."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

Sample = tuple[str, frozenset[tuple[str, str]]]


def parse(text: str) -> dict[Sample, float]:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Sample, float], name: str, **labels: str) -> float:
    """The sample's value; 0 for one not exposed yet (a child not created)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def label_values(samples: Iterable[Sample], prefix: str, label: str) -> set[str]:
    return {
        dict(labels)[label]
        for name, labels in samples
        if name.startswith(prefix) and label in dict(labels)
    }
