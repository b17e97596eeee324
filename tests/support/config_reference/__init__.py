"""The configuration references of the exact Loki, Tempo and Alloy releases deployed, kept as data.

Each ``<product>-<version>.yaml`` here lists the keys (Loki, Tempo) or the components, arguments,
blocks and exports (Alloy) of one release with their types, derived from the upstream reference
published at that release's tag (source at the top of each file; ``derive.py`` says how). The
checks below read a generated config the way the program does: an unknown key, a value of the
wrong type, a component or argument the release does not have is an error.
"""

from __future__ import annotations

import datetime
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
# Durations: Go's time.Duration and Prometheus' model.Duration (which adds d, w, y).
_DURATION = re.compile(r"^(0|-?([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h|d|w|y))+)$")
_BYTES = re.compile(r"^[0-9]+(\.[0-9]+)?\s*([KMGTPE]i?)?B?$")
_DAYTIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def image_version(image: str) -> str:
    """grafana/loki:3.5.3 -> 3.5.3; grafana/alloy:v1.10.1 -> 1.10.1 (a digest after @ is ignored)."""
    return image.split("@", 1)[0].rsplit(":", 1)[1].lstrip("v")


def reference_path(product: str, version: str) -> Path:
    return HERE / f"{product}-{version}.yaml"


@cache
def reference(product: str, version: str) -> dict[str, Any]:
    path = reference_path(product, version)
    if not path.exists():
        known = sorted(p.name for p in HERE.glob(f"{product}-*.yaml"))
        raise FileNotFoundError(f"no configuration reference for {product} {version} ({path.name}); have {known}: derive one (see derive.py)")
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    supplement = HERE / f"{product}-{version}.supplement.yaml"
    if supplement.exists():
        _merge(data, yaml.safe_load(supplement.read_text()))
    return data


def _merge(data: dict[str, Any], supplement: dict[str, Any]) -> None:
    """Hand-kept keys the derived reference cannot show, each with its Go source, put at their paths."""
    data.setdefault("blocks", {}).update(supplement.get("blocks", {}))
    for entry in supplement.get("entries", []):
        *parents, last = entry["path"].split(".")
        node = data["root"]
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[last] = entry["spec"]


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "any":
        return True
    if kind.startswith("one of "):
        return value in [choice.strip() for choice in kind[len("one of ") :].split(",")]
    if kind in ("string", "url"):
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "duration":
        return isinstance(value, str) and bool(_DURATION.match(value))
    if kind == "bytes":
        return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and bool(_BYTES.match(value)))
    if kind == "daytime":
        return isinstance(value, datetime.date) or (isinstance(value, str) and bool(_DAYTIME.match(value)))
    if kind == "time":
        return isinstance(value, (str, datetime.date))
    if kind == "list of strings":
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if kind == "list of floats":
        return isinstance(value, list) and all(_type_ok("float", item) for item in value)
    if kind == "list":
        return isinstance(value, list)
    if kind == "map of string to string":
        return isinstance(value, dict) and all(isinstance(item, str) for item in value.values())
    raise ValueError(f"unknown type {kind!r} in a configuration reference")


def _expand(spec: dict[str, Any], blocks: dict[str, Any]) -> dict[str, Any]:
    """A block's keys with its inlined blocks (``<include>``) merged in."""
    keys = {k: v for k, v in spec.items() if k != "<include>"}
    for name in spec.get("<include>", []):
        keys.update(_expand(blocks[name], blocks))
    return keys


def check_keys(document: Any, ref: dict[str, Any], *, spec: Any = None, path: str = "") -> list[str]:
    """Every key of ``document`` against the reference (Loki and Tempo form): a list of "path: problem" strings.

    ``spec`` is a type name, "block NAME", "list of block NAME", "map of string to block NAME" or a mapping of
    keys to specs; the reference's ``root`` when omitted.
    """
    blocks: dict[str, Any] = ref.get("blocks", {})
    spec = ref["root"] if spec is None else spec
    where = path or "(top level)"
    if isinstance(spec, str) and spec.startswith("block "):
        spec = blocks[spec[len("block ") :]]
    if isinstance(spec, str) and spec.startswith("list of block "):
        if not isinstance(document, list):
            return [f"{where}: expected a list, got {document!r}"]
        return [e for i, item in enumerate(document) for e in check_keys(item, ref, spec=f"block {spec[len('list of block ') :]}", path=f"{path}[{i}]")]
    if isinstance(spec, str) and spec.startswith("map of string to block "):
        if not isinstance(document, dict):
            return [f"{where}: expected a map, got {document!r}"]
        inner = f"block {spec[len('map of string to block ') :]}"
        return [e for key, item in document.items() for e in check_keys(item, ref, spec=inner, path=f"{path}.{key}")]
    if isinstance(spec, dict):
        if not isinstance(document, dict):
            return [f"{where}: expected a block of keys, got {document!r}"]
        keys = _expand(spec, blocks)
        errors = []
        for key, item in document.items():
            child = f"{path}.{key}" if path else str(key)
            if key not in keys:
                errors.append(f"{child}: not a key of this release's configuration")
            else:
                errors += check_keys(item, ref, spec=keys[key], path=child)
        return errors
    if not _type_ok(spec, document):
        return [f"{where}: expected {spec}, got {document!r}"]
    return []
