"""Which receivers a stack's alerting uses, which secrets they need, and the rules routing must obey."""

from __future__ import annotations

from components.settings.errors import Problem
from components.settings.model import Settings
from components.settings.secrets import missing_secret

# The credentials Alertmanager's receivers read (components/metrics/alertmanager_config.py).
RECEIVER_SECRET_KEYS = ("slackWebhookUrl", "smtpPassword", "pagerdutyRoutingKey", "pagerdutyEscalationRoutingKey")


def required_secrets(settings: Settings) -> dict[str, str]:
    """Secret key -> the setting that needs it."""
    alerting = settings.alerting
    needed: dict[str, str] = {}
    if alerting.slack is not None:
        needed["slackWebhookUrl"] = "alerting.slack"
    if alerting.email is not None and alerting.email.auth_username:
        needed["smtpPassword"] = "alerting.email.authUsername"
    if alerting.paging:
        needed["pagerdutyRoutingKey"] = "alerting.paging (critical alerts page)"
        needed["pagerdutyEscalationRoutingKey"] = "alerting.paging (emergency alerts page with escalation)"
    exporters = settings.service_exporters
    if exporters.mongodb_username and any(t.kind == "mongodb" for t in exporters.targets):
        needed["mongodbExporterPassword"] = "serviceExporters.mongodbUsername"
    return needed


def alerting_problems(settings: Settings) -> list[Problem]:
    problems: list[Problem] = []
    paging = settings.alerting.paging
    if settings.environment == "dev" and paging:
        problems.append(Problem("alerting.paging", paging, "dev pages nobody; accepted form: false in a dev stack"))
    if settings.environment == "prod" and not paging:
        problems.append(Problem("alerting.paging", paging, "critical and emergency alerts in prod must page; accepted form: true in a prod stack"))
    alerting = settings.alerting
    if settings.environment != "dev" and alerting.slack is None and alerting.email is None and not paging:
        problems.append(
            Problem(
                "alerting",
                {"slack": None, "email": None, "paging": paging},
                f"a {settings.environment} stack with no receiver notifies nobody; "
                "accepted form: at least one of alerting.slack (a channel), alerting.email (an address) or alerting.paging: true",
            )
        )
    return problems


def missing_secret_problems(settings: Settings) -> list[Problem]:
    return [missing_secret(key, needed_by) for key, needed_by in sorted(required_secrets(settings).items()) if key not in settings.secrets_set]
