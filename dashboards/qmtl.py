"""QMTL dashboards: the Seamless SLA bundle (seed 000) and the DAG Manager / Gateway / SDK dashboard (seed 002)."""

from __future__ import annotations

from components.rules.thresholds import threshold
from dashboards.builder import (
    Dashboard,
    Row,
    Variable,
    above,
    below,
    explore_link,
    heatmap,
    logs,
    prom,
    stat,
    table,
    timeseries,
    traces,
)
from dashboards.common import Context, System, buckets, budget_gauge, increase_born, label_var, quantile, ratio

QMTL = System(folder="qmtl", services="qmtl-seamless", deployments='deployment=~"qmtl.*|gateway.*|dagmanager.*|worldservice.*"')
# Latency histograms of seed 000 carry {node_id, interval, world_id}: "filtered per domain".
DOMAIN = 'world_id=~"$world_id", node_id=~"$node_id", interval=~"$interval"'


def _domain_variables() -> tuple[Variable, ...]:
    return (
        label_var("world_id", "World", "seamless_total_ms_bucket"),
        label_var("node_id", "Node", 'seamless_total_ms_bucket{world_id=~"$world_id"}'),
        label_var("interval", "Interval", "seamless_total_ms_bucket"),
    )


# Per-target sums of WorldService's per-run series (rules/qmtl-core.yaml, group qmtl-worldservice-records).
FAILURES = "instance_world:world_apply_failures:sum"
RUNS = "instance_world:world_apply_runs:sum"
ACKS = "instance_world_phase:controlbus_apply_acks:sum"
ACK_BUCKETS = "instance_world_phase:controlbus_apply_ack_latency_ms_bucket:sum"
CROSS_CONTEXT = "cross_context_cache_hit_total"
FLAGS = "seamless_conformance_flag_total"
WORLD = '{world_id=~"$world_id"}'


def _ack_quantile(matchers: str, by: tuple[str, ...]) -> str:
    keep = ", ".join(("le", *by))
    return f"histogram_quantile(0.95, sum by ({keep}) (rate({ACK_BUCKETS}{{{matchers}}}[$__rate_interval])))"


DOWNGRADE_LOGS = ('{service=~"qmtl.*"} |= "seamless.domain_gate.downgrade" | json'
                  ' | line_format "{{.reason}} dataset_fingerprint={{.dataset_fingerprint}} as_of={{.as_of}}"')


def _seamless_logs(logger: str) -> Row:
    """The collapsed logs of one Seamless logger (titled after it) and the spans of the SLA phases."""
    expr = f'{{service=~"qmtl.*"}} |= "{logger}"'
    return Row(
        "Logs and traces",
        [
            logs(f"{logger} logs", expr, links=[explore_link(f"Open {logger} logs in Explore", expr)]),
            traces("seamless.pipeline spans with an SLA phase", '{ name = "seamless.pipeline" && span.sla.phase != nil }'),
        ],
        collapsed=True,
    )


def seamless_sla_overview(ctx: Context) -> Dashboard:
    # SeamlessSla99thDegraded counts the requests above the bucket bound below 80% of the budget: the p99
    # panels turn colour at that bound, where the alert measures, not at the budget.
    degraded = ctx.alert_steps("SeamlessSla99thDegraded")
    measured = ctx.alert_bound("SeamlessSla99thDegraded")
    phases = ("storage_wait", "backfill_wait", "live_wait")
    return QMTL.dashboard(
        ctx, "qmtl-seamless-sla", "Seamless SLA Overview",
        "Seamless Data Provider v2 SLA: deadline histograms, per-domain latency percentiles and the error budget (seed 000).",
        alerts={"SLA deadline p99 (total)": "SeamlessSla99thDegraded", "SLA deadline p99 by phase": "SeamlessSla99thDegraded"},
        tags=("seamless", "sla"),
        variables=_domain_variables(),
        rows=[
            Row(
                "SLA budget",
                [
                    budget_gauge(
                        ctx, "seamless-sla-budget", "Error budget remaining (30d)",
                        "Share of the 30-day error budget of the seamless-sla-budget SLO (99% within the SLA budget) still unspent.",
                    ),
                    stat(
                        "SLA deadline p99 (total)",
                        [prom(quantile(0.99, "seamless_sla_deadline_seconds", 'phase="total"'), "p99")],
                        unit="s", steps=degraded,
                        description=f"SeamlessSla99thDegraded fires when this stays above {measured.value:g}s" + (
                            "." if measured.slow_ratio is None else f", the bucket bound it measures: more than "
                            f"{measured.slow_ratio:.0%} of requests slower than {measured.value:g}s."),
                    ),
                    stat(
                        "Downgraded responses / min",
                        [prom("60 * ((sum(rate(domain_gate_holds_total[$__rate_interval])) or vector(0))"
                              " + (sum(rate(partial_fill_returns_total[$__rate_interval])) or vector(0)))", "HOLD + PARTIAL_FILL")],
                        unit="short", decimals=2,
                        description="Responses the SLA policy downgraded to HOLD or PARTIAL_FILL, per minute.",
                    ),
                    stat(
                        "Lowest coverage",
                        [prom(f"min(coverage_ratio{{{DOMAIN}}})", "coverage")],
                        unit="percentunit", min=0, max=1,
                    ),
                ],
            ),
            Row(
                "Deadline by phase",
                [
                    timeseries(
                        "SLA deadline p99 by phase",
                        [prom(quantile(0.99, "seamless_sla_deadline_seconds", by=("phase",)), "{{phase}}")],
                        unit="s", steps=degraded,
                    ),
                    heatmap("SLA deadline (total) distribution", buckets("seamless_sla_deadline_seconds", 'phase="total"'), unit="s"),
                ],
            ),
            Row(
                "Per-domain latency",
                [
                    timeseries(
                        "Total latency percentiles by world",
                        [
                            prom(quantile(0.5, "seamless_total_ms", DOMAIN, ("world_id",)), "p50 {{world_id}}"),
                            prom(quantile(0.95, "seamless_total_ms", DOMAIN, ("world_id",)), "p95 {{world_id}}"),
                            prom(quantile(0.99, "seamless_total_ms", DOMAIN, ("world_id",)), "p99 {{world_id}}"),
                        ],
                        unit="ms", width=24,
                    ),
                    heatmap("Total latency", buckets("seamless_total_ms", DOMAIN), unit="ms", width=6),
                    *(heatmap(f"{p.replace('_', ' ').capitalize()} latency", buckets(f"seamless_{p}_ms", DOMAIN), unit="ms", width=6) for p in phases),
                ],
            ),
            Row(
                "Coverage, freshness and downgrades",
                [
                    timeseries("Coverage ratio by node", [prom(f"min by (node_id) (coverage_ratio{{{DOMAIN}}})", "{{node_id}}")],
                               unit="percentunit", min=0, max=1, width=8),
                    timeseries("Live staleness by node", [prom(f"max by (node_id) (live_staleness_seconds{{{DOMAIN}}})", "{{node_id}}")],
                               unit="s", width=8),
                    timeseries(
                        "Downgrades by reason",
                        [
                            prom("sum by (reason) (rate(domain_gate_holds_total[$__rate_interval]))", "HOLD {{reason}}"),
                            prom("sum by (reason) (rate(partial_fill_returns_total[$__rate_interval]))", "PARTIAL_FILL {{reason}}"),
                        ],
                        unit="reqps", width=8, stack=True,
                    ),
                    # Seed 001: each downgrade logs seamless.domain_gate.downgrade with the snapshot it served
                    # (dataset_fingerprint, as_of): next to the rates, to correlate a HOLD/PARTIAL_FILL surge.
                    logs(
                        "Downgrade events (seamless.domain_gate.downgrade)",
                        DOWNGRADE_LOGS,
                        links=[explore_link("Open downgrade events in Explore", DOWNGRADE_LOGS)],
                        description="Each HOLD/PARTIAL_FILL downgrade with its reason, dataset_fingerprint and as_of "
                                    "(the snapshot the response was served from).",
                    ),
                ],
            ),
            Row(
                "Artifacts",
                [
                    timeseries("Artifact publish latency p95", [prom(quantile(0.95, "artifact_publish_latency_ms"), "p95")], unit="ms", width=8),
                    timeseries("Artifact bytes written", [prom("sum(rate(artifact_bytes_written_total[$__rate_interval]))", "written")],
                               unit="Bps", width=8),
                    timeseries("Fingerprint collisions", [prom("sum(increase(fingerprint_collisions_total[$__rate_interval]))", "collisions")],
                               unit="short", width=8),
                ],
                collapsed=True,
            ),
            _seamless_logs("seamless.sla"),
        ],
    )


def backfill_coordinator_health(ctx: Context) -> Dashboard:
    stuck = threshold("seamless_backfill_stuck_ratio")
    stall = f"{threshold('seamless_backfill_stall_seconds'):.0f}s"
    return QMTL.dashboard(
        ctx, "qmtl-backfill-coordinator", "Backfill Coordinator Health",
        "Distributed backfill coordinator: lease counts, stale claims, completion trends and token-bucket headroom (seed 000).",
        alerts={"Leases below completion threshold": "SeamlessBackfillStuckLease", "Completion ratio by lease": "SeamlessBackfillStuckLease"},
        services="qmtl-seamless|qmtl-sdk",
        tags=("seamless", "backfill"),
        variables=(label_var("node_id", "Node", "backfill_failure_total"),),
        rows=[
            Row(
                "Leases",
                [
                    stat("Leases", [prom("count(backfill_completion_ratio)", "leases")], unit="short"),
                    stat(
                        "Leases below completion threshold",
                        [prom(f"count(min by (lease_key) (backfill_completion_ratio) < {stuck} and on (lease_key) "
                              f"max by (lease_key) (changes(backfill_completion_ratio[{stall}])) == 0) or vector(0)", "stuck")],
                        steps=above(critical=1),
                        description=f"Leases below {stuck:.0%} complete whose completion has not moved in {stall}: "
                                    "what SeamlessBackfillStuckLease counts (it pages once one stays so for 5 minutes).",
                    ),
                    stat(
                        f"Stale claims (no progress in {stall})",
                        [prom(f"count(changes(backfill_completion_ratio[{stall}]) == 0 and backfill_completion_ratio < 1) or vector(0)", "stale")],
                        steps=above(warning=1),
                        description=f"Incomplete leases whose completion ratio has not moved for {stall}.",
                    ),
                    stat("Backfill jobs in progress", [prom("sum(backfill_jobs_in_progress)", "jobs")], unit="short"),
                ],
            ),
            Row(
                "Completion",
                [
                    timeseries(
                        "Completion ratio by lease",
                        [prom("min by (lease_key) (backfill_completion_ratio)", "{{lease_key}}")],
                        unit="percentunit", min=0, max=1, width=16,
                        # Red below the alert's ratio: one condition of SeamlessBackfillStuckLease, which also needs
                        # no progress (the stat above counts both).
                        steps=below(critical=stuck),
                    ),
                    table(
                        "Least complete leases",
                        [prom("bottomk(10, min by (lease_key) (backfill_completion_ratio))", instant=True, format="table")],
                        columns={"lease_key": "Lease", "Value": "Completion"}, unit="percentunit", width=8,
                    ),
                ],
            ),
            Row(
                "Failures and retries",
                [
                    timeseries(
                        "Backfill failures and retries",
                        [
                            prom('sum by (node_id) (rate(backfill_failure_total{node_id=~"$node_id"}[$__rate_interval]))', "failed {{node_id}}"),
                            prom('sum by (node_id) (rate(backfill_retry_total{node_id=~"$node_id"}[$__rate_interval]))', "retry {{node_id}}"),
                        ],
                        unit="ops", width=12,
                    ),
                    timeseries(
                        "Backfill lag behind now",
                        [prom('time() - max by (node_id) (backfill_last_timestamp{node_id=~"$node_id"})', "{{node_id}}")],
                        unit="s", width=12,
                    ),
                    heatmap("Gap repair latency", buckets("gap_repair_latency_ms", 'node_id=~"$node_id"'), unit="ms", width=12),
                    timeseries(
                        "Rate limiter headroom",
                        [
                            prom("sum(seamless_rl_tokens_available)", "tokens available"),
                            prom("sum(rate(seamless_rl_dropped_total[$__rate_interval]))", "dropped / s"),
                        ],
                        unit="short", width=12,
                    ),
                ],
            ),
            _seamless_logs("seamless.backfill"),
        ],
    )


def conformance_quality(ctx: Context) -> Dashboard:
    spike = ctx.alert_steps("SeamlessConformanceFlagSpike")
    return QMTL.dashboard(
        ctx, "qmtl-conformance-quality", "Conformance Quality",
        "ConformancePipeline: flag totals, schema warnings and regression report outcomes (seed 000).",
        alerts={
            "Flags in the last 15 minutes": "SeamlessConformanceFlagSpike",
            "Flags per 15 minutes against the spike threshold": "SeamlessConformanceFlagSpike",
        },
        tags=("seamless", "conformance"),
        rows=[
            Row(
                "Totals",
                [
                    stat("Flags in range", [prom(f"sum({increase_born(FLAGS, '$__range')})", "flags")], unit="short", decimals=0),
                    stat(
                        "Flags in the last 15 minutes",
                        [prom(f"sum({increase_born(FLAGS, '15m')})", "flags")],
                        unit="short", decimals=0, steps=spike,
                        description="SeamlessConformanceFlagSpike notifies above this count.",
                    ),
                    stat("Schema warnings in range", [prom("sum(increase(seamless_conformance_warning_total[$__range]))", "warnings")],
                         unit="short", decimals=0),
                    stat("Flag types seen", [prom(f"count(sum by (flag_type) ({increase_born(FLAGS, '$__range')}) > 0) or vector(0)", "types")],
                         unit="short"),
                ],
            ),
            Row(
                "Flags",
                [
                    table(
                        "Flag Breakdown",
                        [prom(f"sort_desc(sum by (flag_type) ({increase_born(FLAGS, '$__range')}))", instant=True, format="table")],
                        columns={"flag_type": "Flag", "Value": "Count"}, decimals=0, width=8,
                    ),
                    timeseries(
                        "Flags by type",
                        [prom(f"sum by (flag_type) ({increase_born(FLAGS, '$__rate_interval')})", "{{flag_type}}")],
                        unit="short", stack=True, width=16,
                    ),
                    timeseries(
                        "Flags per 15 minutes against the spike threshold",
                        [prom(f"sum({increase_born(FLAGS, '15m')})", "flags / 15m")],
                        unit="short", steps=spike,
                    ),
                    timeseries(
                        "Schema warnings",
                        [prom("sum(increase(seamless_conformance_warning_total[$__rate_interval]))", "warnings")],
                        unit="short",
                    ),
                ],
            ),
            Row(
                "Regression report checks",
                [
                    logs(
                        "Regression report check outcomes",
                        '{service=~"qmtl.*"} |= "regression_report"',
                        description="The conformance pipeline logs one line per regression report check with its outcome.",
                    ),
                ],
            ),
        ],
    )


def dagmanager_gateway(ctx: Context) -> Dashboard:
    node = 'node_id=~"$node_id"'
    failures_window = ctx.born_window("NodeFailures", "node_process_failure_total")
    return QMTL.dashboard(
        ctx, "qmtl-dagmanager-gateway", "QMTL DAG Manager and Gateway",
        "Diff processing, queues, garbage collection, world apply, ControlBus acknowledgements, SDK cache and node metrics (seed 002).",
        alerts={
            "Diff duration p95": "DiffDurationHigh",
            "Diff failure rate": "DiffFailureRateHigh",
            "Diff throughput": "DiffThroughputLow",
            "Lost requests in range": "LostRequests",
            "Missing diff sentinels": "SentinelGap",
            "Kafka consumer lag by topic": "QueueLagHigh",
            "Orphan queues": "OrphanQueuesGrowing",
            "Queue create errors": "QueueCreateErrors",
            "Since last GC run": "GCSchedulerStall",
            "Apply failure rate": "WorldApplyFailureRateHigh",
            "Apply failures in range": "WorldApplyFailureDetected",
            "Allocation snapshots stale": "WorldAllocationSnapshotStale",
            "Allocation snapshot staleness": "WorldAllocationSnapshotStale",
            "Freeze ACK latency p95": "ControlBusApplyAckLatencyHigh",
            "ControlBus ACK latency p95 by phase": "ControlBusApplyAckLatencyHigh",
            "Gateway end-to-end latency p95": "GatewayLatencyHigh",
            "Cross-context cache hits (until reset)": "CrossContextCacheHit",
            "Cross-context cache hits by context": "CrossContextCacheHit",
            "Node cache resident memory": "NodeCacheMemoryHigh",
            "Node compute p95": "NodeSlowProcessing",
            "Node failures": "NodeFailures",
        },
        services="qmtl-.*",
        tags=("dagmanager", "gateway", "sdk"),
        variables=(
            label_var("node_id", "Node", "node_processed_total"),
            label_var("world_id", "World", "world_apply_run_total"),
            label_var("topic", "Topic", "queue_lag_seconds"),
        ),
        rows=[
            Row(
                "Diff processing",
                [
                    stat("Diff duration p95", [prom("max(diff_duration_ms_p95)", "p95")], unit="ms",
                         steps=ctx.alert_steps("DiffDurationHigh")),
                    stat("Diff failure rate", [prom(ratio("diff_failures_total", "diff_requests_total", "5m"), "failed")], unit="percentunit",
                         steps=ctx.alert_steps("DiffFailureRateHigh")),
                    stat("Diff throughput", [prom("sum(rate(diff_requests_total[5m])) * 60", "per minute")], unit="short", decimals=2,
                         steps=ctx.alert_steps("DiffThroughputLow"), description="Diff requests per minute (5m rate)."),
                    stat("Lost requests in range", [prom(f"sum({increase_born('lost_requests_total', '$__range')})", "lost")], decimals=0,
                         steps=ctx.alert_steps("LostRequests")),
                    timeseries("Diff duration p95", [prom("max(diff_duration_ms_p95)", "p95")], unit="ms",
                               steps=ctx.alert_steps("DiffDurationHigh"), width=8),
                    timeseries("Diff requests and failures", [
                        prom("sum(rate(diff_requests_total[$__rate_interval]))", "requests"),
                        prom("sum(rate(diff_failures_total[$__rate_interval]))", "failures"),
                    ], unit="reqps", width=8),
                    timeseries("Missing diff sentinels", [prom("max(sentinel_gap_count)", "sentinel gaps")], unit="short",
                               steps=ctx.alert_steps("SentinelGap"), width=8),
                ],
            ),
            Row(
                "Queues",
                [
                    timeseries("Kafka consumer lag by topic", [
                        prom('max by (topic) (queue_lag_seconds{topic=~"$topic"})', "lag {{topic}}"),
                        prom('max by (topic) (queue_lag_threshold_seconds{topic=~"$topic"})', "threshold {{topic}}"),
                    ], unit="s", description="QueueLagHigh fires when a topic's lag exceeds its own configured threshold series."),
                    timeseries("Orphan queues", [prom("max(orphan_queue_total)", "orphan queues")], unit="short", width=6),
                    timeseries("Queue create errors", [prom("sum(increase(queue_create_error_total[$__rate_interval]))", "errors")],
                               unit="short", width=6),
                    timeseries("Circuit breaker openings", [
                        prom("max(dagclient_breaker_open_total)", "gateway gRPC client"),
                        prom("max(kafka_breaker_open_total)", "DAG Manager Kafka admin"),
                    ], unit="short"),
                    timeseries("Event recorder errors", [prom("sum(rate(event_recorder_errors_total[$__rate_interval]))", "errors")], unit="ops"),
                ],
            ),
            Row(
                "Garbage collection",
                [
                    stat("Since last GC run", [prom("time() - max(gc_last_run_timestamp)", "age")], unit="s",
                         steps=ctx.alert_steps("GCSchedulerStall")),
                    timeseries("Since last GC run", [prom("time() - max(gc_last_run_timestamp)", "age")], unit="s",
                               steps=ctx.alert_steps("GCSchedulerStall"), width=18),
                ],
            ),
            Row(
                "World apply and ControlBus",
                [
                    # WorldService series carry run_id (a new series per run, born with its final value):
                    # panels read the per-target sums recorded in rules/qmtl-core.yaml, never the raw series.
                    # The share WorldApplyFailureRateHigh compares (failures over runs), not its complement.
                    # Per world, as the alert compares it (issue 23 review: a sum over worlds dilutes one failing world).
                    stat("Apply failure rate", [prom(
                        f'sum by (world_id) (rate({FAILURES}{{world_id=~"$world_id"}}[$__rate_interval]))'
                        f' / sum by (world_id) (rate({RUNS}{{world_id=~"$world_id"}}[$__rate_interval]))', "{{world_id}}")],
                        unit="percentunit", steps=ctx.alert_steps("WorldApplyFailureRateHigh")),
                    stat("Allocation snapshots stale", [prom("max(world_allocation_snapshot_stale_ratio)", "stale")], unit="percentunit",
                         steps=ctx.alert_steps("WorldAllocationSnapshotStale")),
                    stat("Freeze ACK latency p95", [prom(_ack_quantile('phase="freeze"', ("world_id",)), "{{world_id}}")], unit="ms",
                         steps=ctx.alert_steps("ControlBusApplyAckLatencyHigh")),
                    stat("Apply failures in range", [prom(f"sum({increase_born(FAILURES + WORLD, '$__range')})", "failures")],
                         decimals=0, steps=ctx.alert_steps("WorldApplyFailureDetected")),
                    timeseries("Apply runs and failures by world", [
                        prom(f'sum by (world_id) (rate({RUNS}{{world_id=~"$world_id"}}[$__rate_interval]))', "runs {{world_id}}"),
                        prom(f'sum by (world_id) (rate({FAILURES}{{world_id=~"$world_id"}}[$__rate_interval]))', "failures {{world_id}}"),
                    ], unit="ops", width=8),
                    timeseries("Allocation snapshot staleness", [prom("max(world_allocation_snapshot_stale_ratio)", "stale share")],
                               unit="percentunit", steps=ctx.alert_steps("WorldAllocationSnapshotStale"), width=8),
                    timeseries("ControlBus ACKs by phase", [
                        prom(f'sum by (phase) (rate({ACKS}{{world_id=~"$world_id"}}[$__rate_interval]))', "{{phase}}"),
                    ], unit="ops", width=8),
                    timeseries("ControlBus ACK latency p95 by phase", [
                        prom(_ack_quantile('world_id=~"$world_id"', ("phase", "world_id")), "{{phase}} {{world_id}}"),
                    ], unit="ms", steps=ctx.alert_steps("ControlBusApplyAckLatencyHigh")),
                    heatmap("ControlBus ACK latency", f'sum by (le) (increase({ACK_BUCKETS}{{world_id=~"$world_id"}}[$__rate_interval]))',
                            unit="ms"),
                ],
            ),
            Row(
                "Gateway",
                [
                    timeseries("Gateway end-to-end latency p95", [prom("max(gateway_e2e_latency_p95)", "p95")], unit="ms",
                               steps=ctx.alert_steps("GatewayLatencyHigh"), width=24),
                ],
            ),
            Row(
                "SDK cache",
                [
                    # CrossContextCacheHit reads the counter itself (any hit since the last reset blocks promotions):
                    # a child born holding its first hit has no increase, yet the alert fires on it.
                    stat("Cross-context cache hits (until reset)", [prom(f"sum({CROSS_CONTEXT}) or vector(0)", "hits")],
                         decimals=0, steps=ctx.alert_steps("CrossContextCacheHit"),
                         description="SLO is 0: any hit blocks promotions until the counter is reset (CrossContextCacheHit runbook)."),
                    stat("Node cache resident memory", [prom('sum(nodecache_resident_bytes{scope="total"})', "resident")], unit="bytes",
                         steps=ctx.alert_steps("NodeCacheMemoryHigh")),
                    stat("Active backfill jobs", [prom("sum(backfill_jobs_in_progress)", "jobs")]),
                    stat("Backfill failures in range", [prom(f"sum({increase_born('backfill_failure_total', '$__range')})", "failures")], decimals=0),
                    timeseries("Cache reads by upstream", [
                        prom("sum by (upstream_id) (rate(cache_read_total[$__rate_interval]))", "{{upstream_id}}"),
                    ], unit="ops", width=8),
                    timeseries("Since last cache read", [prom("time() - max by (upstream_id) (cache_last_read_timestamp)", "{{upstream_id}}")],
                               unit="s", width=8),
                    table("Cross-context cache hits by context", [prom(
                        f"sum by (node_id, world_id, execution_domain, as_of, partition) ({CROSS_CONTEXT}) > 0",
                        instant=True, format="table")],
                        columns={"Value": "Hits"}, decimals=0, width=8),
                    timeseries("Node cache resident memory", [prom('sum(nodecache_resident_bytes{scope="total"})', "total")], unit="bytes",
                               steps=ctx.alert_steps("NodeCacheMemoryHigh"), width=24),
                ],
            ),
            Row(
                "Nodes",
                [
                    timeseries("Node executions", [prom(f"sum by (node_id) (rate(node_processed_total{{{node}}}[$__rate_interval]))", "{{node_id}}")],
                               unit="ops", width=8),
                    timeseries("Node compute p95", [prom(quantile(0.95, "node_process_duration_ms", node, ("node_id",)), "{{node_id}}")],
                               unit="ms", steps=ctx.alert_steps("NodeSlowProcessing"), width=8),
                    # As NodeFailures counts them: a node's failure child is born holding its first failure (rate() reads 0).
                    timeseries("Node failures", [
                        prom(f"sum by (node_id) ({increase_born(f'node_process_failure_total{{{node}}}', failures_window)})", "{{node_id}}"),
                    ], unit="short", decimals=0, width=8, steps=ctx.alert_steps("NodeFailures"),
                        description=f"Failures per node in the last {failures_window}, as NodeFailures counts them; it fires above the line."),
                    heatmap("Node compute duration", buckets("node_process_duration_ms", node), unit="ms", width=24),
                ],
            ),
            Row(
                "Logs and traces",
                [
                    logs("Gateway and DAG Manager errors", '{service=~"qmtl-(gateway|dagmanager)"} |~ "(?i)error"',
                         links=[explore_link("Open QMTL logs in Explore", '{service=~"qmtl.*"}')]),
                    traces("Gateway traces", '{ resource.service.name = "gateway" }'),
                ],
                collapsed=True,
            ),
        ],
    )


DASHBOARDS = (seamless_sla_overview, backfill_coordinator_health, conformance_quality, dagmanager_gateway)
