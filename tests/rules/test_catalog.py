"""The metric catalog loads, resolves exposition suffixes and rejects bad data."""

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from components.rules.catalog import CATALOG_PATH, FORBIDDEN_LABELS, CatalogError, load_catalog, parse_catalog, stored_bound
from components.rules.thresholds import format_number
from tests.support.tools import tool


def test_seed_metrics_are_catalogued() -> None:
    cat = load_catalog()
    for name in [
        "seamless_sla_deadline_seconds",  # seed 000
        "backfill_completion_ratio",
        "cross_context_cache_hit_total",  # seed 002
        "controlbus_apply_ack_latency_ms",
        "dvt_run_completion_duration_seconds",  # seed 003
        "dvt_deferred_signals_queue_length",
        "copilot_parsing_messages_processed_total",  # seed 004 per-service checklist
        "copilot_embedding_generation_duration_seconds",
        "prometheus_tsdb_retention_limit_bytes",  # stack
        "kubelet_volume_stats_available_bytes",
    ]:
        assert name in cat.metrics, name


def test_histogram_suffixes_resolve_with_le() -> None:
    cat = load_catalog()
    assert cat.has_metric("dvt_run_completion_duration_seconds_bucket")
    assert cat.has_metric("dvt_run_completion_duration_seconds_count")
    assert cat.has_metric("dvt_run_completion_duration_seconds_sum")
    # The bare histogram family name is not a series.
    assert not cat.has_metric("dvt_run_completion_duration_seconds")
    assert "le" in cat.labels("dvt_run_completion_duration_seconds_bucket")
    assert "le" not in cat.labels("dvt_run_completion_duration_seconds_count")
    assert {"planId", "status", "job", "instance"} <= cat.labels("dvt_run_completion_duration_seconds_count")


def test_counter_without_total_answers_to_total() -> None:
    cat = load_catalog()
    assert cat.has_metric("domain_gate_holds")
    assert cat.has_metric("domain_gate_holds_total")
    assert cat.family("domain_gate_holds_total").name == "domain_gate_holds"
    assert not cat.has_metric("diff_requests_total_total")


def test_summary_suffixes() -> None:
    data = {"systems": {"x": {"metrics": {"rpc_seconds": {"type": "summary", "labels": ["m"]}}}}}
    cat = parse_catalog(data)
    assert "quantile" in cat.labels("rpc_seconds")
    assert cat.has_metric("rpc_seconds_sum") and cat.has_metric("rpc_seconds_count")


def test_copilot_metrics_carry_required_labels() -> None:
    cat = load_catalog()
    assert {"service", "environment", "status"} <= cat.labels("copilot_chunking_messages_processed_total")
    assert {"service", "environment"} <= cat.labels("copilot_queue_depth_messages")


def test_unknown_metric_is_reported() -> None:
    cat = load_catalog()
    assert not cat.has_metric("dvt_run_completion_duraton_seconds_bucket")
    with pytest.raises(KeyError, match="not in the catalog"):
        cat.labels("nope_total")


def test_no_forbidden_label_in_catalog() -> None:
    cat = load_catalog()
    for m in cat.metrics.values():
        assert not (m.labels & FORBIDDEN_LABELS), m.name


def _write(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "metrics.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_forbidden_label_is_rejected_with_file_and_key(tmp_path: Path) -> None:
    p = _write(tmp_path, {"systems": {"s": {"metrics": {"m_total": {"type": "counter", "labels": ["user_id"]}}}}})
    with pytest.raises(CatalogError) as err:
        load_catalog(p)
    msg = str(err.value)
    assert str(p) in msg and "systems.s.metrics.m_total.labels" in msg and "user_id" in msg


def test_bad_type_is_rejected(tmp_path: Path) -> None:
    p = _write(tmp_path, {"systems": {"s": {"metrics": {"m": {"type": "histgram"}}}}})
    with pytest.raises(CatalogError, match=r"systems\.s\.metrics\.m\.type: got 'histgram'; accepted: counter"):
        load_catalog(p)


def test_duplicate_metric_is_rejected(tmp_path: Path) -> None:
    p = _write(tmp_path, {"systems": {"a": {"metrics": {"m": {"type": "gauge"}}},
                                      "b": {"metrics": {"m": {"type": "gauge"}}}}})
    with pytest.raises(CatalogError, match="already declared by system a"):
        load_catalog(p)


def test_default_path_is_the_repository_catalog() -> None:
    assert CATALOG_PATH.is_file()
    assert load_catalog(CATALOG_PATH).names() == load_catalog().names()


def test_every_family_records_its_failure_modes() -> None:
    """Issue 14: the scrape job whose absence means down, per-run labels, children born non-zero."""
    cat = load_catalog()
    assert [m.name for m in cat.metrics.values() if not m.job] == []
    assert cat.metrics["dvt_adapter_last_heartbeat_seconds"].job == "dvt-engine"
    assert cat.metrics["mongodb_up"].job == "mongodb"
    assert cat.metrics["up"].job == "*"
    assert cat.metrics["copilot_parsing_failures_total"].job == "copilot-parsing"
    per_run = sorted(m.name for m in cat.metrics.values() if m.churn_labels)
    assert per_run == ["controlbus_apply_ack_latency_ms", "controlbus_apply_ack_total",
                       "world_apply_failure_total", "world_apply_run_total"]
    assert cat.metrics["node_process_failure_total"].born_non_zero_labels == {"node_id"}
    assert cat.metrics["dvt_statestore_write_errors_total"].born_non_zero_labels == {"event_type"}
    assert cat.metrics["prometheus_rule_evaluation_failures_total"].born_non_zero_labels == frozenset()
    assert cat.metrics["dvt_projection_lag_events"].born_non_zero_labels == frozenset()  # a gauge


def test_every_histogram_records_its_buckets() -> None:
    cat = load_catalog()
    assert [m.name for m in cat.metrics.values() if m.type == "histogram" and not m.buckets] == []
    assert {1000.0, 5000.0} <= set(cat.metrics["dvt_signal_processing_duration_ms"].buckets)


def test_failure_mode_keys_are_validated(tmp_path: Path) -> None:
    p = _write(tmp_path, {"systems": {"a": {"job": "a", "metrics": {"m": {"type": "counter", "labels": ["x"],
                                                                          "churn_labels": ["run_id"]}}}}})
    with pytest.raises(CatalogError, match=r"systems\.a\.metrics\.m\.churn_labels: got \['run_id'\]; accepted: labels of the metric"):
        load_catalog(p)
    p = _write(tmp_path, {"systems": {"a": {"job": "a", "metrics": {"m": {"type": "histogram", "buckets": [5, 1]}}}}})
    with pytest.raises(CatalogError, match=r"buckets: got \[5, 1\]; accepted: bucket bounds in ascending order"):
        load_catalog(p)


# Bounds beyond the catalog's, on both sides of where Go's shortest %g switches to an exponent (1e-4, 1e6).
EDGE_BOUNDS = (0.0001, 5e-05, 0.25, 2.5, 999999.0, 1e6, 1234567.5, 1e21)


def test_stored_bound_is_the_le_prometheus_stores(tmp_path: Path) -> None:
    """stored_bound against the deployed Prometheus's own parser: every catalog bucket bound (and a few edge
    bounds) exposed as a Go client spells it ("5") and as a Python client does ("5.0"), written to a TSDB block
    by promtool 3.5.0 and read back. Prometheus 3 normalises le on ingestion (prometheus/prometheus#15164), so
    both spellings come back as one text; Prometheus 2.42 kept each as written."""
    bounds = sorted({b for m in load_catalog().metrics.values() for b in m.buckets} | set(EDGE_BOUNDS))
    spellings: dict[str, Callable[[float], str]] = {"go": format_number, "python": lambda b: repr(float(b))}
    lines = []
    for client, spell in spellings.items():
        lines.append(f"# TYPE {client} histogram")
        lines += [f'{client}_bucket{{le="{spell(b)}"}} {i} 1700000000' for i, b in enumerate(bounds)]
        lines += [f'{client}_bucket{{le="+Inf"}} {len(bounds)} 1700000000', f"{client}_count {len(bounds)} 1700000000", f"{client}_sum 1 1700000000"]
    (tmp_path / "in.om").write_text("\n".join([*lines, "# EOF", ""]))
    promtool = tool("promtool")
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "in.om"), str(tmp_path / "data")], check=True, capture_output=True)
    (tmp_path / "data" / "wal").mkdir()
    dump = subprocess.run([promtool, "tsdb", "dump", "--min-time=0", str(tmp_path / "data")], check=True, capture_output=True, text=True).stdout
    for client in spellings:
        stored = dict(re.findall(rf'{{__name__="{client}_bucket", le="([^"]+)"}} (\d+) ', dump))
        assert stored == {**{stored_bound(b): str(i) for i, b in enumerate(bounds)}, "+Inf": str(len(bounds))}, (client, dump)


def test_the_stack_exporters_jobs_come_from_the_monitors(tmp_path: Path) -> None:
    """scrape: <exporter> reads the job the monitors give (components/wiring/scrape_jobs.py); a typed job naming a
    stack exporter, an unknown exporter, or both keys, are refused with the key and the accepted form."""
    from components.wiring import scrape_jobs

    cat = load_catalog()
    for family, exporter in (("loki_discarded_samples_total", "loki"), ("tempo_discarded_spans_total", "tempo"),
                             ("alertmanager_notifications_total", "alertmanager"), ("kubelet_volume_stats_used_bytes", "kubelet"),
                             ("kube_pod_container_resource_limits", "kube-state-metrics"), ("container_memory_working_set_bytes", "cadvisor")):
        assert cat.metrics[family].job == scrape_jobs.job(exporter), family
    cases = [
        ({"scrape": "lokii"}, r"systems\.s\.metrics\.m\.scrape: got 'lokii'; accepted: one of \["),
        ({"job": "loki"}, r"systems\.s\.metrics\.m\.job: got 'loki'; accepted: scrape: loki"),
        ({"job": "x", "scrape": "loki"}, r"systems\.s\.metrics\.m: .*accepted: either scrape"),
    ]
    for extra, message in cases:
        p = _write(tmp_path, {"systems": {"s": {"metrics": {"m": {"type": "gauge", **extra}}}}})
        with pytest.raises(CatalogError, match=message):
            load_catalog(p)
