"""StackContainerRestarting against the render: every pod the stack runs, in its namespace or the host
collectors' one, is read by exactly one rule, Alloy's by its own, and no application's pod is read.

A crash-looping pod is Ready between restarts, so StackReplicasUnavailable's ``for:`` starts again at each
Ready and ScrapeTargetDown flaps (issue 22, second re-review, F2). kube-state-metrics v2.16.0 labels
kube_pod_container_status_restarts_total with ``namespace``, ``pod``, ``uid`` and ``container``
(internal/store/pod.go), kept as the described pod's by the scrape's honorLabels (components/wiring/flows.py).
"""

from __future__ import annotations

import re
from typing import Any

import promql_parser as pp
import pytest
import yaml

from components.wiring import endpoints
from tests.support.k8s_objects import manifests
from tooling.render import Render

ALERT = "StackContainerRestarting"
FAMILY = "kube_pod_container_status_restarts_total"
# How each controller names its pods (a StatefulSet <name>-<ordinal>; a Deployment <name>-<hash>-<suffix>;
# a DaemonSet <name>-<suffix>); the operator's StatefulSets are <kind>-<name> (v0.85.0).
POD_NAMES = {"StatefulSet": "{}-0", "Deployment": "{}-5d8f9c7b6-x2k4q", "DaemonSet": "{}-x2k4q"}
OPERATED = {"Prometheus": "prometheus", "Alertmanager": "alertmanager"}


def _rules(render: Render) -> list[dict[str, Any]]:
    spec = yaml.safe_load(render.files["rules/observability-stack.yaml"])
    return [r for g in spec["groups"] for r in g["rules"] if r.get("alert") == ALERT]


def _matchers(expr: str) -> list[tuple[str, str, str]]:
    """(label, op, value) of the expression's one selector of FAMILY."""
    found: list[list[tuple[str, str, str]]] = []

    def pre(node: Any) -> None:
        if isinstance(node, pp.VectorSelector) and node.name == FAMILY:
            found.append([(m.name, str(m.op), m.value) for m in node.matchers.matchers if m.name != "__name__"])

    pp.walk(pp.parse(expr), pre)
    assert len(found) == 1, expr
    return found[0]


def _selects(matchers: list[tuple[str, str, str]], labels: dict[str, str]) -> bool:
    for name, op, value in matchers:
        actual = labels.get(name, "")
        anchored = re.fullmatch(value, actual) is not None
        refused = {
            "MatchOp.Equal": actual != value, "MatchOp.NotEqual": actual == value,
            "MatchOp.Re": not anchored, "MatchOp.NotRe": anchored,
        }
        assert op in refused, f"matcher {op} is not modelled here"
        if refused[op]:
            return False
    return True


def _pods(render: Render) -> set[tuple[str, str, str]]:
    """(namespace, pod name, controller name) of a pod of every workload the render makes."""
    found = set()
    for m in manifests(render):
        namespace, name = m["metadata"].get("namespace", ""), m["metadata"]["name"]
        if m["kind"] in POD_NAMES:
            found.add((namespace, POD_NAMES[m["kind"]].format(name), name))
        elif m["kind"] in OPERATED and m["apiVersion"].startswith("monitoring.coreos.com/"):
            statefulset = f"{OPERATED[m['kind']]}-{name}"
            found.add((namespace, f"{statefulset}-0", statefulset))
    return found


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_pod_of_the_render_is_read_by_one_rule_and_alloy_s_by_its_own(render_stack, stack: str) -> None:
    render = render_stack(stack)
    rules = [(rule["labels"]["service"], _matchers(rule["expr"])) for rule in _rules(render)]
    pods = _pods(render)
    namespaces = {namespace for namespace, _, _ in pods}
    assert f"{render.settings.namespace}-host" in namespaces and len(pods) >= 8, sorted(pods)
    for namespace, pod, controller in sorted(pods):
        labels = {"namespace": namespace, "pod": pod, "container": controller, "job": "kube-state-metrics"}
        readers = [service for service, matchers in rules if _selects(matchers, labels)]
        expected = ["alloy"] if controller == endpoints.STATEFULSETS[endpoints.ALLOY_NAME] else ["observability-stack"]
        assert readers == expected, f"{namespace}/{pod} is read by {readers}, expected {expected}"
    for application in ({"namespace": "shop", "pod": "alloy-0"}, {"namespace": "shop", "pod": "api-5d8f9c7b6-x2k4q"}):
        assert not [s for s, matchers in rules if _selects(matchers, application)], application
