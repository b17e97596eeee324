"""Secret config keys: declared here, read only as Pulumi secrets.

Their values never enter the settings model; components ask for them as
``pulumi.Output`` so they stay encrypted in state and masked in output.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.settings.errors import NAMESPACE, Problem
from components.settings.storage_backend import CREDENTIAL_SECRETS, ObjectStorage

# key -> what it is for (shown in errors and docs).
SECRET_KEYS: dict[str, str] = {
    "grafanaAdminPassword": "Grafana's admin password (generated and kept in state when not set)",
    "grafanaAuth": "API token (service account token) of an external Grafana set in grafana.external",
    "objectStorageAccessKeyId": "S3 access key ID for Loki's and Tempo's buckets (objectStorage.credentials: secret)",
    "objectStorageSecretAccessKey": "S3 secret access key for Loki's and Tempo's buckets",
    "objectStorageGcsServiceAccountKey": "GCS service-account key (JSON) for Loki's and Tempo's buckets",
    "slackWebhookUrl": "Slack incoming-webhook URL for info, warning and error alerts",
    "smtpPassword": "SMTP password for e-mailed error alerts",
    "pagerdutyRoutingKey": "PagerDuty Events v2 routing key for critical alerts",
    "pagerdutyEscalationRoutingKey": "PagerDuty routing key of the escalation service for emergency alerts",
    "heartbeatUrl": "URL of the external dead-man service that Alertmanager sends the Watchdog heartbeat to (alerting.heartbeat)",
    "mongodbExporterPassword": "password of serviceExporters.mongodbUsername, the MongoDB exporter's read-only user",
}


class MissingSecret(Problem):
    """A secret the settings need is not set; the offline render stands a placeholder in for it."""


def missing_secret(key: str, needed_by: str) -> MissingSecret:
    return MissingSecret(key, None, f"is required by {needed_by} but not set; accepted form: a Pulumi secret, set with `{how_to_set(key)}`")


def how_to_set(key: str) -> str:
    return f"pulumi config set --secret {NAMESPACE}:{key} <value>"


def secret_problems(values: dict[str, Any], secret_keys: set[str]) -> list[Problem]:
    """Secret keys written in plain text are refused: they would sit unencrypted in the stack file."""
    problems = []
    for key in sorted(SECRET_KEYS):
        full = f"{NAMESPACE}:{key}"
        if key in values and full not in secret_keys:
            problems.append(Problem(key, "<plain text, not shown>", f"is in plain text; accepted form: a Pulumi secret, set with `{how_to_set(key)}`"))
    return problems


def secret_value(key: str) -> pulumi.Output[str] | None:
    """The secret's value as a Pulumi secret Output, or None when it is not set."""
    if key not in SECRET_KEYS:
        raise KeyError(f"{key} is not a declared secret key; add it to SECRET_KEYS")
    return pulumi.Config(NAMESPACE).get_secret(key)


def credential_secrets(storage: ObjectStorage | None) -> dict[str, pulumi.Output[str] | None]:
    """Each credential secret ``storage`` needs, key -> its Pulumi secret value; empty unless credentials are "secret"."""
    if storage is None or storage.credentials != "secret":
        return {}
    return {key: secret_value(key) for key in CREDENTIAL_SECRETS[storage.backend]}
