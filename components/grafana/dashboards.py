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
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import pulumi
import pulumi_kubernetes as k8s
import pulumiverse_grafana as grafana

from components.grafana.access import FOLDERS, GrafanaAccess, grafana_scope
from components.kit.labels import standard_labels
from components.settings import Settings

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


# Builds the dashboards of one stack (dashboards/registry.py: build_dashboards). Passed in by the program
# (program.py) so that components never import dashboards/, which builds on components.
DashboardSource = Callable[[Settings], Sequence[DashboardModel]]


class Dashboards(pulumi.ComponentResource):
    def __init__(
        self, settings: Settings, dashboards: Sequence[DashboardModel], access: GrafanaAccess | None, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("observability:grafana:Dashboards", NAME, None, opts)
        self.uids: list[str] = []
        scope = grafana_scope(settings.stack, settings.grafana.external is not None)
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
            if access is None or settings.dashboards.config_maps:
                labels = standard_labels(NAME, settings.context, role="dashboards")
                if settings.dashboards.config_maps:
                    labels |= {SIDECAR_LABEL: "1"}
                k8s.core.v1.ConfigMap(
                    f"dashboard-{dashboard.uid}",
                    metadata={
                        "name": f"dashboard-{dashboard.uid}",
                        "namespace": settings.namespace,
                        "labels": labels,
                        "annotations": {SIDECAR_FOLDER_ANNOTATION: scope.title(FOLDERS[dashboard.folder][1])},
                    },
                    data={f"{dashboard.uid}.json": text},
                    opts=pulumi.ResourceOptions(parent=self),
                )
        self.register_outputs({"uids": self.uids})
