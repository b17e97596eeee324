"""Cross-field rules of the metrics sections (metrics.py), and which secrets their receivers and exporters need."""

from __future__ import annotations

from decimal import Decimal

from components.rules.causes import ONSET_HOLD
from components.rules.windows import shortest_rule_window
from components.settings.errors import Problem
from components.settings.model import Settings
from components.settings.platform_checks import single_replica_problems
from components.settings.secrets import missing_secret
from components.settings.units import byte_size_bytes, duration_seconds

# Prometheus needs room beside its blocks for the WAL and compaction.
RETENTION_SIZE_MAX_SHARE = Decimal("0.85")
SAMPLES_PER_WINDOW = 2  # rate() needs two samples inside its window (Prometheus extrapolatedRate)
# The credentials Alertmanager's receivers read (components/metrics/alertmanager_config.py).
RECEIVER_SECRET_KEYS = ("slackWebhookUrl", "smtpPassword", "pagerdutyRoutingKey", "pagerdutyEscalationRoutingKey", "heartbeatUrl")
# The Watchdog route re-sends at most once per group_interval (components/metrics/alertmanager_config.py).
HEARTBEAT_MIN_SECONDS = 60


def retention_size_problems(settings: Settings) -> list[Problem]:
    prometheus = settings.prometheus
    room = prometheus.storage.size_bytes * RETENTION_SIZE_MAX_SHARE
    if byte_size_bytes(prometheus.retention_size) <= room:
        return []
    return [
        Problem(
            "prometheus.retentionSize",
            prometheus.retention_size,
            f"does not fit prometheus.storage.size {prometheus.storage.size}; accepted form: a byte size of at most "
            f"{int(RETENTION_SIZE_MAX_SHARE * 100)}% of the volume ({_gb(room)}) to leave room for the WAL and compaction",
        )
    ]


def _gb(size: Decimal) -> str:
    return f"{(size / (1024**3)).quantize(Decimal('0.01'))}GB"


def single_pushgateway(settings: Settings) -> list[Problem]:
    # Pushes land on one instance and persist to one file; replicas would split them.
    return single_replica_problems("pushgateway.replicas", settings.pushgateway.replicas, "pushed metrics live in one instance's persistence file")


def interval_problems(settings: Settings) -> list[Problem]:
    """Scrape and evaluation intervals of at most half the shortest range window in any rule.

    A window that holds fewer than two samples makes rate(), increase() and friends return
    nothing, so every alert built on it stays silent forever.
    """
    shortest = shortest_rule_window()
    if shortest is None:
        return []
    window_seconds, where = shortest
    most = Decimal(window_seconds) / SAMPLES_PER_WINDOW
    problems = []
    # Raw series arrive every scrape interval; recorded ones every evaluation interval.
    intervals = (("prometheus.scrapeInterval", settings.prometheus.scrape_interval), ("prometheus.evaluationInterval", settings.prometheus.evaluation_interval))
    for key, value in intervals:
        if duration_seconds(value) > most:
            problems.append(
                Problem(
                    key,
                    value,
                    f"leaves fewer than {SAMPLES_PER_WINDOW} samples in the shortest rule window ({_text(window_seconds)} in {where}), "
                    f"so alerts on it can never fire; accepted form: a duration of at most {_text(most)}",
                )
            )
    return problems


def onset_hold_problems(settings: Settings) -> list[Problem]:
    """An evaluation interval longer than the onsets' hold could leave a gap in which a cause's onset has stopped
    and the cause has not yet fired (different rule groups are evaluated at different moments), and a symptom
    would page first (components/rules/causes.py, ONSET_HOLD)."""
    value = settings.prometheus.evaluation_interval
    if duration_seconds(value) > duration_seconds(ONSET_HOLD):
        return [Problem("prometheus.evaluationInterval", value,
                        f"is longer than the {ONSET_HOLD} that a cause's onset alert holds after it stops, so a symptom could page "
                        f"before its cause; accepted form: a duration of at most {ONSET_HOLD}")]
    return []


def _text(seconds: Decimal) -> str:
    whole = int(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if whole and whole % size == 0 and whole == seconds:
            return f"{whole // size}{unit}"
    return f"{seconds.normalize():f}s"


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
    heartbeat = alerting.heartbeat
    if heartbeat is not None and duration_seconds(heartbeat.interval) < HEARTBEAT_MIN_SECONDS:
        problems.append(Problem("alerting.heartbeat.interval", heartbeat.interval,
                                "is shorter than Alertmanager can re-send the heartbeat; "
                                f"accepted form: a duration of at least {HEARTBEAT_MIN_SECONDS}s (e.g. 1m)"))
    return problems


def unique_targets(settings: Settings) -> list[Problem]:
    names = [target.name for target in settings.service_exporters.targets]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if not duplicates:
        return []
    return [Problem("serviceExporters.targets", duplicates, "target names must be unique; accepted form: a list of targets with distinct names")]


def required_secrets(settings: Settings) -> dict[str, str]:
    """Secret key -> the setting that needs it (the receivers' credentials and the MongoDB exporter's password)."""
    alerting = settings.alerting
    needed: dict[str, str] = {}
    if alerting.slack is not None:
        needed["slackWebhookUrl"] = "alerting.slack"
    if alerting.email is not None and alerting.email.auth_username:
        needed["smtpPassword"] = "alerting.email.authUsername"
    if alerting.paging:
        needed["pagerdutyRoutingKey"] = "alerting.paging (critical alerts page)"
        needed["pagerdutyEscalationRoutingKey"] = "alerting.paging (emergency alerts page with escalation)"
    if alerting.heartbeat is not None:
        needed["heartbeatUrl"] = "alerting.heartbeat (the dead-man's switch)"
    exporters = settings.service_exporters
    if exporters.mongodb_username and any(t.kind == "mongodb" for t in exporters.targets):
        needed["mongodbExporterPassword"] = "serviceExporters.mongodbUsername"
    return needed


def missing_secret_problems(settings: Settings) -> list[Problem]:
    return [missing_secret(key, needed_by) for key, needed_by in sorted(required_secrets(settings).items()) if key not in settings.secrets_set]
