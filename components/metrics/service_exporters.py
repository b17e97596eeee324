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

from components.kit.labels import stack_selector, standard_labels
from components.kit.workload import ContainerSpec, Port, Probes, pod_spec, pod_template
from components.metrics.exporters import BLACKBOX_EXPORTER, HTTP_MODULE
from components.metrics.service_availability import PROBED_KINDS
from components.settings import ServiceTarget, Settings
from components.settings.secrets import secret_value
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


def scrape_address(target: ServiceTarget, settings: Settings) -> str:
    """What Prometheus scrapes for a target: the service itself, or its exporter's Service."""
    if target.kind == "mongodb":
        return f"{exporter_name(target)}.{settings.namespace}.svc:{endpoints.MONGODB_EXPORTER.port}"
    return with_port(target)


def probe_url(target: ServiceTarget) -> str:
    endpoint = endpoints.OLLAMA
    return f"http://{with_port(target)}{endpoint.healthy_path}"


def probe_specs(settings: Settings) -> dict[str, dict[str, Any]]:
    """Target name -> Probe spec (blackbox HTTP 2xx of its API), for every target of a probed kind."""
    return {
        target.name: {
            # job="<kind>" (not the operator's probe/<namespace>/<name>): what the availability series selects.
            "jobName": target.kind,
            "prober": {"url": f"{BLACKBOX_EXPORTER}.{settings.namespace}.svc:{endpoints.BLACKBOX_EXPORTER.port}", "path": "/probe"},
            "module": HTTP_MODULE,
            "targets": {"staticConfig": {"static": [probe_url(target)], "labels": {"service": target.name}}},
        }
        for target in settings.service_exporters.targets
        if target.kind in PROBED_KINDS
    }


def scrape_configs(settings: Settings) -> dict[str, dict[str, Any]]:
    """Kind -> ScrapeConfig spec, for the kinds that have targets."""
    specs: dict[str, dict[str, Any]] = {}
    for target in settings.service_exporters.targets:
        if target.kind in PROBED_KINDS:
            continue
        spec = specs.setdefault(target.kind, {"jobName": target.kind, "metricsPath": METRICS_ENDPOINT[target.kind].metrics_path, "staticConfigs": []})
        spec["staticConfigs"].append({"targets": [scrape_address(target, settings)], "labels": {"service": target.name}})
    return specs


class ServiceExporters(pulumi.ComponentResource):
    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:metrics:ServiceExporters", "service-exporters", None, opts)
        exporters = settings.service_exporters
        mongodb = [t for t in exporters.targets if t.kind == "mongodb"]
        credentials = None
        if mongodb and exporters.mongodb_username:
            password = secret_value("mongodbExporterPassword")
            labels = standard_labels(MONGODB_EXPORTER, settings.context, role="service-exporter")
            credentials = k8s.core.v1.Secret(
                MONGODB_EXPORTER,
                metadata={"name": MONGODB_EXPORTER, "namespace": settings.namespace, "labels": labels},
                type="Opaque",
                string_data={"MONGODB_USER": exporters.mongodb_username, "MONGODB_PASSWORD": password or ""},
                opts=pulumi.ResourceOptions(parent=self),
            )
        for target in mongodb:
            self._mongodb_exporter(settings, target, credentials)
        for name, spec in sorted(probe_specs(settings).items()):
            k8s.apiextensions.CustomResource(
                f"probe-service-{name}",
                api_version="monitoring.coreos.com/v1",
                kind="Probe",
                metadata={
                    "name": f"service-{name}",
                    "namespace": settings.namespace,
                    "labels": {**standard_labels(f"service-{name}", settings.context, role="service-monitor"), **stack_selector(settings.context)},
                },
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self),
            )
        for kind, spec in sorted(scrape_configs(settings).items()):
            k8s.apiextensions.CustomResource(
                f"scrape-{kind}",
                api_version="monitoring.coreos.com/v1alpha1",
                kind="ScrapeConfig",
                metadata={
                    "name": f"service-{kind}",
                    "namespace": settings.namespace,
                    "labels": {**standard_labels(f"service-{kind}", settings.context, role="service-monitor"), **stack_selector(settings.context)},
                },
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})

    def _mongodb_exporter(self, settings: Settings, target: ServiceTarget, credentials: k8s.core.v1.Secret | None) -> None:
        config = settings.service_exporters.mongodb_exporter
        name = exporter_name(target)
        # One app name for every MongoDB exporter (NetworkPolicies, monitors); the instance tells targets apart.
        selector = {"app.kubernetes.io/name": MONGODB_EXPORTER, "app.kubernetes.io/instance": f"{name}-{settings.stack}"}
        labels = {**standard_labels(MONGODB_EXPORTER, settings.context, role="service-exporter", image=config.image), **selector, "service": target.name}
        metadata = {"name": name, "namespace": settings.namespace, "labels": labels}
        account = k8s.core.v1.ServiceAccount(name, metadata=metadata, automount_service_account_token=False, opts=pulumi.ResourceOptions(parent=self))
        endpoint = endpoints.MONGODB_EXPORTER
        exporter = ContainerSpec(
            name=MONGODB_EXPORTER,
            image=config.image,
            resources=config.resources,
            probes=Probes.http(endpoint),
            ports=(Port(endpoint.port_name, endpoint.port),),
            args=(f"--mongodb.uri=mongodb://{with_port(target)}/admin", f"--web.listen-address=:{endpoint.port}", "--collect-all", "--compatible-mode"),
            # The exporter reads MONGODB_USER and MONGODB_PASSWORD when set.
            extra={"envFrom": [{"secretRef": {"name": MONGODB_EXPORTER}}]} if credentials is not None else {},
        )
        depends: list[pulumi.Resource] = [account, *([credentials] if credentials is not None else [])]
        k8s.apps.v1.Deployment(
            name,
            metadata=metadata,
            spec={
                "replicas": config.replicas,
                "selector": {"matchLabels": selector},
                "template": pod_template(labels=labels, spec=pod_spec(containers=[exporter], service_account_name=name)),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
        k8s.core.v1.Service(
            name,
            metadata=metadata,
            spec={
                "selector": selector,
                "ports": [{"name": endpoint.port_name, "port": endpoint.port, "targetPort": endpoint.port_name}],
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
