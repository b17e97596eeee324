"""Prometheus (monitoring.coreos.com/v1): retention, storage and replicas per environment, bounded cardinality.

It selects exactly the rules, monitors, probes and scrape configs that carry
this stack's selector labels (components.kit.labels.stack_selector) in this
stack's namespace, so nothing the stack creates is missed and nothing foreign
is picked up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.context import StackContext
from components.kit.operated import OperatedKind, OperatedWorkload, namespace_selector, object_selector
from components.kit.rbac import cluster_access, namespace_access, rule
from components.metrics.operator import kubelet_namespace
from components.rules.catalog import FORBIDDEN_LABELS
from components.settings.metrics import PrometheusSettings
from components.wiring import endpoints, flows

NAME = endpoints.PROMETHEUS_RESOURCE
WORKLOAD = OperatedKind(
    kind="Prometheus",
    name=NAME,
    statefulset=endpoints.PROMETHEUS_STATEFULSET,
    role="metrics-store",
    name_label="operator.prometheus.io/name",
    endpoint=endpoints.PROMETHEUS,
)
# Named after the resource, like every component's Service (components/kit/objects.py).
SERVICE = NAME
VOLUME = WORKLOAD.volume
STATEFULSET = WORKLOAD.statefulset
# The scrape class every monitor gets unless it names another (none other exists).
SCRAPE_CLASS = "bounded"
EXTRA_SCRAPE_METRICS = "extra-scrape-metrics"


def forbidden_label_drop() -> dict[str, Any]:
    """Drops every seed-forbidden high-cardinality label from every scraped series."""
    return {"action": "labeldrop", "regex": "|".join(sorted(FORBIDDEN_LABELS))}


def prometheus_fields(config: PrometheusSettings, context: StackContext, *, cluster: str, alertmanager_service: str) -> dict[str, Any]:
    """The spec fields only a Prometheus has: retention, scraping, what it selects, its limits, where it sends alerts."""
    limits = config.scrape_limits
    selector = object_selector(context)
    namespaces = namespace_selector(context)
    return {
        "retention": config.retention,
        "retentionSize": config.retention_size,
        "walCompression": config.wal_compression,
        "scrapeInterval": config.scrape_interval,
        "evaluationInterval": config.evaluation_interval,
        "externalLabels": {"environment": context.environment, "cluster": cluster},
        "ruleSelector": selector,
        "ruleNamespaceSelector": namespaces,
        "serviceMonitorSelector": selector,
        "serviceMonitorNamespaceSelector": namespaces,
        "podMonitorSelector": selector,
        "podMonitorNamespaceSelector": namespaces,
        "probeSelector": selector,
        "probeNamespaceSelector": namespaces,
        "scrapeConfigSelector": selector,
        "scrapeConfigNamespaceSelector": namespaces,
        "scrapeClasses": [{"name": SCRAPE_CLASS, "default": True, "metricRelabelings": [forbidden_label_drop()]}],
        # scrape_sample_limit per target, which ScrapeSampleLimitApproaching divides by (Prometheus 3.5 writes it
        # only with this feature; https://prometheus.io/docs/prometheus/3.5/feature_flags/#extra-scrape-metrics).
        "enableFeatures": [EXTRA_SCRAPE_METRICS],
        # Enforced: no monitor can raise them.
        "enforcedSampleLimit": limits.sample_limit,
        "enforcedTargetLimit": limits.target_limit,
        "enforcedLabelLimit": limits.label_limit,
        "enforcedLabelNameLengthLimit": limits.label_name_length_limit,
        "enforcedLabelValueLengthLimit": limits.label_value_length_limit,
        "enableAdminAPI": False,
        "alerting": {
            "alertmanagers": [
                {"namespace": context.namespace, "name": alertmanager_service, "port": endpoints.ALERTMANAGER.port_name, "apiVersion": "v2"}
            ]
        },
    }


class Prometheus(pulumi.ComponentResource):
    """The stack's Prometheus.

    ``storage_key``: the config key of ``config.storage``; ``cluster``: the cluster's name (an external label);
    ``kubelet_service``: the operator's namespace/name of the kubelet Service (Prometheus discovers targets in
    its namespace); ``requirements``: what the stack's data flows ask of this Prometheus (components/wiring/flows.py);
    ``alertmanager_service``: the Alertmanager Service it sends alerts to.
    """

    service: k8s.core.v1.Service

    def __init__(
        self,
        config: PrometheusSettings,
        context: StackContext,
        *,
        storage_key: str,
        cluster: str,
        kubelet_service: str,
        requirements: Sequence[flows.Requirement],
        alertmanager_service: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("observability:metrics:Prometheus", NAME, None, opts)
        namespace = context.namespace
        workload = OperatedWorkload(WORKLOAD, config, context, storage_key=storage_key, parent=self)

        # The Prometheus pods ask for the account's token: service discovery reads the Kubernetes API.
        cluster_access(
            workload.account,
            rules=[
                rule([""], ["nodes", "nodes/metrics"], ["get", "list", "watch"]),
                {"nonResourceURLs": ["/metrics", "/metrics/cadvisor"], "verbs": ["get"]},
            ],
        )
        discovery = [
            rule([""], ["services", "endpoints", "pods"], ["get", "list", "watch"]),
            rule(["discovery.k8s.io"], ["endpointslices"], ["get", "list", "watch"]),
        ]
        for target_namespace in sorted({namespace, context.host_namespace, kubelet_namespace(kubelet_service)}):
            name = NAME if target_namespace == namespace else f"{NAME}-{namespace}"
            namespace_access(name, namespace=target_namespace, account=workload.account, rules=discovery)

        spec = {**workload.spec(api_token=True), **prometheus_fields(config, context, cluster=cluster, alertmanager_service=alertmanager_service)}
        # What the flows into Prometheus need: Tempo's remote write (the receiver) and its exemplars (the feature flag).
        self.resource, self.service = workload.register(flows.apply(spec, requirements))
        self.register_outputs({"service": self.service.metadata["name"]})
