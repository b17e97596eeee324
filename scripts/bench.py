"""Benchmark: render cost against its import floor, test wall time, alert detection latency and requested resources.

    python -m scripts.bench [--stacks dev staging prod] [--pairs 7] [--skip-make-test] [--write docs/benchmarks.md]

Figures:
- render: ``python -m scripts.render`` (a fresh interpreter) against its import floor, a fresh
  interpreter importing exactly the modules a render imports apart from the project's own
  (``scripts/import_floor.py``). Timed in pairs, the two orders alternating, on a warm checkout
  (bytecode and build cache written); each pair's ratio is one sample, and the median ratio is
  reported with its spread. Wall and CPU (user + system of the child) are both paired: on a
  loaded machine CPU time is the steadier of the two.
- ``make test``: wall time of each phase (venvs and tools, lint, checkov, pytest), read off the
  ``==>`` markers the Makefile prints, on an existing virtualenv;
- detection latency: from the push that makes SeamlessSla99thDegraded true to the webhook
  delivery, on the local stack with the stack's own scrape and evaluation intervals and group
  wait (only ``for`` is set to zero), against its floor: scrape interval + evaluation interval + group wait;
- CPU and memory requested: every container of every pod template times its replicas, plus the
  Prometheus and Alertmanager custom resources' requests times their replicas (operator-added sidecars not counted);
- the real engine: ``pulumi up`` and a no-change ``pulumi preview`` with the real CLI and provider against
  ``kubectl apply --server-side`` (for real, and ``--dry-run=server``) of the same rendered objects, on one
  local API server per stack (tooling/deploy_bench.py; needs ``make tools``).
"""

from __future__ import annotations

import argparse
import json
import os
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

from components import paths
from components.settings.units import cpu_cores, quantity_bytes
from tooling.deploy_bench import EngineTiming, engine_timing
from tooling.localstack import ALERTMANAGER_FILE, E2E, LocalStack, Profile, duration_seconds, free_ports
from tooling.render import Render, render
from tooling.sla_violation import SeamlessMetrics, Violation, default_duration
from tooling.stack_config import read_stack_config

REPO = paths.REPO_ROOT
ALERT = "SeamlessSla99thDegraded"
ALERT_LABELS = {"alertname": ALERT, "severity": "warning", "service": "qmtl-seamless"}
POD_KINDS = {"Deployment": 1, "StatefulSet": 1, "DaemonSet": 1}
CR_KINDS = {"Prometheus", "Alertmanager"}


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child process


def _bench_env() -> dict[str, str]:
    """The caller's environment, but with bytecode caching on: a checkout in use has its .pyc files written."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_sample(argv: list[str]) -> Sample:
    """One run of a command: wall seconds and the child's CPU seconds (failures are errors)."""
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(argv, cwd=REPO, env=_bench_env(), stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            stderr.seek(0)
            raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}: {stderr.read().decode(errors='replace')[-2000:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime)


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def ratio(self) -> str:
        return f"{self.median:.2f}x ({self.low:.2f}-{self.high:.2f})"


@dataclass(frozen=True)
class RenderCost:
    stack: str
    pairs: int
    render_wall: Spread
    floor_wall: Spread
    render_cpu: Spread
    floor_cpu: Spread
    wall_ratio: Spread
    cpu_ratio: Spread
    modules: int  # how many modules the floor imports
    load: float  # 1-minute load average when the pairs finished


def floor_modules(stack: str, directory: Path) -> Path:
    """Write the modules a render of ``stack`` imports (project's own excluded) to a JSON file; return its path."""
    listed = subprocess.run(
        [sys.executable, "-m", "scripts.import_floor", "list", "--stack", stack], cwd=REPO, env=_bench_env(), capture_output=True, text=True
    )
    if listed.returncode != 0:
        raise RuntimeError(f"listing the import floor of stack {stack} failed: {listed.stderr[-2000:]}")
    path = directory / f"floor-{stack}.json"
    path.write_text(listed.stdout)
    return path


def render_cost(stack: str, pairs: int) -> RenderCost:
    """Render and floor timed in ``pairs`` pairs, alternating which runs first; one warm-up run of each first."""
    with tempfile.TemporaryDirectory() as work:
        modules = floor_modules(stack, Path(work))
        render = [sys.executable, "-m", "scripts.render", "--stack", stack, "--out", str(Path(work) / "render")]
        floor = [sys.executable, "-m", "scripts.import_floor", "import", str(modules)]
        run_sample(render), run_sample(floor)  # warm: bytecode, build cache, page cache
        renders, floors = [], []
        for index in range(pairs):
            if index % 2 == 0:
                floors.append(run_sample(floor))
                renders.append(run_sample(render))
            else:
                renders.append(run_sample(render))
                floors.append(run_sample(floor))
        count = len(json.loads(modules.read_text()))
    return RenderCost(
        stack,
        pairs,
        Spread.of([r.wall for r in renders]),
        Spread.of([f.wall for f in floors]),
        Spread.of([r.cpu for r in renders]),
        Spread.of([f.cpu for f in floors]),
        Spread.of([r.wall / f.wall for r, f in zip(renders, floors, strict=True)]),
        Spread.of([r.cpu / f.cpu for r, f in zip(renders, floors, strict=True)]),
        count,
        os.getloadavg()[0],
    )


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


# --- make test ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MakeTest:
    phases: list[tuple[str, float]]  # (phase, wall seconds) in order, from the Makefile's "==> phase: ..." markers
    total: float
    summary: str  # pytest's last line, e.g. "812 passed in 80.12s"
    load: float  # 1-minute load average at the end


def make_test() -> MakeTest:
    """Run ``make test`` once and time each phase; failures are errors (with the output's tail)."""
    start = time.perf_counter()
    marks: list[tuple[str, float]] = [("make", start)]
    tail: list[str] = []
    process = subprocess.Popen(["make", "test"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        tail = [*tail[-40:], line]
        if line.startswith("==> "):
            marks.append((line[4:].split(":", 1)[0].strip(), time.perf_counter()))
    end = time.perf_counter()
    if process.wait() != 0:
        raise RuntimeError("make test failed:\n" + "".join(tail))
    phases: dict[str, float] = {}
    for (name, began), (_, ended) in zip(marks, [*marks[1:], ("end", end)], strict=True):
        phases[name] = phases.get(name, 0.0) + ended - began
    summary = next((line.strip(" =\n") for line in reversed(tail) if " passed" in line or " failed" in line), "")
    return MakeTest(list(phases.items()), end - start, summary, os.getloadavg()[0])


# --- report --------------------------------------------------------------------------------------


def gib(value: Decimal) -> str:
    return f"{float(value) / 2**30:.2f} GiB"


@dataclass(frozen=True)
class Row:
    stack: str
    cost: RenderCost
    latency: Latency | None
    cpu: Decimal
    memory: Decimal


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--stacks", nargs="+", default=["dev", "staging", "prod"])
    p.add_argument("--pairs", type=int, default=7, help="render/floor pairs per stack; median ratio and spread reported (default 7)")
    p.add_argument("--skip-latency", action="store_true", help="do not run the local stack for detection latency")
    p.add_argument("--skip-make-test", action="store_true", help="do not time `make test`")
    p.add_argument("--skip-engine", action="store_true", help="do not time the real CLI against kubectl on a local API server")
    p.add_argument("--engine-only", action="store_true", help="time only the real CLI against kubectl; --write then refreshes that section alone")
    p.add_argument("--write", type=Path, help="also write the figures as Markdown to this file")
    p.add_argument("--readme", type=Path, default=paths.README, help="README whose benchmark block --write also refreshes")
    args = p.parse_args(argv)

    if args.engine_only:
        return engine_only(args.stacks, args.write)
    compressed = None
    if not args.skip_latency:
        compressed = detection_latency(render(read_stack_config(args.stacks[0])), compressed=True)
        print(f"{args.stacks[0]} with the e2e profile: detection {compressed.measured:.1f}s (floor {compressed.floor:g}s)", flush=True)
    rows = []
    for stack in args.stacks:
        result = render(read_stack_config(stack))
        cpu, memory, _ = requested(result.manifests())
        cost = render_cost(stack, args.pairs)
        print(
            f"{stack}: render {cost.render_wall.median:.2f}s wall / {cost.render_cpu.median:.2f}s CPU, import floor ({cost.modules} modules)"
            f" {cost.floor_wall.median:.2f}s / {cost.floor_cpu.median:.2f}s; render/floor over {cost.pairs} pairs: wall {cost.wall_ratio.ratio()},"
            f" CPU {cost.cpu_ratio.ratio()}; load average {cost.load:.1f}",
            flush=True,
        )
        latency = None if args.skip_latency else detection_latency(result)
        if latency is not None:
            print(
                f"{stack}: detection {latency.measured:.1f}s (floor {latency.floor:.0f}s = scrape {latency.scrape} + eval {latency.evaluation}"
                f" + group_wait {latency.group_wait}); requests {float(cpu):.2f} CPU, {gib(memory)}",
                flush=True,
            )
        rows.append(Row(stack, cost, latency, cpu, memory))
    engine = [] if args.skip_engine else [engine_timing(stack) for stack in args.stacks]
    for timing in engine:
        print(
            f"{timing.stack}: pulumi up {timing.pulumi_up:.1f}s vs kubectl apply {timing.kubectl_apply:.1f}s ({timing.up_vs_apply:.1f}x);"
            f" pulumi preview {timing.pulumi_preview:.1f}s vs server-side dry run {timing.kubectl_dry_run:.1f}s ({timing.preview_vs_dry_run:.1f}x)",
            flush=True,
        )
    timed = None if args.skip_make_test else make_test()
    if timed is not None:
        print(f"make test: {timed.total:.0f}s wall ({', '.join(f'{name} {seconds:.0f}s' for name, seconds in timed.phases)}); {timed.summary}")
    if args.write:
        args.write.write_text(markdown(rows, timed, compressed, args.stacks[0], engine))
        print(f"wrote {args.write}")
        if args.readme.exists():
            args.readme.write_text(readme_with(args.readme.read_text(), summary(rows, timed)))
            print(f"refreshed the benchmark block of {args.readme}")
    return 0


ENGINE_NOTES = (
    "One fresh local control plane per stack (kube-apiserver 1.34.4 on kine, kwok nodes; docs/deploy-test.md), in one run:"
    " `kubectl apply --server-side` of the offline render (CRDs, then the rest), its `--dry-run=server` once the objects"
    " exist, the objects deleted, then `pulumi up` fresh and a no-change `pulumi preview` with the real CLI and provider"
    " (tooling/deploy_bench.py). `pulumi up` includes the provider's readiness waits (kwok makes pods Ready) and the"
    " cluster-identity read; kubectl waits for nothing but the CRDs."
)


def _machine() -> str:
    return f"{os.cpu_count()} cores"


def table(header: list[str], cells: list[list[str]]) -> list[str]:
    """A Markdown table: the header, its separator, one line per row of cells."""
    return ["| " + " | ".join(header) + " |", "|---" * len(header) + "|", *("| " + " | ".join(row) + " |" for row in cells)]


def _cost(c: RenderCost) -> list[str]:
    """Render and floor times, their ratios, the floor's size and the load, as cells."""
    render, floor = f"{c.render_wall.median:.2f}s / {c.render_cpu.median:.2f}s", f"{c.floor_wall.median:.2f}s / {c.floor_cpu.median:.2f}s"
    return [render, floor, c.wall_ratio.ratio(), c.cpu_ratio.ratio(), str(c.modules), f"{c.load:.1f}"]


def render_table(rows: list[Row]) -> list[str]:
    header = ["stack", "render (wall / CPU)", "import floor (wall / CPU)", "render / floor, wall", "render / floor, CPU", "modules in the floor",
              "load average"]
    return table(header, [[r.stack, *_cost(r.cost)] for r in rows])


def make_test_line(timed: MakeTest | None) -> str:
    if timed is None:
        return "`make test` was not timed in this run."
    phases = ", ".join(f"{name} {seconds:.0f}s" for name, seconds in timed.phases)
    return f"`make test` on an existing virtualenv: {timed.total:.0f}s wall ({phases}); pytest: {timed.summary}; load average {timed.load:.1f}, {_machine()}."


def _detection(latency: Latency | None) -> list[str]:
    """The detection latency and its floor, as two cells."""
    if latency is None:
        return ["not run", "-"]
    return [f"{latency.measured:.1f}s", f"{latency.floor:.0f}s ({latency.scrape} + {latency.evaluation} + {latency.group_wait})"]


def latency_table(rows: list[Row]) -> list[str]:
    header = ["stack", "detection latency", "floor (scrape + eval + group_wait)", "CPU requested", "memory requested"]
    return table(header, [[r.stack, *_detection(r.latency), f"{float(r.cpu):.2f}", gib(r.memory)] for r in rows])


def summary(rows: list[Row], timed: MakeTest | None) -> str:
    """The README's block: render against its floor, the test time, detection latency and requests."""
    return "\n".join([*render_table(rows), "", make_test_line(timed), "", *latency_table(rows)])


README_START = "<!-- bench:start (written by make bench) -->"
README_END = "<!-- bench:end -->"


def readme_with(text: str, block: str) -> str:
    """``text`` with the part between the bench markers replaced by ``block`` (unchanged when the markers are missing)."""
    if README_START not in text or README_END not in text:
        return text
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_START}\n{block}\n{README_END}{tail}"


ENGINE_HEADING = "## The real engine against kubectl"


def engine_section(timings: list[EngineTiming]) -> list[str]:
    return [ENGINE_HEADING, "", *engine_table(timings), "", f"{ENGINE_NOTES} Machine: {_machine()}, load average {os.getloadavg()[0]:.1f} at the end."]


def with_section(text: str, section: list[str]) -> str:
    """``text`` with its engine section replaced by ``section`` (or ``section`` put before "How to read it")."""
    block = "\n".join(section) + "\n"
    if ENGINE_HEADING in text:
        head, rest = text.split(ENGINE_HEADING, 1)
        tail = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else rest[rest.find("\nHow to read it") + 1 :] if "\nHow to read it" in rest else ""
        return head + block + "\n" + tail
    marker = "\nHow to read it"
    return text.replace(marker, "\n" + block + marker, 1) if marker in text else text + "\n" + block


def engine_only(stacks: list[str], write: Path | None) -> int:
    timings = [engine_timing(stack) for stack in stacks]
    for t in timings:
        print(f"{t.stack}: pulumi up {t.pulumi_up:.1f}s vs kubectl apply {t.kubectl_apply:.1f}s ({t.up_vs_apply:.1f}x); "
              f"pulumi preview {t.pulumi_preview:.1f}s vs server-side dry run {t.kubectl_dry_run:.1f}s ({t.preview_vs_dry_run:.1f}x)", flush=True)  # fmt: skip
    if write:
        write.write_text(with_section(write.read_text() if write.exists() else "# Benchmarks\n", engine_section(timings)))
        print(f"refreshed the engine section of {write}")
    return 0


def engine_table(timings: list[EngineTiming]) -> list[str]:
    cells = [
        [
            t.stack,
            str(t.objects),
            f"{t.pulumi_up:.1f}s",
            f"{t.kubectl_apply:.1f}s",
            f"{t.up_vs_apply:.1f}x",
            f"{t.pulumi_preview:.1f}s",
            f"{t.kubectl_dry_run:.1f}s",
            f"{t.preview_vs_dry_run:.1f}x",
        ]
        for t in timings
    ]
    header = ["stack", "objects", "pulumi up", "kubectl apply", "ratio", "pulumi preview", "kubectl dry run", "ratio"]
    return table(header, cells)


def markdown(rows: list[Row], timed: MakeTest | None, compressed: Latency | None, first_stack: str, engine: list[EngineTiming] | None = None) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Latest figures of `make bench` (`scripts/bench.py`) on {_machine()}; rerun it to refresh this page and the README's block.",
        "",
        "## Render against its import floor",
        "",
        *render_table(rows),
        "",
        make_test_line(timed),
        "",
        "## Detection latency and requested resources",
        "",
        *latency_table(rows),
    ]
    if engine:
        lines += ["", *engine_section(engine)]
    if compressed is not None:
        lines += [
            "",
            f"With the e2e profile of the tests and the demo ({first_stack} rules and routes; scrape {compressed.scrape}, evaluation"
            f" {compressed.evaluation}, group_wait {compressed.group_wait}, `for` zero): detection {compressed.measured:.1f}s against a"
            f" floor of {compressed.floor:g}s.",
        ]
    lines += [
        "",
        "How to read it:",
        "",
        "- render is a fresh `python -m scripts.render` process writing every file of the stack. Its import floor is a fresh",
        "  process importing exactly the modules that render imported, standard library included, the project's own code",
        "  excluded (`python -m scripts.import_floor`): the SDKs load their submodules lazily, so importing `pulumi_kubernetes`",
        "  alone is not the floor. Render and floor run in pairs, alternating which goes first, after one warm-up run of each",
        "  (bytecode and `build/cache` written, as in a checkout in use); each pair gives one ratio, reported as the median",
        "  with the lowest and highest in brackets. CPU is user + system time of the child process; on a shared machine it",
        "  varies less than wall time. The load average shows how busy the machine was.",
        "- the render keeps CRD schemas out of the SDK's serialization, reuses parsed CRDs and their YAML from `build/cache`",
        "  (keyed by content), and skips the collector and interpreter teardown of a one-shot process; its output is",
        "  byte-identical to the full path, which a test proves.",
        "- `make test` phases are read off the Makefile's `==>` lines; pytest runs on two pytest-xdist workers per core (the Makefile's `PYTEST_WORKERS`).",
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
