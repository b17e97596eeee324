"""What dashboards and datasources need to reach Grafana: stable UIDs, the folders, the provider.

The UIDs are written once here and used by datasources, dashboard targets and
links between datasources, so a link can never point at a UID that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

PROMETHEUS_UID = "prometheus"
LOKI_UID = "loki"
TEMPO_UID = "tempo"
ALERTMANAGER_UID = "alertmanager"
DATASOURCE_UIDS = (PROMETHEUS_UID, LOKI_UID, TEMPO_UID, ALERTMANAGER_UID)

# Folder key -> (folder UID, title): one folder per monitored system and one for the stack itself.
FOLDERS: dict[str, tuple[str, str]] = {
    "qmtl": ("qmtl", "QMTL"),
    "dvt": ("dvt", "DVT"),
    "copilot": ("copilot", "Copilot"),
    "platform": ("platform", "Platform"),
}


@dataclass(frozen=True)
class GrafanaAccess:
    """Handed from the Grafana component to everything that creates Grafana objects."""

    provider: pulumi.ProviderResource
    folders: Mapping[str, pulumi.Resource]  # folder key (see FOLDERS) -> grafana.oss.Folder
