"""Credentials of Loki's and Tempo's object store, delivered to the pod from a Kubernetes Secret.

The config files name only the bucket; the S3 and GCS clients read their
credentials from the environment (AWS_*) or from the key file that
GOOGLE_APPLICATION_CREDENTIALS points at, so no credential reaches a ConfigMap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.context import ObjectStore

GCS_KEY_DIR = "/var/run/secrets/gcs"
GCS_KEY_FILE = "key.json"
_S3_ENV = {"objectStorageAccessKeyId": "AWS_ACCESS_KEY_ID", "objectStorageSecretAccessKey": "AWS_SECRET_ACCESS_KEY"}


@dataclass(frozen=True)
class Credentials:
    """What a pod adds to reach its bucket: environment, volumes and mounts (all empty for workload identity)."""

    env: tuple[Mapping[str, Any], ...] = ()
    volumes: tuple[Mapping[str, Any], ...] = ()
    mounts: tuple[Mapping[str, Any], ...] = ()


def s3_endpoint(storage: ObjectStore) -> str:
    """The S3 endpoint: the configured one, or AWS's regional endpoint."""
    if storage.endpoint:
        return storage.endpoint
    return f"s3.{storage.region}.amazonaws.com"


def credentials(
    storage: ObjectStore | None,
    secrets: Mapping[str, pulumi.Output[str] | None],
    *,
    name: str,
    metadata: Mapping[str, Any],
    parent: pulumi.Resource,
) -> Credentials:
    """Create the credentials Secret ``name`` when the settings ask for secret credentials.

    ``secrets`` maps each credential's secret config key (objectStorageAccessKeyId, ...) to its value.
    """
    if storage is None or storage.credentials != "secret":
        return Credentials()
    values = dict(secrets)
    # S3 clients read AWS_* variables; GCS clients read the key file.
    data = {_S3_ENV.get(key, GCS_KEY_FILE): value for key, value in values.items()}
    k8s.core.v1.Secret(
        name,
        metadata={**metadata, "name": name},
        type="Opaque",
        string_data=data,
        opts=pulumi.ResourceOptions(parent=parent, additional_secret_outputs=["stringData", "data"]),
    )
    if storage.backend == "s3":
        env = tuple({"name": variable, "valueFrom": {"secretKeyRef": {"name": name, "key": variable}}} for variable in sorted(data))
        return Credentials(env=env)
    return Credentials(
        env=({"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": f"{GCS_KEY_DIR}/{GCS_KEY_FILE}"},),
        volumes=({"name": "gcs-key", "secret": {"secretName": name}},),
        mounts=({"name": "gcs-key", "mountPath": GCS_KEY_DIR, "readOnly": True},),
    )
