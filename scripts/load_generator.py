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
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client.registry import CollectorRegistry

from tooling.emitting import run_emitting
from tooling.load import MergedCollector, build, push
from tooling.synthetic import LoadGenerator


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
