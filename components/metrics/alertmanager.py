"""Alertmanager (monitoring.coreos.com/v1): replicas per environment, config generated from settings.

Two Secrets: the config (plain data, no credentials; the render writes it as
alertmanager.yaml) and the receivers' credentials, built only from Pulumi
secrets and mounted where the config's *_file fields point.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.kit.context import StackContext
from components.kit.operated import OperatedKind, OperatedWorkload, namespace_selector, object_selector
from components.metrics.alertmanager_config import RECEIVERS_SECRET, alertmanager_config, credential_keys
from components.settings.metrics import AlertingSettings, AlertmanagerSettings
from components.settings.secrets import secret_value
from components.settings.units import go_duration
from components.wiring import endpoints

NAME = endpoints.ALERTMANAGER_RESOURCE
WORKLOAD = OperatedKind(
    kind="Alertmanager",
    name=NAME,
    statefulset=endpoints.ALERTMANAGER_STATEFULSET,
    role="alert-router",
    name_label="alertmanager",
    endpoint=endpoints.ALERTMANAGER,
)
# Named after the resource, like every component's Service (components/kit/objects.py).
SERVICE = NAME
CONFIG_SECRET = "alertmanager-config"
CONFIG_KEY = "alertmanager.yaml"
# tooling/render.py writes the Secret carrying this label to DIR/alertmanager.yaml.
CONFIG_LABEL = "observability.stack/alertmanager-config"


def config_text(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=1000)


class Alertmanager(pulumi.ComponentResource):
    """The stack's Alertmanager, routing as ``alerting`` says and muting symptoms by ``causes`` (the rule set's
    inhibit rules, components/rules/causes.py); ``storage_key`` is the config key of ``config.storage``."""

    service: k8s.core.v1.Service
    service_name = SERVICE

    def __init__(
        self,
        config: AlertmanagerSettings,
        context: StackContext,
        *,
        alerting: AlertingSettings,
        causes: list[dict[str, Any]],
        storage_key: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("observability:metrics:Alertmanager", NAME, None, opts)
        workload = OperatedWorkload(WORKLOAD, config, context, storage_key=storage_key, parent=self)
        meta = workload.meta
        child = pulumi.ResourceOptions(parent=self)
        routing = alertmanager_config(alerting, causes)
        config_secret = k8s.core.v1.Secret(
            CONFIG_SECRET,
            metadata={**meta.metadata(CONFIG_SECRET), "labels": {**meta.labels, CONFIG_LABEL: "true"}},
            type="Opaque",
            string_data={CONFIG_KEY: config_text(routing)},
            opts=child,
        )
        credentials: dict[str, pulumi.Output[str]] = {}
        for key in credential_keys(routing):
            value = secret_value(key)
            if value is not None:
                credentials[key] = value
        receivers_secret = k8s.core.v1.Secret(
            RECEIVERS_SECRET,
            metadata=meta.metadata(RECEIVERS_SECRET),
            type="Opaque",
            # No receiver credential (dev): no stringData at all. An empty map is dropped by the API server, so
            # pulumi-kubernetes planned a replacement of this Secret on every preview (seen by the deploy test).
            string_data=credentials or None,
            opts=child,
        )
        spec = {
            # Alertmanager never calls the Kubernetes API.
            **workload.spec(api_token=False),
            # The CRD's retention is a GoDuration (h, m, s, ms; monitoring.coreos.com_alertmanagers.yaml):
            # 5d is written 120h.
            "retention": go_duration(config.retention),
            "configSecret": CONFIG_SECRET,
            "secrets": [RECEIVERS_SECRET],
            # Only this stack's AlertmanagerConfig objects (none today) may add routes.
            "alertmanagerConfigSelector": object_selector(context),
            "alertmanagerConfigNamespaceSelector": namespace_selector(context),
        }
        self.resource, self.service = workload.register(spec, depends_on=[config_secret, receivers_secret])
        self.register_outputs({"service": self.service.metadata["name"]})
