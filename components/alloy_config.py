"""Alloy's pipeline, generated from settings.

Logs: pods on this node, tailed through the Kubernetes API (no hostPath, no
root), JSON parsed, ``level`` normalised into a bounded label, ``service``
from the pod's labels, ``environment`` constant: the only three stream labels.

Traces: applications send OTLP to any Alloy pod; a load-balancing hop routes
every span of one trace to the same pod by trace ID, where tail sampling
keeps every trace with an error and the environment's share of the rest
(seed 004), then sends them on to Tempo.
"""

from __future__ import annotations

import re

from components import endpoints
from components.alloy_syntax import Block, Expr, document, export
from components.settings import Settings

CONFIG_DIR = "/etc/alloy"
CONFIG_FILE = "config.alloy"
DATA_DIR = "/var/lib/alloy/data"
HEADLESS_SERVICE = f"{endpoints.ALLOY_SERVICE}-headless"
# Second OTLP listener: spans arrive here already routed by trace ID.
SAMPLING_PORT = 4319
NODE_NAME_ENV = "NODE_NAME"
# Seed 004 writes levels in upper case and queries level="ERROR"; anything else becomes UNKNOWN
# so a typo in one service's logger cannot add label values.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL")
LEVEL_ALIASES = {"WARN": "WARNING"}
UNKNOWN_LEVEL = "UNKNOWN"
ERROR_STATUS = "ERROR"
DECISION_WAIT = "10s"


def meta_label(pod_label: str) -> str:
    """The discovery meta label of a pod label (app.kubernetes.io/name -> __meta_kubernetes_pod_label_app_kubernetes_io_name)."""
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^A-Za-z0-9_]", "_", pod_label)


def level_template() -> str:
    known = " ".join(f'"{level}"' for level in LOG_LEVELS)
    aliases = "".join(f'{{{{ else if eq $l "{alias}" }}}}{level}' for alias, level in LEVEL_ALIASES.items())
    return f"{{{{ $l := ToUpper .Value }}}}{{{{ if eq $l {known} }}}}{{{{ $l }}}}{aliases}{{{{ else }}}}{UNKNOWN_LEVEL}{{{{ end }}}}"


def sampling_percentage(settings: Settings) -> int | float:
    percent = settings.tempo.sampling * 100
    return int(percent) if percent == percent.to_integral_value() else float(percent)


def _log_blocks(settings: Settings) -> list[Block]:
    write = Block(
        "loki.write",
        "loki",
        {"external_labels": {"environment": settings.environment}},
        [Block("endpoint", attributes={"url": endpoints.loki_url(settings.namespace) + "/loki/api/v1/push"})],
    )
    process = Block(
        "loki.process",
        "pods",
        {"forward_to": [export(write, "receiver")]},
        [
            Block("stage.json", attributes={"expressions": {"level": "level"}}),
            Block("stage.template", attributes={"source": "level", "template": level_template()}),
            Block("stage.labels", attributes={"values": {"level": ""}}),
            # Whatever else a target carried stays out of the stream labels.
            Block("stage.label_keep", attributes={"values": ["service", "level"]}),
        ],
    )
    discovery = Block(
        "discovery.kubernetes",
        "pods",
        {"role": "pod"},
        [Block("selectors", attributes={"role": "pod", "field": Expr(f'"spec.nodeName=" + sys.env("{NODE_NAME_ENV}")')})],
    )
    sources = [meta_label(label) for label in settings.alloy.service_labels] + ["__meta_kubernetes_pod_container_name"]
    relabel = Block(
        "discovery.relabel",
        "pods",
        {"targets": export(discovery, "targets")},
        [
            Block("rule", attributes={"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Pending|Succeeded|Failed|Unknown", "action": "drop"}),
            # The first non-empty of the configured pod labels, else the container's name.
            Block(
                "rule",
                attributes={"source_labels": sources, "separator": ";", "regex": ";*([^;]+).*", "replacement": "$1", "target_label": "service"},
            ),
        ],
    )
    source = Block(
        "loki.source.kubernetes",
        "pods",
        {"targets": export(relabel, "output"), "forward_to": [export(process, "receiver")]},
    )
    return [discovery, relabel, source, process, write]


def _trace_blocks(settings: Settings) -> list[Block]:
    insecure = Block("tls", attributes={"insecure": True})
    tempo = Block(
        "otelcol.exporter.otlp",
        "tempo",
        blocks=[Block("client", attributes={"endpoint": f"{endpoints.TEMPO_SERVICE}.{settings.namespace}.svc:{endpoints.OTLP_GRPC_PORT}"}, blocks=[insecure])],
    )
    batch = Block("otelcol.processor.batch", "traces", blocks=[Block("output", attributes={"traces": [export(tempo, "input")]})])
    sampling = Block(
        "otelcol.processor.tail_sampling",
        "per_environment",
        {"decision_wait": DECISION_WAIT},
        [
            # Policies are OR-ed: a trace with an error is kept whatever the percentage.
            Block(
                "policy",
                attributes={"name": "errors-always", "type": "status_code"},
                blocks=[Block("status_code", attributes={"status_codes": [ERROR_STATUS]})],
            ),
            Block(
                "policy",
                attributes={"name": "environment-share", "type": "probabilistic"},
                blocks=[Block("probabilistic", attributes={"sampling_percentage": sampling_percentage(settings)})],
            ),
            Block("output", attributes={"traces": [export(batch, "input")]}),
        ],
    )
    routed = Block(
        "otelcol.receiver.otlp",
        "routed",
        blocks=[
            Block("grpc", attributes={"endpoint": f"0.0.0.0:{SAMPLING_PORT}"}),
            Block("output", attributes={"traces": [export(sampling, "input")]}),
        ],
    )
    balancer = Block(
        "otelcol.exporter.loadbalancing",
        "by_trace",
        {"routing_key": "traceID"},
        [
            Block(
                "resolver",
                blocks=[Block("dns", attributes={"hostname": f"{HEADLESS_SERVICE}.{settings.namespace}.svc", "port": str(SAMPLING_PORT)})],
            ),
            Block("protocol", blocks=[Block("otlp", blocks=[Block("client", blocks=[insecure])])]),
        ],
    )
    receiver = Block(
        "otelcol.receiver.otlp",
        "apps",
        blocks=[
            Block("grpc", attributes={"endpoint": f"0.0.0.0:{endpoints.OTLP_GRPC_PORT}"}),
            Block("http", attributes={"endpoint": f"0.0.0.0:{endpoints.OTLP_HTTP_PORT}"}),
            Block("output", attributes={"traces": [export(balancer, "input")]}),
        ],
    )
    return [receiver, balancer, routed, sampling, batch, tempo]


def alloy_config(settings: Settings) -> str:
    logging = Block("logging", attributes={"level": "info", "format": "logfmt"})
    return document([logging, *_log_blocks(settings), *_trace_blocks(settings)])
