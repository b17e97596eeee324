"""Alloy's pipeline, generated from settings.

Logs: the cluster's pods, each tailed by one replica (a hash of namespace/pod
modulo alloy.replicas picks it) through the Kubernetes API (no hostPath, no
root), JSON parsed, ``level`` normalised into a bounded label, ``service``
from the pod's labels, ``environment`` constant: the only three stream labels.

Traces: applications send OTLP to any Alloy pod; a load-balancing hop routes
every span of one trace to the same pod by trace ID, where tail sampling
keeps every trace with an error and the environment's share of the rest
(seed 004), then sends them on to Tempo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from components.kit.config_file import ConfigFile
from components.logs.alloy_syntax import Block, Expr, document, export
from components.settings import Settings
from components.settings.units import quantity_bytes
from components.traces.trace_metrics import trace_metric_blocks
from components.wiring import endpoints, limits

CONFIG = ConfigFile("/etc/alloy", "config.alloy")
DATA_DIR = "/var/lib/alloy/data"
HEADLESS_SERVICE = f"{endpoints.ALLOY_SERVICE}-headless"
# Second OTLP listener: spans arrive here already routed by trace ID.
SAMPLING_PORT = endpoints.ALLOY_SAMPLING_PORT
# The pod's own name (downward API), e.g. alloy-2: the replica that keeps a target is the one whose
# name is the StatefulSet's name and the target's share. The pod name is set on every Kubernetes
# version; the apps.kubernetes.io/pod-index label only from 1.28, and an empty value would keep nothing.
POD_NAME_ENV = endpoints.ALLOY_POD_NAME_ENV
STATEFULSET = endpoints.ALLOY_NAME
# A pod's containers stay on one replica for the pod's life: the key is what a restart of Alloy cannot change.
SHARE_KEY_LABELS = ("__meta_kubernetes_namespace", "__meta_kubernetes_pod_name")
SHARE_KEY_SEPARATOR = "/"
# Names starting with __ never reach the target's public labels, which key its read position
# (Alloy v1.10.1 loki/source/kubernetes/kubetail: publicLabels, entryForTarget).
SHARE_LABEL = "__tmp_alloy_replica"
# Which pods' containers are tailed: every phase but a finished pod of a controller that always restarts its
# pods (an evicted or shut-down Deployment, StatefulSet or DaemonSet pod). What Alloy v1.10.1 does
# (loki/source/kubernetes/kubetail/tailer.go, kubetail.go, internal/runner/runner.go):
# - a target that leaves the list has its tailer cancelled, wherever it is in the log, and its saved
#   position deleted. Dropping Succeeded/Failed cut a Job's last lines (often the error), and a Job
#   that ran for a moment was never tailed; dropping Pending left the init containers of a pod stuck in
#   Init (the pod is Pending while they run) uncollected; dropping Unknown (node unreachable) deleted
#   the position, and the pod back in Running was read again from its start;
# - a kept target's tailer reads to the end of the log, then stops for good when the container will not
#   run again (containerTerminated: exit 0 under OnFailure, any exit under Never); the runner does not
#   restart a worker that returned while its target stays, and after an Alloy restart the saved position
#   makes the new tailer read nothing again. So a finished Job pod costs one log request per restart.
# - a container that "will restart" (restartPolicy Always) is asked for its log again after each end, up
#   to once a minute (retailBackoff), for as long as the pod object stays: finished pods of these
#   controllers would be polled until deleted, and are left out, as before.
TAILED_PHASE_LABELS = ("__meta_kubernetes_pod_phase", "__meta_kubernetes_pod_controller_kind")
FINISHED_PHASES = ("Succeeded", "Failed")
RESTARTING_CONTROLLERS = ("ReplicaSet", "StatefulSet", "DaemonSet", "ReplicationController")
# Seed 004 writes levels in upper case and queries level="ERROR"; anything else becomes UNKNOWN
# so a typo in one service's logger cannot add label values.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL")
LEVEL_ALIASES = {"WARN": "WARNING"}
UNKNOWN_LEVEL = "UNKNOWN"
# The stream labels of every log line, the only ones a LogQL selector can name (runbooks are checked
# against the rendered pipeline): the pod's service and the line's level, kept per target, and the
# environment, added by loki.write to every stream.
SERVICE_LABEL = "service"
LEVEL_LABEL = "level"
ENVIRONMENT_LABEL = "environment"
STREAM_LABELS = (SERVICE_LABEL, ENVIRONMENT_LABEL, LEVEL_LABEL)
# Programs that log logfmt (Prometheus, Alertmanager, Loki, Tempo, Alloy, Grafana, most Go exporters: go-kit's
# `level=info`, slog's `level=INFO`) carry their level as a `level=` pair. Extracted under its own name, read
# only when the line gave no JSON level, from lines that do not start a JSON object, so the generated runbooks'
# `{service="loki", level=~"ERROR|CRITICAL"}` finds the stack's own errors. A regex stage rather than
# stage.logfmt: logfmt decoding fails on every JSON line and Alloy logs each failure at error level
# (loki/process/stages/logfmt.go, v1.10.1), while a regex that does not match is silent.
LOGFMT_LEVEL = "logfmt_level"
LOGFMT_LEVEL_PATTERN = rf'^(?:[^{{].*?\s)?level="?(?P<{LOGFMT_LEVEL}>[A-Za-z]+)'
ERROR_STATUS = "ERROR"
DECISION_WAIT = "10s"
# The OpenTelemetry resource attribute naming a deployment's environment: the current semantic
# conventions write deployment.environment.name, older SDKs deployment.environment. Alloy fills
# whichever one a trace lacks from the other, so Tempo's span-metric dimension and Grafana's
# trace-to-logs filter (both keyed on one name) see every trace.
ENVIRONMENT_ATTRIBUTES = ("deployment.environment.name", "deployment.environment")
MIB = 1024 * 1024
# Memory guard of tail sampling, sized to Alloy's container (its memory limit):
# the memory limiter refuses spans above LIMITER_SHARE of it (GC at the hard limit, data
# refused from hard - spike), and the sampler holds at most as many traces as fit in
# SAMPLING_BUFFER_SHARE of it at TRACE_BYTES each (an estimate of an average buffered trace:
# tens of spans of about half a KiB). Upstream's default of 50000 traces does not fit 256Mi.
LIMITER_SHARE = Decimal("0.8")
SPIKE_SHARE = Decimal("0.2")
SAMPLING_BUFFER_SHARE = Decimal("0.5")
TRACE_BYTES = 16 * 1024
# The service graph's store of calls waiting for their other side (otelcol.connector.servicegraph, store
# max_items) gets SERVICE_GRAPH_STORE_SHARE of the container at EDGE_BYTES an edge: a conservative round
# figure for one store entry (the Edge struct with its key, trace ID, two service names and latencies, its
# dimension and peer maps, list element and index entry: contrib servicegraphconnector v0.128.0, the version
# Alloy v1.10.1 wraps, internal/store). Both buffers together stay below the limiter's soft limit
# (LIMITER_SHARE - SPIKE_SHARE), where it starts refusing spans: 256 MiB gives 13107 edges, about 1300
# unpaired edges/s per replica at the 10 s wait (Tempo's generator held 10000).
SERVICE_GRAPH_STORE_SHARE = Decimal("0.05")
EDGE_BYTES = 1024
LIMITER_CHECK_INTERVAL = "1s"


def meta_label(pod_label: str) -> str:
    """The discovery meta label of a pod label (app.kubernetes.io/name -> __meta_kubernetes_pod_label_app_kubernetes_io_name)."""
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^A-Za-z0-9_]", "_", pod_label)


def level_template() -> str:
    """The level, upper-cased, if it is a known one (or an alias); UNKNOWN otherwise, also when there is none.

    stage.template sets .Value only when the source was extracted; ``ToUpper`` of a missing
    value fails the template and the stage then writes nothing (Alloy
    loki/process/stages/template.go), so a line without a level (or not JSON) would get no
    label. ``with`` reads .Value only when it is there.
    """
    known = " ".join(f'"{level}"' for level in LOG_LEVELS)
    aliases = "".join(f'{{{{ else if eq $l "{alias}" }}}}{level}' for alias, level in LEVEL_ALIASES.items())
    return (
        f'{{{{ $l := "" }}}}{{{{ with .Value }}}}{{{{ $l = ToUpper . }}}}'
        f'{{{{ else }}}}{{{{ with .{LOGFMT_LEVEL} }}}}{{{{ $l = ToUpper . }}}}{{{{ end }}}}{{{{ end }}}}'
        f"{{{{ if eq $l {known} }}}}{{{{ $l }}}}{aliases}{{{{ else }}}}{UNKNOWN_LEVEL}{{{{ end }}}}"
    )


def environment_statements() -> list[str]:
    """OTTL (resource context): fill each environment attribute a trace lacks from the other one."""
    statements = []
    for target in ENVIRONMENT_ATTRIBUTES:
        for source in ENVIRONMENT_ATTRIBUTES:
            if source != target:
                statements.append(
                    f'set(attributes["{target}"], attributes["{source}"]) where attributes["{target}"] == nil and attributes["{source}"] != nil'
                )
    return statements


@dataclass(frozen=True)
class SamplingMemory:
    """Tail sampling's memory guard for one Alloy container: limiter limits (MiB), the sampler's trace
    buffer (traces) and the service graph's edge store (edges)."""

    limit_mib: int
    spike_limit_mib: int
    num_traces: int
    service_graph_edges: int


def sampling_memory(settings: Settings) -> SamplingMemory:
    """Sized from alloy.resources.limits.memory (see LIMITER_SHARE, SAMPLING_BUFFER_SHARE, TRACE_BYTES,
    SERVICE_GRAPH_STORE_SHARE, EDGE_BYTES)."""
    limit = quantity_bytes(settings.alloy.resources.limits.memory)
    return SamplingMemory(
        limit_mib=int(limit * LIMITER_SHARE / MIB),
        spike_limit_mib=int(limit * SPIKE_SHARE / MIB),
        num_traces=int(limit * SAMPLING_BUFFER_SHARE / TRACE_BYTES),
        service_graph_edges=int(limit * SERVICE_GRAPH_STORE_SHARE / EDGE_BYTES),
    )


def sampling_percentage(settings: Settings) -> int | float:
    percent = settings.tempo.sampling * 100
    return int(percent) if percent == percent.to_integral_value() else float(percent)


def replica_share_rules(replicas: int) -> list[Block]:
    """Relabel rules keeping the targets of this replica only: each pod's containers go to exactly one replica.

    The share is md5(namespace/pod) modulo ``replicas`` (Alloy's hashmod), so it depends on nothing a
    restart or a config change of Alloy alters: a restarted replica tails the same containers again and
    resumes each from the position it saved on its own volume, and no other replica takes them over
    meanwhile (which would read them from the start: with no saved position, Alloy v1.10.1 asks for the
    log since the Unix epoch, kubetail/tailer.go). Only a different ``replicas`` moves targets.
    """
    return [
        Block(
            "rule",
            attributes={
                "source_labels": list(SHARE_KEY_LABELS),
                "separator": SHARE_KEY_SEPARATOR,
                "modulus": replicas,
                "action": "hashmod",
                "target_label": SHARE_LABEL,
            },
        ),
        # The share's pod name (alloy-<share>), kept only by the pod of that name.
        Block("rule", attributes={"source_labels": [SHARE_LABEL], "regex": "(.+)", "replacement": f"{STATEFULSET}-$1", "target_label": SHARE_LABEL}),
        Block("rule", attributes={"source_labels": [SHARE_LABEL], "regex": Expr(f'sys.env("{POD_NAME_ENV}")'), "action": "keep"}),
    ]


def _log_blocks(settings: Settings) -> list[Block]:
    write = Block(
        "loki.write",
        "loki",
        {"external_labels": {ENVIRONMENT_LABEL: settings.environment}},
        # batch_size: below Loki's ingestion bursts, which refuse a larger push whole (components/wiring/limits.py).
        [Block("endpoint", attributes={"url": endpoints.loki_url(settings.namespace) + "/loki/api/v1/push",
                                       "batch_size": f"{limits.loki_batch_bytes(settings) // 1024}KiB"})],
    )
    process = Block(
        "loki.process",
        "pods",
        {"forward_to": [export(write, "receiver")]},
        [
            Block("stage.json", attributes={"expressions": {LEVEL_LABEL: "level"}}),
            Block("stage.regex", attributes={"expression": LOGFMT_LEVEL_PATTERN}),
            Block("stage.template", attributes={"source": LEVEL_LABEL, "template": level_template()}),
            Block("stage.labels", attributes={"values": {LEVEL_LABEL: ""}}),
            # Whatever else a target carried stays out of the stream labels.
            Block("stage.label_keep", attributes={"values": [SERVICE_LABEL, LEVEL_LABEL]}),
        ],
    )
    discovery = Block("discovery.kubernetes", "pods", {"role": "pod"})
    sources = [meta_label(label) for label in settings.alloy.service_labels] + ["__meta_kubernetes_pod_container_name"]
    relabel = Block(
        "discovery.relabel",
        "pods",
        {"targets": export(discovery, "targets")},
        [
            Block("rule", attributes={
                "source_labels": list(TAILED_PHASE_LABELS), "separator": ";",
                "regex": f"({'|'.join(FINISHED_PHASES)});({'|'.join(RESTARTING_CONTROLLERS)})", "action": "drop",
            }),
            *replica_share_rules(settings.alloy.replicas),
            # The first non-empty of the configured pod labels, else the container's name.
            Block(
                "rule",
                attributes={"source_labels": sources, "separator": ";", "regex": ";*([^;]+).*", "replacement": "$1", "target_label": SERVICE_LABEL},
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
    # Counted in spans and bounded below Tempo's message and burst limits (components/wiring/limits.py): without
    # send_batch_max_size a batch grows without bound and Tempo refuses it whole (opentelemetry-collector#12219).
    batch = Block(
        "otelcol.processor.batch",
        "traces",
        {"send_batch_size": limits.trace_batch_spans(), "send_batch_max_size": limits.trace_batch_max_spans()},
        [Block("output", attributes={"traces": [export(tempo, "input")]})],
    )
    memory = sampling_memory(settings)
    sampling = Block(
        "otelcol.processor.tail_sampling",
        "per_environment",
        # Bounded: at most num_traces traces wait for their decision. Beyond it the oldest are dropped
        # undecided, error traces too (tail sampling v0.128.0 processor.go, dropTrace), counted in
        # otelcol_processor_tail_sampling_sampling_trace_dropped_too_early (alert TailSamplingTracesDroppedUndecided).
        # Capacity: num_traces / decision_wait new traces per second per replica (docs/logs-and-traces.md).
        {"decision_wait": DECISION_WAIT, "num_traces": memory.num_traces},
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
    # Span metrics and the service graph see every span: they take the limiter's output beside the sampler
    # (after the limiter, so a span it refuses and the sender retries is counted once).
    metric_blocks, metric_inputs = trace_metric_blocks(settings, memory.service_graph_edges)
    # In front of the sampler: above its limit it refuses spans (the sending Alloy retries) instead of
    # letting the buffer grow until the container is OOM-killed with every buffered trace.
    limiter = Block(
        "otelcol.processor.memory_limiter",
        "sampling",
        {"check_interval": LIMITER_CHECK_INTERVAL, "limit": f"{memory.limit_mib}MiB", "spike_limit": f"{memory.spike_limit_mib}MiB"},
        [Block("output", attributes={"traces": [export(sampling, "input"), *metric_inputs]})],
    )
    routed = Block(
        "otelcol.receiver.otlp",
        "routed",
        blocks=[
            # Takes what the balancer forwards: a part of one application request (limits.py).
            Block("grpc", attributes={"endpoint": f"0.0.0.0:{SAMPLING_PORT}", "max_recv_msg_size": limits.mib(limits.OTLP_GRPC_MAX_MESSAGE_MIB)}),
            Block("output", attributes={"traces": [export(limiter, "input")]}),
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
    environment = Block(
        "otelcol.processor.transform",
        "environment",
        {"error_mode": "ignore"},
        [
            Block("trace_statements", attributes={"context": "resource", "statements": environment_statements()}),
            Block("output", attributes={"traces": [export(balancer, "input")]}),
        ],
    )
    receiver = Block(
        "otelcol.receiver.otlp",
        "apps",
        blocks=[
            Block("grpc", attributes={"endpoint": f"0.0.0.0:{endpoints.OTLP_GRPC_PORT}", "max_recv_msg_size": limits.mib(limits.APP_OTLP_MAX_REQUEST_MIB)}),
            Block("http", attributes={"endpoint": f"0.0.0.0:{endpoints.OTLP_HTTP_PORT}", "max_request_body_size": limits.mib(limits.APP_OTLP_MAX_REQUEST_MIB)}),
            Block("output", attributes={"traces": [export(environment, "input")]}),
        ],
    )
    return [receiver, environment, balancer, routed, limiter, sampling, batch, tempo, *metric_blocks]


def alloy_config(settings: Settings) -> str:
    logging = Block("logging", attributes={"level": "info", "format": "logfmt"})
    return document([logging, *_log_blocks(settings), *_trace_blocks(settings)])
