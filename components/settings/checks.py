"""Rules that span several fields, run after every field parsed on its own."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from pydantic import BaseModel

from components.settings.delivery_checks import grafana_url_problems
from components.settings.errors import Problem
from components.settings.logs_checks import logs_problems
from components.settings.model import Settings
from components.settings.receivers import alerting_problems
from components.settings.rule_checks import interval_problems
from components.settings.types import Resources, Workload
from components.settings.units import byte_size_bytes, cpu_cores, duration_seconds, quantity_bytes

# Prometheus needs room beside its blocks for the WAL and compaction.
RETENTION_SIZE_MAX_SHARE = Decimal("0.85")


def cross_field_problems(settings: Settings) -> list[Problem]:
    return (
        _retention_size_problems(settings)
        + _request_above_limit_problems(settings)
        + _single_pushgateway(settings)
        + _disruption_budget_problems(settings)
        + logs_problems(settings)
        + alerting_problems(settings)
        + _unique_targets(settings)
        + interval_problems(settings)
        + _network_problems(settings)
        + _trace_retention(settings)
        + grafana_url_problems(settings)
    )


# Tempo cuts a block from its ingester every max_block_duration (30m by default) and compacts
# over 1h windows: a shorter retention deletes traces as soon as they are flushed.
TEMPO_MIN_RETENTION_SECONDS = Decimal(3600)


def _trace_retention(settings: Settings) -> list[Problem]:
    if duration_seconds(settings.tempo.retention) >= TEMPO_MIN_RETENTION_SECONDS:
        return []
    why = "is shorter than Tempo's block and compaction period; accepted form: a duration of at least 1h (e.g. 72h, 7d)"
    return [Problem("tempo.retention", settings.tempo.retention, why)]


def _network_problems(settings: Settings) -> list[Problem]:
    # Under default deny, an empty list closes a flow the stack cannot work without.
    network = settings.network
    if not network.policies:
        return []
    needed = [
        ("apiServerCidrs", network.api_server_cidrs, True, "the operator, kube-state-metrics, Alloy and Prometheus could not reach the Kubernetes API"),
        ("nodeCidrs", network.node_cidrs, True, "Prometheus could not scrape the kubelet, cAdvisor and node-exporter"),
        (
            "receiverCidrs",
            network.receiver_cidrs,
            bool(settings.alerting.slack or settings.alerting.email or settings.alerting.paging),
            "Alertmanager could not reach its receivers (Slack, PagerDuty, e-mail)",
        ),
        (
            "objectStorageCidrs",
            network.object_storage_cidrs,
            settings.loki.object_storage is not None or settings.tempo.object_storage is not None,
            "Loki and Tempo could not reach their bucket",
        ),
    ]
    return [
        Problem(
            f"network.{key}", list(cidrs), f"is empty, so under the default-deny policies {why}; accepted form: a list of at least one CIDR (e.g. [10.0.0.0/8])"
        )
        for key, cidrs, used, why in needed
        if used and not cidrs
    ]


def _unique_targets(settings: Settings) -> list[Problem]:
    names = [target.name for target in settings.service_exporters.targets]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if not duplicates:
        return []
    return [Problem("serviceExporters.targets", duplicates, "target names must be unique; accepted form: a list of targets with distinct names")]


def _disruption_budget_problems(settings: Settings) -> list[Problem]:
    # A budget that lets every replica go at once protects nothing.
    budget = settings.availability.max_unavailable
    replicated = sorted(
        (field.alias or name, value.replicas)
        for name, field in type(settings).model_fields.items()
        if isinstance(value := getattr(settings, name), Workload) and value.replicas > 1
    )
    return [
        Problem(
            "availability.maxUnavailable",
            budget,
            f"lets all {replicas} replicas of {key} go at once; accepted form: a whole number from 1 to {replicas - 1} (below {key}.replicas)",
        )
        for key, replicas in replicated
        if budget >= replicas
    ]


def _single_pushgateway(settings: Settings) -> list[Problem]:
    # Pushes land on one instance and persist to one file; replicas would split them.
    if settings.pushgateway.replicas == 1:
        return []
    return [Problem("pushgateway.replicas", settings.pushgateway.replicas, "accepted form: 1 (pushed metrics live in one instance's persistence file)")]


def _retention_size_problems(settings: Settings) -> list[Problem]:
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


def _request_above_limit_problems(settings: Settings) -> list[Problem]:
    problems = []
    for path, resources in _all_resources(settings, ""):
        for name, parse in (("cpu", cpu_cores), ("memory", quantity_bytes)):
            request = getattr(resources.requests, name)
            limit = getattr(resources.limits, name)
            if parse(request) > parse(limit):
                problems.append(
                    Problem(f"{path}.requests.{name}", request, f"is above {path}.limits.{name} {limit}; accepted form: a request at most its limit")
                )
    return problems


def _all_resources(model: BaseModel, path: str) -> Iterator[tuple[str, Resources]]:
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = f"{path}.{field.alias or name}".lstrip(".")
        if isinstance(value, Resources):
            yield key, value
        elif isinstance(value, BaseModel):
            yield from _all_resources(value, key)


def _gb(size: Decimal) -> str:
    return f"{(size / (1024**3)).quantize(Decimal('0.01'))}GB"
