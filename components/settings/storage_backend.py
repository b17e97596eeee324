"""Where Loki and Tempo keep their chunks and blocks: the pod's volume, or an object store for prod.

Credentials never live here: with ``credentials: secret`` they come from the
Pulumi secrets named in ``secrets.py``; with ``workloadIdentity`` the cloud
grants them to the pod's ServiceAccount (IRSA, GKE Workload Identity).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from components.settings.types import QUALIFIED_KEY_RE, Section, matching

BUCKET_FORM = "a bucket name: 3-63 lower-case letters, digits, '.', '-' or '_', starting and ending with a letter or digit"
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]\Z", re.ASCII)
ENDPOINT_FORM = "host[:port] without a scheme (e.g. s3.eu-west-1.amazonaws.com or minio.storage:9000)"
_ENDPOINT_RE = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?\Z", re.ASCII)


REGION_FORM = "a cloud region: lower-case letters, digits and '-' (e.g. eu-west-1)"
_REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z", re.ASCII)
ANNOTATION_KEY_FORM = "a Kubernetes annotation key such as eks.amazonaws.com/role-arn or iam.gke.io/gcp-service-account"

_bucket = matching(_BUCKET_RE, "a bucket name", BUCKET_FORM)
_region = matching(_REGION_RE, "a region", REGION_FORM)
_annotation_key = matching(QUALIFIED_KEY_RE, "an annotation key", ANNOTATION_KEY_FORM)
_endpoint = matching(_ENDPOINT_RE, "an endpoint", ENDPOINT_FORM)


class ObjectStorage(Section):
    backend: Literal["s3", "gcs"]
    bucket: Annotated[str, AfterValidator(_bucket)]
    # S3 only: region, and an endpoint for S3-compatible stores (MinIO, Ceph).
    region: Annotated[str | None, AfterValidator(_region)] = None
    endpoint: Annotated[str | None, AfterValidator(_endpoint)] = None
    insecure: bool = False
    credentials: Literal["secret", "workloadIdentity"] = "secret"
    # e.g. eks.amazonaws.com/role-arn or iam.gke.io/gcp-service-account for workloadIdentity.
    service_account_annotations: dict[Annotated[str, AfterValidator(_annotation_key)], str] = Field(default_factory=dict)


DAY_FORM = "a date YYYY-MM-DD (UTC), e.g. 2026-12-15"


def _day(value: object) -> date:
    # YAML reads 2026-12-15 as a date; the Pulumi CLI passes it as text.
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"not a date; accepted form: {DAY_FORM}")


Day = Annotated[date, BeforeValidator(_day)]


class LokiObjectStorage(ObjectStorage):
    """Loki's bucket. ``since`` starts a new schema period on that day (UTC); the volume's period before it stays.

    Required: Loki reads each day's logs with the period that covers that day, so logs
    already on the volume stay readable (and retention still deletes them) only while
    their period is kept. Upstream: a new period must start on a future date.
    """

    since: Day | None = None


# Secret config keys each backend needs when credentials come from Pulumi secrets.
CREDENTIAL_SECRETS: dict[str, tuple[str, ...]] = {
    "s3": ("objectStorageAccessKeyId", "objectStorageSecretAccessKey"),
    "gcs": ("objectStorageGcsServiceAccountKey",),
}
