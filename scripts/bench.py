"""Benchmark: render cost, test wall time, alert detection latency and requested resources, per stack.

    python -m scripts.bench [--stacks dev staging prod] [--skip-make-test] [--write docs/benchmarks.md]

Figures:
- render time (``python -m scripts.render``, a fresh interpreter) against the
  time to import the SDKs alone (pulumi, pulumi_kubernetes, pulumiverse_grafana);
- wall time of ``make test``;
- detection latency: from the push that makes SeamlessSla99thDegraded true to
  the webhook delivery, on the local stack with the stack's own scrape and
  evaluation intervals and group wait (only ``for`` is set to zero), against
  its floor: scrape interval + evaluation interval + group wait;
- CPU and memory requested: every container of every pod template times its
  replicas, plus the Prometheus and Alertmanager custom resources' requests
  times their replicas (operator-added sidecars not counted).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from components.settings.units import cpu_cores, quantity_bytes
from scripts.inject_sla_violation import SeamlessMetrics, Violation, default_duration
from scripts.localstack import ALERTMANAGER_FILE, E2E, LocalStack, Profile, duration_seconds, free_ports
from scripts.render import Render, render
from scripts.stack_config import read_stack_config

REPO = Path(__file__).resolve().parent.parent
ALERT = "SeamlessSla99thDegraded"
ALERT_LABELS = {"alertname": ALERT, "severity": "warning", "service": "qmtl-seamless"}
SDK_IMPORT = "import pulumi, pulumi_kubernetes, pulumiverse_grafana"
POD_KINDS = {"Deployment": 1, "StatefulSet": 1, "DaemonSet": 1}
CR_KINDS = {"Prometheus", "Alertmanager"}


def timed(argv: list[str], runs: int) -> float:
    """Median wall seconds of ``runs`` runs of a command (failures are errors)."""
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def render_seconds(stack: str, runs: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        return timed([sys.executable, "-m", "scripts.render", "--stack", stack, "--out", out], runs)


def sdk_import_seconds(runs: int) -> float:
    return timed([sys.executable, "-c", SDK_IMPORT], runs)


# --- requested resources -------------------------------------------------------------------------


def _requests(resources: dict[str, Any] | None) -> tuple[Decimal, Decimal]:
    req = (resources or {}).get("requests") or {}
    cpu = cpu_cores(str(req["cpu"])) if "cpu" in req else Decimal(0)
    memory = quantity_bytes(str(req["memory"])) if "memory" in req else Decimal(0)
    return cpu, memory


def requested(manifests: list[dict[str, Any]]) -> tuple[Decimal, Decimal, list[str]]:
    """Total CPU cores and memory bytes requested; DaemonSets count once (per node)."""
    cpu, memory, notes = Decimal(0), Decimal(0), []
    for m in manifests:
        kind, spec = m.get("kind"), m.get("spec") or {}
        replicas = Decimal(spec.get("replicas", 1))
        if kind in POD_KINDS:
            pod = spec["template"]["spec"]
            for c in [*pod.get("containers", []), *pod.get("initContainers", [])]:
                c_cpu, c_mem = _requests(c.get("resources"))
                cpu, memory = cpu + c_cpu * replicas, memory + c_mem * replicas
            if kind == "DaemonSet":
                notes.append(f"DaemonSet {m['metadata']['name']} counted for one node")
        elif kind in CR_KINDS:
            c_cpu, c_mem = _requests(spec.get("resources"))
            cpu, memory = cpu + c_cpu * replicas, memory + c_mem * replicas
    return cpu, memory, notes


# --- detection latency ---------------------------------------------------------------------------


def _matches(matcher: str, labels: dict[str, str]) -> bool:
    import re

    m = re.fullmatch(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*', matcher)
    if not m:
        return False
    name, op, value = m.groups()
    got = labels.get(name, "")
    if op == "=":
        return got == value
    if op == "!=":
        return got != value
    hit = re.fullmatch(value, got) is not None
    return hit if op == "=~" else not hit


def route_group_wait(route: dict[str, Any], labels: dict[str, str], inherited: str = "30s") -> str:
    """The group_wait the first matching leaf route applies (children inherit from parents)."""
    wait = str(route.get("group_wait", inherited))
    for child in route.get("routes") or []:
        legacy = [f'{k}="{v}"' for k, v in (child.get("match") or {}).items()]
        legacy += [f'{k}=~"{v}"' for k, v in (child.get("match_re") or {}).items()]
        if all(_matches(m, labels) for m in [*child.get("matchers", []), *legacy]):
            return route_group_wait(child, labels, wait)
    return wait


@dataclass
class Latency:
    measured: float
    floor: float
    scrape: str
    evaluation: str
    group_wait: str


def detection_latency(result: Render, compressed: bool = False, timeout: float = 180.0) -> Latency:
    """Push-to-webhook time with the stack's own intervals and group wait, or with the e2e profile's (``compressed``)."""
    settings = result.settings
    routes = yaml.safe_load(result.files[ALERTMANAGER_FILE])
    if compressed:
        scrape, evaluation, wait = E2E.scrape_interval, E2E.evaluation_interval, str(E2E.group_wait)
        profile = replace(E2E, name="bench-e2e", for_="0s")
    else:
        wait = route_group_wait(routes["route"], ALERT_LABELS)
        scrape, evaluation = str(settings.prometheus.scrape_interval), str(settings.prometheus.evaluation_interval)
        profile = Profile("bench", scrape_interval=scrape, evaluation_interval=evaluation, for_="0s")
    with LocalStack(result.files, profile, settings.namespace, free_ports(), ready_timeout=max(30.0, 3 * duration_seconds(scrape))) as stack:
        metrics = SeamlessMetrics(Violation("seam-node-bench", default_duration()))
        from prometheus_client import push_to_gateway

        def push() -> None:
            push_to_gateway(stack.pushgateway_url, job="bench", registry=metrics.registry, grouping_key={"instance": "seam-node-bench"})

        push()  # the zero baseline, scraped before the violation so rate() sees an increase
        stack.wait_for_series('seamless_sla_deadline_seconds_count{job="bench"}', 3 * duration_seconds(scrape) + 10)
        metrics.record()
        pushed_at = time.time()
        push()
        delivery = stack.sink.wait_for(ALERT, timeout, since=pushed_at)
        floor = duration_seconds(scrape) + duration_seconds(evaluation) + duration_seconds(wait)
        return Latency(delivery.received_at - pushed_at, floor, scrape, evaluation, wait)


# --- report --------------------------------------------------------------------------------------


def make_test_seconds() -> float:
    start = time.perf_counter()
    subprocess.run(["make", "test"], cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def gib(value: Decimal) -> str:
    return f"{float(value) / 2**30:.2f} GiB"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--stacks", nargs="+", default=["dev", "staging", "prod"])
    p.add_argument("--runs", type=int, default=3, help="runs per timing, median reported (default 3)")
    p.add_argument("--skip-make-test", action="store_true", help="do not time `make test`")
    p.add_argument("--write", type=Path, help="also write the figures as Markdown to this file")
    args = p.parse_args(argv)

    sdk = sdk_import_seconds(args.runs)
    compressed = detection_latency(render(read_stack_config(args.stacks[0])), compressed=True)
    print(f"{args.stacks[0]} with the e2e profile: detection {compressed.measured:.1f}s (floor {compressed.floor:g}s)", flush=True)
    rows = []
    for stack in args.stacks:
        result = render(read_stack_config(stack))
        cpu, memory, notes = requested(result.manifests())
        latency = detection_latency(result)
        row = {
            "stack": stack,
            "render": render_seconds(stack, args.runs),
            "latency": latency,
            "cpu": cpu,
            "memory": memory,
            "notes": notes,
        }
        rows.append(row)
        print(
            f"{stack}: render {row['render']:.2f}s (SDK imports alone {sdk:.2f}s); "
            f"detection {latency.measured:.1f}s (floor {latency.floor:.0f}s = scrape {latency.scrape} + eval {latency.evaluation}"
            f" + group_wait {latency.group_wait}); requests {float(cpu):.2f} CPU, {gib(memory)}",
            flush=True,
        )
    make_test = None if args.skip_make_test else make_test_seconds()
    if make_test is not None:
        print(f"make test: {make_test:.0f}s wall")
    if args.write:
        args.write.write_text(markdown(rows, sdk, make_test, (args.stacks[0], compressed)))
        print(f"wrote {args.write}")
    return 0


def markdown(rows: list[dict[str, Any]], sdk: float, make_test: float | None, compressed: tuple[str, Latency]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Latest figures of `make bench` (`scripts/bench.py`); rerun it to refresh this page.",
        "",
        "| stack | render | SDK imports alone | detection latency | floor (scrape + eval + group_wait) | CPU requested | memory requested |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lat: Latency = r["latency"]
        lines.append(
            f"| {r['stack']} | {r['render']:.2f}s | {sdk:.2f}s | {lat.measured:.1f}s | {lat.floor:.0f}s "
            f"({lat.scrape} + {lat.evaluation} + {lat.group_wait}) | {float(r['cpu']):.2f} | {gib(r['memory'])} |"
        )
    stack, lat = compressed
    lines += [
        "",
        f"With the e2e profile of the tests and the demo ({stack} rules and routes; scrape {lat.scrape}, evaluation {lat.evaluation},"
        f" group_wait {lat.group_wait}, `for` zero): detection {lat.measured:.1f}s against a floor of {lat.floor:g}s.",
        "",
        f"`make test` wall time: {make_test:.0f}s." if make_test is not None else "`make test` was not timed in this run.",
        "",
        "How to read it:",
        "",
        "- render is a fresh `python -m scripts.render` process; importing the Pulumi SDKs is a small part of it,",
        "  the rest is running the program under mocks and writing the files.",
        "- detection latency runs the stack's rendered rules and routes on the local stack with the stack's own scrape and",
        "  evaluation intervals and group wait, `for` set to zero, from the push that makes SeamlessSla99thDegraded true",
        "  to the webhook delivery. It can be below the floor, which adds each interval in full; the phase of the next",
        "  scrape and evaluation decides how much of each is waited.",
        "- requests are the sum over pod templates times replicas plus the Prometheus and Alertmanager custom resources",
        "  times replicas; DaemonSets are counted for one node and operator-added sidecars are not counted.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
