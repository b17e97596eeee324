"""Dashboards: every dashboard of dashboards/ deployed to Grafana, in the folder of its system.

With the stack's own Grafana provisioning its objects (no GrafanaAccess, the default), each
dashboard is a ConfigMap ``dashboard-<uid>`` that the Grafana Deployment mounts into its
folder's directory (components/grafana/provisioning.py). With a GrafanaAccess, each becomes a
``grafana.oss.Dashboard`` (its JSON model as config_json) through that provider. With
``dashboards.configMaps`` the ConfigMaps are also labelled ``grafana_dashboard: "1"`` (folder in
the ``grafana_folder`` annotation) for a Grafana whose dashboard sidecar watches ConfigMaps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

import pulumi
import pulumi_kubernetes as k8s
import pulumiverse_grafana as grafana

from components.grafana.access import FOLDERS, GrafanaAccess, GrafanaScope
from components.kit.context import StackContext
from components.kit.labels import standard_labels
from components.settings.grafana import DashboardSettings

NAME = "dashboards"
SIDECAR_LABEL = "grafana_dashboard"
SIDECAR_FOLDER_ANNOTATION = "grafana_folder"


def config_json(model: dict[str, Any]) -> str:
    # Sorted and compact: the same model always gives the same text, so previews stay clean.
    return json.dumps(model, sort_keys=True, separators=(",", ":"))


class DashboardModel(Protocol):
    """One dashboard as the stack deploys it (dashboards/builder.py's Dashboard is one)."""

    @property
    def uid(self) -> str: ...
    @property
    def folder(self) -> str: ...  # a key of components.grafana.access.FOLDERS
    def model(self) -> dict[str, Any]: ...  # the Grafana dashboard JSON model


class Dashboards(pulumi.ComponentResource):
    """``dashboards`` in the Grafana named by ``scope`` (the Grafana component's): through ``access`` when
    given, else as ConfigMaps in ``context.namespace``."""

    def __init__(
        self,
        config: DashboardSettings,
        context: StackContext,
        scope: GrafanaScope,
        dashboards: Sequence[DashboardModel],
        access: GrafanaAccess | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("observability:grafana:Dashboards", NAME, None, opts)
        self.uids: list[str] = []
        for dashboard in dashboards:
            model = scope.dashboard(dashboard.model())
            text = config_json(model)
            self.uids.append(model["uid"])
            if access is not None:
                folder_uid, _ = FOLDERS[dashboard.folder]
                grafana.oss.Dashboard(
                    f"dashboard-{dashboard.uid}",
                    config_json=text,
                    folder=scope.uid(folder_uid),
                    overwrite=True,
                    message="Managed by the observability stack (pulumi)",
                    opts=pulumi.ResourceOptions(parent=self, provider=access.provider, depends_on=[access.folders[dashboard.folder]]),
                )
            if access is None or config.config_maps:
                labels = standard_labels(NAME, context, role="dashboards")
                if config.config_maps:
                    labels |= {SIDECAR_LABEL: "1"}
                k8s.core.v1.ConfigMap(
                    f"dashboard-{dashboard.uid}",
                    metadata={
                        "name": f"dashboard-{dashboard.uid}",
                        "namespace": context.namespace,
                        "labels": labels,
                        "annotations": {SIDECAR_FOLDER_ANNOTATION: scope.title(FOLDERS[dashboard.folder][1])},
                    },
                    data={f"{dashboard.uid}.json": text},
                    opts=pulumi.ResourceOptions(parent=self),
                )
        self.register_outputs({"uids": self.uids})
