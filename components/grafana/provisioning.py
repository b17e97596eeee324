"""Grafana's own file provisioning: datasources, folders and dashboards delivered as ConfigMaps.

The default way the stack's Grafana gets its objects. Grafana reads the files
from its provisioning directory when it starts (datasources) and re-reads the
dashboard directories every ``UPDATE_INTERVAL_SECONDS``; nothing has to reach
Grafana's API, so `pulumi up` works from anywhere that reaches the Kubernetes
API, including a first deploy from a hosted runner, where Grafana does not
exist yet when the run starts. The API provider is used only when a reachable
URL is configured (``grafana.apiUrl`` or ``grafana.external``).

File formats: Grafana's "Provision Grafana" documentation (apiVersion 1;
datasources with uid, type, url, access, isDefault, jsonData; dashboard
providers of type file with folder, folderUid, options.path). Grafana expands
``$VAR`` and ``${VAR}`` in every string of these files and reads ``$$`` as a
literal ``$`` (pkg/services/provisioning/values/values.go, interpolateValue),
so values that must reach Grafana with a ``$`` (a derived field's
``${__value.raw}``) are written with ``$$``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import yaml

from components.grafana.access import FOLDERS
from components.grafana.datasources import DatasourceSpec

# GF_PATHS_PROVISIONING's default in the grafana/grafana image.
PROVISIONING_DIR = "/etc/grafana/provisioning"
DATASOURCES_DIR = f"{PROVISIONING_DIR}/datasources"
PROVIDERS_DIR = f"{PROVISIONING_DIR}/dashboards"
# Where the dashboard files are mounted: one subdirectory per folder key.
DASHBOARDS_DIR = "/etc/grafana/dashboards"
DATASOURCES_CONFIG_MAP = "grafana-datasources"
PROVIDERS_CONFIG_MAP = "grafana-dashboard-providers"
DATASOURCES_FILE = "datasources.yaml"
PROVIDERS_FILE = "dashboards.yaml"
UPDATE_INTERVAL_SECONDS = 30
# On the Deployment's pod template: a changed datasource file rolls the pod (Grafana reads it only at start).
CHECKSUM_ANNOTATION = "observability.stack/datasources-checksum"


def escape(value: Any) -> Any:
    """``value`` with every ``$`` written as ``$$``, so Grafana's env expansion gives it back unchanged."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: escape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [escape(item) for item in value]
    return value


def datasources_file(specs: list[DatasourceSpec]) -> str:
    """The datasource provisioning file for ``specs`` (uids, urls and links as the API path sets them)."""
    datasources = [
        {
            "name": spec.name,
            "uid": spec.uid,
            "type": spec.type,
            "access": "proxy",
            "url": escape(spec.url),
            "isDefault": spec.is_default,
            # Managed here: an edit in the UI would be lost at the next start.
            "editable": False,
            "jsonData": escape(spec.json_data),
        }
        for spec in specs
    ]
    return yaml.safe_dump({"apiVersion": 1, "datasources": datasources}, sort_keys=True)


def providers_file() -> str:
    """One file provider per folder: its dashboards land in that folder, under the folder's stable UID."""
    providers = [
        {
            "name": key,
            "type": "file",
            "folder": title,
            "folderUid": uid,
            "disableDeletion": False,
            "allowUiUpdates": False,
            "updateIntervalSeconds": UPDATE_INTERVAL_SECONDS,
            "options": {"path": f"{DASHBOARDS_DIR}/{key}"},
        }
        for key, (uid, title) in FOLDERS.items()
    ]
    return yaml.safe_dump({"apiVersion": 1, "providers": providers}, sort_keys=True)


@dataclass(frozen=True)
class DashboardFile:
    uid: str
    folder: str  # key of FOLDERS

    @property
    def config_map(self) -> str:
        return f"dashboard-{self.uid}"

    @property
    def key(self) -> str:
        return f"{self.uid}.json"

    @property
    def path(self) -> str:
        """Relative to DASHBOARDS_DIR: the folder's provider reads it."""
        return f"{self.folder}/{self.key}"


def dashboards_volume(files: list[DashboardFile]) -> dict[str, Any]:
    """A projected volume that lays every dashboard ConfigMap out as <folder>/<uid>.json."""
    sources = [{"configMap": {"name": f.config_map, "items": [{"key": f.key, "path": f.path}]}} for f in files]
    return {"name": "dashboards", "projected": {"sources": sources}}


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
