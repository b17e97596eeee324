"""The SLA violation injector and the load generator emit what they promise, to files, HTTP and a real Pushgateway."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from components import paths
from components.rules.catalog import load_catalog
from components.rules.thresholds import threshold
from scripts import inject_sla_violation as injector
from tooling.load import MergedCollector, build, push
from tooling.localstack import http_get
from tooling.sla_violation import BUDGET, DOWNGRADE_REASON, JOB, default_duration
from tooling.synthetic import LoadGenerator, presence_series

REPO = paths.REPO_ROOT
SCRIPT = paths.SCRIPTS_DIR / "inject_sla_violation.py"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample_names(text: str) -> set[str]:
    return {name for name, _ in samples(text)}


def total_phase(text: str, le: str) -> float:
    return samples(text)[("seamless_sla_deadline_seconds_bucket", (("le", le), ("phase", "total")))]


def test_dry_run_covers_every_seamless_metric_and_touches_nothing(tmp_path, capsys) -> None:
    out = tmp_path / "seamless.metrics"
    code = injector.main(["seam-node-1", "--repetitions", "3", "--dry-run", "--write-to", str(out), "--push", "http://127.0.0.1:9"])
    text = capsys.readouterr().out
    assert code == 0
    assert not out.exists()
    names = sample_names(text)
    missing = [presence_series(m) for m in load_catalog().by_system("qmtl-seamless") if presence_series(m) not in names]
    assert not missing
    budget = threshold(BUDGET)
    # Three requests, all slower than the budget: none in the budget bucket, all in +Inf.
    assert total_phase(text, "+Inf") == 3
    assert total_phase(text, f"{budget:.1f}") == 0


def test_seed_example_writes_the_exposition_text(tmp_path) -> None:
    out = tmp_path / "seamless.metrics"
    code = injector.main(["seam-node-1", "--duration", "250", "--repetitions", "5", "--write-to", str(out)], sleep=lambda _: None)
    assert code == 0
    text = out.read_text()
    assert total_phase(text, "+Inf") == 5
    node = (("interval", "60"), ("node_id", "seam-node-1"), ("world_id", "world-main"))
    assert samples(text)[("seamless_total_ms_sum", node)] == 5 * 250_000
    assert samples(text)[("domain_gate_holds_total", (("reason", DOWNGRADE_REASON),))] == 5


def test_stuck_lease_and_conformance_surge_are_optional(capsys) -> None:
    injector.main(["seam-node-1", "--repetitions", "2", "--dry-run", "--stuck-lease", "lease-A", "--conformance-flags", "40"])
    got = samples(capsys.readouterr().out)
    assert got[("backfill_completion_ratio", (("lease_key", "lease-A"),))] < threshold("seamless_backfill_stuck_ratio")
    assert got[("seamless_conformance_flag_total", (("flag_type", "schema_drift"),))] == 80
    injector.main(["seam-node-1", "--repetitions", "2", "--dry-run"])
    got = samples(capsys.readouterr().out)
    assert got[("backfill_completion_ratio", (("lease_key", "seam-node-1-lease"),))] == 1.0
    assert got[("seamless_conformance_flag_total", (("flag_type", "schema_drift"),))] == 0


def test_default_duration_is_above_the_budget() -> None:
    assert default_duration() > threshold(BUDGET)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["seam-node-1", "--duration", "-5"], "--duration: got '-5'; accepted: a positive float"),
        (["seam-node-1", "--repetitions", "zero"], "--repetitions: got 'zero'; accepted: a positive int"),
        (["seam-node-1", "--conformance-flags", "-1"], "--conformance-flags: got -1; accepted: an integer >= 0"),
    ],
)
def test_bad_arguments_name_the_option_and_the_accepted_form(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        injector.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_unreachable_pushgateway_fails_with_the_reason(capsys) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        code = injector.main(["seam-node-1", "--repetitions", "1", "--push", f"http://127.0.0.1:{port}"], sleep=lambda _: None)
    assert code == 1
    assert "inject_sla_violation:" in capsys.readouterr().err


def test_serve_runs_as_a_script_and_exposes_the_metrics() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Run as the seed runs it: a file, not a module.
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "seam-node-1", "--serve", "4", "--port", str(port), "--interval", "0.2", "--repetitions", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/",
    )
    try:
        text = ""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                text = http_get(f"http://127.0.0.1:{port}/metrics").decode()
                if total_phase(text, "+Inf") == 2:
                    break
            except (OSError, KeyError):
                pass
            time.sleep(0.2)
        assert total_phase(text, "+Inf") == 2
        assert proc.wait(15) == 0
    finally:
        proc.kill()
        proc.wait()


def test_push_lands_on_a_real_pushgateway_under_the_node_instance(storage_stack) -> None:
    code = injector.main(["seam-node-7", "--repetitions", "2", "--push", storage_stack.pushgateway_url], sleep=lambda _: None)
    assert code == 0
    text = http_get(f"{storage_stack.pushgateway_url}/metrics").decode()
    key = ("seamless_sla_deadline_seconds_count", (("instance", "seam-node-7"), ("job", JOB), ("phase", "total")))
    assert samples(text)[key] == 2


def test_load_generator_pushes_every_non_live_catalog_family(storage_stack) -> None:
    generator = build()
    generator.tick(1.0, time.time())
    push(generator, storage_stack.pushgateway_url)
    names = sample_names(http_get(f"{storage_stack.pushgateway_url}/metrics").decode())
    missing = [presence_series(m) for m in generator.families if presence_series(m) not in names]
    assert not missing
    assert len(generator.families) > 100


def test_served_load_carries_the_grouping_labels() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    generator = build(namespace="obs")
    generator.tick(1.0, time.time())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MergedCollector(generator))
    got = samples(generate_latest(registry).decode())
    assert got[("up", (("job", "qdrant"),))] == 1.0
    assert got[("probe_success", (("instance", "http://ollama:11434/"), ("job", "ollama")))] == 1.0
    assert got[("probe_success", (("instance", "http://reporting:8080/health"), ("job", "probe/obs/blackbox")))] == 1.0


def test_healthy_load_keeps_failure_counters_flat_and_ratios_high() -> None:
    generator = build()
    for _ in range(3):
        generator.tick(1.0, time.time())
    totals = totals_by_status(generator)
    assert totals[("cross_context_cache_hit_total", "")] == 0
    assert totals[("dvt_runs_completed_total", "failed")] == 0
    assert totals[("dvt_runs_completed_total", "success")] > 0


def totals_by_status(generator: LoadGenerator) -> dict[tuple[str, str], float]:
    """(sample name, status label or '') -> summed value, over every group."""
    out: dict[tuple[str, str], float] = {}
    for _, registry in generator.groups():
        for family in registry.collect():
            for s in family.samples:
                key = (s.name, s.labels.get("status", ""))
                out[key] = out.get(key, 0.0) + s.value
    return out
