"""Copilot-for-Consensus dashboards: the ten core dashboards of seed 004.

Every copilot_* series carries ``service`` and ``environment`` (seed 004 required
labels). Per-service families are named copilot_<service>_<metric>, so panels
that span services select them with a ``__name__`` regex and filter by ``service``.
Containers are assumed to be named after their service (Resource Usage).
"""

from __future__ import annotations

import math
from typing import Any

from components.metrics.service_availability import AVAILABILITY_SERIES
from components.rules import slo as slo_specs
from components.rules.slo import PAGE_BURNS, TICKET_BURNS
from components.rules.thresholds import format_number, threshold
from dashboards.builder import (
    Dashboard,
    Row,
    Variable,
    above,
    bargauge,
    below,
    explore_link,
    heatmap,
    logql,
    logs,
    prom,
    stat,
    table,
    timeseries,
)
from dashboards.common import BUDGET_STEPS, Context, System, budget_gauge, increase_born

SERVICES = ("ingestion", "parsing", "chunking", "embedding", "summarization", "reporting")
WORK_QUEUES = ("parsing", "chunking", "embedding", "summarization")
SEL = 'environment="$environment", service=~"$service"'
SERVICE_REGEX = "ingestion|parsing|chunking|embedding|summarization|reporting|orchestrator|mongodb|rabbitmq|qdrant|ollama"
COPILOT = System(folder="copilot", services=SERVICE_REGEX, deployments=f'deployment=~"copilot.*|{SERVICE_REGEX}"')
# cAdvisor also reports the pod cgroup (container="") and the pause container; only the service containers count.
CONTAINERS = 'container=~"$service", container!="", container!="POD"'
STREAM = f"{{{SEL}}}"
ERROR_STREAM = f'{{{SEL}, level=~"ERROR|CRITICAL"}}'
# In a link Grafana substitutes only unencoded variables: the selection as a regex alternation.
EXPLORE_STREAM = '{environment="${environment}", service=~"${service:pipe}"}'


def family(suffix: str, selector: str = SEL) -> str:
    """All per-service families ending in ``suffix``, filtered by ``selector``."""
    return f'{{__name__=~"copilot_.+_{suffix}", {selector}}}'


def _variables(ctx: Context, *extra: Variable) -> tuple[Variable, ...]:
    any_service = family("messages_processed_total", 'service!=""')
    in_environment = family("messages_processed_total", 'environment="$environment"')
    return (
        # One stack per environment: the variable starts on this stack's own environment.
        Variable("environment", "Environment", query=f"label_values({any_service}, environment)",
                 multi=False, include_all=False, default=ctx.environment),
        Variable("service", "Service", query=f"label_values({in_environment}, service)"),
        *extra,
    )


def _logs_row(title: str = "Logs", query: str = ERROR_STREAM) -> Row:
    """Seed 004 required element: a logs row linking to Loki (Explore view)."""
    return Row(title, [logs("Errors and critical logs", query, links=[
        explore_link("Open in Explore (Loki)", EXPLORE_STREAM, variables=("${environment}", "${service:pipe}")),
    ])], collapsed=True)


def _quantile_by_service(q: float) -> str:
    return f"histogram_quantile({q}, sum by (le, service) (rate({family('processing_duration_seconds_bucket')}[$__rate_interval])))"


def _error_ratio_by_service(window: str = "$__rate_interval") -> str:
    return (f"sum by (service) (rate({family('failures_total')}[{window}]))"
            f" / sum by (service) (rate({family('messages_processed_total')}[{window}]))")


def _dashboard(uid: str, title: str, description: str, rows: list[Row], ctx: Context, *extra: Variable, tags: tuple[str, ...] = (),
               alerts: dict[str, str] | None = None, **options: Any) -> Dashboard:
    """A Copilot dashboard with the environment and service variables (then ``extra``); the rest as in System.dashboard."""
    return COPILOT.dashboard(ctx, uid, title, description, rows, alerts=alerts, tags=tags, variables=_variables(ctx, *extra), **options)


def _up(kind: str) -> str:
    """Whether every target of ``kind`` answers: the series its CopilotDependencyDown alert reads (components/metrics/service_availability.py)."""
    return f"min({AVAILABILITY_SERIES[kind]})"


def system_health(ctx: Context) -> Dashboard:
    up = {name: _up(kind) for name, kind in (("MongoDB", "mongodb"), ("RabbitMQ", "rabbitmq"), ("Qdrant", "qdrant"), ("Ollama", "ollama"))}
    return _dashboard("copilot-system-health", "System Health", "Overall system status: service health, SLO indicators, errors, resources.", [
        Row("Dependencies", [
            stat(f"{name} up", [prom(expr, name)], steps=below(1), options={"colorMode": "background", "textMode": "value"},
                 custom={}, description=f"1 when {name} answers (the series its CopilotDependencyDown alert reads).")
            for name, expr in up.items()
        ]),
        Row("Services", [
            bargauge("Active workers by service", [prom(f"sum by (service) ({family('active_workers_current')})", "{{service}}", instant=True)],
                     steps=below(1), width=8),
            bargauge("Error budget remaining (30d)", [prom('slo:error_budget_remaining:ratio{slo=~"copilot-.*"}', "{{slo}}", instant=True)],
                     unit="percentunit", min=0, max=1, steps=BUDGET_STEPS, width=16),
            timeseries("Error rate by service", [prom(_error_ratio_by_service("5m"), "{{service}}")], unit="percentunit",
                       overrides=ctx.alert_overrides("CopilotErrorRateHigh", "service")),
            timeseries("Throughput by service (msg/min)", [
                prom(f"sum by (service) (rate({family('messages_processed_total')}[$__rate_interval])) * 60", "{{service}}"),
            ], unit="short", overrides=ctx.alert_overrides("CopilotThroughputLow", "service")),
        ]),
        Row("Resources", [
            timeseries("CPU by service", [prom(
                f"sum by (container) (rate(container_cpu_usage_seconds_total{{{CONTAINERS}}}[$__rate_interval]))", "{{container}}")],
                unit="cores"),
            timeseries("Memory by service", [prom(f"sum by (container) (container_memory_working_set_bytes{{{CONTAINERS}}})", "{{container}}")],
                       unit="bytes"),
        ]),
        _logs_row(),
    ], ctx, tags=("overview",), alerts={**{f"{name} up": "CopilotDependencyDown" for name in up}, "Error rate by service": "CopilotErrorRateHigh"})


def queue_status(ctx: Context) -> Dashboard:
    queue = 'queue=~"$queue"'
    return _dashboard("copilot-queue-status", "Queue Status", "RabbitMQ queues: depth, consumers, message rates and age.", [
        Row("RabbitMQ", [stat("RabbitMQ up", [prom(_up("rabbitmq"), "up")], steps=below(1), width=24,
                              description="1 when RabbitMQ answers (the series its CopilotDependencyDown alert reads).")]),
        Row("Oldest message against the queue lag thresholds", [
            stat(f"{q} oldest message", [prom(f'max(rabbitmq_queue_message_age_seconds{{queue="{q}"}})', q)], unit="s",
                 steps=ctx.alert_steps(("CopilotQueueLagHigh", {"queue": q})))
            for q in WORK_QUEUES
        ]),
        Row("Queues", [
            timeseries("Queue depth", [
                prom(f"sum by (queue) (rabbitmq_queue_messages_ready{{{queue}}})", "ready {{queue}}"),
                prom(f"sum by (queue) (rabbitmq_queue_messages_unacked{{{queue}}})", "unacked {{queue}}"),
            ], unit="short"),
            timeseries("Consumers", [prom(f"sum by (queue) (rabbitmq_queue_consumers{{{queue}}})", "{{queue}}")], unit="short"),
            timeseries("Message rates", [
                prom("sum(rate(rabbitmq_global_messages_received_total[$__rate_interval]))", "published"),
                prom("sum(rate(rabbitmq_global_messages_delivered_total[$__rate_interval]))", "delivered"),
                prom("sum(rate(rabbitmq_global_messages_acknowledged_total[$__rate_interval]))", "acknowledged"),
            ], unit="ops"),
            timeseries("Oldest message age", [prom(f"max by (queue) (rabbitmq_queue_message_age_seconds{{{queue}}})", "{{queue}}")], unit="s",
                       overrides=ctx.alert_overrides("CopilotQueueLagHigh", "queue")),
            timeseries("Queue depth reported by services", [
                prom(f"sum by (service, queue) ({family('queue_depth_messages')})", "{{service}} {{queue}}"),
            ], unit="short", width=24),
        ]),
        _logs_row(),
    ], ctx, Variable("queue", "Queue", query="label_values(rabbitmq_queue_messages_ready, queue)"), tags=("rabbitmq",),
        alerts={"RabbitMQ up": "CopilotDependencyDown", **{f"{q} oldest message": "CopilotQueueLagHigh" for q in WORK_QUEUES}})


def service_metrics(ctx: Context) -> Dashboard:
    latency_stats = [
        stat(f"{svc} p95", [prom(f'histogram_quantile(0.95, sum by (le) (rate(copilot_{svc}_processing_duration_seconds_bucket'
                                  f'{{environment="$environment"}}[$__rate_interval])))', "p95")],
             unit="s", steps=ctx.alert_steps(("CopilotLatencyHigh", {"service": svc})), width=4)
        for svc in SERVICES
    ]
    throughput_stats = [
        stat(f"{svc} msg/min", [prom(f'sum(rate(copilot_{svc}_messages_processed_total{{environment="$environment"}}[10m])) * 60', "msg/min")],
             unit="short", decimals=1, steps=ctx.alert_steps(("CopilotThroughputLow", {"service": svc})), width=8)
        for svc in ("parsing", "chunking", "embedding")
    ]
    return _dashboard("copilot-service-metrics", "Service Metrics", "Per-service latency, throughput and errors.", [
        Row("Latency p95 against the SLO targets", latency_stats),
        Row("Throughput against the minimums", throughput_stats),
        Row("Latency", [
            timeseries("Latency p95 by service", [prom(_quantile_by_service(0.95), "{{service}}")], unit="s",
                       overrides=ctx.alert_overrides("CopilotLatencyHigh", "service")),
            timeseries("Latency p99 by service", [prom(_quantile_by_service(0.99), "{{service}}")], unit="s"),
            heatmap("Processing latency (selected services)", f"sum by (le) (increase({family('processing_duration_seconds_bucket')}[$__rate_interval]))",
                    unit="s", width=24),
        ]),
        Row("Throughput and errors", [
            timeseries("Messages processed by status", [
                prom(f"sum by (service, status) (rate({family('messages_processed_total')}[$__rate_interval]))", "{{service}} {{status}}"),
            ], unit="ops"),
            timeseries("Failures by error type", [
                prom(f"sum by (service, error_type) (rate({family('failures_total')}[$__rate_interval]))", "{{service}} {{error_type}}"),
            ], unit="ops"),
            timeseries("Error rate by service", [prom(_error_ratio_by_service("15m"), "{{service}}")], unit="percentunit",
                       overrides=ctx.alert_overrides("CopilotErrorRateHigh", "service")),
            timeseries("Active workers and retries", [
                prom(f"sum by (service) ({family('active_workers_current')})", "workers {{service}}"),
                prom(f"sum by (service) (rate({family('retry_attempts_total')}[$__rate_interval]))", "retries/s {{service}}"),
            ], unit="short"),
            timeseries("Dependency call latency p95", [prom(
                f"histogram_quantile(0.95, sum by (le, service, dependency) (rate({family('dependency_call_duration_seconds_bucket')}[$__rate_interval])))",
                "{{service}} → {{dependency}}")], unit="s", width=24),
        ]),
        _logs_row(),
    ], ctx, tags=("services",), alerts={
        **{f"{svc} p95": "CopilotLatencyHigh" for svc in SERVICES},
        **{f"{svc} msg/min": "CopilotThroughputLow" for svc in ("parsing", "chunking", "embedding")},
        "Error rate by service": "CopilotErrorRateHigh"})


def mongodb_status(ctx: Context) -> Dashboard:
    coll = 'database=~"$database", collection=~"$collection"'
    return _dashboard("copilot-mongodb", "MongoDB Status", "MongoDB: availability, connection pool, operations, query times, collection stats.", [
        Row("Health", [
            stat("MongoDB up", [prom(_up("mongodb"), "up")], steps=below(1)),
            stat("Connections in use", [prom('sum(mongodb_ss_connections{conn_type="current"})', "current")]),
            stat("Connections available", [prom('sum(mongodb_ss_connections{conn_type="available"})', "available")]),
            stat("Operations / s", [prom("sum(rate(mongodb_ss_opcounters[$__rate_interval]))", "ops")], unit="ops"),
        ]),
        Row("Connection pool and operations", [
            timeseries("Connection pool", [prom("sum by (conn_type) (mongodb_ss_connections)", "{{conn_type}}")], unit="short"),
            timeseries("Operations by type", [prom("sum by (legacy_op_type) (rate(mongodb_ss_opcounters[$__rate_interval]))", "{{legacy_op_type}}")],
                       unit="ops", stack=True),
            timeseries("Average query time by operation", [prom(
                "sum by (op_type) (rate(mongodb_ss_opLatencies_latency[$__rate_interval]))"
                " / sum by (op_type) (rate(mongodb_ss_opLatencies_ops[$__rate_interval]))", "{{op_type}}")],
                unit="µs", width=24),
        ]),
        Row("Collections", [
            table("Collection stats", [
                prom(f"sum by (database, collection) (mongodb_collstats_storageStats_count{{{coll}}})", instant=True, format="table"),
                prom(f"sum by (database, collection) (mongodb_collstats_storageStats_size{{{coll}}})", instant=True, format="table"),
            ], columns={"database": "Database", "collection": "Collection", "Value #A": "Documents", "Value #B": "Size (bytes)"}),
            timeseries("Documents by collection", [
                prom(f"sum by (collection) (mongodb_collstats_storageStats_count{{{coll}}})", "{{collection}}"),
            ], unit="short"),
        ]),
        _logs_row("Logs", '{service="mongodb"}'),
    ], ctx,
        Variable("database", "Database", query="label_values(mongodb_collstats_storageStats_count, database)"),
        Variable("collection", "Collection", query='label_values(mongodb_collstats_storageStats_count{database=~"$database"}, collection)'),
        tags=("mongodb",), alerts={"MongoDB up": "CopilotDependencyDown"})


def vectorstore_status(ctx: Context) -> Dashboard:
    search = 'endpoint=~".*/points/(search|query).*"'
    return _dashboard("copilot-vectorstore", "Vectorstore Status", "Qdrant: vector counts, collection sizes and search latency.", [
        Row("Totals", [
            stat("Qdrant up", [prom('min(up{job=~".*qdrant.*"})', "up")], steps=below(1)),
            stat("Collections", [prom("max(collections_total)", "collections")]),
            stat("Vectors", [prom("max(collections_vector_total)", "vectors")]),
            stat("Search requests / s", [prom(f"sum(rate(rest_responses_total{{{search}}}[$__rate_interval]))", "req/s")], unit="reqps"),
        ]),
        Row("Collections", [
            timeseries("Vectors by collection", [prom('sum by (collection) (collection_vectors{collection=~"$collection"})', "{{collection}}")],
                       unit="short"),
            timeseries("Points by collection", [prom("sum by (id) (collection_points)", "{{id}}")], unit="short"),
        ]),
        Row("Search latency", [
            timeseries("Search latency (average and max)", [
                prom(f"max by (endpoint) (rest_responses_avg_duration_seconds{{{search}}})", "avg {{endpoint}}"),
                prom(f"max by (endpoint) (rest_responses_max_duration_seconds{{{search}}})", "max {{endpoint}}"),
            ], unit="s"),
            timeseries("Failed REST responses", [prom("sum by (endpoint) (rate(rest_responses_fail_total[$__rate_interval]))", "{{endpoint}}")],
                       unit="reqps"),
            timeseries("Embedding service: Qdrant call latency p95", [prom(
                'histogram_quantile(0.95, sum by (le) (rate(copilot_embedding_dependency_call_duration_seconds_bucket'
                '{environment="$environment", dependency="qdrant"}[$__rate_interval])))', "p95")], unit="s", width=24),
        ]),
        _logs_row("Logs", '{service="qdrant"}'),
    ], ctx, Variable("collection", "Collection", query="label_values(collection_vectors, collection)"), tags=("qdrant",),
        alerts={"Qdrant up": "CopilotDependencyDown"})


def document_processing(ctx: Context) -> Dashboard:
    stages = "ingestion|parsing|chunking|embedding|summarization"
    pipeline = f'environment="$environment", service=~"{stages}"'
    return _dashboard("copilot-document-processing", "Document Processing", "Pipeline flow: status counts, processing duration, failure rates.", [
        Row("Status counts", [
            table("Messages by stage and status (time range)", [prom(
                f"sum by (service, status) ({increase_born(family('messages_processed_total', pipeline), '$__range')})", instant=True,
                format="table")],
                columns={"service": "Stage", "status": "Status", "Value": "Messages"}, decimals=0, width=8),
            timeseries("Pipeline flow (msg/min by stage)", [prom(
                f"sum by (service) (rate({family('messages_processed_total', pipeline)}[$__rate_interval])) * 60", "{{service}}")],
                unit="short", width=16, overrides=ctx.alert_overrides("CopilotThroughputLow", "service")),
        ]),
        Row("Duration and failures", [
            timeseries("Processing duration p95 by stage", [prom(
                f"histogram_quantile(0.95, sum by (le, service) (rate({family('processing_duration_seconds_bucket', pipeline)}[$__rate_interval])))",
                "{{service}}")], unit="s", overrides=ctx.alert_overrides("CopilotLatencyHigh", "service")),
            timeseries("Failure rate by stage", [prom(
                f"sum by (service) (rate({family('failures_total', pipeline)}[15m]))"
                f" / sum by (service) (rate({family('messages_processed_total', pipeline)}[15m]))",
                "{{service}}")], unit="percentunit", overrides=ctx.alert_overrides("CopilotErrorRateHigh", "service")),
            timeseries("Queue depth between stages", [prom(f'sum by (queue) (rabbitmq_queue_messages_ready{{queue=~"{stages}"}})', "{{queue}}")],
                       unit="short", width=24),
        ]),
        _logs_row(),
    ], ctx, tags=("pipeline",), alerts={"Failure rate by stage": "CopilotErrorRateHigh"})


def _slo_rows(ctx: Context) -> list[Row]:
    """One row per SLO spec file, one budget gauge per SLO in it: generated from slo/*.yaml, so every SLO a burn-rate
    alert or runbook sends here is on the page (DVT's and Seamless' as well as Copilot's)."""
    rows = []
    for path in slo_specs.spec_files():
        specs = slo_specs.load_slos(path)
        rows.append(Row(f"Error budget remaining (30d): slo/{path.name}", [
            budget_gauge(ctx, spec.name, spec.name, f"{spec.description} Objective {format_number(spec.objective)}% over {spec.window}; "
                         f"share of the error budget still unspent (service {spec.service}).")
            for spec in specs
        ]))
    return rows


def slo_dashboard(ctx: Context) -> Dashboard:
    slo = 'slo=~"$slo", service=~"$service"'
    every = sorted({spec.service for path in slo_specs.spec_files() for spec in slo_specs.load_slos(path)})
    variables = (
        _variables(ctx)[0],  # environment, as on every Copilot dashboard (the logs row reads it)
        Variable("service", "Service", query="label_values(slo:objective:ratio, service)"),
        Variable("slo", "SLO", query='label_values(slo:objective:ratio{service=~"$service"}, slo)'),
    )
    return COPILOT.dashboard(ctx, "copilot-slo", "SLO Dashboard",
                             "Every SLO of slo/*.yaml (DVT, Seamless, Copilot) over a 30-day rolling window: compliance, error budget, "
                             "burn rate, trends. Filter by service or SLO.", [
        Row("Compliance and error budget", [
            table("SLO compliance (30d)", [
                prom(f"1 - slo:sli_error:ratio_rate30d{{{slo}}}", instant=True, format="table"),
                prom(f"slo:objective:ratio{{{slo}}}", instant=True, format="table"),
                prom(f"slo:error_budget_remaining:ratio{{{slo}}}", instant=True, format="table"),
            ], columns={"slo": "SLO", "service": "Service", "Value #A": "Compliance", "Value #B": "Objective", "Value #C": "Budget left"},
                unit="percentunit", width=12),
            bargauge("Error budget remaining (30d)", [prom(f"slo:error_budget_remaining:ratio{{{slo}}}", "{{slo}}", instant=True)],
                     unit="percentunit", min=0, max=1, steps=BUDGET_STEPS, width=12),
        ]),
        Row("Burn rate", [
            timeseries(f"Burn rate ({long} window)", [prom(
                f"slo:sli_error:ratio_rate{long}{{{slo}}} / on (slo) group_left () (1 - slo:objective:ratio{{{slo}}})", "{{slo}}")],
                unit="x", width=6, steps=above(warning=burn) if ticket else above(critical=burn),
                description=(f"Error ratio over {long} divided by the error budget. The burn-rate alert "
                             f"{'opens a ticket' if ticket else 'pages'} when this and the {short} window both exceed {burn:g}x "
                             "(multiwindow burn rates of the SLO rules, in place of the seed's 4x/10x marks)."))
            for long, short, burn, ticket in [*((lg, sh, b, False) for lg, sh, b in PAGE_BURNS), *((lg, sh, b, True) for lg, sh, b in TICKET_BURNS)]
        ]),
        Row("Trends", [
            timeseries("Error ratio, 1-day window (7-day trend)", [prom(f"slo:sli_error:ratio_rate1d{{{slo}}}", "{{slo}}")], unit="percentunit"),
            timeseries("Error ratio, 30-day window (30-day trend)", [prom(f"slo:sli_error:ratio_rate30d{{{slo}}}", "{{slo}}")], unit="percentunit"),
        ]),
        *_slo_rows(ctx),
        _logs_row(),
    ], services="|".join(every), tags=("slo",), variables=variables, time_from="now-7d")


def failed_queues(ctx: Context) -> Dashboard:
    # The queues, window and threshold FailedQueueGrowing uses, read off its rule (issue 23 review: the panels matched
    # ".+[.]failed" and 1h while the alert matched ".*failed.*" over 30m).
    failed = ctx.alert_matcher("FailedQueueGrowing", "queue")
    growth = ctx.alert_window("FailedQueueGrowing", "delta")
    waiting = above(warning=math.nextafter(threshold("failed_queue_messages_max"), math.inf))
    return _dashboard("copilot-failed-queues", "Failed Queues", "Dead-letter queues: failed message counts, age, error types.", [
        Row("Failed messages", [
            stat("Failed messages waiting", [prom(f"sum(rabbitmq_queue_messages_ready{{{failed}}})", "failed")], steps=waiting),
            stat("Oldest failed message", [prom(f"max(rabbitmq_queue_message_age_seconds{{{failed}}})", "age")], unit="s"),
            stat("Failures in range", [prom(f"sum({increase_born(family('failures_total'), '$__range')})", "failures")], decimals=0),
            stat(f"Failed queue growth ({growth})", [prom(f"max(delta(rabbitmq_queue_messages_ready{{{failed}}}[{growth}]))", "growth")],
                 decimals=0, steps=above(warning=math.nextafter(0.0, math.inf)),
                 description="The fastest-growing failed queue over FailedQueueGrowing's window; it warns once that queue also "
                             "holds more than its threshold."),
        ]),
        Row("Queues and error types", [
            timeseries("Failed messages by queue", [prom(f"sum by (queue) (rabbitmq_queue_messages_ready{{{failed}}})", "{{queue}}")],
                       unit="short"),
            timeseries("Oldest failed message by queue", [prom(f"max by (queue) (rabbitmq_queue_message_age_seconds{{{failed}}})", "{{queue}}")],
                       unit="s"),
            table("Failures by service and error type (time range)", [prom(
                f"sort_desc(sum by (service, error_type) ({increase_born(family('failures_total'), '$__range')}))", instant=True, format="table")],
                columns={"service": "Service", "error_type": "Error type", "Value": "Failures"}, decimals=0, width=24),
        ]),
        _logs_row(),
    ], ctx, tags=("rabbitmq", "dlq"))


# The namespaces the selected services report their own metrics from (their pods'); "All" is their
# alternation, not any namespace, so a container of the same name elsewhere is not counted.
NAMESPACES = 'namespace=~"$namespace"'
# kube-state-metrics keeps a container's limit while its pod is Succeeded or Failed (and no longer runs, so
# cAdvisor has no series for it): limits count only for pods that are Pending or Running.
LIVE_PODS = f'kube_pod_status_phase{{phase=~"Pending|Running", {NAMESPACES}}} == 1'


def _limits(resource: str) -> str:
    """Each selected service's summed limit of ``resource`` over its live pods (cores or bytes)."""
    return (f'sum by (container) (kube_pod_container_resource_limits{{resource="{resource}", {CONTAINERS}, {NAMESPACES}}}'
            f" and on (namespace, pod) ({LIVE_PODS}))")


def resource_usage(ctx: Context) -> Dashboard:
    container = f"{CONTAINERS}, {NAMESPACES}"
    pod = f'pod=~"($service)-.*", {NAMESPACES}'
    working_set = f"container_memory_working_set_bytes{{{container}}}"
    namespace = Variable("namespace", "Namespace", query=f"label_values({family('messages_processed_total')}, namespace)", all_value=None)
    return _dashboard("copilot-resource-usage", "Resource Usage", "Container CPU, memory, disk and network by service, with limit lines.", [
        Row("CPU and memory", [
            timeseries("CPU by service", [
                prom(f"sum by (container) (rate(container_cpu_usage_seconds_total{{{container}}}[$__rate_interval]))", "{{container}}"),
                prom(_limits("cpu"), "limit {{container}}"),
            ], unit="cores", custom={"lineStyle": {"fill": "solid"}}),
            timeseries("Memory by service", [
                prom(f"sum by (container) ({working_set})", "{{container}}"),
                prom(_limits("memory"), "limit {{container}}"),
            ], unit="bytes"),
            # Per container of each pod, as MemoryExhaustion compares it (issue 23 review): summed by container, two
            # pods at 95% and 50% of their limits read 72.5%, under the 90% line while the alert fires. A pod with no
            # working set (Pending) or no limit has no bar: the division matches both sides.
            bargauge("Memory against limit", [prom(
                f"max by (namespace, pod, container) ({working_set})"
                f' / max by (namespace, pod, container) (kube_pod_container_resource_limits{{resource="memory", {container}}})',
                "{{pod}} {{container}}", instant=True)],
                unit="percentunit", min=0, max=1, steps=ctx.alert_steps("MemoryExhaustion"), width=24),
        ]),
        Row("Disk and network", [
            bargauge("Volume free space", [prom(
                f"min by (persistentvolumeclaim) (kubelet_volume_stats_available_bytes{{{NAMESPACES}}}"
                f" / kubelet_volume_stats_capacity_bytes{{{NAMESPACES}}})", "{{persistentvolumeclaim}}", instant=True)],
                unit="percentunit", min=0, max=1, steps=ctx.alert_steps("DiskSpaceLow"), width=24),
            timeseries("Disk usage by service", [prom(f"sum by (container) (container_fs_usage_bytes{{{container}}})", "{{container}}")], unit="bytes",
                       width=8),
            timeseries("Network received by pod", [prom(f"sum by (pod) (rate(container_network_receive_bytes_total{{{pod}}}[$__rate_interval]))", "{{pod}}")],
                       unit="Bps", width=8),
            timeseries("Network sent by pod", [prom(f"sum by (pod) (rate(container_network_transmit_bytes_total{{{pod}}}[$__rate_interval]))", "{{pod}}")],
                       unit="Bps", width=8),
        ]),
        _logs_row(),
    ], ctx, namespace, tags=("resources",), alerts={"Memory against limit": "MemoryExhaustion", "Volume free space": "DiskSpaceLow"})


def logs_overview(ctx: Context) -> Dashboard:
    search = f'{STREAM} |= "$search"'
    return _dashboard("copilot-logs-overview", "Logs Overview", "Log aggregation: error counts, log volume and a search interface over Loki.", [
        Row("Volume", [
            timeseries("Errors by service", [logql(f"sum by (service) (count_over_time({ERROR_STREAM}[$__auto]))", "{{service}}")], unit="short"),
            timeseries("Log lines by level", [logql(f"sum by (level) (count_over_time({STREAM}[$__auto]))", "{{level}}")], unit="short", stack=True),
            timeseries("Log bytes by service", [logql(f"sum by (service) (bytes_over_time({STREAM}[$__auto]))", "{{service}}")], unit="bytes", width=24),
        ]),
        Row("Search", [
            logs("Search results", search, links=[explore_link("Open the search in Explore", f'{EXPLORE_STREAM} |= "${{search}}"',
                                                             variables=("${environment}", "${service:pipe}", "${search}"))]),
        ]),
        _logs_row("Errors"),
    ], ctx, Variable("search", "Search text", textbox=True, include_all=False, multi=False), tags=("logs",))


DASHBOARDS = (system_health, queue_status, service_metrics, mongodb_status, vectorstore_status, document_processing, slo_dashboard,
              failed_queues, resource_usage, logs_overview)

