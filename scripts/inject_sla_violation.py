# /// script
# requires-python = ">=3.11"
# dependencies = ["prometheus-client==0.26.0", "pyyaml==6.0.3"]
# ///
"""Emit synthetic Seamless SLA metrics that violate the SLA budget (seed 000).

    uv run scripts/inject_sla_violation.py seam-node-1 --duration 240 --repetitions 5 --write-to /tmp/seamless.metrics
    python scripts/inject_sla_violation.py seam-node-1 --duration 240 --repetitions 5 --write-to /tmp/seamless.metrics
    python scripts/inject_sla_violation.py seam-node-1 --push http://127.0.0.1:19091 --interval 15
    python scripts/inject_sla_violation.py seam-node-1 --serve 300 --port 9464
    python scripts/inject_sla_violation.py seam-node-1 --dry-run

Each repetition records one slow request of ``--duration`` seconds for the
node: the SLA deadline histogram per phase, the per-phase latency histograms,
coverage and staleness gauges and the HOLD/PARTIAL_FILL downgrade counters;
``--stuck-lease`` and ``--conformance-flags`` add a stuck backfill lease and a
conformance flag surge. Outputs (any combination): ``--write-to`` rewrites
the exposition text after every repetition, ``--push`` sends it to a
Pushgateway (grouping key job + instance=NODE_ID), ``--serve`` exposes it over
HTTP on 127.0.0.1 for that many seconds. With an output, a zero baseline is
emitted first and repetitions are ``--interval`` seconds apart, so rate()
sees the violation as an increase. ``--dry-run`` prints what would be emitted
and touches nothing.
"""


from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import push_to_gateway, write_to_textfile

from components.rules.thresholds import threshold
from tooling.emitting import run_emitting
from tooling.sla_violation import BUDGET, JOB, SeamlessMetrics, Violation, default_duration


def _positive(kind: type[float] | type[int]) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"got {text!r}; accepted: a positive {kind.__name__}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"got {text!r}; accepted: a positive {kind.__name__}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="inject_sla_violation.py", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("node_id", help="the Seamless node whose requests violate the SLA (e.g. seam-node-1)")
    p.add_argument("--duration", type=_positive(float), default=None,
                   help=f"seconds each slow request takes (default: 1.25 x the {BUDGET} threshold)")
    p.add_argument("--repetitions", type=_positive(int), default=5, help="slow requests to record (default 5)")
    p.add_argument("--interval", type=float, default=15.0,
                   help="seconds between repetitions when emitting (default 15; at least the scrape interval)")
    p.add_argument("--world-id", default="world-main", help="world_id label (default world-main)")
    p.add_argument("--stuck-lease", metavar="LEASE_KEY", help="also report this backfill lease stuck below 50%%")
    p.add_argument("--conformance-flags", type=int, default=0, metavar="N", help="also raise N conformance flags per repetition")
    p.add_argument("--write-to", type=Path, metavar="FILE", help="write the exposition text to FILE after each repetition")
    p.add_argument("--push", metavar="URL", help="push to this Pushgateway (e.g. http://127.0.0.1:19091)")
    p.add_argument("--job", default=JOB, help=f"Pushgateway job (default {JOB})")
    p.add_argument("--serve", type=_positive(float), metavar="SECONDS", help="serve /metrics on 127.0.0.1 for SECONDS")
    p.add_argument("--port", type=int, default=0, help="port for --serve (default: any free port)")
    p.add_argument("--dry-run", action="store_true", help="print what would be emitted; write, push and serve nothing")
    return p


def main(argv: list[str] | None = None, *, sleep: Callable[[float], None] = time.sleep) -> int:
    args = parser().parse_args(argv)
    if args.conformance_flags < 0:
        parser().error(f"--conformance-flags: got {args.conformance_flags}; accepted: an integer >= 0")
    violation = Violation(
        node_id=args.node_id,
        duration=args.duration if args.duration is not None else default_duration(),
        world_id=args.world_id,
        stuck_lease=args.stuck_lease,
        conformance_flags=args.conformance_flags,
    )
    metrics = SeamlessMetrics(violation)
    outputs = [o for o, on in (("write", args.write_to), ("push", args.push), ("serve", args.serve)) if on]
    budget = threshold(BUDGET)
    print(f"SLA violation on {violation.node_id}: {args.repetitions} request(s) of {violation.duration:g}s (p99 budget {budget:g}s)",
          file=sys.stderr)
    if args.dry_run:
        for _ in range(args.repetitions):
            metrics.record()
        sys.stdout.write(metrics.exposition())
        print(f"dry run: would {', '.join(outputs) or 'only print'}; nothing written, pushed or served", file=sys.stderr)
        return 0

    started = time.monotonic()

    def emit(step: str) -> None:
        if args.write_to:
            write_to_textfile(str(args.write_to), metrics.registry)
        if args.push:
            push_to_gateway(args.push, job=args.job, registry=metrics.registry, grouping_key={"instance": violation.node_id})
        print(f"{step}: emitted", file=sys.stderr)

    def repeat() -> None:
        if outputs:
            emit("baseline")
        for n in range(1, args.repetitions + 1):
            if outputs:
                sleep(args.interval)
            metrics.record()
            if outputs:
                emit(f"repetition {n}/{args.repetitions}")
        if not outputs:
            sys.stdout.write(metrics.exposition())
        if args.serve:
            sleep(max(0.0, args.serve - (time.monotonic() - started)))

    return run_emitting("inject_sla_violation", repeat, metrics.registry, port=args.port, serve=args.serve)


if __name__ == "__main__":
    sys.exit(main())
