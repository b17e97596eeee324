"""Cross-field rules of a Loki or Tempo bucket (storage_backend.py): the region S3 needs, the credential secrets."""

from __future__ import annotations

from components.settings.errors import Problem
from components.settings.secrets import how_to_set
from components.settings.storage_backend import CREDENTIAL_SECRETS, ObjectStorage


def credential_problems(section: str, storage: ObjectStorage | None, secrets_set: frozenset[str]) -> list[Problem]:
    """What ``section``'s bucket (loki or tempo) lacks: an S3 region, or a credential secret that is not set."""
    if storage is None:
        return []
    problems = []
    if storage.backend == "s3" and storage.region is None and storage.endpoint is None:
        problems.append(
            Problem(f"{section}.objectStorage.region", None, "is required for s3 unless objectStorage.endpoint is set; accepted form: e.g. eu-west-1")
        )
    if storage.credentials != "secret":
        return problems
    missing = [key for key in CREDENTIAL_SECRETS[storage.backend] if key not in secrets_set]
    return problems + [
        Problem(
            f"{section}.objectStorage.credentials",
            storage.credentials,
            f"needs the secret {key}; accepted form: the Pulumi secret set with `{how_to_set(key)}`, or credentials: workloadIdentity",
        )
        for key in missing
    ]
