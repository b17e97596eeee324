"""The Alertmanager configuration, generated from settings (DESIGN.md's routing by severity).

    info, warning -> Slack
    error         -> Slack and e-mail
    critical      -> PagerDuty                  (where alerting.paging; else as error)
    emergency     -> PagerDuty with escalation  (where alerting.paging; else as error)

Before the severities, two routes that must not follow them:

    notify="none" (a cause's onset companion) -> nowhere: it exists only to mute the cause's symptoms
                                                (components/rules/causes.py onset_rules)
    Watchdog (always firing)                 -> the heartbeat receiver (alerting.heartbeat), else nowhere;
                                                never a person: the external dead-man service pages when it stops
    AlertmanagerNotificationsFailing{integration=X}
                                             -> the most serious receiver that does not send through X
                                                (a failing PagerDuty is not reported through PagerDuty)

Inhibitions: a more severe alert mutes the less severe ones of the same alertname and service, and every
cause -> symptom relation of the rule set mutes the symptoms (components/rules/causes.py).

The text of every notification is bounded (components/metrics/notifications.py).
Credentials never enter this file: receivers read them with *_file fields from
the receivers Secret that the Alertmanager resource mounts, so the generated
config is plain data that amtool can check and the render can show.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.metrics import notifications
from components.rules.causes import INHIBIT_ONLY
from components.settings.metrics import AlertingSettings
from components.settings.metrics_checks import HEARTBEAT_MIN_SECONDS

SEVERITIES = ("info", "warning", "error", "critical", "emergency")
PAGING_SEVERITIES = ("critical", "emergency")
RECEIVERS_SECRET = "alertmanager-receivers"
# Where the operator mounts each Secret listed in the Alertmanager resource's `secrets`.
SECRETS_DIR = f"/etc/alertmanager/secrets/{RECEIVERS_SECRET}"
NULL_RECEIVER = "null"
PAGERDUTY = "pagerduty"
PAGERDUTY_ESCALATION = "pagerduty-escalation"
HEARTBEAT = "heartbeat"
# The always-firing alert of rules/observability-stack.yaml (group stack-heartbeat).
WATCHDOG = "Watchdog"
# Alertmanager's own delivery alert; its `integration` label names the failing integration
# (alertmanager_notifications_failed_total{integration}: email, pagerduty, slack, webhook, ...).
NOTIFICATIONS_FAILING = "AlertmanagerNotificationsFailing"
# A group is re-sent only on a group_interval tick once repeat_interval has passed, so the heartbeat
# goes out every `interval` plus at most this.
HEARTBEAT_GROUP_INTERVAL = f"{HEARTBEAT_MIN_SECONDS // 2}s"

def secret_file(key: str) -> str:
    return f"{SECRETS_DIR}/{key}"


def _slack(alerting: AlertingSettings) -> list[dict[str, Any]]:
    slack = alerting.slack
    if slack is None:
        return []
    return [
        {
            "api_url_file": secret_file("slackWebhookUrl"),
            "channel": slack.channel,
            "send_resolved": True,
            "title": notifications.SLACK_TITLE,
            "text": notifications.SLACK_TEXT,
        }
    ]


def _email(alerting: AlertingSettings) -> list[dict[str, Any]]:
    email = alerting.email
    if email is None:
        return []
    config: dict[str, Any] = {
        "to": email.to,
        "from": email.sender,
        "smarthost": email.smarthost,
        "require_tls": email.require_tls,
        "send_resolved": True,
        "html": notifications.EMAIL_HTML,
        "text": notifications.EMAIL_TEXT,
    }
    if email.auth_username:
        config["auth_username"] = email.auth_username
        config["auth_password_file"] = secret_file("smtpPassword")
    return [config]


def _pager(key: str) -> dict[str, Any]:
    return {
        "routing_key_file": secret_file(key),
        "severity": "critical",
        "description": notifications.PAGERDUTY_DESCRIPTION,
        "details": dict(notifications.PAGERDUTY_DETAILS),
        "links": [dict(link) for link in notifications.PAGERDUTY_LINKS],
        "send_resolved": True,
    }


def _heartbeat(alerting: AlertingSettings) -> list[dict[str, Any]]:
    if alerting.heartbeat is None:
        return []
    # The dead-man service needs the ping, not its end: nothing on resolve.
    return [{"url_file": secret_file("heartbeatUrl"), "send_resolved": False, "max_alerts": 1}]


def _name(integrations: dict[str, list[dict[str, Any]]]) -> str:
    used = [kind for kind, configs in integrations.items() if configs]
    return "-".join(used) if used else NULL_RECEIVER


def receivers_and_routes(alerting: AlertingSettings) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The receivers and which one each severity goes to."""
    notify = {"slack": _slack(alerting)}
    report = {"slack": _slack(alerting), "email": _email(alerting)}
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
    if alerting.paging:
        route["critical"] = add({"pagerduty": [_pager("pagerdutyRoutingKey")]}, PAGERDUTY)
        route["emergency"] = add({"pagerduty": [_pager("pagerdutyRoutingKey"), _pager("pagerdutyEscalationRoutingKey")]}, PAGERDUTY_ESCALATION)
    else:
        # Nobody is paged here: the most serious alerts go where errors go.
        route["critical"] = route["emergency"] = error
    route["heartbeat"] = add({"webhook": _heartbeat(alerting)}, HEARTBEAT) if alerting.heartbeat else NULL_RECEIVER
    add({}, NULL_RECEIVER)
    return [receivers[name] for name in sorted(receivers)], route


def _integrations(receiver: Mapping[str, Any]) -> set[str]:
    """The integrations a receiver sends through, as Alertmanager names them in its metrics (slack, email, pagerduty, webhook)."""
    return {key.removesuffix("_configs") for key, configs in receiver.items() if key.endswith("_configs") and configs}


def _failing_integration_routes(receivers: list[dict[str, Any]], route: Mapping[str, str]) -> list[dict[str, Any]]:
    """NOTIFICATIONS_FAILING for integration X goes, instead of the receiver its severity names (critical),
    to the most serious receiver that does not send through X, where there is one."""
    by_name = {r["name"]: r for r in receivers}
    own = route["critical"]
    routes = []
    for integration in sorted(_integrations(by_name[own])):
        others = [route[s] for s in reversed(SEVERITIES) if route[s] != NULL_RECEIVER and integration not in _integrations(by_name[route[s]])]
        if others:
            routes.append({"matchers": [f'alertname="{NOTIFICATIONS_FAILING}"', f'integration="{integration}"'], "receiver": others[0]})
    return routes


def severity_inhibit_rules() -> list[dict[str, Any]]:
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


def alertmanager_config(alerting: AlertingSettings, causes: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole config: routes from ``alerting``, inhibitions by severity and the rule set's cause -> symptom
    inhibit rules ``causes`` (components/rules/causes.py inhibit_rules)."""
    receivers, route = receivers_and_routes(alerting)
    heartbeat = {
        "matchers": [f'alertname="{WATCHDOG}"'],
        "receiver": route["heartbeat"],
        "group_by": ["alertname"],
        "group_wait": "0s",
        "group_interval": HEARTBEAT_GROUP_INTERVAL,
        "repeat_interval": alerting.heartbeat.interval if alerting.heartbeat else alerting.repeat_interval,
    }
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            # Alerts without a known severity still reach people, as errors do.
            "receiver": route["error"],
            "group_by": list(alerting.group_by),
            "group_wait": alerting.group_wait,
            "group_interval": alerting.group_interval,
            "repeat_interval": alerting.repeat_interval,
            "routes": [
                {"matchers": [f'{INHIBIT_ONLY[0]}="{INHIBIT_ONLY[1]}"'], "receiver": NULL_RECEIVER},
                heartbeat,
                *_failing_integration_routes(receivers, route),
                *({"matchers": [f'severity="{severity}"'], "receiver": route[severity]} for severity in reversed(SEVERITIES)),
            ],
        },
        "inhibit_rules": severity_inhibit_rules() + list(causes),
        "receivers": receivers,
    }


def credential_keys(config: Mapping[str, Any]) -> list[str]:
    """The receivers Secret's keys that ``config`` reads (its *_file fields under SECRETS_DIR), sorted."""
    keys: set[str] = set()

    def visit(value: Any, field: str = "") -> None:
        if isinstance(value, Mapping):
            for name, item in value.items():
                visit(item, name)
        elif isinstance(value, list):
            for item in value:
                visit(item, field)
        elif field.endswith("_file") and isinstance(value, str) and value.startswith(f"{SECRETS_DIR}/"):
            keys.add(value.removeprefix(f"{SECRETS_DIR}/"))

    visit(config)
    return sorted(keys)
