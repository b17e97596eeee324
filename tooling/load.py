"""Healthy synthetic load for the metric catalog: build a generator, push it to a Pushgateway, or expose it as one collector.

The library side of scripts/load_generator.py, also driven by the end-to-end
tests (a background PushLoop keeps the local stacks' panels and rates fed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from prometheus_client import push_to_gateway
from prometheus_client.core import Metric as ClientMetric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from components.rules.catalog import load_catalog
from tooling.synthetic import LoadGenerator, catalog_families


def build(environment: str = "dev", namespace: str = "observability", *, include_live: bool = False) -> LoadGenerator:
    """A generator of every catalog family at healthy values, labelled with ``environment``; ``namespace`` names the probe jobs.

    The families the local stack's Prometheus and Alertmanager export are left out unless ``include_live``.
    """
    return LoadGenerator(catalog_families(load_catalog(), include_live=include_live), environment=environment, namespace=namespace)


def push(generator: LoadGenerator, url: str) -> None:
    """Replace every group on the Pushgateway with the generator's current values."""
    for group, registry in generator.groups():
        job = group["job"]
        push_to_gateway(url, job=job, registry=registry, grouping_key={k: v for k, v in group.items() if k != "job"})


class MergedCollector(Collector):
    """All groups as one exposition, each sample labelled with its grouping key."""

    def __init__(self, generator: LoadGenerator) -> None:
        self.generator = generator

    def collect(self) -> Iterator[ClientMetric]:
        merged: dict[str, ClientMetric] = {}
        for group, registry in self.generator.groups():
            for family in registry.collect():
                out = merged.setdefault(family.name, ClientMetric(family.name, family.documentation, family.type, family.unit))
                for s in family.samples:
                    out.samples.append(Sample(s.name, {**s.labels, **group}, s.value, s.timestamp, s.exemplar))
        yield from merged.values()


class PushLoop:
    """Push healthy load every ``interval`` seconds from a background thread until closed."""

    def __init__(self, generator: LoadGenerator, url: str, interval: float) -> None:
        self.generator, self.url, self.interval = generator, url, interval
        self.errors: list[OSError] = []
        # CPU seconds the loop's thread has spent (ticks, encoding, pushes): its cost inside the calling process.
        self.cpu_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-generator", daemon=True)

    def _run(self) -> None:
        while True:
            self.generator.tick(self.interval, time.time())
            try:
                push(self.generator, self.url)
            except OSError as error:  # the gateway may be restarting; keep going, keep the evidence
                self.errors.append(error)
            self.cpu_seconds = time.thread_time()
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PushLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
