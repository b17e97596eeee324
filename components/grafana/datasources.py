"""Grafana's datasources, cross-linked by their stable UIDs.

Prometheus exemplars open the trace in Tempo; a Loki derived field turns a
``trace_id`` in a log line into a Tempo link; Tempo links a span to its logs
in Loki and reads its service map and span metrics from Prometheus. Every link
names a UID from ``components.wiring.endpoints``, so no link can point at a datasource that
does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumiverse_grafana as grafana

from components.grafana.access import GrafanaScope
from components.settings.units import go_duration
from components.wiring import endpoints

# Exemplar labels carrying a trace ID: OpenTelemetry SDKs and Alloy's span metrics write trace_id
# (otelcol.exporter.prometheus); Tempo's metrics-generator (off here) wrote traceID.
EXEMPLAR_TRACE_LABELS = ("trace_id", "traceID")
# A trace_id field in a JSON log line ("trace_id": "abc") or in logfmt (trace_id=abc).
TRACE_ID_REGEX = r'trace_id"?\s*[:=]\s*"?(\w+)'
# Span resource attributes -> Loki stream labels (the only three, see loki_config.STREAM_LABELS).
SPAN_TO_LOG_LABELS = ({"key": "service.name", "value": "service"}, {"key": "deployment.environment", "value": "environment"})
LOG_WINDOW = ("-5m", "5m")


@dataclass(frozen=True)
class DatasourceSpec:
    uid: str
    name: str
    type: str
    url: str
    json_data: dict[str, Any]
    is_default: bool = False


def _prometheus(scope: GrafanaScope, namespace: str, scrape_interval: str) -> DatasourceSpec:
    return DatasourceSpec(
        uid=scope.uid(endpoints.PROMETHEUS_UID),
        name=scope.title("Prometheus"),
        type="prometheus",
        url=endpoints.prometheus_url(namespace),
        is_default=True,
        json_data={
            "httpMethod": "POST",
            "prometheusType": "Prometheus",
            # Grafana reads it with time.ParseDuration unless it is a single d/w/M/y amount: the Go form fits both.
            "timeInterval": go_duration(scrape_interval),
            "exemplarTraceIdDestinations": [{"name": label, "datasourceUid": scope.uid(endpoints.TEMPO_UID)} for label in EXEMPLAR_TRACE_LABELS],
        },
    )


def _loki(scope: GrafanaScope, namespace: str) -> DatasourceSpec:
    return DatasourceSpec(
        uid=scope.uid(endpoints.LOKI_UID),
        name=scope.title("Loki"),
        type="loki",
        url=endpoints.loki_url(namespace),
        json_data={
            "maxLines": 1000,
            "derivedFields": [
                {
                    "name": "trace_id",
                    "matcherRegex": TRACE_ID_REGEX,
                    # Through the API (not a provisioning file) the variable is written with one '$'.
                    "url": "${__value.raw}",
                    "datasourceUid": scope.uid(endpoints.TEMPO_UID),
                    "urlDisplayLabel": "Open trace in Tempo",
                }
            ],
        },
    )


def _tempo(scope: GrafanaScope, namespace: str) -> DatasourceSpec:
    tags = [dict(tag) for tag in SPAN_TO_LOG_LABELS]
    return DatasourceSpec(
        uid=scope.uid(endpoints.TEMPO_UID),
        name=scope.title("Tempo"),
        type="tempo",
        url=endpoints.tempo_url(namespace),
        json_data={
            "tracesToLogsV2": {
                "datasourceUid": scope.uid(endpoints.LOKI_UID),
                "spanStartTimeShift": LOG_WINDOW[0],
                "spanEndTimeShift": LOG_WINDOW[1],
                "filterByTraceID": True,
                "filterBySpanID": False,
                "tags": tags,
            },
            "tracesToMetrics": {
                "datasourceUid": scope.uid(endpoints.PROMETHEUS_UID),
                "spanStartTimeShift": LOG_WINDOW[0],
                "spanEndTimeShift": LOG_WINDOW[1],
                "tags": [{"key": "service.name", "value": "service"}],
                "queries": [{"name": "Span rate", "query": "sum(rate(traces_spanmetrics_calls_total{$__tags}[5m]))"}],
            },
            "serviceMap": {"datasourceUid": scope.uid(endpoints.PROMETHEUS_UID)},
            "nodeGraph": {"enabled": True},
            "lokiSearch": {"datasourceUid": scope.uid(endpoints.LOKI_UID)},
            "search": {"hide": False},
        },
    )


def _alertmanager(scope: GrafanaScope, namespace: str) -> DatasourceSpec:
    return DatasourceSpec(
        uid=scope.uid(endpoints.ALERTMANAGER_UID),
        name=scope.title("Alertmanager"),
        type="alertmanager",
        url=endpoints.alertmanager_url(namespace),
        json_data={"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
    )


def datasource_specs(scope: GrafanaScope, namespace: str, scrape_interval: str) -> list[DatasourceSpec]:
    """The stack's four datasources, in the order of ``endpoints.DATASOURCE_UIDS``: the stores and Alertmanager
    in ``namespace``, named in ``scope``; ``scrape_interval`` (Prometheus's, e.g. ``30s``) is Grafana's smallest step."""
    return [_prometheus(scope, namespace, scrape_interval), _loki(scope, namespace), _tempo(scope, namespace), _alertmanager(scope, namespace)]


def create_datasources(specs: Sequence[DatasourceSpec], network: str | None, opts: pulumi.ResourceOptions) -> list[grafana.oss.DataSource]:
    """One ``grafana.oss.DataSource`` per spec; ``network`` is the Private Data Source Connect network of
    an external Grafana (None: Grafana reaches the stores directly)."""
    return [
        grafana.oss.DataSource(
            # Named by the base UID: scoping a shared Grafana's objects keeps each resource's name.
            f"datasource-{base}",
            uid=spec.uid,
            name=spec.name,
            type=spec.type,
            url=spec.url,
            access_mode="proxy",
            is_default=spec.is_default,
            json_data_encoded=json.dumps(spec.json_data, sort_keys=True),
            private_data_source_connect_network_id=network,
            opts=opts,
        )
        # datasource_specs builds them in the order of the UIDs.
        for base, spec in zip(endpoints.DATASOURCE_UIDS, specs, strict=True)
    ]
