"""StackReplicasUnavailable against the render: every StatefulSet the stack runs, as kube-state-metrics names
it, is read by one rule, and the page comes while the missing replica's backlog can still be taken.

A replica that cannot be scheduled has no IP, so no scrape target: up, ScrapeTargetDown and the Service probe
never see it, and an Alloy replica's share of the cluster's logs is silently not tailed (issue 22 review, 1a).
kube-state-metrics v2.16.0 labels kube_statefulset_* with ``namespace`` and ``statefulset``
(internal/store/statefulset.go); its scrape keeping ``namespace`` is checked for every reader in
tests/components/metrics/test_scrape_semantics.py.
"""

from __future__ import annotations

import re

import pytest
import yaml

from components.logs import loki_config
from components.metrics.exporters import KSM_API_RESOURCES, KSM_RESOURCES
from components.rules.guards import selectors
from components.settings.units import duration_seconds
from components.wiring import endpoints
from tests.support.k8s_objects import container, find, manifests, mounted_yaml
from tooling.render import Render

ALERT = "StackReplicasUnavailable"
FAMILIES = ("kube_statefulset_replicas", "kube_statefulset_status_replicas_ready", "kube_statefulset_status_replicas_updated")
# The operator names the StatefulSet of a Prometheus or Alertmanager resource <kind>-<name> (v0.85.0).
OPERATED = {"Prometheus": "prometheus", "Alertmanager": "alertmanager"}


def _rules(render: Render) -> list[dict]:
    spec = yaml.safe_load(render.files["rules/observability-stack.yaml"])
    return [r for g in spec["groups"] for r in g["rules"] if r.get("alert") == ALERT]


def _statefulsets(render: Render) -> set[tuple[str, str]]:
    """(namespace, name) of every StatefulSet the render makes, itself or through the operator."""
    found = set()
    for m in manifests(render):
        if m["kind"] == "StatefulSet":
            found.add((m["metadata"]["namespace"], m["metadata"]["name"]))
        elif m["kind"] in OPERATED and m["apiVersion"].startswith("monitoring.coreos.com/"):
            found.add((m["metadata"]["namespace"], f"{OPERATED[m['kind']]}-{m['metadata']['name']}"))
    return found


def _read(rule: dict) -> set[tuple[str, str]]:
    """(namespace, statefulset) a rule reads; every selector of it must name the same one."""
    read = set()
    for sel in selectors(rule["expr"]):
        assert sel.name in FAMILIES, sel.name
        assert not sel.regex, f"{ALERT} selects by regex: {sel.regex}"
        read.add((sel.equal["namespace"], sel.equal["statefulset"]))
    assert len(read) == 1, read
    return read


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_statefulset_of_the_render_is_read_by_one_rule(render_stack, stack: str) -> None:
    render = render_stack(stack)
    read = [pair for rule in _rules(render) for pair in _read(rule)]
    assert len(read) == len(set(read)), f"a StatefulSet read by two rules: {read}"
    made = _statefulsets(render)
    assert len(made) >= 5, made
    assert made <= set(read), f"StatefulSets no rule reads: {sorted(made - set(read))}"
    assert set(read) == {(render.settings.namespace, name) for name in endpoints.STATEFULSETS.values()}


def test_each_page_says_what_its_statefulset_loses(rendered: Render) -> None:
    impacts = {}
    for rule in _rules(rendered):
        (_, name), = _read(rule)
        description = rule["annotations"]["description"]
        assert "{{ $labels.statefulset }}" in description
        impacts[name] = re.search(r"Impact: (.*)", description).group(1)  # type: ignore[union-attr]
    assert "share of the cluster's pod logs is not tailed" in impacts[endpoints.STATEFULSETS[endpoints.ALLOY_NAME]]
    assert len(set(impacts.values())) == len(impacts), "each StatefulSet's page names its own loss"


def test_kube_state_metrics_reports_statefulsets(rendered: Render) -> None:
    args = container(rendered, "Deployment", endpoints.KUBE_STATE_METRICS_NAME)["args"]
    resources = next(a.split("=", 1)[1].split(",") for a in args if a.startswith("--resources="))
    assert "statefulsets" in resources and "statefulsets" in KSM_RESOURCES
    assert "statefulsets" in KSM_API_RESOURCES["apps"]
    role = find(rendered, "ClusterRole", f"{endpoints.KUBE_STATE_METRICS_NAME}-{rendered.settings.namespace}")
    assert any("apps" in r["apiGroups"] and "statefulsets" in r["resources"] and {"list", "watch"} <= set(r["verbs"]) for r in role["rules"])


def _minutes(text: str) -> float:
    return float(duration_seconds(text)) / 60


def test_an_alloy_replica_is_paged_before_loki_refuses_its_backlog(rendered: Render) -> None:
    """The replica resumes from its saved positions into streams the other replicas kept current; Loki takes
    an entry only up to max_chunk_age/2 behind its stream's newest (pkg/ingester/stream.go, v3.5.3). The page
    (the rule's no-progress window plus its ``for``) must come well inside that window."""
    loki = mounted_yaml(rendered, "StatefulSet", endpoints.LOKI_NAME, loki_config.CONFIG.path)
    window = _minutes(loki["ingester"]["max_chunk_age"]) / 2
    alloy = next(r for r in _rules(rendered) if _read(r) == {(rendered.settings.namespace, endpoints.STATEFULSETS[endpoints.ALLOY_NAME])})
    [progress] = re.findall(r"changes\([^\[]*\[(\w+)\]\)", alloy["expr"])
    latency = _minutes(progress) + _minutes(alloy["for"])
    assert latency <= window / 2, f"paged after {latency}m; Loki refuses lines more than {window}m behind"
    assert f"{window / 60:g}h behind" in alloy["annotations"]["description"], "the page states Loki's window"
