"""Check every rendered Kubernetes object the way the API server will, before anything is deployed.

    python -m scripts.api_check [--stacks dev staging prod] [--set section.key=value ...]

Built-in kinds are validated with the OpenAPI schemas that ``kubernetes-validate``
ships, in strict mode (a field the API does not define is an error), once per
supported Kubernetes minor version (``SUPPORTED_KUBERNETES``). Custom resources
(``monitoring.coreos.com``) are validated against the ``openAPIV3Schema`` of the
vendored CRD of the pinned operator release (``components/metrics/crds/``) with the API
server's rules for structural schemas: a field the schema does not define, where
``x-kubernetes-preserve-unknown-fields`` is not set, is *pruned* silently on
create and update (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning),
so it is reported as an error here; types, enums, required fields, patterns,
bounds and ``x-kubernetes-list-type`` uniqueness are checked too, and the
metadata of a custom resource against the API's ObjectMeta.

CEL rules (``x-kubernetes-validations``) are not evaluated: ``check_objects``
refuses a custom resource whose CRD schema has one on a path the object sets.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import referencing
from jsonschema.protocols import Validator
from kubernetes_validate import utils as kv_utils

from components.cluster import SUPPORTED_KUBERNETES
from components.metrics.operator_crds import crd_directory, load_crds
from tooling.render import Render, is_kubernetes_object, redact, render
from tooling.stack_config import apply_overrides, read_stack_config

# Minor versions the stack supports. The oldest is the one kube-state-metrics v2.16 (the pinned exporter,
# whose client-go is v0.33) is built for; the newest is the newest schema kubernetes-validate 1.37.0 ships.
# Upgrading kubernetes-validate and adding a version here is how a new release becomes supported.
CUSTOM_GROUP = "monitoring.coreos.com"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@dataclass(frozen=True, order=True)
class Finding:
    """One reason the API server would refuse or change an object."""

    obj: str  # Kind/namespace/name
    path: str  # dotted path inside the object, "" for the object itself
    problem: str  # "unknown field", "pruned field", "invalid" or "no schema"
    message: str
    versions: str = ""  # Kubernetes versions it applies to ("" for custom resources: the CRD decides)

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        on = f" (Kubernetes {self.versions})" if self.versions else ""
        return f"{self.obj}{where}: {self.problem}: {self.message}{on}"


def object_name(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{metadata.get('namespace', '-')}/{metadata.get('name')}"


def _path(parts: Iterable[Any]) -> str:
    return ".".join(str(part) for part in parts)


# Built-in kinds: kubernetes-validate's schemas, one compiled validator per (version, apiVersion, kind).
# kubernetes_validate.validate() reloads the 1.8 MB definitions file on each call and stops at the first
# error; the same files and the same resolution are used here, loaded once, with every error reported.


@cache
def _definitions(version: str) -> referencing.Resource[Any]:
    return referencing.Resource.from_contents(kv_utils.schema_contents(f"kubernetes-json-schema/{_schema_dir(version)}/_definitions.json", version))


def _schema_dir(version: str) -> str:
    # The library resolves a minor version to the newest schema not newer than it, e.g. 1.34 -> v1.34.0.
    known = [v for v in kv_utils.all_versions() if kv_utils.major_minor(v) == version]
    if not known:
        raise kubernetes_validate.VersionNotSupportedError(version)
    return f"v{known[-1]}-local-strict"


@cache
def _builtin_validator(version: str, api_version: str, kind: str) -> Validator | None:
    group_version = api_version.split("/")
    name = kind.lower() + "-" + (group_version[0].split(".")[0] + "-" + group_version[1] if len(group_version) == 2 else group_version[0])
    try:
        schema = kv_utils.schema_contents(f"kubernetes-json-schema/{_schema_dir(version)}/{name}.json", version)
    except FileNotFoundError:
        return None
    registry: referencing.Registry[Any] = referencing.Resource.from_contents(schema) @ (_definitions(version) @ referencing.Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _object_meta_validator(version: str) -> Validator:
    return _ref_validator(version, OBJECT_META)


@cache
def _ref_validator(version: str, definition: str) -> Validator:
    schema = {"$ref": f"https://kubernetes.io/api/_definitions.json#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(schema, registry=_definitions(version) @ referencing.Registry())


def check_builtin(obj: Mapping[str, Any], version: str) -> list[Finding]:
    """Strict OpenAPI validation of one built-in object for one Kubernetes minor version ("1.33")."""
    validator = _builtin_validator(version, obj["apiVersion"], obj["kind"])
    if validator is None:
        return [Finding(object_name(obj), "", "no schema", f"the API has no {obj['apiVersion']} {obj['kind']}", version)]
    return [_finding(obj, error, version) for error in validator.iter_errors(obj)]


def _finding(obj: Mapping[str, Any], error: jsonschema.ValidationError, versions: str = "", *, prefix: Sequence[Any] = (), custom: bool = False) -> Finding:
    # The innermost error of a oneOf/anyOf says what is wrong; the outer one only that no branch fits.
    best = jsonschema.exceptions.best_match([error]) if error.context else error
    path = [*prefix, *best.absolute_path]
    if best.validator == "additionalProperties":
        defined = best.schema.get("properties", {}) if isinstance(best.schema, dict) else {}
        extra = sorted(set(best.instance) - set(defined)) if isinstance(best.instance, dict) else []
        problem = "pruned field" if custom else "unknown field"
        fields = ", ".join(_path([*path, name]) for name in extra)
        what = "the API server drops it silently" if custom else "the API server refuses or drops it"
        return Finding(object_name(obj), fields or _path(path), problem, f"not in the schema; {what}", versions)
    return Finding(object_name(obj), _path(path), "invalid", best.message, versions)


# Custom resources: the vendored CRD's openAPIV3Schema, turned into a JSON Schema with the API server's rules.


def structural_to_json_schema(node: Any) -> Any:
    """A CRD openAPIV3Schema node as a JSON Schema (draft 2020-12) that fails where the API server prunes or refuses.

    Pruning: an object node without ``x-kubernetes-preserve-unknown-fields`` keeps only its ``properties``
    (or any key, if it has ``additionalProperties``). ``nullable`` allows null; ``x-kubernetes-int-or-string``
    allows both; list types ``set`` and ``map`` require unique items / unique keys.
    """
    if isinstance(node, list):
        return [structural_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: structural_to_json_schema(field) for name, field in value.items()}
        elif key in ("items", "additionalProperties", "not") or key in ("anyOf", "oneOf", "allOf"):
            out[key] = structural_to_json_schema(value)
        elif key in ("description", "format", "x-kubernetes-map-type", "x-kubernetes-list-map-keys", "default", "example"):
            continue  # prose, formats the server does not check here, or defaults it fills in
        elif key == "x-kubernetes-list-type":
            if value == "set":
                out["uniqueItems"] = True
            elif value == "map":
                out["x-list-map-keys"] = node.get("x-kubernetes-list-map-keys", [])
        elif key == "nullable":
            continue
        else:
            out[key] = value
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.pop("anyOf", None)
        out["type"] = ["integer", "string"]
    if node.get("x-kubernetes-embedded-resource"):
        # An embedded object (a PodTemplate-like field) keeps its own apiVersion, kind and metadata.
        out["properties"] = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}, **out.get("properties", {})}
    if node.get("type") == "object" and not node.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


def _unique_map_keys(validator: Validator, keys: list[str], instance: Any, schema: Mapping[str, Any]) -> Iterator[jsonschema.ValidationError]:
    if not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for item in instance:
        if not isinstance(item, dict):
            continue
        key = json.dumps([item.get(name) for name in keys])
        if key in seen:
            yield jsonschema.ValidationError(f"duplicate entries for list-map keys {keys}: {key}")
        seen.add(key)


_CrdValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"x-list-map-keys": _unique_map_keys})  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class CustomSchema:
    validator: Validator
    cel_paths: tuple[tuple[str, ...], ...]  # property paths (no list indices) whose schema carries CEL rules
    served: bool


def _cel_paths(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if not isinstance(node, dict):
        return
    if "x-kubernetes-validations" in node:
        yield path
    for name, child in (node.get("properties") or {}).items():
        yield from _cel_paths(child, (*path, name))
    for key in ("items", "additionalProperties"):
        yield from _cel_paths(node.get(key), path)


@cache
def custom_schemas(operator_image: str) -> dict[tuple[str, str], CustomSchema]:
    """(apiVersion, kind) -> the compiled schema of every version of every vendored CRD of that operator release."""
    schemas = {}
    for crd in load_crds(crd_directory(operator_image)):
        spec = crd["spec"]
        for version in spec["versions"]:
            openapi = version["schema"]["openAPIV3Schema"]
            schema = structural_to_json_schema(openapi)
            schema["properties"]["metadata"] = {"type": "object"}  # checked against ObjectMeta separately
            schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = CustomSchema(
                _CrdValidator(schema), tuple(_cel_paths(openapi)), bool(version.get("served"))
            )
    return schemas


def check_custom(obj: Mapping[str, Any], operator_image: str, versions: Sequence[str] = SUPPORTED_KUBERNETES) -> list[Finding]:
    """One custom resource against its vendored CRD (pruned fields, types, enums, required, patterns), and its metadata."""
    name = object_name(obj)
    schema = custom_schemas(operator_image).get((obj["apiVersion"], obj["kind"]))
    if schema is None:
        return [Finding(name, "", "no schema", f"no vendored CRD of {operator_image} serves {obj['apiVersion']} {obj['kind']}")]
    findings = [] if schema.served else [Finding(name, "apiVersion", "invalid", f"{obj['apiVersion']} is not served by the CRD")]
    findings += [_finding(obj, error, custom=True) for error in schema.validator.iter_errors(obj)]
    for path in schema.cel_paths:
        if _sets(obj, path):
            message = "the CRD has CEL rules (x-kubernetes-validations) here, which this check does not evaluate"
            findings.append(Finding(name, _path(path), "no schema", message))
    metadata = obj.get("metadata") or {}
    for version in versions:
        findings += [_finding(obj, e, version, prefix=("metadata",), custom=True) for e in _object_meta_validator(version).iter_errors(metadata)]
    return findings


def _sets(obj: Any, path: tuple[str, ...]) -> bool:
    if not path:
        return obj is not None
    if isinstance(obj, list):
        return any(_sets(item, path) for item in obj)
    if isinstance(obj, dict) and path[0] in obj:
        return _sets(obj[path[0]], path[1:])
    return False


def merge_versions(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (object, path, problem, message), listing every Kubernetes version it applies to."""
    grouped: dict[tuple[str, str, str, str], list[str]] = {}
    for finding in findings:
        grouped.setdefault((finding.obj, finding.path, finding.problem, finding.message), []).append(finding.versions)
    return sorted(Finding(*key, ", ".join(v for v in versions if v)) for key, versions in grouped.items())


def check_objects(objects: Iterable[Mapping[str, Any]], operator_image: str, versions: Sequence[str] = SUPPORTED_KUBERNETES) -> list[Finding]:
    """Every finding for the objects, built-in kinds checked once per Kubernetes version."""
    findings: list[Finding] = []
    for obj in objects:
        if obj["apiVersion"].split("/")[0] == CUSTOM_GROUP:
            findings += check_custom(obj, operator_image, versions)
        else:
            # The CRDs (megabytes) are the same in every stack: each distinct object is checked once per version.
            text = json.dumps(obj, sort_keys=True)
            for version in versions:
                findings += _check_builtin_text(text, version)
    return merge_versions(findings)


@cache
def _check_builtin_text(text: str, version: str) -> tuple[Finding, ...]:
    return tuple(check_builtin(json.loads(text), version))


def kubernetes_objects(result: Render) -> list[dict[str, Any]]:
    """Every Kubernetes object a render registers, in the shape the API server receives."""
    return [redact(record.inputs, keep_shape=True) for record in result.records if is_kubernetes_object(record)]


def check_render(result: Render, versions: Sequence[str] = SUPPORTED_KUBERNETES) -> list[Finding]:
    return check_objects(kubernetes_objects(result), result.settings.operator.image, versions)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", nargs="+", default=["dev", "staging", "prod"])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="section.key=value")
    args = parser.parse_args(argv)
    failed = False
    for stack in args.stacks:
        config = read_stack_config(stack)
        apply_overrides(config, args.overrides)
        findings = check_render(render(config))
        for finding in findings:
            print(f"{stack}: {finding}", file=sys.stderr)
        print(f"{stack}: {'FAIL' if findings else 'ok'}: Kubernetes {', '.join(SUPPORTED_KUBERNETES)} and the CRDs of the pinned operator")
        failed = failed or bool(findings)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
