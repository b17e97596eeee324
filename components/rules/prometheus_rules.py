"""PrometheusRule objects for every rule file and every generated SLO rule set.

One ``monitoring.coreos.com/v1`` PrometheusRule per rule set (``rules/<system>.yaml``
and ``slo-<spec>`` from ``slo/``), in the stack namespace, labelled with the
stack selector so this stack's Prometheus (and only it) loads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.context import StackContext
from components.kit.labels import stack_selector, standard_labels
from components.rules.all_rules import load_all_rules
from components.rules.causes import with_onsets
from components.rules.loader import RuleContext
from components.settings.rules import RulesSettings
from components.settings.units import duration_seconds

NAME = "rules"


def rule_context(config: RulesSettings, namespace: str, retention: Mapping[str, str], grafana_url: str) -> RuleContext:
    """The per-stack facts rule files reference: ``namespace``, ``retention`` per store (store name ->
    duration such as ``7d``, stated in whole seconds), runbook links and ``grafana_url`` for dashboard links."""
    return RuleContext(
        namespace=namespace,
        runbook_base_url=config.runbook_base_url,
        retention_seconds={store: int(duration_seconds(duration)) for store, duration in retention.items()},
        grafana_url=grafana_url,
    )


class RuleSet(pulumi.ComponentResource):
    """Every alerting and recording rule of the stack, as PrometheusRule custom resources; ``retention``
    and ``grafana_url`` as :func:`rule_context` reads them."""

    rules: dict[str, k8s.apiextensions.CustomResource]

    def __init__(
        self,
        config: RulesSettings,
        context: StackContext,
        *,
        retention: Mapping[str, str],
        grafana_url: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("observability:rules:RuleSet", NAME, None, opts)
        labels = {**standard_labels(NAME, context, role="alerting-rules"), **stack_selector(context)}
        child = pulumi.ResourceOptions(parent=self)
        self.rules = {}
        # With the onset companions of the causes that wait longer than their symptoms (components/rules/causes.py).
        specs: dict[str, dict[str, Any]] = with_onsets(load_all_rules(rule_context(config, context.namespace, retention, grafana_url)))
        for name, spec in specs.items():
            self.rules[name] = k8s.apiextensions.CustomResource(
                f"rules-{name}",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata={"name": name, "namespace": context.namespace, "labels": labels},
                spec=spec,
                opts=child,
            )
        self.register_outputs({"rule_sets": sorted(specs)})
