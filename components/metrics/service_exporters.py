"""Seed 004's service exporters, from settings.serviceExporters.targets.

Ollama exports no metrics: each ollama target gets a blackbox Probe of its API
(job="ollama"), the series its availability alert and the System Health panel read.

RabbitMQ (its built-in plugin's per-object endpoint, 15692) and Qdrant (/metrics on 6333) are
scraped where they run; each MongoDB target gets a MongoDB exporter (9216).
One ScrapeConfig per kind names the job after the kind (job="rabbitmq", ...),
as the rules expect, and labels each target with its `service` name.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.context import StackContext
from components.kit.labels import standard_labels
from components.kit.objects import ComponentMeta, service
from components.kit.operated import MONITORING_GROUP, selected_metadata
from components.kit.rbac import account
from components.kit.serving import deployment, serving_container
from components.kit.workload import pod_spec
from components.metrics.exporters import BLACKBOX_EXPORTER, HTTP_MODULE
from components.metrics.service_availability import PROBED_KINDS
from components.settings.metrics import ServiceExportersSettings, ServiceTarget
from components.settings.secrets import secret_value
from components.settings.types import Workload
from components.wiring import endpoints

MONGODB_EXPORTER = endpoints.MONGODB_EXPORTER_NAME
# Where each kind serves metrics (or, for Ollama, its API) when the target's address names no port.
DEFAULT_PORT = {"mongodb": 27017, "rabbitmq": endpoints.RABBITMQ_PROMETHEUS.port, "qdrant": endpoints.QDRANT.port, "ollama": endpoints.OLLAMA.port}



# What Prometheus scrapes for each kind: the MongoDB exporter, RabbitMQ's per-object endpoint, Qdrant.
METRICS_ENDPOINT = {"mongodb": endpoints.MONGODB_EXPORTER, "rabbitmq": endpoints.RABBITMQ_PROMETHEUS, "qdrant": endpoints.QDRANT}


def with_port(target: ServiceTarget) -> str:
    return target.address if ":" in target.address else f"{target.address}:{DEFAULT_PORT[target.kind]}"


def exporter_name(target: ServiceTarget) -> str:
    return f"{MONGODB_EXPORTER}-{target.name}"[:63].rstrip("-")


def scrape_address(target: ServiceTarget, namespace: str) -> str:
    """What Prometheus scrapes for a target: the service itself, or its exporter's Service (in ``namespace``)."""
    if target.kind == "mongodb":
        return f"{exporter_name(target)}.{namespace}.svc:{endpoints.MONGODB_EXPORTER.port}"
    return with_port(target)


def probe_url(target: ServiceTarget) -> str:
    endpoint = endpoints.OLLAMA
    return f"http://{with_port(target)}{endpoint.healthy_path}"


def probe_specs(config: ServiceExportersSettings, namespace: str) -> dict[str, dict[str, Any]]:
    """Target name -> Probe spec (blackbox HTTP 2xx of its API, by the blackbox exporter in ``namespace``), for every target of a probed kind."""
    return {
        target.name: {
            # job="<kind>" (not the operator's probe/<namespace>/<name>): what the availability series selects.
            "jobName": target.kind,
            "prober": {"url": f"{BLACKBOX_EXPORTER}.{namespace}.svc:{endpoints.BLACKBOX_EXPORTER.port}", "path": "/probe"},
            "module": HTTP_MODULE,
            "targets": {"staticConfig": {"static": [probe_url(target)], "labels": {"service": target.name}}},
        }
        for target in config.targets
        if target.kind in PROBED_KINDS
    }


def scrape_configs(config: ServiceExportersSettings, namespace: str) -> dict[str, dict[str, Any]]:
    """Kind -> ScrapeConfig spec, for the kinds that have targets (MongoDB exporters in ``namespace``)."""
    specs: dict[str, dict[str, Any]] = {}
    for target in config.targets:
        if target.kind in PROBED_KINDS:
            continue
        spec = specs.setdefault(target.kind, {"jobName": target.kind, "metricsPath": METRICS_ENDPOINT[target.kind].metrics_path, "staticConfigs": []})
        spec["staticConfigs"].append({"targets": [scrape_address(target, namespace)], "labels": {"service": target.name}})
    return specs


class ServiceExporters(pulumi.ComponentResource):
    """A MongoDB exporter per mongodb target, a Probe per probed target, a ScrapeConfig per scraped kind."""

    def __init__(self, config: ServiceExportersSettings, context: StackContext, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:metrics:ServiceExporters", "service-exporters", None, opts)
        self.context = context
        namespace = context.namespace
        mongodb = [t for t in config.targets if t.kind == "mongodb"]
        credentials = None
        if mongodb and config.mongodb_username:
            password = secret_value("mongodbExporterPassword")
            labels = standard_labels(MONGODB_EXPORTER, context, role="service-exporter")
            credentials = k8s.core.v1.Secret(
                MONGODB_EXPORTER,
                metadata={"name": MONGODB_EXPORTER, "namespace": namespace, "labels": labels},
                type="Opaque",
                string_data={"MONGODB_USER": config.mongodb_username, "MONGODB_PASSWORD": password or ""},
                opts=pulumi.ResourceOptions(parent=self),
            )
        for target in mongodb:
            self._mongodb_exporter(config.mongodb_exporter, target, credentials)
        for name, spec in sorted(probe_specs(config, namespace).items()):
            self._selected(f"probe-service-{name}", "v1", "Probe", f"service-{name}", spec)
        for kind, spec in sorted(scrape_configs(config, namespace).items()):
            self._selected(f"scrape-{kind}", "v1alpha1", "ScrapeConfig", f"service-{kind}", spec)
        self.register_outputs({})

    def _selected(self, resource_name: str, version: str, kind: str, name: str, spec: dict[str, Any]) -> None:
        """A monitoring.coreos.com object ``name`` of ``kind`` (API ``version``) that the stack's Prometheus selects."""
        k8s.apiextensions.CustomResource(
            resource_name,
            api_version=f"{MONITORING_GROUP}/{version}",
            kind=kind,
            metadata=selected_metadata(name, self.context, role="service-monitor"),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _mongodb_exporter(self, config: Workload, target: ServiceTarget, credentials: k8s.core.v1.Secret | None) -> None:
        context = self.context
        name = exporter_name(target)
        # One app name for every MongoDB exporter (NetworkPolicies, monitors); the instance tells targets apart.
        selector = {"app.kubernetes.io/name": MONGODB_EXPORTER, "app.kubernetes.io/instance": f"{name}-{context.stack}"}
        labels = {**standard_labels(MONGODB_EXPORTER, context, role="service-exporter", image=config.image), **selector, "service": target.name}
        meta = ComponentMeta(name, context.namespace, labels, selector)
        exporter_account = account(meta, self)
        endpoint = endpoints.MONGODB_EXPORTER
        exporter = serving_container(
            MONGODB_EXPORTER,
            config,
            endpoint,
            args=(f"--mongodb.uri=mongodb://{with_port(target)}/admin", f"--web.listen-address=:{endpoint.port}", "--collect-all", "--compatible-mode"),
            # The exporter reads MONGODB_USER and MONGODB_PASSWORD when set.
            extra={"envFrom": [{"secretRef": {"name": MONGODB_EXPORTER}}]} if credentials is not None else {},
        )
        deployment(
            meta,
            replicas=config.replicas,
            pod=pod_spec(containers=[exporter], service_account_name=name),
            depends_on=[exporter_account.resource, *([credentials] if credentials is not None else [])],
            parent=self,
        )
        service(meta, exporter.ports, self)
