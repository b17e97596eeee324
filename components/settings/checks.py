"""Every rule that spans several fields, run after every field parsed on its own.

Each rule lives beside the section it checks (``<signal>_checks``); this table is the one
place that lists them all, in the order they run.
"""

from __future__ import annotations

from collections.abc import Callable

from components.settings import grafana_checks, logs_checks, metrics_checks, platform_checks, traces_checks
from components.settings.errors import Problem
from components.settings.model import Settings

CHECKS: tuple[Callable[[Settings], list[Problem]], ...] = (
    metrics_checks.retention_size_problems,
    platform_checks.request_above_limit_problems,
    metrics_checks.single_pushgateway,
    platform_checks.disruption_budget_problems,
    logs_checks.loki_retention,
    logs_checks.stream_retention,
    logs_checks.loki_ingestion,
    logs_checks.loki_cache,
    logs_checks.single_loki,
    traces_checks.single_tempo,
    grafana_checks.single_grafana,
    logs_checks.loki_object_storage_credentials,
    logs_checks.loki_object_storage_since,
    traces_checks.tempo_object_storage_credentials,
    grafana_checks.grafana_problems,
    metrics_checks.alerting_problems,
    metrics_checks.unique_targets,
    metrics_checks.interval_problems,
    metrics_checks.onset_hold_problems,
    platform_checks.network_problems,
    platform_checks.readiness_wait_problems,
    platform_checks.host_namespace_problems,
    traces_checks.trace_retention,
    grafana_checks.grafana_url_problems,
)


def cross_field_problems(settings: Settings) -> list[Problem]:
    """The problems of every rule in CHECKS, in its order."""
    return [problem for check in CHECKS for problem in check(settings)]
