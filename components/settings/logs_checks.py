"""Cross-field rules of the logs and traces sections (Loki, Tempo, Grafana)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from components.settings.errors import Problem
from components.settings.model import Settings
from components.settings.secrets import how_to_set
from components.settings.storage_backend import CREDENTIAL_SECRETS, ObjectStorage
from components.settings.units import duration_seconds, quantity_bytes
from components.wiring.endpoints import STREAM_LABELS

DAY_SECONDS = Decimal(86400)
# The in-process chunk cache and the results cache (half its size) share the container's memory.
CACHE_MAX_SHARE_OF_MEMORY = Decimal("0.5")
MIB = Decimal(1024 * 1024)


def logs_problems(settings: Settings) -> list[Problem]:
    return [
        *_loki_retention(settings),
        *_stream_retention(settings),
        *_loki_ingestion(settings),
        *_loki_cache(settings),
        *_single_instance(settings),
        *_object_storage_credentials(settings, "loki", settings.loki.object_storage),
        *_loki_object_storage_since(settings),
        *_object_storage_credentials(settings, "tempo", settings.tempo.object_storage),
        *_grafana(settings),
    ]


def results_cache_mb(chunk_cache_mb: int) -> int:
    return chunk_cache_mb // 2


def _loki_retention(settings: Settings) -> list[Problem]:
    # Loki deletes whole 24h index periods; a partial day would silently round.
    seconds = duration_seconds(settings.loki.retention)
    if seconds >= DAY_SECONDS and seconds % DAY_SECONDS == 0:
        return []
    return [
        Problem(
            "loki.retention", settings.loki.retention, "accepted form: a whole number of days of at least one day (e.g. 3d, 336h), Loki's index period is 24h"
        )
    ]


_STREAM_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')


def _stream_retention(settings: Settings) -> list[Problem]:
    out = []
    form = ('a stream selector over the stream labels, e.g. \'{service="dvt-audit"}\'; labels: '
            + ", ".join(STREAM_LABELS))
    for i, rule in enumerate(settings.loki.stream_retention):
        key = f"loki.streamRetention[{i}]"
        body = rule.selector.strip()
        parts = body[1:-1].split(",") if body.startswith("{") and body.endswith("}") else None
        matches = [_STREAM_MATCHER.fullmatch(p) for p in parts or []]
        if not parts or not all(matches) or any(m.group(1) not in STREAM_LABELS for m in matches if m):
            out.append(Problem(f"{key}.selector", rule.selector, f"accepted form: {form}"))
        seconds = duration_seconds(rule.period)
        if seconds < 86400 or seconds % 86400:
            out.append(Problem(f"{key}.period", rule.period, "accepted form: a whole number of days of at least one day (e.g. 90d)"))
    return out


def _loki_ingestion(settings: Settings) -> list[Problem]:
    limits = settings.loki.ingestion
    problems = []
    if limits.burst_mb < limits.rate_mb:
        problems.append(
            Problem("loki.ingestion.burstMb", limits.burst_mb, f"is below loki.ingestion.rateMb {limits.rate_mb}; accepted form: a burst at least the rate")
        )
    if limits.per_stream_rate_mb > limits.rate_mb:
        problems.append(
            Problem(
                "loki.ingestion.perStreamRateMb",
                limits.per_stream_rate_mb,
                f"is above loki.ingestion.rateMb {limits.rate_mb}; accepted form: at most the tenant's rate",
            )
        )
    if limits.per_stream_burst_mb < limits.per_stream_rate_mb:
        problems.append(
            Problem(
                "loki.ingestion.perStreamBurstMb",
                limits.per_stream_burst_mb,
                f"is below loki.ingestion.perStreamRateMb {limits.per_stream_rate_mb}; accepted form: a burst at least the rate",
            )
        )
    return problems


def _loki_cache(settings: Settings) -> list[Problem]:
    loki = settings.loki
    used = Decimal(loki.chunk_cache_mb + results_cache_mb(loki.chunk_cache_mb)) * MIB
    room = quantity_bytes(loki.resources.limits.memory) * CACHE_MAX_SHARE_OF_MEMORY
    if used <= room:
        return []
    most = int(room / MIB / Decimal("1.5"))
    return [
        Problem(
            "loki.chunkCacheMb",
            loki.chunk_cache_mb,
            f"with its results cache would take more than half of loki.resources.limits.memory {loki.resources.limits.memory}; accepted form: at most {most}",
        )
    ]


def _single_instance(settings: Settings) -> list[Problem]:
    # Monolithic Loki and Tempo keep their ring in memory and data on one volume; Grafana's
    # SQLite database sits on one ReadWriteOnce volume.
    problems = []
    for key, replicas, why in (
        ("loki.replicas", settings.loki.replicas, "monolithic Loki; see docs/loki-distributed.md to scale out"),
        ("tempo.replicas", settings.tempo.replicas, "monolithic Tempo keeps its ring in memory"),
        ("grafana.replicas", settings.grafana.replicas, "Grafana's SQLite database lives on one ReadWriteOnce volume"),
    ):
        if replicas != 1:
            problems.append(Problem(key, replicas, f"accepted form: 1 ({why})"))
    return problems


def _object_storage_credentials(settings: Settings, section: str, storage: ObjectStorage | None) -> list[Problem]:
    if storage is None:
        return []
    problems = []
    if storage.backend == "s3" and storage.region is None and storage.endpoint is None:
        problems.append(
            Problem(f"{section}.objectStorage.region", None, "is required for s3 unless objectStorage.endpoint is set; accepted form: e.g. eu-west-1")
        )
    if storage.credentials != "secret":
        return problems
    missing = [key for key in CREDENTIAL_SECRETS[storage.backend] if key not in settings.secrets_set]
    return problems + [
        Problem(
            f"{section}.objectStorage.credentials",
            storage.credentials,
            f"needs the secret {key}; accepted form: the Pulumi secret set with `{how_to_set(key)}`, or credentials: workloadIdentity",
        )
        for key in missing
    ]


# The first day of the volume's schema period (components/logs/loki_config.py); a bucket period starts after it.
FIRST_SCHEMA_DAY = date(2025, 1, 1)
SINCE_FORM = (
    "a date YYYY-MM-DD (UTC) after 2025-01-01 from which logs go to the bucket; when first set, a day after today "
    "(Loki starts a new schema period there and keeps the volume's period for the logs before it); never change it once deployed"
)


def _loki_object_storage_since(settings: Settings) -> list[Problem]:
    storage = settings.loki.object_storage
    if storage is None:
        return []
    if storage.since is None:
        return [Problem("loki.objectStorage.since", None, f"is required with loki.objectStorage; accepted form: {SINCE_FORM}")]
    if storage.since <= FIRST_SCHEMA_DAY:
        return [Problem("loki.objectStorage.since", storage.since.isoformat(), f"is not after the volume's period; accepted form: {SINCE_FORM}")]
    return []


def _grafana(settings: Settings) -> list[Problem]:
    grafana = settings.grafana
    problems = []
    if grafana.ingress.enabled and grafana.ingress.host is None:
        problems.append(Problem("grafana.ingress.host", None, "is required when grafana.ingress.enabled is true; accepted form: a DNS host name"))
    if grafana.external is not None:
        if "grafanaAuth" not in settings.secrets_set:
            token = f"needs an API token; accepted form: the Pulumi secret set with `{how_to_set('grafanaAuth')}`"
            problems.append(Problem("grafana.external.url", grafana.external.url, token))
        if grafana.ingress.enabled:
            problems.append(Problem("grafana.ingress.enabled", True, "accepted form: false when grafana.external is set (the stack runs no Grafana to expose)"))
    return problems
