"""The local Prometheus's and Alertmanager's settings, taken from the rendered custom resources.

The cluster's binaries get their command-line flags from the Prometheus Operator,
which derives them from the ``monitoring.coreos.com/v1`` resources; the local stack
(tooling/localstack.py) derives the same flags from the same rendered resources, so a
setting missing from the render is missing locally too and an end-to-end test fails.

Mapping (the operator's, for the fields the stack sets; pkg/prometheus/statefulset.go and
pkg/alertmanager/statefulset.go of prometheus-operator v0.85):

| resource field | flag or config |
|---|---|
| Prometheus ``enableRemoteWriteReceiver`` | ``--web.enable-remote-write-receiver`` |
| Prometheus ``enableFeatures`` | ``--enable-feature=<each>`` |
| Prometheus ``retention`` / ``retentionSize`` | ``--storage.tsdb.retention.time`` / ``.size`` |
| Prometheus ``walCompression`` | ``--[no-]storage.tsdb.wal-compression`` |
| Prometheus ``externalLabels`` (+ ``prometheus="<namespace>/<name>"``) | ``global.external_labels`` |
| Prometheus ``enforced*Limit`` | each scrape job's ``sample_limit``, ``target_limit``, ``label_*`` |
| Alertmanager ``retention`` | ``--data.retention`` |

The local Prometheus is the build of `make tools` at the deployed version (the image tag in
components/settings/defaults.yaml), so the flags above are the ones the cluster's binary gets.
A feature flag the local binary does not know is refused, naming it.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

# The label the operator adds to every series of a Prometheus resource (prometheusExternalLabelName's default).
PROMETHEUS_LABEL = "prometheus"
SCRAPE_LIMITS = {
    "enforcedSampleLimit": "sample_limit",
    "enforcedTargetLimit": "target_limit",
    "enforcedLabelLimit": "label_limit",
    "enforcedLabelNameLengthLimit": "label_name_length_limit",
    "enforcedLabelValueLengthLimit": "label_value_length_limit",
}


class RenderedResourceError(ValueError):
    """A rendered custom resource cannot be turned into local flags; the message says which field and why."""


@dataclass(frozen=True)
class PrometheusSettings:
    flags: tuple[str, ...] = ()
    external_labels: Mapping[str, str] = field(default_factory=dict)
    scrape_limits: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertmanagerSettings:
    flags: tuple[str, ...] = ()


def rendered_resource(files: Mapping[str, str], kind: str) -> dict[str, Any] | None:
    """The render's one ``monitoring.coreos.com/v1`` resource of ``kind`` (None when the render has none)."""
    prefix = f"manifests/{kind.lower()}_"
    found = []
    for path, text in files.items():
        if path.startswith(prefix):
            document = yaml.safe_load(text)
            if document.get("kind") == kind and str(document.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
                found.append(document)
    if len(found) > 1:
        raise RenderedResourceError(f"the render has {len(found)} {kind} resources; the local stack runs one")
    return found[0] if found else None


def supported_features(binary: str) -> frozenset[str]:
    """Feature names the local Prometheus accepts, read from its ``--help`` (Valid options: ...)."""
    done = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    text = done.stdout + done.stderr  # kingpin prints help to stdout or stderr depending on the version
    match = re.search(r"--enable-feature=.*?Valid options:(.*?)(?:\.\s+See\s|\n\s+--)", text, re.S)
    if match is None:
        raise RenderedResourceError(f"{binary} --help lists no feature flags; cannot check the render's enableFeatures")
    return frozenset(re.sub(r"\(DEPRECATED\)", "", name).strip().rstrip(".") for name in " ".join(match.group(1).split()).split(","))


def prometheus_settings(resource: Mapping[str, Any] | None, features: frozenset[str]) -> PrometheusSettings:
    """Flags, external labels and scrape limits of a rendered Prometheus resource (empty without one)."""
    if resource is None:
        return PrometheusSettings()
    spec: Mapping[str, Any] = resource.get("spec") or {}
    flags: list[str] = []
    if spec.get("enableRemoteWriteReceiver") is True:
        flags.append("--web.enable-remote-write-receiver")
    for feature in spec.get("enableFeatures") or []:
        if feature not in features:
            raise RenderedResourceError(
                f"Prometheus spec.enableFeatures has {feature!r}, which the local Prometheus does not know; it accepts {sorted(features)}"
            )
        flags.append(f"--enable-feature={feature}")
    if spec.get("retention"):
        flags.append(f"--storage.tsdb.retention.time={spec['retention']}")
    if spec.get("retentionSize"):
        flags.append(f"--storage.tsdb.retention.size={spec['retentionSize']}")
    if "walCompression" in spec:
        flags.append("--storage.tsdb.wal-compression" if spec["walCompression"] else "--no-storage.tsdb.wal-compression")
    metadata = resource.get("metadata") or {}
    labels = {str(k): str(v) for k, v in (spec.get("externalLabels") or {}).items()}
    labels[PROMETHEUS_LABEL] = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
    limits = {config_key: int(spec[field_name]) for field_name, config_key in SCRAPE_LIMITS.items() if spec.get(field_name) is not None}
    return PrometheusSettings(tuple(flags), labels, limits)


def alertmanager_settings(resource: Mapping[str, Any] | None) -> AlertmanagerSettings:
    """Flags of a rendered Alertmanager resource (empty without one)."""
    if resource is None:
        return AlertmanagerSettings()
    spec: Mapping[str, Any] = resource.get("spec") or {}
    flags = [f"--data.retention={spec['retention']}"] if spec.get("retention") else []
    return AlertmanagerSettings(tuple(flags))
