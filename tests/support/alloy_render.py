"""The rendered Alloy config, parsed, whichever workload kind runs Alloy (a DaemonSet or a StatefulSet)."""

from __future__ import annotations

from components.wiring import endpoints
from tests.support.alloy_parser import Block, parse
from tests.support.k8s_objects import manifests
from tooling.render import Render

WORKLOAD_KINDS = ("DaemonSet", "StatefulSet", "Deployment")


def alloy_blocks(render: Render) -> list[Block]:
    """The top-level blocks of the config file Alloy's container is started with (its ``args[1]``)."""
    for manifest in manifests(render):
        if manifest["kind"] in WORKLOAD_KINDS and manifest["metadata"]["name"] == endpoints.ALLOY_NAME:
            spec = manifest["spec"]["template"]["spec"]
            args = next(c for c in spec["containers"] if c["name"] == endpoints.ALLOY_NAME)["args"]
            directory, file_name = args[1].rsplit("/", 1)
            mount = next(m for c in spec["containers"] if c["name"] == endpoints.ALLOY_NAME for m in c["volumeMounts"] if m["mountPath"] == directory)
            volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
            (config,) = [m for m in manifests(render) if m["kind"] == "ConfigMap" and m["metadata"]["name"] == volume["configMap"]["name"]]
            return parse(config["data"][file_name])
    raise AssertionError("no Alloy workload in the render")


def one(blocks: list[Block], name: str, label: str | None = None) -> Block:
    """The only block ``name`` (with ``label`` when given)."""
    found = [b for b in blocks if b.name == name and (label is None or b.label == label)]
    assert len(found) == 1, f"{name} {label}: {len(found)} blocks"
    return found[0]
