"""The Prometheus Operator's CRDs, vendored from the pinned release and registered as CustomResourceDefinitions."""

from __future__ import annotations

import marshal
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import paths
from components.kit import build_cache
from components.kit.context import StackContext
from components.kit.labels import MANAGED_BY, PART_OF
from components.kit.operated import MONITORING_GROUP
from components.kit.protection import stateful_options

CRD_ROOT = paths.CRD_ROOT
# Which custom resources this stack creates: each must have its CRD vendored.
USED_KINDS = ("Prometheus", "Alertmanager", "PrometheusRule", "ServiceMonitor", "PodMonitor", "Probe", "ScrapeConfig")


def crd_directory(operator_image: str) -> Path:
    """The vendored CRDs of the operator release the image pins (tag vX.Y.Z)."""
    tag = operator_image.split("@", 1)[0].rsplit(":", 1)[1]
    directory = CRD_ROOT / f"prometheus-operator-{tag}"
    if not directory.is_dir():
        known = sorted(p.name for p in CRD_ROOT.iterdir() if p.is_dir())
        raise FileNotFoundError(f"operator.image {operator_image}: no vendored CRDs in {directory}; vendored releases: {', '.join(known)}")
    return directory


class _CrdLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader (C when available: the files are megabytes) that reads a bare '=' as text.

    PyYAML resolves '=' to YAML 1.1's 'value' tag but has no constructor for it; the CRDs list '=' as an enum value.
    """


_CrdLoader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_yaml_str)


def _cache_name(sources: list[tuple[str, bytes]]) -> str:
    """Named by the CRD files, this module's code (loader, stripping) and the versions that shape marshal's and PyYAML's output."""
    versions = f"{sys.version}|{marshal.version}|{yaml.__version__}".encode()
    parts = [part for name, text in sources for part in (name.encode(), text)]
    return f"crds-{build_cache.key(versions, Path(__file__).read_bytes(), *parts)}.marshal"


def _parse(sources: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    documents = []
    for _, text in sources:
        for document in yaml.load_all(text, Loader=_CrdLoader):
            if document:
                documents.append({**document, "spec": without_descriptions(document["spec"])})
    return documents


@cache
def load_crds(directory: Path) -> tuple[dict[str, Any], ...]:
    """The CRD documents of one vendored release, in file order, each ``spec`` without its descriptions (as registered).

    Parsing megabytes of YAML is most of the cost, so the parsed form is kept in the build cache (marshal: plain
    dicts, lists and scalars, the fastest to load) and reused while the files and this module are unchanged.
    Shared between callers: copy before changing.
    """
    sources = [(path.name, path.read_bytes()) for path in sorted(directory.glob("*.yaml"))]
    name = _cache_name(sources)
    cached = build_cache.read(name)
    if cached is not None:
        try:
            documents = marshal.loads(cached)
            if isinstance(documents, list):
                return tuple(documents)
        except (EOFError, ValueError, TypeError):
            pass  # a damaged entry: parse and write it again
    documents = _parse(sources)
    build_cache.write(name, marshal.dumps(documents))
    return tuple(documents)


def without_descriptions(schema: Any, *, in_properties: bool = False) -> Any:
    """The schema without its prose: three quarters of the bytes, which would otherwise sit in every
    Pulumi checkpoint and preview. Fields *named* description (inside ``properties``) are kept."""
    if isinstance(schema, list):
        return [without_descriptions(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if in_properties:
        return {name: without_descriptions(field) for name, field in schema.items()}
    return {
        key: without_descriptions(value, in_properties=key in ("properties", "patternProperties"))
        for key, value in schema.items()
        if key != "description"
    }


def register_crds(operator_image: str, context: StackContext, parent: pulumi.Resource) -> list[k8s.apiextensions.v1.CustomResourceDefinition]:
    """One resource per CRD of the release ``operator_image`` pins, protected like stateful data: deleting a CRD
    deletes every object of its kind."""
    crds = []
    for document in load_crds(crd_directory(operator_image)):
        metadata = document["metadata"]
        crds.append(
            k8s.apiextensions.v1.CustomResourceDefinition(
                metadata["name"],
                metadata={
                    "name": metadata["name"],
                    "labels": {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": MANAGED_BY},
                    # Server-side apply takes over fields a previous installer (Helm, kubectl) owned.
                    "annotations": {**metadata.get("annotations", {}), "pulumi.com/patchForce": "true"},
                },
                spec=document["spec"],
                # Kept in the cluster when the stack stops managing it (operator.install: false hands the
                # CRDs to an operator already running there): deleting one deletes every object of its kind.
                opts=pulumi.ResourceOptions.merge(stateful_options(context, parent), pulumi.ResourceOptions(retain_on_delete=True)),
            )
        )
    return crds


CUSTOM_RESOURCE_TYPE_PREFIX = f"kubernetes:{MONITORING_GROUP}/"


def after_crds(crds: list[pulumi.Resource]) -> None:
    """Make every custom resource of the operator's API group, whichever component registers it, depend on the CRDs."""

    def wait_for_crds(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if not args.type_.startswith(CUSTOM_RESOURCE_TYPE_PREFIX):
            return None
        # merge() appends to the resource's own depends_on.
        return pulumi.ResourceTransformationResult(args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=crds)))

    pulumi.runtime.register_stack_transformation(wait_for_crds)
