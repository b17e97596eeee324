"""The stack's data flows: who sends what to whom, and what the receiver must switch on for it.

One row per flow between two of the stack's components. The receiving
components read their side from here (``requirements`` and ``apply``): the
Prometheus resource turns on the remote-write receiver and exemplar storage
because Tempo's rows ask for them, Tempo listens for OTLP where Alloy sends
it, and so on. The NetworkPolicies open exactly these flows
(``components.wiring.network_policies``). ``tests/components/wiring/test_data_flows.py`` evaluates
every row against every rendered stack, reading both sides' rendered configs,
so a flow cannot be added here without its receiving side.

Each requirement is a path in the consumer's main config document:

- ``prometheus``, ``alertmanager``: the spec of the ``monitoring.coreos.com/v1`` resource;
- ``loki``, ``tempo``: the configuration file (``loki.yaml``, ``tempo.yaml``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components.settings import Settings
from components.wiring import endpoints
from components.wiring.endpoints import STREAM_LABELS

# The app.kubernetes.io/name of each component's pods (the NetworkPolicies select on it).
PROMETHEUS = "prometheus"
ALERTMANAGER = "alertmanager"
LOKI = "loki"
TEMPO = "tempo"
ALLOY = "alloy"
GRAFANA = "grafana"

# Prometheus feature flag that keeps exemplars (off by default in Prometheus 3;
# https://prometheus.io/docs/prometheus/latest/feature_flags/#exemplars-storage).
EXEMPLAR_STORAGE = "exemplar-storage"
REMOTE_WRITE_PATH = "/api/v1/write"
LOKI_PUSH_PATH = "/loki/api/v1/push"
ALERTMANAGER_ALERTS_PATH = "/api/v2/alerts"

Mode = Literal["equals", "contains", "at_least"]


@dataclass(frozen=True)
class Requirement:
    """What the consumer's config must hold at ``path``: the value itself, a list holding it, or a number at least it."""

    path: tuple[str, ...]
    value: Any
    mode: Mode = "equals"

    def holds(self, document: Mapping[str, Any]) -> bool:
        found: Any = document
        for key in self.path:
            if not isinstance(found, Mapping) or key not in found:
                return False
            found = found[key]
        if self.mode == "contains":
            return isinstance(found, list) and self.value in found
        if self.mode == "at_least":
            return isinstance(found, int | float) and not isinstance(found, bool) and found >= self.value
        return bool(found == self.value)

    def describe(self) -> str:
        where = ".".join(self.path)
        return {"equals": f"{where} = {self.value!r}", "contains": f"{where} contains {self.value!r}", "at_least": f"{where} >= {self.value!r}"}[self.mode]


@dataclass(frozen=True)
class DataFlow:
    """One flow: ``producer`` pods send to ``consumer`` pods on ``port`` (TCP) at ``path``."""

    name: str
    producer: str
    consumer: str
    port: int
    path: str
    requires: tuple[Requirement, ...]
    why: str

    @property
    def endpoint(self) -> str:
        return f":{self.port}{self.path}"


def flows(settings: Settings) -> list[DataFlow]:
    """Every data flow of this stack (the metrics generator's rows only when it is on)."""
    rows: list[DataFlow] = []
    if settings.tempo.metrics_generator.enabled:
        rows += [
            DataFlow(
                "tempo-remote-write", TEMPO, PROMETHEUS, endpoints.PROMETHEUS.port, REMOTE_WRITE_PATH,
                # Off by default: Prometheus answers 404 "remote write receiver needs to be enabled".
                (Requirement(("enableRemoteWriteReceiver",), True),),
                "Tempo's metrics generator remote-writes service-graph and span metrics (the service map, traces to metrics)",
            ),
            DataFlow(
                "tempo-exemplars", TEMPO, PROMETHEUS, endpoints.PROMETHEUS.port, REMOTE_WRITE_PATH,
                # Without the feature Prometheus accepts the samples and drops their exemplars.
                (Requirement(("enableFeatures",), EXEMPLAR_STORAGE, "contains"),),
                "span metrics carry exemplars (trace IDs) that the Prometheus datasource links to Tempo",
            ),
        ]
    rows += [
        DataFlow(
            "alloy-loki-push", ALLOY, LOKI, endpoints.LOKI.port, LOKI_PUSH_PATH,
            # Loki refuses a stream with more label names than this limit.
            (Requirement(("limits_config", "max_label_names_per_series"), len(STREAM_LABELS), "at_least"),),
            "Alloy ships pod logs with the stream labels " + ", ".join(STREAM_LABELS),
        ),
        DataFlow(
            "alloy-tempo-otlp", ALLOY, TEMPO, endpoints.OTLP_GRPC_PORT, "(OTLP gRPC)",
            (Requirement(("distributor", "receivers", "otlp", "protocols", "grpc", "endpoint"), f"0.0.0.0:{endpoints.OTLP_GRPC_PORT}"),),
            "Alloy forwards the sampled traces to Tempo over OTLP gRPC",
        ),
        DataFlow(
            "prometheus-alertmanager", PROMETHEUS, ALERTMANAGER, endpoints.ALERTMANAGER.port, ALERTMANAGER_ALERTS_PATH,
            (),
            "Prometheus sends firing alerts (Alertmanager API v2)",
        ),
        DataFlow(
            "grafana-prometheus", GRAFANA, PROMETHEUS, endpoints.PROMETHEUS.port, "/api/v1/",
            (),
            "Grafana queries its Prometheus datasource (and its exemplars)",
        ),
        DataFlow(
            "grafana-loki", GRAFANA, LOKI, endpoints.LOKI.port, "/loki/api/v1/",
            (),
            "Grafana queries its Loki datasource",
        ),
        DataFlow(
            "grafana-tempo", GRAFANA, TEMPO, endpoints.TEMPO.port, "/api/",
            # Grafana's Tempo datasource streams search results over HTTP (Tempo 2.6+ needs it switched on).
            (Requirement(("stream_over_http_enabled",), True),),
            "Grafana queries its Tempo datasource",
        ),
        DataFlow(
            "grafana-alertmanager", GRAFANA, ALERTMANAGER, endpoints.ALERTMANAGER.port, "/api/v2/",
            (),
            "Grafana reads alerts and silences from its Alertmanager datasource",
        ),
    ]
    return rows


def requirements(settings: Settings, consumer: str) -> list[Requirement]:
    """Every requirement the stack's flows put on ``consumer``'s config."""
    return [requirement for flow in flows(settings) if flow.consumer == consumer for requirement in flow.requires]


def apply(document: dict[str, Any], required: Iterable[Requirement]) -> dict[str, Any]:
    """``document`` with every requirement written into it (in place; returned for chaining).

    ``equals`` sets the value, ``contains`` adds it to the list (sorted, once), ``at_least`` raises a
    smaller number. Raises ValueError when a path runs through something that is not a mapping.
    """
    for requirement in required:
        parent = document
        for key in requirement.path[:-1]:
            parent = parent.setdefault(key, {})
            if not isinstance(parent, dict):
                raise ValueError(f"{'.'.join(requirement.path)}: {key} is not a mapping")
        last = requirement.path[-1]
        if requirement.mode == "contains":
            parent[last] = sorted({*parent.get(last, []), requirement.value})
        elif requirement.mode == "at_least":
            current = parent.get(last)
            parent[last] = requirement.value if current is None or current < requirement.value else current
        else:
            parent[last] = requirement.value
    return document
