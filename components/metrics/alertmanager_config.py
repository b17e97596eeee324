"""The Alertmanager configuration, generated from settings (DESIGN.md's routing by severity).

    info, warning -> Slack
    error         -> Slack and e-mail
    critical      -> PagerDuty                  (where alerting.paging; else as error)
    emergency     -> PagerDuty with escalation  (where alerting.paging; else as error)

Credentials never enter this file: receivers read them with *_file fields from
the receivers Secret that the Alertmanager resource mounts, so the generated
config is plain data that amtool can check and the render can show.
"""

from __future__ import annotations

from typing import Any

from components.settings import Settings

SEVERITIES = ("info", "warning", "error", "critical", "emergency")
PAGING_SEVERITIES = ("critical", "emergency")
RECEIVERS_SECRET = "alertmanager-receivers"
# Where the operator mounts each Secret listed in the Alertmanager resource's `secrets`.
SECRETS_DIR = f"/etc/alertmanager/secrets/{RECEIVERS_SECRET}"
NULL_RECEIVER = "null"
PAGERDUTY = "pagerduty"
PAGERDUTY_ESCALATION = "pagerduty-escalation"

SLACK_TITLE = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
    "{{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }}, {{ .CommonLabels.environment }})"
)
SLACK_TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
    "Runbook: {{ .Annotations.runbook_url }}\nDashboard: {{ .Annotations.dashboard_url }}\n{{ end }}"
)
PAGER_DESCRIPTION = "{{ .CommonLabels.alertname }} ({{ .CommonLabels.environment }}): {{ .CommonAnnotations.summary }}"


def secret_file(key: str) -> str:
    return f"{SECRETS_DIR}/{key}"


def _slack(settings: Settings) -> list[dict[str, Any]]:
    slack = settings.alerting.slack
    if slack is None:
        return []
    return [
        {
            "api_url_file": secret_file("slackWebhookUrl"),
            "channel": slack.channel,
            "send_resolved": True,
            "title": SLACK_TITLE,
            "text": SLACK_TEXT,
        }
    ]


def _email(settings: Settings) -> list[dict[str, Any]]:
    email = settings.alerting.email
    if email is None:
        return []
    config: dict[str, Any] = {
        "to": email.to,
        "from": email.sender,
        "smarthost": email.smarthost,
        "require_tls": email.require_tls,
        "send_resolved": True,
    }
    if email.auth_username:
        config["auth_username"] = email.auth_username
        config["auth_password_file"] = secret_file("smtpPassword")
    return [config]


def _pager(key: str) -> dict[str, Any]:
    return {"routing_key_file": secret_file(key), "severity": "critical", "description": PAGER_DESCRIPTION, "send_resolved": True}


def _name(integrations: dict[str, list[dict[str, Any]]]) -> str:
    used = [kind for kind, configs in integrations.items() if configs]
    return "-".join(used) if used else NULL_RECEIVER


def receivers_and_routes(settings: Settings) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The receivers and which one each severity goes to."""
    notify = {"slack": _slack(settings)}
    report = {"slack": _slack(settings), "email": _email(settings)}
    receivers: dict[str, dict[str, Any]] = {}

    def add(integrations: dict[str, list[dict[str, Any]]], name: str | None = None) -> str:
        name = name or _name(integrations)
        receiver: dict[str, Any] = {"name": name}
        for kind, configs in integrations.items():
            if configs:
                receiver[f"{kind}_configs"] = configs
        receivers[name] = receiver
        return name

    # Without a Slack channel, notices fall back to the e-mail receiver.
    notice = add(notify) if notify["slack"] else add(report)
    error = add(report)
    route = {"info": notice, "warning": notice, "error": error}
    if settings.alerting.paging:
        route["critical"] = add({"pagerduty": [_pager("pagerdutyRoutingKey")]}, PAGERDUTY)
        route["emergency"] = add({"pagerduty": [_pager("pagerdutyRoutingKey"), _pager("pagerdutyEscalationRoutingKey")]}, PAGERDUTY_ESCALATION)
    else:
        # Nobody is paged here: the most serious alerts go where errors go.
        route["critical"] = route["emergency"] = error
    add({}, NULL_RECEIVER)
    return [receivers[name] for name in sorted(receivers)], route


def inhibit_rules(settings: Settings) -> list[dict[str, Any]]:
    """A firing alert silences the less severe alerts of the same alertname and service."""
    rules = []
    for rank, severity in enumerate(SEVERITIES[1:], start=1):
        rules.append(
            {
                "source_matchers": [f'severity="{severity}"'],
                "target_matchers": [f'severity=~"{"|".join(SEVERITIES[:rank])}"'],
                "equal": ["alertname", "service"],
            }
        )
    return rules


def alertmanager_config(settings: Settings) -> dict[str, Any]:
    alerting = settings.alerting
    receivers, route = receivers_and_routes(settings)
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            # Alerts without a known severity still reach people, as errors do.
            "receiver": route["error"],
            "group_by": list(alerting.group_by),
            "group_wait": alerting.group_wait,
            "group_interval": alerting.group_interval,
            "repeat_interval": alerting.repeat_interval,
            "routes": [{"matchers": [f'severity="{severity}"'], "receiver": route[severity]} for severity in reversed(SEVERITIES)],
        },
        "inhibit_rules": inhibit_rules(settings),
        "receivers": receivers,
    }
