"""Every scrape the operator generates for a render, against how its exporter labels and stamps series and
against the rules and panels that read those labels (issue 22, kinds 4 and 5).

The scrape side is the operator's own output (``operator-config``, built by ``make tools``), not the monitors
as written; the exporter side is tests/support/exporter_behaviour.py; the consumer side is every rendered rule
and dashboard query.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser as pp
import pytest
import yaml

from components.rules.catalog import ANY_JOB, load_catalog
from components.wiring import scrape_jobs
from tests.support.exporter_behaviour import BEHAVIOUR
from tests.support.panel_queries import prometheus_queries
from tooling import operator_config
from tooling.render import Render

LIMITS = ("sample_limit", "label_limit", "label_name_length_limit", "label_value_length_limit")
# Grafana's interval variables, for parsing panel queries.
GRAFANA_RANGES = re.compile(r"\$__(rate_interval|interval|range)|\$\{__(rate_interval|interval|range)\}")


@pytest.fixture(scope="module")
def generated(rendered: Render, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return operator_config.of_render(rendered.files, tmp_path_factory.mktemp("operator-config"))


def by_job(config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """job label -> the scrape configs whose targets get it."""
    found: dict[str, list[dict[str, Any]]] = {}
    for scrape in config["scrape_configs"]:
        found.setdefault(operator_config.job_label(scrape), []).append(scrape)
    return found


# --- the consumers: every rule and panel expression, and the labels it reads per family ----------------------


def expressions(render: Render) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every rendered rule and Prometheus panel query."""
    for path, text in sorted(render.files.items()):
        if path.startswith("rules/") and path.endswith(".yaml"):
            for group in (yaml.safe_load(text) or {}).get("groups") or []:
                for rule in group["rules"]:
                    yield f"{path}: {rule.get('alert') or rule.get('record')}", str(rule["expr"])
        elif path.startswith("dashboards/") and path.endswith(".json"):
            for query in prometheus_queries(json.loads(text)):
                yield f"{path}: {query.panel}", GRAFANA_RANGES.sub("5m", query.expr)


def read_labels(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) an expression reads: matchers, by/without, on/ignoring and group_x labels.

    A binary operation without ``on`` matches on every label its sides keep, which here are the labels
    of their aggregations; those are counted through the aggregations themselves."""
    names: set[str] = set()
    labels: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, pp.VectorSelector):
            names.add(node.name or "")
            labels.update(m.name for m in node.matchers.matchers if m.name != "__name__")
        elif isinstance(node, pp.AggregateExpr) and node.modifier is not None:
            labels.update(node.modifier.labels)
        elif isinstance(node, pp.BinaryExpr) and node.modifier is not None:
            if node.modifier.matching is not None:
                labels.update(node.modifier.matching.labels)
            labels.update(node.modifier.group_labels or [])

    pp.walk(pp.parse(expr), visit)
    return names - {""}, labels


def readers(render: Render) -> dict[str, list[tuple[str, set[str]]]]:
    """job -> (where, labels read) of every expression reading one of that job's catalog families."""
    catalog = load_catalog()
    found: dict[str, list[tuple[str, set[str]]]] = {}
    for where, expr in expressions(render):
        try:
            names, labels = read_labels(expr)
        except ValueError:
            continue  # a panel's template text PromQL cannot parse (label_values); not a series read
        for name in names:
            if catalog.has_metric(name) and catalog.family(name).job != ANY_JOB:
                found.setdefault(catalog.family(name).job, []).append((where, labels))
    return found


# --- kind 4: scrape settings against the exporter ------------------------------------------------------------


def test_a_label_the_exporter_sets_and_a_rule_or_panel_reads_survives_the_scrape(rendered: Render, generated: dict[str, Any]) -> None:
    """A clash between the exporter's label and the target's is resolved for the exporter (honor_labels) wherever
    a rule or panel reads that label: else kube_pod_container_resource_limits{namespace, pod, container} are the
    kube-state-metrics pod's own and MemoryExhaustion's join never matches."""
    jobs = by_job(generated)
    consumers = readers(rendered)
    wrong = []
    for job, behaviour in BEHAVIOUR.items():
        for scrape in jobs.get(job, []):
            clash = behaviour.own_labels & operator_config.target_labels(scrape)
            read = sorted({label for where, labels in consumers.get(job, []) for label in labels & clash})
            if clash and (read or job == scrape_jobs.job("pushgateway")) and scrape.get("honor_labels") is not True:
                wrong.append(f"{scrape['job_name']} (job {job}): honor_labels is not true, so {sorted(clash)} become exported_*; "
                             f"read by {[w for w, labels in consumers.get(job, []) if labels & clash][:4]}")
    assert wrong == []


def test_the_kube_state_metrics_and_cadvisor_joins_are_found(rendered: Render) -> None:
    """The check above is not vacuous: MemoryExhaustion and the Resource Usage limit lines read both sides' labels."""
    consumers = readers(rendered)
    for job in ("kube-state-metrics", scrape_jobs.CADVISOR):
        wheres = [where for where, labels in consumers.get(job, []) if labels & {"namespace", "pod", "container"}]
        assert any("MemoryExhaustion" in w for w in wheres), (job, wheres)
        assert any("copilot-resource-usage" in w for w in wheres), (job, wheres)


def test_explicitly_stamped_series_go_stale_when_they_leave_the_scrape(generated: dict[str, Any]) -> None:
    """cAdvisor stamps its samples: unless staleness is tracked for them (or the stamps dropped), a gone
    container's series stay for the 5-minute lookback (kube-prometheus#695)."""
    jobs = by_job(generated)
    wrong = []
    for job, behaviour in BEHAVIOUR.items():
        if not behaviour.explicit_timestamps:
            continue
        assert jobs.get(job), f"no scrape of job {job}"
        for scrape in jobs[job]:
            honoured = scrape.get("honor_timestamps", True)
            if honoured and scrape.get("track_timestamps_staleness") is not True:
                wrong.append(scrape["job_name"])
    assert wrong == []


def test_every_job_the_render_scrapes_is_the_one_its_exporter_is_known_by(rendered: Render, generated: dict[str, Any]) -> None:
    """Each monitor's series get the job components/wiring/scrape_jobs.py gives their exporter (the catalog
    reads it from there); a probe keeps the operator's probe/<namespace>/<name> unless it names a service kind."""
    namespace = rendered.settings.namespace
    unknown = [job for job in by_job(generated) if job not in scrape_jobs.EXPORTERS and not job.startswith(f"probe/{namespace}/")]
    assert unknown == []


def test_every_catalog_job_of_the_stack_is_a_job_the_render_scrapes(rendered: Render, generated: dict[str, Any]) -> None:
    """An absence guard watches up{job=<catalog job>}: a family of the stack's own exporters whose job no scrape
    produces has no guard that can fire (loki_*, tempo_*, alertmanager_*, kubelet_volume_* under job prometheus)."""
    jobs = set(by_job(generated))
    service_kinds = {target.kind for target in rendered.settings.service_exporters.targets}
    expected = {m.job for m in load_catalog().metrics.values() if m.job in scrape_jobs.EXPORTERS}
    missing = sorted(job for job in expected - jobs if job not in scrape_jobs.SERVICE_KINDS or job in service_kinds)
    assert missing == []


# The metric namespaces the exporters' own families use (their upstream prefixes): a family under one
# belongs to that exporter's job. Alloy re-exports loki_write_*/prometheus_remote_* of its own components,
# so those prefixes name the exporter only outside the alloy job.
UPSTREAM_NAMESPACES = {
    "prometheus_": "prometheus", "alertmanager_": "alertmanager", "loki_": "loki", "tempo_": "tempo", "tempodb_": "tempo",
    "kubelet_": "kubelet", "kube_": "kube-state-metrics", "container_": scrape_jobs.CADVISOR, "node_": "node-exporter",
    "pushgateway_": "pushgateway", "alloy_": "alloy", "otelcol_": "alloy", "grafana_": "grafana", "prometheus_operator_": "prometheus-operator",
}


def test_each_stack_family_has_the_job_of_the_exporter_whose_namespace_it_is_in() -> None:
    """Among the families the stack's own scrapes produce (the monitored systems' node_* are QMTL's)."""
    wrong = []
    for metric in load_catalog().metrics.values():
        owners = [(prefix, job) for prefix, job in UPSTREAM_NAMESPACES.items() if metric.name.startswith(prefix)]
        if not owners or metric.job not in scrape_jobs.EXPORTERS or metric.job == "alloy":
            continue
        prefix, job = max(owners, key=lambda owner: len(owner[0]))
        if metric.job != job:
            wrong.append(f"{metric.name}: job {metric.job!r}, exported by {job} ({prefix}*)")
    assert wrong == []


# --- kind 5: a guard wherever series are produced -------------------------------------------------------------


def test_every_scrape_has_sample_and_label_limits(generated: dict[str, Any]) -> None:
    """A target that explodes loses its own scrape, not Prometheus's memory; the alerts over these limits are in
    rules/observability-stack.yaml."""
    defaults = generated.get("global") or {}
    unlimited = [
        (scrape["job_name"], key) for scrape in generated["scrape_configs"] for key in LIMITS if not int(scrape.get(key, defaults.get(key, 0)) or 0)
    ]
    assert unlimited == []


def test_the_early_warning_reads_a_series_the_rendered_prometheus_writes(rendered: Render) -> None:
    """ScrapeSampleLimitApproaching reads scrape_sample_limit, which Prometheus 3.5 writes only with extra-scrape-metrics."""
    (prometheus,) = [m for m in rendered.manifests() if m["kind"] == "Prometheus"]
    rules = "".join(text for path, text in rendered.files.items() if path.startswith("rules/"))
    assert "scrape_sample_limit" in rules
    assert "extra-scrape-metrics" in prometheus["spec"].get("enableFeatures", [])


def test_operator_config_reads_the_render(tmp_path: Path) -> None:
    """A directory without a Prometheus is refused with the directory named."""
    (tmp_path / "x.yaml").write_text("kind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(operator_config.OperatorConfigError, match=re.escape(str(tmp_path))):
        operator_config.generate(tmp_path)
