"""Prometheus (monitoring.coreos.com/v1): retention, storage and replicas per environment, bounded cardinality.

It selects exactly the rules, monitors, probes and scrape configs that carry
this stack's selector labels (components.kit.labels.stack_selector) in this
stack's namespace, so nothing the stack creates is missed and nothing foreign
is picked up.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.availability import disruption_budget, spread
from components.kit.labels import NAME_LABEL, image_tag, stack_selector, standard_labels
from components.kit.protection import stateful_options
from components.kit.rbac import cluster_access, namespace_access, rule
from components.kit.volumes import replica_claims
from components.kit.workload import pod_security_context
from components.rules.catalog import FORBIDDEN_LABELS
from components.settings import Settings
from components.wiring import endpoints
from components.wiring import flows as data_flows

NAME = endpoints.PROMETHEUS_RESOURCE
SERVICE = endpoints.PROMETHEUS_NAME
# The scrape class every monitor gets unless it names another (none other exists).
SCRAPE_CLASS = "bounded"
# Labels the operator puts on the pods of this Prometheus resource.
POD_SELECTOR = {NAME_LABEL: endpoints.PROMETHEUS_NAME, "operator.prometheus.io/name": NAME}


def namespace_selector(settings: Settings) -> dict[str, Any]:
    # The API server sets this label on every namespace (Kubernetes 1.21+).
    return {"matchLabels": {"kubernetes.io/metadata.name": settings.namespace}}


def object_selector(settings: Settings) -> dict[str, Any]:
    return {"matchLabels": dict(stack_selector(settings.context))}


def forbidden_label_drop() -> dict[str, Any]:
    """Drops every seed-forbidden high-cardinality label from every scraped series."""
    return {"action": "labeldrop", "regex": "|".join(sorted(FORBIDDEN_LABELS))}


# Changing the claim template makes the operator delete and recreate the StatefulSet (every replica
# at once) and still leaves the existing volumes at their old size. The stack owns each replica's
# claim instead (components/kit/volumes.py) and grows it in place, so later size changes are not sent
# to the resource (docs/data-safety.md).
KEEP_VOLUME_SIZE = "spec.storage.volumeClaimTemplate.spec.resources"
VOLUME = "prometheus-data"
# The operator names the StatefulSet of a Prometheus resource prometheus-<name>.
STATEFULSET = endpoints.PROMETHEUS_STATEFULSET


def volume_claim_template(name: str, storage: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage.size}}}
    if storage.storage_class:
        spec["storageClassName"] = storage.storage_class
    return {"metadata": {"name": name}, "spec": spec}


def prometheus_spec(settings: Settings, alertmanager_service: str) -> dict[str, Any]:
    config = settings.prometheus
    limits = config.scrape_limits
    selector = object_selector(settings)
    namespaces = namespace_selector(settings)
    spec: dict[str, Any] = {
        "image": config.image,
        "version": image_tag(config.image),
        "replicas": config.replicas,
        "serviceAccountName": NAME,
        "automountServiceAccountToken": True,
        "podMetadata": {"labels": standard_labels(NAME, settings.context, role="metrics-store", image=config.image)},
        "resources": config.resources.as_kubernetes(),
        "securityContext": pod_security_context(),
        "retention": config.retention,
        "retentionSize": config.retention_size,
        "walCompression": config.wal_compression,
        "storage": {"volumeClaimTemplate": volume_claim_template(VOLUME, config.storage)},
        "scrapeInterval": config.scrape_interval,
        "evaluationInterval": config.evaluation_interval,
        "externalLabels": {"environment": settings.environment, "cluster": settings.cluster},
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
        # Enforced: no monitor can raise them.
        "enforcedSampleLimit": limits.sample_limit,
        "enforcedTargetLimit": limits.target_limit,
        "enforcedLabelLimit": limits.label_limit,
        "enforcedLabelNameLengthLimit": limits.label_name_length_limit,
        "enforcedLabelValueLengthLimit": limits.label_value_length_limit,
        "enableAdminAPI": False,
        "alerting": {
            "alertmanagers": [
                {"namespace": settings.namespace, "name": alertmanager_service, "port": endpoints.ALERTMANAGER.port_name, "apiVersion": "v2"}
            ]
        },
    }
    spec.update(spread(POD_SELECTOR, config.replicas, settings.context))
    # What the flows into Prometheus need: Tempo's remote write (the receiver) and its exemplars (the feature flag).
    return data_flows.apply(spec, data_flows.requirements(settings, endpoints.PROMETHEUS_NAME))


class Prometheus(pulumi.ComponentResource):
    service: k8s.core.v1.Service

    def __init__(self, settings: Settings, *, alertmanager_service: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:metrics:Prometheus", NAME, None, opts)
        config = settings.prometheus
        namespace = settings.namespace
        labels = standard_labels(NAME, settings.context, role="metrics-store", image=config.image)
        metadata = {"name": NAME, "namespace": namespace, "labels": labels}
        child = pulumi.ResourceOptions(parent=self)

        # The account mounts no token by default; the Prometheus pods ask for it (service discovery).
        account = k8s.core.v1.ServiceAccount(NAME, metadata=metadata, automount_service_account_token=False, opts=child)
        access = pulumi.ResourceOptions(parent=self, depends_on=[account])
        cluster_access(
            f"{NAME}-{namespace}",
            account=NAME,
            account_namespace=namespace,
            labels=labels,
            rules=[
                rule([""], ["nodes", "nodes/metrics"], ["get", "list", "watch"]),
                {"nonResourceURLs": ["/metrics", "/metrics/cadvisor"], "verbs": ["get"]},
            ],
            opts=access,
        )
        discovery = [
            rule([""], ["services", "endpoints", "pods"], ["get", "list", "watch"]),
            rule(["discovery.k8s.io"], ["endpointslices"], ["get", "list", "watch"]),
        ]
        kubelet_namespace = settings.operator.kubelet_service.split("/", 1)[0]
        for target_namespace in sorted({namespace, kubelet_namespace}):
            name = NAME if target_namespace == namespace else f"{NAME}-{namespace}"
            namespace_access(
                name, namespace=target_namespace, account=NAME, account_namespace=namespace, labels=labels, rules=discovery, opts=access
            )

        claims = replica_claims(
            settings.context, config.storage, settings.storage_key(config.storage),
            template=VOLUME, statefulset=STATEFULSET, replicas=config.replicas, labels=labels, parent=self
        )
        self.resource = k8s.apiextensions.CustomResource(
            NAME,
            api_version="monitoring.coreos.com/v1",
            kind="Prometheus",
            metadata=metadata,
            spec=prometheus_spec(settings, alertmanager_service),
            opts=stateful_options(settings.context, self, depends_on=[account, *claims], ignore_changes=[KEEP_VOLUME_SIZE]),
        )
        endpoint = endpoints.PROMETHEUS
        self.service = k8s.core.v1.Service(
            SERVICE,
            metadata={**metadata, "name": SERVICE},
            spec={
                "selector": POD_SELECTOR,
                "ports": [{"name": endpoint.port_name, "port": endpoint.port, "targetPort": endpoint.port_name}],
            },
            opts=child,
        )
        disruption_budget(NAME, settings.context, replicas=config.replicas, selector=POD_SELECTOR, labels=labels, parent=self)
        self.register_outputs({"service": self.service.metadata["name"]})
