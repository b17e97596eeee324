"""Synthetic load: every metric of the catalog with healthy values, so every dashboard panel has data.

    python -m scripts.load_generator --push http://127.0.0.1:19091 --duration 60
    python -m scripts.load_generator --serve 300 --port 9465

Families the local stack's own Prometheus and Alertmanager export
(``prometheus_*``, ``alertmanager_*``) are left to them unless
``--include-live``. Series are pushed under per-job grouping keys (``up`` per
scrape job, ``probe_*`` per blackbox target); served, the same grouping
labels are attached to each sample, so a scrape with ``honor_labels: true``
sees the same series either way.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import push_to_gateway
from prometheus_client.core import Metric as ClientMetric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample

from components.rules.catalog import load_catalog
from tooling.emitting import run_emitting
from tooling.synthetic import LoadGenerator, catalog_families


def build(environment: str = "dev", namespace: str = "observability", *, include_live: bool = False) -> LoadGenerator:
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


def run(generator: LoadGenerator, *, interval: float, duration: float, on_tick: Callable[[], None],
        sleep: Callable[[float], None] = time.sleep) -> int:
    """Tick and emit every ``interval`` seconds for ``duration`` seconds; returns the ticks made."""
    ticks = 0
    deadline = time.monotonic() + duration
    while True:
        generator.tick(interval, time.time())
        on_tick()
        ticks += 1
        if time.monotonic() + interval > deadline:
            return ticks
        sleep(interval)


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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scripts.load_generator", description=__doc__.split("\n\n")[0])
    p.add_argument("--push", metavar="URL", help="push to this Pushgateway every interval")
    p.add_argument("--serve", type=float, metavar="SECONDS", help="serve /metrics on 127.0.0.1 for SECONDS")
    p.add_argument("--port", type=int, default=0, help="port for --serve (default: any free port)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between updates (default 5)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds to run when pushing (default 60)")
    p.add_argument("--environment", default="dev", help="value of the environment label (default dev)")
    p.add_argument("--namespace", default="observability", help="namespace used in probe job names (default observability)")
    p.add_argument("--include-live", action="store_true", help="also generate prometheus_* and alertmanager_* families")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.push and not args.serve:
        parser().error("choose an output: --push URL and/or --serve SECONDS")
    if args.interval <= 0:
        parser().error(f"--interval: got {args.interval}; accepted: a positive number of seconds")
    generator = build(args.environment, args.namespace, include_live=args.include_live)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MergedCollector(generator))
    on_tick = (lambda: push(generator, args.push)) if args.push else (lambda: None)

    def load() -> None:
        ticks = run(generator, interval=args.interval, duration=max(args.duration, args.serve or 0), on_tick=on_tick)
        print(f"{len(generator.families)} families, {ticks} update(s)", file=sys.stderr)

    return run_emitting("load_generator", load, registry, port=args.port, serve=args.serve)


if __name__ == "__main__":
    sys.exit(main())
