"""Cross-field rules of the traces section (traces.py): Tempo's retention, replicas and bucket."""

from __future__ import annotations

from decimal import Decimal

from components.settings.errors import Problem
from components.settings.model import Settings
from components.settings.platform_checks import single_replica_problems
from components.settings.storage_checks import credential_problems
from components.settings.units import duration_seconds

# Tempo cuts a block from its ingester every max_block_duration (30m by default) and compacts
# over 1h windows: a shorter retention deletes traces as soon as they are flushed.
TEMPO_MIN_RETENTION_SECONDS = Decimal(3600)


def single_tempo(settings: Settings) -> list[Problem]:
    return single_replica_problems("tempo.replicas", settings.tempo.replicas, "monolithic Tempo keeps its ring in memory")


def tempo_object_storage_credentials(settings: Settings) -> list[Problem]:
    return credential_problems("tempo", settings.tempo.object_storage, settings.secrets_set)


def trace_retention(settings: Settings) -> list[Problem]:
    if duration_seconds(settings.tempo.retention) >= TEMPO_MIN_RETENTION_SECONDS:
        return []
    why = "is shorter than Tempo's block and compaction period; accepted form: a duration of at least 1h (e.g. 72h, 7d)"
    return [Problem("tempo.retention", settings.tempo.retention, why)]
