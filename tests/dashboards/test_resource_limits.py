"""Panels that draw or divide by kube-state-metrics' container limits count only containers that can run.

kube-state-metrics v2.16.0 keeps kube_pod_container_resource_limits for a pod that is Succeeded or Failed
(a finished Job, an evicted pod), which no longer runs and has no cAdvisor series: summed by container, the
limit line was too high and "Memory against limit" too low (issue 22 review, 4a). The cAdvisor side and the
limit side also filter the same namespaces, so a container of the same name elsewhere is not counted.

The structural check reads every rendered dashboard; the behaviour is shown on the real promtool (Prometheus
3.5.0) evaluating the rendered Resource Usage queries on series as the two exporters write them.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import promql_parser as pp
import yaml

from tests.support.panel_queries import interpolate, prometheus_queries
from tests.support.tools import tool
from tooling.render import Render

LIMIT_FAMILIES = ("kube_pod_container_resource_limits", "kube_pod_container_resource_requests")
PHASE = "kube_pod_status_phase"
CADVISOR_PREFIX = "container_"
DASHBOARD = "dashboards/copilot-resource-usage.json"
GRAFANA_RANGES = re.compile(r"\$__(rate_interval|interval|range)|\$\{__(rate_interval|interval|range)\}")


def _selectors(expr: str) -> list[pp.VectorSelector]:
    found: list[pp.VectorSelector] = []

    def visit(node: Any) -> None:
        if isinstance(node, pp.VectorSelector):
            found.append(node)

    pp.walk(pp.parse(expr), visit)
    return found


def _names(selector: pp.VectorSelector) -> set[str]:
    return {m.name for m in selector.matchers.matchers}


def _limit_queries(render: Render) -> list[tuple[str, str]]:
    found = []
    for path, text in sorted(render.files.items()):
        if path.startswith("dashboards/") and path.endswith(".json"):
            for q in prometheus_queries(json.loads(text)):
                expr = GRAFANA_RANGES.sub("5m", q.expr)
                if any(name in expr for name in LIMIT_FAMILIES) and any(s.name in LIMIT_FAMILIES for s in _selectors(expr)):
                    found.append((f"{q.dashboard} / {q.panel} / {q.ref_id}", expr))
    return found


def test_every_limit_panel_counts_live_pods_in_the_services_namespaces(rendered: Render) -> None:
    queries = _limit_queries(rendered)
    assert len(queries) >= 3, queries
    for where, expr in queries:
        selectors = _selectors(expr)
        limits = [s for s in selectors if s.name in LIMIT_FAMILIES]
        usage = [s for s in selectors if (s.name or "").startswith(CADVISOR_PREFIX)]
        assert all("namespace" in _names(s) for s in limits + usage), f"{where}: a side without a namespace filter"
        # Joined on the pod's phase, or on the very containers whose usage it is divided into.
        assert PHASE in {s.name for s in selectors} or usage, f"{where}: limits of Succeeded/Failed pods are counted"
        # Or divided per (namespace, pod, container) into that container's usage, as MemoryExhaustion divides (issue 23):
        # a finished or Pending pod has no working set, so its limit meets nothing.
        per_container = "by (namespace, pod, container)"
        assert " and on (namespace, pod" in expr or (usage and expr.count(per_container) == 2 and " / " in expr), where


def _rendered_queries(render: Render, values: dict[str, str]) -> dict[str, str]:
    model = json.loads(render.files[DASHBOARD])
    return {f"{q.panel}/{q.ref_id}": interpolate(q.expr, values) for q in prometheus_queries(model)}


def _series(name: str, value: float, **labels: str) -> dict[str, str]:
    text = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{text}}}", "values": f"{value:g}x15"}


def test_the_limit_line_and_ratio_leave_out_finished_pods_on_the_real_promtool(rendered: Render, tmp_path: Path) -> None:
    """parsing runs one pod (0.5 GB of a 1 GB limit); a finished Job pod and a pod of another namespace with
    the same container name keep their limit series; a Pending pod has a limit and no usage yet."""
    gigabyte = 1e9
    ksm, kubelet = {"job": "kube-state-metrics"}, {"job": "kubelet", "id": "/kubepods/x"}
    pods = {("copilot", "parsing-a"): "Running", ("copilot", "parsing-job"): "Succeeded", ("copilot", "parsing-new"): "Pending",
            ("other", "parsing-z"): "Running"}
    inputs = []
    for (namespace, pod), phase in pods.items():
        inputs.append(_series("kube_pod_container_resource_limits", gigabyte, **ksm, namespace=namespace, pod=pod, container="parsing",
                              resource="memory", unit="byte"))
        for each in ("Pending", "Running", "Succeeded", "Failed"):
            inputs.append(_series(PHASE, 1 if each == phase else 0, **ksm, namespace=namespace, pod=pod, phase=each))
    inputs.append(_series("container_memory_working_set_bytes", 0.5 * gigabyte, **kubelet, namespace="copilot", pod="parsing-a", container="parsing"))
    inputs.append(_series("container_memory_working_set_bytes", 0.9 * gigabyte, **kubelet, namespace="other", pod="parsing-z", container="parsing"))
    # Grafana's substitution for $service = parsing, $namespace = "All" of the values found (copilot only).
    queries = _rendered_queries(rendered, {"service": "(parsing)", "namespace": "(copilot)", "__rate_interval": "5m"})
    limit = next(q for key, q in queries.items() if key.startswith("Memory by service/") and "resource_limits" in q)
    ratio = queries["Memory against limit/A"]
    doc = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": inputs,
            "promql_expr_test": [
                # The running pod and the pending one: what the service's pods may use.
                {"expr": limit, "eval_time": "10m", "exp_samples": [{"labels": '{container="parsing"}', "value": 2 * gigabyte}]},
                # Per pod, as MemoryExhaustion compares it: only the running pod has a bar.
                {"expr": ratio, "eval_time": "10m",
                 "exp_samples": [{"labels": '{container="parsing", namespace="copilot", pod="parsing-a"}', "value": 0.5}]},
            ],
        }],
    }
    path = tmp_path / "limits.test.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = subprocess.run([tool("promtool"), "test", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
