"""Look-ups into a render shared by the component tests."""

from __future__ import annotations

from typing import Any

import yaml

from tooling.render import Render

_PARSED: dict[int, tuple[Render, list[dict[str, Any]]]] = {}


def manifests(render: Render) -> list[dict[str, Any]]:
    """render.manifests(), parsed once per render (renders are cached for the session)."""
    cached = _PARSED.get(id(render))
    if cached is None or cached[0] is not render:
        cached = (render, render.manifests())
        _PARSED[id(render)] = cached
    return cached[1]


def find(render: Render, kind: str, name: str) -> dict[str, Any]:
    found = [m for m in manifests(render) if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def has(render: Render, kind: str, name: str) -> bool:
    return any(m["kind"] == kind and m["metadata"]["name"] == name for m in manifests(render))


def pod(render: Render, kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = find(render, kind, name)["spec"]["template"]["spec"]
    return spec


def container(render: Render, kind: str, name: str, container_name: str | None = None) -> dict[str, Any]:
    containers = pod(render, kind, name)["containers"]
    return next(c for c in containers if c["name"] == (container_name or name))


def mounted_file(render: Render, kind: str, name: str, path: str) -> str:
    """The text of the ConfigMap file a workload's container sees at ``path`` (follows mount and volume)."""
    spec = pod(render, kind, name)
    directory, file_name = path.rsplit("/", 1)
    for item in spec["containers"]:
        for mount in item.get("volumeMounts", []):
            if mount["mountPath"] == directory:
                volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
                config_map = find(render, "ConfigMap", volume["configMap"]["name"])
                text: str = config_map["data"][file_name]
                return text
    raise AssertionError(f"{kind}/{name} mounts nothing at {directory}")


def mounted_yaml(render: Render, kind: str, name: str, path: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(mounted_file(render, kind, name, path))
    return document


def config_flag(container_spec: dict[str, Any], flag: str) -> str:
    """The value of ``-flag=value`` among the container's args."""
    prefix = f"{flag}="
    args: list[str] = container_spec["args"]
    return next(a[len(prefix) :] for a in args if a.startswith(prefix))
