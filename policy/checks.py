"""The policy pack's rules as plain functions over resource inputs.

Each check takes a :class:`Resource` (the type token, the inputs as Pulumi
passes them to a policy pack: camelCase Kubernetes fields, and the options a
policy can see) and returns the violations as sentences. ``policies.py`` wraps
them for CrossGuard; the unit tests call them directly.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

# Kubernetes type tokens as the Pulumi Kubernetes provider registers them.
POD_WORKLOADS = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
}
BATCH_WORKLOADS = {"kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob"}
PROMETHEUS = "kubernetes:monitoring.coreos.com/v1:Prometheus"
ALERTMANAGER = "kubernetes:monitoring.coreos.com/v1:Alertmanager"
OPERATOR_CRS = {PROMETHEUS, ALERTMANAGER}
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
STATEFUL = {STATEFUL_SET, PVC, PROMETHEUS, ALERTMANAGER}

# Containers the Prometheus Operator generates itself; entries with these names
# in a CR's spec.containers are strategic-merge patches, not new containers, so
# the operator supplies their probes and the CR's spec.resources their limits.
OPERATOR_CONTAINERS = {"prometheus", "alertmanager", "config-reloader", "thanos-sidecar"}

DEFAULT_PROTECTED_STACKS = ("prod",)


@dataclass(frozen=True)
class Resource:
    type: str
    props: Mapping[str, Any]
    urn: str = ""
    protect: bool = False


def _get(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _list(node: Any) -> list[Any]:
    if isinstance(node, Sequence) and not isinstance(node, str):
        return list(node)
    return []


def stack_of(urn: str) -> str:
    """The stack name from a URN: ``urn:pulumi:<stack>::<project>::<type>::<name>``."""
    if not urn.startswith("urn:pulumi:"):
        return ""
    return urn[len("urn:pulumi:") :].split("::", 1)[0]


def _pod_spec(r: Resource) -> Mapping[str, Any] | None:
    if r.type in POD_WORKLOADS or r.type == "kubernetes:batch/v1:Job":
        spec = _get(r.props, "spec", "template", "spec")
    elif r.type == "kubernetes:batch/v1:CronJob":
        spec = _get(r.props, "spec", "jobTemplate", "spec", "template", "spec")
    else:
        return None
    return spec if isinstance(spec, Mapping) else None


def _label(container: Any, index: int, kind: str) -> str:
    name = _get(container, "name")
    return f"{kind} '{name}'" if name else f"{kind} #{index}"


def _containers(r: Resource) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    """(label, container, is_long_running) for every container a resource
    defines; init containers and batch jobs do not take liveness probes."""
    pod = _pod_spec(r)
    long_running = r.type in POD_WORKLOADS
    if pod is None and r.type in OPERATOR_CRS:
        pod = _get(r.props, "spec")
        long_running = True
    if pod is None:
        return
    for i, c in enumerate(_list(pod.get("initContainers"))):
        if isinstance(c, Mapping):
            yield _label(c, i, "init container"), c, False
    for i, c in enumerate(_list(pod.get("containers"))):
        if isinstance(c, Mapping):
            yield _label(c, i, "container"), c, long_running


def _is_operator_patch(r: Resource, container: Mapping[str, Any]) -> bool:
    return r.type in OPERATOR_CRS and container.get("name") in OPERATOR_CONTAINERS


def _missing_limits(resources: Any) -> list[str]:
    limits = _get(resources, "limits")
    return [k for k in ("cpu", "memory") if not _get(limits, k)]


# --- every container has limits and probes ---------------------------------


def containers_have_limits(r: Resource) -> list[str]:
    out = []
    if r.type in OPERATOR_CRS:
        missing = _missing_limits(_get(r.props, "spec", "resources"))
        if missing:
            out.append(f"{r.type.rsplit(':', 1)[1]} spec.resources.limits lacks {', '.join(missing)}")
    for label, c, _ in _containers(r):
        if _is_operator_patch(r, c):
            continue
        missing = _missing_limits(c.get("resources"))
        if missing:
            out.append(f"{label} has no {' or '.join(missing)} limit (resources.limits)")
    return out


def containers_have_probes(r: Resource) -> list[str]:
    out = []
    for label, c, long_running in _containers(r):
        if not long_running or _is_operator_patch(r, c):
            continue
        missing = [p for p in ("livenessProbe", "readinessProbe") if not c.get(p)]
        if missing:
            out.append(f"{label} has no {' or '.join(missing)}")
    return out


# --- no untagged or `latest` images -----------------------------------------


def image_problem(image: str) -> str | None:
    """Why an image reference is not pinned, or None when it is: a digest, or a
    tag other than `latest` (the registry's port is not a tag)."""
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag (resolves to latest)"
    tag = last.rsplit(":", 1)[1]
    if not tag:
        return "has an empty tag"
    if tag == "latest":
        return "uses the 'latest' tag"
    return None


def images_pinned(r: Resource) -> list[str]:
    images: list[tuple[str, Any]] = []
    if r.type in OPERATOR_CRS and _get(r.props, "spec", "image") is not None:
        images.append(("spec.image", _get(r.props, "spec", "image")))
    for label, c, _ in _containers(r):
        if "image" in c:
            images.append((label, c["image"]))
        elif not _is_operator_patch(r, c):
            images.append((label, ""))
    out = []
    for label, image in images:
        if not isinstance(image, str) or not image:
            out.append(f"{label} has no image")
            continue
        problem = image_problem(image)
        if problem:
            out.append(f"{label} image '{image}' {problem}; pin a version tag or digest")
    return out


# --- retention on Prometheus, Loki and Tempo --------------------------------


def prometheus_retention(r: Resource) -> list[str]:
    if r.type != PROMETHEUS:
        return []
    if not _get(r.props, "spec", "retention"):
        return ["Prometheus spec.retention is not set (the operator would keep 24h)"]
    return []


# libyaml's parser when PyYAML has it (same safe constructor, so the same documents): a stack's ConfigMaps hold
# megabytes of dashboard JSON, which the pure-Python parser reads at about 1 MB/s.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=512)
def _load_yaml(text: str) -> Any:
    """One YAML document parsed (raises yaml.YAMLError). The Loki, Tempo and stack-wide retention checks each read
    every ConfigMap and Secret entry, so each text is parsed once; callers only read the result, never change it."""
    return yaml.load(text, Loader=_LOADER)


def _config_documents(r: Resource) -> Iterator[tuple[str, Any]]:
    """(key, parsed YAML/JSON) for each data entry of a ConfigMap or Secret."""
    if r.type not in (CONFIG_MAP, SECRET):
        return
    entries: list[tuple[str, Any]] = []
    for key, value in (_get(r.props, "data") or {}).items():
        if r.type == SECRET and isinstance(value, str):
            try:
                value = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                continue
        entries.append((key, value))
    if r.type == SECRET:
        entries += list((_get(r.props, "stringData") or {}).items())
    for key, value in entries:
        if not isinstance(value, str):
            continue
        try:
            yield key, _load_yaml(value)
        except yaml.YAMLError:
            continue


def is_loki_config(doc: Any) -> bool:
    return isinstance(doc, Mapping) and "schema_config" in doc


def is_tempo_config(doc: Any) -> bool:
    return isinstance(doc, Mapping) and isinstance(_get(doc, "storage", "trace"), Mapping)


def _zero_duration(value: Any) -> bool:
    return str(value).strip() in {"0", "0s", "0h", "0d", ""}


def loki_retention(r: Resource) -> list[str]:
    out = []
    for key, doc in _config_documents(r):
        if not is_loki_config(doc):
            continue
        period = _get(doc, "limits_config", "retention_period")
        if period is None or _zero_duration(period):
            out.append(f"Loki config '{key}' has no limits_config.retention_period (0 keeps logs forever)")
        if _get(doc, "compactor", "retention_enabled") is not True:
            out.append(
                f"Loki config '{key}' does not set compactor.retention_enabled: true "
                "(without it retention_period deletes nothing)"
            )
    return out


def tempo_retention(r: Resource) -> list[str]:
    out = []
    for key, doc in _config_documents(r):
        if not is_tempo_config(doc):
            continue
        retention = _get(doc, "compactor", "compaction", "block_retention")
        if retention is None or _zero_duration(retention):
            out.append(f"Tempo config '{key}' has no compactor.compaction.block_retention")
    return out


def _image_name(image: Any) -> str:
    if not isinstance(image, str):
        return ""
    repo = image.split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def retention_configs_present(resources: Sequence[Resource]) -> list[str]:
    """Stack-wide: a Loki or Tempo workload needs a config carrying retention,
    so the resource checks above cannot pass by the config being elsewhere."""
    running = {
        _image_name(c.get("image"))
        for r in resources
        for _, c, _ in _containers(r)
    }
    configs = {"loki": False, "tempo": False}
    for r in resources:
        for _, doc in _config_documents(r):
            configs["loki"] |= is_loki_config(doc)
            configs["tempo"] |= is_tempo_config(doc)
    return [
        f"a {name} container runs but no ConfigMap or Secret holds its config (retention cannot be checked)"
        for name, found in configs.items()
        if name in running and not found
    ]


# --- no credentials in ConfigMaps -------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Key names whose value is a credential; `*_file` keys name a mounted file instead.
_SECRET_KEY = re.compile(
    r"(^|_)(password|passwd|pwd|secret|client_secret|token|bearer_token|api_?key|"
    r"access_key|secret_access_key|private_key|credentials?|routing_key|service_key|"
    r"auth|authorization|webhook_url|slack_api_url|api_url_secret)$"
)
_SECRET_VALUE = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"https://hooks\.slack\.com/services/\S+"), "a Slack webhook URL"),
    (re.compile(r"https://[\w.-]*webhook\.office\.com/\S+"), "a Teams webhook URL"),
    (re.compile(r"https://discord(app)?\.com/api/webhooks/\S+"), "a Discord webhook URL"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"), "a URL with a password"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), "a GitHub token"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"), "a JWT"),
]
# Values that point at a credential instead of holding it.
_REFERENCE = re.compile(r"^(\$\{[^}]+\}|\$__(env|file)\{[^}]+\}|<[^>]+>|REDACTED|\*+)$")


def _normalise_key(key: str) -> str:
    return _CAMEL.sub("_", key).replace("-", "_").lower()


def secret_key_name(key: str) -> bool:
    k = _normalise_key(key)
    return not k.endswith(("_file", "_path", "_name", "_ref")) and bool(_SECRET_KEY.search(k))


def _walk(node: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) for every scalar in nested mappings and lists."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            child = f"{path}.{k}" if path else str(k)
            if isinstance(v, (Mapping, list)):
                yield from _walk(v, child)
            else:
                yield child, str(k), v
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")


def _key_finding(path: str, key: str, value: Any) -> list[str]:
    if value is None or isinstance(value, bool):
        return []
    text = str(value).strip()
    if text and secret_key_name(key) and not _REFERENCE.match(text):
        return [f"'{path}' looks like a credential (key name '{key}')"]
    return []


def _value_findings(path: str, text: str) -> list[str]:
    return [f"'{path}' holds {what}" for pattern, what in _SECRET_VALUE if pattern.search(text)]


def _parse_structured(text: str) -> Any:
    """A data value as JSON or YAML when it is a document, else None."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return _load_yaml(text)
    except yaml.YAMLError:
        return None


def no_credentials_in_configmaps(r: Resource) -> list[str]:
    if r.type != CONFIG_MAP:
        return []
    out: list[str] = []
    for key, value in (_get(r.props, "data") or {}).items():
        if not isinstance(value, str):
            continue
        # Value patterns on the raw text catch them in any format (YAML,
        # River, INI); key names are checked on the entry and inside documents.
        out += _key_finding(key, key, value) + _value_findings(key, value)
        parsed = _parse_structured(value)
        if isinstance(parsed, (Mapping, list)):
            for path, k, v in _walk(parsed, key):
                out += _key_finding(path, k, v)
    return [f"{f}; move it to a Secret (Pulumi secret config)" for f in out]


# --- prod's stateful resources are protected --------------------------------


def stateful_protected(
    r: Resource, protected_stacks: Sequence[str] = DEFAULT_PROTECTED_STACKS
) -> list[str]:
    if r.type not in STATEFUL or stack_of(r.urn) not in protected_stacks:
        return []
    out = []
    kind = r.type.rsplit(":", 1)[1]
    if not r.protect:
        out.append(
            f"{kind} in stack '{stack_of(r.urn)}' is not protected; set "
            "ResourceOptions(protect=True) so a config change cannot delete its data"
        )
    if r.type == STATEFUL_SET:
        when_deleted = _get(r.props, "spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted")
        if when_deleted == "Delete":
            out.append(f"{kind} deletes its volumes with it (persistentVolumeClaimRetentionPolicy.whenDeleted: Delete)")
    return out
