"""Settings of the traces signal: Tempo."""

from __future__ import annotations

from components.settings.storage_backend import ObjectStorage
from components.settings.types import Duration, Percent, Section, Storage, Workload


class TempoMetricsGenerator(Section):
    # Service graphs and span metrics, remote-written to the stack's Prometheus.
    enabled: bool


class TempoSettings(Workload):
    retention: Duration
    storage: Storage
    sampling: Percent
    metrics_generator: TempoMetricsGenerator
    object_storage: ObjectStorage | None = None
