"""Alertmanager (monitoring.coreos.com/v1): replicas per environment, config generated from settings.

Two Secrets: the config (plain data, no credentials; the render writes it as
alertmanager.yaml) and the receivers' credentials, built only from Pulumi
secrets and mounted where the config's *_file fields point.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.kit.availability import disruption_budget, spread
from components.kit.labels import NAME_LABEL, image_tag, stack_selector, standard_labels
from components.kit.protection import stateful_options
from components.kit.volumes import replica_claims
from components.kit.workload import pod_security_context
from components.metrics.alertmanager_config import RECEIVERS_SECRET, alertmanager_config
from components.metrics.prometheus import KEEP_VOLUME_SIZE, namespace_selector, volume_claim_template
from components.settings import Settings
from components.settings.metrics_checks import RECEIVER_SECRET_KEYS, required_secrets
from components.settings.secrets import secret_value
from components.settings.units import go_duration
from components.wiring import endpoints

NAME = endpoints.ALERTMANAGER_RESOURCE
SERVICE = endpoints.ALERTMANAGER_NAME
CONFIG_SECRET = "alertmanager-config"
CONFIG_KEY = "alertmanager.yaml"
# scripts/render.py writes the Secret carrying this label to DIR/alertmanager.yaml.
CONFIG_LABEL = "observability.stack/alertmanager-config"
# Labels the operator puts on the pods of this Alertmanager resource.
POD_SELECTOR = {NAME_LABEL: endpoints.ALERTMANAGER_NAME, "alertmanager": NAME}
VOLUME = "alertmanager-data"
# The operator names the StatefulSet of an Alertmanager resource alertmanager-<name>.
STATEFULSET = endpoints.ALERTMANAGER_STATEFULSET


def config_text(settings: Settings) -> str:
    return yaml.safe_dump(alertmanager_config(settings), sort_keys=False, default_flow_style=False, width=1000)


class Alertmanager(pulumi.ComponentResource):
    service: k8s.core.v1.Service
    service_name = SERVICE

    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:metrics:Alertmanager", NAME, None, opts)
        config = settings.alertmanager
        namespace = settings.namespace
        labels = standard_labels(NAME, settings.context, role="alert-router", image=config.image)
        metadata = {"name": NAME, "namespace": namespace, "labels": labels}
        child = pulumi.ResourceOptions(parent=self)

        account = k8s.core.v1.ServiceAccount(NAME, metadata=metadata, automount_service_account_token=False, opts=child)
        config_secret = k8s.core.v1.Secret(
            CONFIG_SECRET,
            metadata={**metadata, "name": CONFIG_SECRET, "labels": {**labels, CONFIG_LABEL: "true"}},
            type="Opaque",
            string_data={CONFIG_KEY: config_text(settings)},
            opts=child,
        )
        credentials: dict[str, pulumi.Output[str]] = {}
        for key in sorted(set(required_secrets(settings)) & set(RECEIVER_SECRET_KEYS)):
            value = secret_value(key)
            if value is not None:
                credentials[key] = value
        receivers_secret = k8s.core.v1.Secret(
            RECEIVERS_SECRET,
            metadata={**metadata, "name": RECEIVERS_SECRET},
            type="Opaque",
            string_data=credentials,
            opts=child,
        )
        spec = {
            "image": config.image,
            "version": image_tag(config.image),
            "replicas": config.replicas,
            "serviceAccountName": NAME,
            # Alertmanager never calls the Kubernetes API.
            "automountServiceAccountToken": False,
            "podMetadata": {"labels": labels},
            "resources": config.resources.as_kubernetes(),
            "securityContext": pod_security_context(),
            # The CRD's retention is a GoDuration (h, m, s, ms; monitoring.coreos.com_alertmanagers.yaml):
            # 5d is written 120h.
            "retention": go_duration(config.retention),
            "storage": {"volumeClaimTemplate": volume_claim_template(VOLUME, config.storage)},
            "configSecret": CONFIG_SECRET,
            "secrets": [RECEIVERS_SECRET],
            # Only this stack's AlertmanagerConfig objects (none today) may add routes.
            "alertmanagerConfigSelector": {"matchLabels": dict(stack_selector(settings.context))},
            "alertmanagerConfigNamespaceSelector": namespace_selector(settings),
        }
        spec.update(spread(POD_SELECTOR, config.replicas, settings.context))
        # Each replica's claim is the stack's, so a larger size grows it in place (docs/data-safety.md).
        claims = replica_claims(
            settings.context, config.storage, settings.storage_key(config.storage),
            template=VOLUME, statefulset=STATEFULSET, replicas=config.replicas, labels=labels, parent=self
        )
        self.resource = k8s.apiextensions.CustomResource(
            NAME,
            api_version="monitoring.coreos.com/v1",
            kind="Alertmanager",
            metadata=metadata,
            spec=spec,
            opts=stateful_options(
                settings.context, self, depends_on=[account, config_secret, receivers_secret, *claims], ignore_changes=[KEEP_VOLUME_SIZE]
            ),
        )
        endpoint = endpoints.ALERTMANAGER
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
