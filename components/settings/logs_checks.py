"""Cross-field rules of the logs sections (logs.py): Loki's retention, ingestion limits, cache and bucket."""

from __future__ import annotations

import re
from decimal import Decimal

from components.settings.errors import Problem
from components.settings.logs import FIRST_SCHEMA_DAY, results_cache_mb
from components.settings.model import Settings
from components.settings.platform_checks import single_replica_problems
from components.settings.storage_checks import credential_problems
from components.settings.units import duration_seconds, quantity_bytes
from components.wiring.endpoints import STREAM_LABELS

DAY_SECONDS = Decimal(86400)
# The in-process chunk cache and the results cache (half its size) share the container's memory.
CACHE_MAX_SHARE_OF_MEMORY = Decimal("0.5")
MIB = Decimal(1024 * 1024)


def loki_retention(settings: Settings) -> list[Problem]:
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


def stream_retention(settings: Settings) -> list[Problem]:
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


def loki_ingestion(settings: Settings) -> list[Problem]:
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


def loki_cache(settings: Settings) -> list[Problem]:
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


def single_loki(settings: Settings) -> list[Problem]:
    # Monolithic Loki keeps its ring in memory and its data on one volume.
    return single_replica_problems("loki.replicas", settings.loki.replicas, "monolithic Loki; see docs/loki-distributed.md to scale out")


def loki_object_storage_credentials(settings: Settings) -> list[Problem]:
    return credential_problems("loki", settings.loki.object_storage, settings.secrets_set)


SINCE_FORM = (
    "a date YYYY-MM-DD (UTC) after 2025-01-01 from which logs go to the bucket; when first set, a day after today "
    "(Loki starts a new schema period there and keeps the volume's period for the logs before it); never change it once deployed"
)


def loki_object_storage_since(settings: Settings) -> list[Problem]:
    storage = settings.loki.object_storage
    if storage is None:
        return []
    if storage.since is None:
        return [Problem("loki.objectStorage.since", None, f"is required with loki.objectStorage; accepted form: {SINCE_FORM}")]
    if storage.since <= FIRST_SCHEMA_DAY:
        return [Problem("loki.objectStorage.since", storage.since.isoformat(), f"is not after the volume's period; accepted form: {SINCE_FORM}")]
    return []
