"""PrometheusRule objects for every rule file and every generated SLO rule set.

One ``monitoring.coreos.com/v1`` PrometheusRule per rule set (``rules/<system>.yaml``
and ``slo-<spec>`` from ``slo/``), in the stack namespace, labelled with the
stack selector so this stack's Prometheus (and only it) loads them.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.labels import stack_selector, standard_labels
from components.rules.loader import RuleContext
from components.rules.ruleset import load_all_rules
from components.settings import Settings
from components.settings.units import duration_seconds

NAME = "rules"


def rule_context(settings: Settings) -> RuleContext:
    """The per-stack facts rule files reference: namespace, retention per store, runbook links."""
    return RuleContext(
        namespace=settings.namespace,
        runbook_base_url=settings.rules.runbook_base_url,
        retention_seconds={
            "prometheus": int(duration_seconds(settings.prometheus.retention)),
            "loki": int(duration_seconds(settings.loki.retention)),
            "tempo": int(duration_seconds(settings.tempo.retention)),
        },
        grafana_url=grafana_url(settings),
    )


def grafana_url(settings: Settings) -> str:
    """Where operators open Grafana: the external Grafana, the Ingress, or else the in-cluster Service."""
    from components.grafana.grafana import api_url, root_url  # late: grafana pulls in the provider modules

    if settings.grafana.external is not None:
        return settings.grafana.external.url
    return root_url(settings) or api_url(settings)


class RuleSet(pulumi.ComponentResource):
    """Every alerting and recording rule of the stack, as PrometheusRule custom resources."""

    rules: dict[str, k8s.apiextensions.CustomResource]

    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:rules:RuleSet", NAME, None, opts)
        labels = {**standard_labels(NAME, settings.context, role="alerting-rules"), **stack_selector(settings.context)}
        child = pulumi.ResourceOptions(parent=self)
        self.rules = {}
        specs: dict[str, dict[str, Any]] = load_all_rules(rule_context(settings))
        for name, spec in specs.items():
            self.rules[name] = k8s.apiextensions.CustomResource(
                f"rules-{name}",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata={"name": name, "namespace": settings.namespace, "labels": labels},
                spec=spec,
                opts=child,
            )
        self.register_outputs({"rule_sets": sorted(specs)})
