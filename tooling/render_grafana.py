"""The render's grafana/ and dashboards/ files for a Grafana that provisions its objects from ConfigMaps.

What Grafana ends up with, in the same shape the render gives the API path's
folders, datasources and dashboards, so a reviewer (and the tests) read one
form whichever way the objects are delivered. Strings of the provisioning
files go through Grafana's own expansion first (``grafana_expand``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import yaml

from components.grafana import provisioning
from tooling.mock_runtime import Registered

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
_VARIABLE = re.compile(r"\$(\{([^}]*)\}|([A-Za-z0-9_]+))")


def grafana_expand(value: Any, env: Mapping[str, str] | None = None) -> Any:
    """A provisioning file's value as Grafana reads it (pkg/services/provisioning/values/values.go,
    interpolateValue): split on ``$$``, expand ``$VAR``/``${VAR}`` in each part as Go's os.ExpandEnv
    does (an unset variable becomes empty), join the parts with ``$``."""
    env = env or {}
    if isinstance(value, str):
        return "$".join(_VARIABLE.sub(lambda m: env.get(m.group(2) or m.group(3) or "", ""), part) for part in value.split("$$"))
    if isinstance(value, dict):
        return {key: grafana_expand(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [grafana_expand(item, env) for item in value]
    return value


def _json(document: Any) -> str:
    return json.dumps(document, sort_keys=True, indent=2) + "\n"


@cache
def dashboard_file(model_text: str) -> str:
    """The dashboards/*.json text of a dashboard whose JSON model is ``model_text``, once per distinct model in
    the process: the same dashboards come back in nearly every render, and indented JSON is written by the
    json module's pure-Python encoder."""
    return _json(json.loads(model_text))


def provisioned_files(records: Iterable[Registered]) -> dict[str, str]:
    """grafana/datasource-*, grafana/folder-*, grafana/dashboard-* and dashboards/* from the provisioning ConfigMaps."""
    maps = {r.inputs["metadata"]["name"]: r.inputs for r in records if r.type == CONFIG_MAP}
    if provisioning.DATASOURCES_CONFIG_MAP not in maps:
        return {}
    files: dict[str, str] = {}
    datasources = yaml.safe_load(maps[provisioning.DATASOURCES_CONFIG_MAP]["data"][provisioning.DATASOURCES_FILE])
    for source in grafana_expand(datasources["datasources"]):
        document = {
            "uid": source["uid"],
            "name": source["name"],
            "type": source["type"],
            "url": source["url"],
            "accessMode": source["access"],
            "isDefault": source["isDefault"],
            "jsonDataEncoded": source["jsonData"],
            "provisionedFrom": f"configmap/{provisioning.DATASOURCES_CONFIG_MAP}",
        }
        files[f"grafana/datasource-{source['uid']}.json"] = _json(document)
    providers = yaml.safe_load(maps[provisioning.PROVIDERS_CONFIG_MAP]["data"][provisioning.PROVIDERS_FILE])
    folder_of_directory = {}
    for provider in grafana_expand(providers["providers"]):
        files[f"grafana/folder-{provider['folderUid']}.json"] = _json({"uid": provider["folderUid"], "title": provider["folder"]})
        folder_of_directory[provider["options"]["path"]] = provider["folderUid"]
    # Where each dashboard file lands: the Grafana pod's projected volume, as the kubelet lays it out.
    for config_map, key, path in _mounted_dashboards(records):
        model = json.loads(maps[config_map]["data"][key])
        directory = path.rsplit("/", 1)[0]
        placement = {"uid": model["uid"], "title": model.get("title"), "folder": folder_of_directory.get(directory)}
        files[f"dashboards/{model['uid']}.json"] = dashboard_file(maps[config_map]["data"][key])
        files[f"grafana/dashboard-{model['uid']}.json"] = _json(placement | {"provisionedFrom": f"configmap/{config_map}"})
    return files


def _mounted_dashboards(records: Iterable[Registered]) -> list[tuple[str, str, str]]:
    """(ConfigMap, key, absolute path) of every dashboard file the Grafana Deployment mounts."""
    found = []
    for record in records:
        if record.type != "kubernetes:apps/v1:Deployment":
            continue
        spec = record.inputs["spec"]["template"]["spec"]
        mount_paths = {m["name"]: m["mountPath"] for c in spec["containers"] for m in c.get("volumeMounts", [])}
        for volume in spec.get("volumes", []):
            if volume["name"] not in mount_paths or "projected" not in volume:
                continue
            for source in volume["projected"]["sources"]:
                config_map = source.get("configMap")
                for item in (config_map or {}).get("items", []):
                    found.append((config_map["name"], item["key"], f"{mount_paths[volume['name']]}/{item['path']}"))
    return found
