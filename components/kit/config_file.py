"""A component's config file: generated text in the ConfigMap ``<component>-config``, mounted read-only.

The programs read their file only at start, so the pod template carries the text's checksum: a
changed file rolls the pods.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.objects import ComponentMeta

CONFIG_CHECKSUM = "checksum/config"
VOLUME = "config"


@dataclass(frozen=True)
class ConfigFile:
    """Where the program reads its file: ``directory`` (the mount) and ``name`` (the ConfigMap key)."""

    directory: str
    name: str

    @property
    def path(self) -> str:
        return f"{self.directory}/{self.name}"

    def mount(self) -> dict[str, Any]:
        """The container's read-only mount of the config volume."""
        return {"name": VOLUME, "mountPath": self.directory, "readOnly": True}


def config_map_name(meta: ComponentMeta) -> str:
    return f"{meta.name}-config"


def config_map(meta: ComponentMeta, file: ConfigFile, text: str, parent: pulumi.Resource) -> k8s.core.v1.ConfigMap:
    """The ConfigMap ``<component>-config`` holding ``text`` under the file's name."""
    name = config_map_name(meta)
    return k8s.core.v1.ConfigMap(name, metadata=meta.metadata(name), data={file.name: text}, opts=pulumi.ResourceOptions(parent=parent))


def config_volume(meta: ComponentMeta) -> dict[str, Any]:
    """The pod's volume of the component's config ConfigMap."""
    return {"name": VOLUME, "configMap": {"name": config_map_name(meta)}}


def config_checksum(text: str) -> dict[str, str]:
    """Pod-template annotations that change (and so roll the pods) exactly when the config text does."""
    return {CONFIG_CHECKSUM: hashlib.sha256(text.encode()).hexdigest()}
