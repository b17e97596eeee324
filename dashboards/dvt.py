"""DVT workflow engine dashboards (seed 003): executive, operations and developer views."""

from __future__ import annotations

from dashboards.builder import (
    Dashboard,
    Panel,
    Row,
    Steps,
    Variable,
    bargauge,
    explore_link,
    heatmap,
    logs,
    prom,
    stat,
    table,
    timeseries,
    traces,
)
from dashboards.common import Context, System, buckets, budget_gauge, increase_born, label_var, quantile

DVT = System(folder="dvt", services="dvt", deployments='deployment=~"dvt.*"')
ENV = 'environmentId=~"$environment"'
LOGS = '{service="dvt"}'
STARTED = f"dvt_runs_started_total{{{ENV}}}"
FAILED_RUNS = 'dvt_runs_completed_total{status="failed"}'
PLUGIN_ERRORS = 'dvt_plugin_invocations_total{status!="success"}'
FAILED_STEPS = 'dvt_step_duration_seconds_count{status="failed", planId=~"$plan"}'


def _error_steps(ctx: Context) -> Steps:
    """The run error ratio's two alerts: DvtErrorRateAboveSlo (1%) and HighErrorRate (5%)."""
    return ctx.alert_steps("DvtErrorRateAboveSlo", "HighErrorRate")


def _environment(ctx: Context) -> Variable:
    # DVT labels runs with environmentId; the variable keeps the seed's name.
    return label_var("environment", "Environment", "dvt_runs_in_flight", "environmentId", multi=False, include_all=True)


def _budget(slo: str, title: str, ctx: Context) -> Panel:
    return budget_gauge(ctx, slo, title, f"Share of the 30-day error budget of SLO {slo} still unspent (seed 003 section 7).")


def platform_health(ctx: Context) -> Dashboard:
    completion = quantile(0.99, "dvt_run_completion_duration_seconds")
    pause = quantile(0.99, "dvt_signal_processing_duration_ms", 'signal_type="PAUSE"')
    return DVT.dashboard(
        ctx, "dvt-platform-health", "DVT Platform Health",
        "Executive view of the DVT workflow engine: throughput, SLAs, errors, adapters and incidents (seed 003 section 3.1).",
        alerts={"Availability (4h)": "DvtAvailabilityBelowTarget",
                "Completion SLA (p99)": "RunCompletionSLAViolation", "Error rate (10m)": "HighErrorRate", "Pause latency (p99)": "PauseLatencySLAViolation"},
        tags=("executive",),
        variables=(_environment(ctx),),
        rows=[
            Row(
                "Service levels",
                [
                    stat("Runs / min (last 1h)", [prom(f"sum(rate(dvt_runs_started_total{{{ENV}}}[1h])) * 60", "runs/min")], unit="short",
                         decimals=1, width=4),
                    # Seed 003 shows "250 ↑ 12%": the last hour's rate against the hour before it.
                    # The previous hour is the last two hours minus the last one (no offset: data from the start).
                    stat("Runs / min vs previous hour", [prom(
                        f"sum({increase_born(STARTED, '1h')})"
                        f" / (sum({increase_born(STARTED, '2h')}) - sum({increase_born(STARTED, '1h')})) - 1",
                        "change")], unit="percentunit", decimals=0, width=4,
                        description="Change of runs per minute over the last hour against the previous hour."),
                    stat("Completion SLA (p99)", [prom(completion, "p99")], unit="s",
                         steps=ctx.alert_steps("RunCompletionSLAViolation"), width=8,
                         description="Objective 5s; RunCompletionSLAViolation pages above the alert threshold."),
                    # Seed 003's executive figure: the day's share of failed runs. No alert compares it (they read 10
                    # minutes), so it carries no alert line; the stat beside it is what the alerts compare.
                    stat("Errors (24h)", [prom(
                        f"sum({increase_born(FAILED_RUNS, '24h')})"
                        f" / sum({increase_born('dvt_runs_completed_total', '24h')})", "failed")],
                        unit="percentunit", decimals=2, width=4),
                    stat("Error rate (10m)", [prom(ctx.alert_lhs("HighErrorRate"), "failed")],
                         unit="percentunit", decimals=2, steps=_error_steps(ctx), width=4,
                         description="The share of failed runs HighErrorRate and DvtErrorRateAboveSlo compare."),
                    stat("Availability (4h)", [prom(ctx.alert_lhs("DvtAvailabilityBelowTarget"), "available")], unit="percentunit",
                         decimals=2, steps=ctx.alert_steps("DvtAvailabilityBelowTarget"), width=8,
                         description="Share of the last 4 hours the DVT engine's scrape target was up; DvtAvailabilityBelowTarget fires below it."),
                    stat("In-flight runs", [prom(f"sum(dvt_runs_in_flight{{{ENV}}})", "in flight")], unit="short", width=8),
                    stat("Pause latency (p99)", [prom(pause, "p99")], unit="ms",
                         steps=ctx.alert_steps("PauseLatencySLAViolation"), width=8,
                         description="Objective 1s; alert above 5s over a 5m window (seed 003 SLO table)."),
                    # Seed 003 shows "0/120": plugin errors over plugin invocations.
                    stat("Plugin errors / invocations (24h)", [prom(
                        f"sum({increase_born(PLUGIN_ERRORS, '24h')})"
                        f" / sum({increase_born('dvt_plugin_invocations_total', '24h')})", "errors / invocations")],
                        unit="percentunit", decimals=2, width=8,
                        # Every failure over 24h, all types together: not PluginRejectRate's number (denials per type
                        # over 5m), so none of its lines (issue 23 review).
                        description="Share of plugin invocations that did not succeed (timeout, permission_denied, isolated_failure)."),
                ],
            ),
            Row(
                "Plans, adapters, incidents",
                [
                    table("Top plans by runtime (p95)", [prom(
                        "topk(10, histogram_quantile(0.95, sum by (le, planId) (rate(dvt_run_completion_duration_seconds_bucket[1h]))))",
                        instant=True, format="table")], columns={"planId": "Plan", "Value": "p95 runtime"}, unit="s", width=8),
                    table("Adapters (available workers)", [prom("sum by (adapter) (dvt_workers_available)", instant=True, format="table")],
                          columns={"adapter": "Adapter", "Value": "Workers"}, width=8),
                    table("Incidents (7d)", [prom(
                        'count by (severity) (max_over_time(ALERTS{alertstate="firing", service="dvt"}[7d]))', instant=True, format="table")],
                        columns={"severity": "Severity", "Value": "Alerts fired"}, width=8,
                        description="Distinct DVT alerts that fired in the last 7 days; critical is P1, warning is P2."),
                ],
            ),
            Row(
                "Error budgets (30d)",
                [
                    _budget("dvt-run-completion-latency", "Completion latency", ctx),
                    _budget("dvt-pause-latency", "Pause latency", ctx),
                    _budget("dvt-availability", "Availability", ctx),
                    _budget("dvt-error-rate", "Error rate", ctx),
                ],
            ),
        ],
    )


def operations(ctx: Context) -> Dashboard:
    write = "dvt_statestore_write_duration_ms"
    return DVT.dashboard(
        ctx, "dvt-operations", "DVT Operations",
        "On-call view: StateStore, projection, workers, failing plans and steps, signals, plugins and adapters (seed 003 section 3.2).",
        alerts={
            "StateStore write errors": "StateStoreWriteFailure",
            "Projection lag (events)": "ProjectionLag",
            "Adapter heartbeat age": "AdapterHeartbeatLost",
            "Deferred signals": "DeferredSignalsQueueBuildup",
            "Plugin permission denials": "PluginRejectRate",
            "Error rate by plan": "HighErrorRate",
        },
        tags=("operations",),
        # No series of this page carries environmentId (only dvt_runs_* of the executive view): no environment selector.
        variables=(
            label_var("adapter", "Adapter", "dvt_workers_available"),
            label_var("plan", "Plan", "dvt_runs_completed_total", "planId"),
        ),
        rows=[
            Row(
                "StateStore",
                [
                    timeseries("StateStore write latency", [
                        prom(quantile(0.5, write), "p50"), prom(quantile(0.95, write), "p95"), prom(quantile(0.99, write), "p99"),
                    ], unit="ms"),
                    timeseries("Events / sec by type", [
                        prom(f"sum by (event_type) (rate({write}_count[$__rate_interval]))", "{{event_type}}"),
                    ], unit="ops", stack=True),
                    # The alert's own quantity (issue 23): a new event_type's error child is born holding its first error,
                    # which a rate() reads as 0 while StateStoreWriteFailure pages.
                    timeseries("StateStore write errors", [
                        prom(ctx.alert_lhs("StateStoreWriteFailure"), "failed writes in the last "
                             + ctx.born_window("StateStoreWriteFailure", "dvt_statestore_write_errors_total")),
                    ], unit="short", decimals=0, steps=ctx.alert_steps("StateStoreWriteFailure"),
                        description="Failed StateStore writes in the alert's window, counted as StateStoreWriteFailure counts them "
                                    "(an event_type first seen in it counts whole); it pages above the line."),
                    heatmap("StateStore write latency distribution", buckets(write), unit="ms"),
                ],
            ),
            Row(
                "Projection and workers",
                [
                    timeseries("Projection lag (events)", [
                        prom('max by (adapter) (dvt_projection_lag_events{adapter=~"$adapter"})', "lag {{adapter}}"),
                        prom("sum(increase(dvt_projection_gaps_total[$__rate_interval]))", "gaps"),
                    ], unit="short", steps=ctx.alert_steps("ProjectionLag")),
                    timeseries("Worker capacity", [
                        prom('sum by (domain) (dvt_workers_available{adapter=~"$adapter"})', "{{domain}}"),
                    ], unit="short"),
                    timeseries("Adapter heartbeat age", [
                        prom('time() - max by (adapter) (dvt_adapter_last_heartbeat_seconds{adapter=~"$adapter"})', "{{adapter}}"),
                    ], unit="s", steps=ctx.alert_steps("AdapterHeartbeatLost")),
                    timeseries("Adapter RPC latency p95", [
                        prom(quantile(0.95, "dvt_adapter_rpc_duration_ms", 'adapter=~"$adapter"', ("adapter",)), "p95 {{adapter}}"),
                    ], unit="ms"),
                ],
            ),
            Row(
                "Failures",
                [
                    table("Error rate by plan", [prom(
                        'sum by (planId) (rate(dvt_runs_completed_total{status="failed", planId=~"$plan"}[1h]))'
                        ' / sum by (planId) (rate(dvt_runs_completed_total{planId=~"$plan"}[1h]))', instant=True, format="table")],
                        # A breakdown: HighErrorRate and DvtErrorRateAboveSlo compare the ratio over all plans, so one
                        # plan's share is not their number and carries no line of theirs (issue 23 review).
                        columns={"planId": "Plan", "Value": "Error rate (1h)"}, unit="percentunit"),
                    table("Top failing steps", [prom(
                        "topk(10, sum by (planId, stepId) "
                        f"({increase_born(FAILED_STEPS, '$__range')}))",
                        instant=True, format="table")], columns={"planId": "Plan", "stepId": "Step", "Value": "Failures"}, decimals=0),
                    timeseries("Adapter API errors", [
                        prom('sum by (adapter, status_code) (rate(dvt_adapter_api_errors_total{adapter=~"$adapter"}[$__rate_interval]))',
                             "{{adapter}} {{status_code}}"),
                    ], unit="ops", width=24),
                ],
            ),
            Row(
                "Signals and plugins",
                [
                    timeseries("Deferred signals", [prom("max(dvt_deferred_signals_queue_length)", "queue length")], unit="short",
                               steps=ctx.alert_steps("DeferredSignalsQueueBuildup")),
                    Panel("Plugin sandbox health (memory by tenant)", "heatmap",
                          (prom("sum by (tenantId) (dvt_plugin_sandbox_memory_bytes)", "{{tenantId}}"),),
                          unit="bytes", options={"calculate": False, "yAxis": {"axisPlacement": "left"},
                                                 "color": {"mode": "scheme", "scheme": "Oranges", "steps": 32}, "cellGap": 1}),
                    # Per plugin type, as PluginRejectRate compares it: one type at 2% is under 1% of all invocations.
                    timeseries("Plugin permission denials", [prom(ctx.alert_lhs("PluginRejectRate"), "{{plugin_type}}")],
                               unit="percentunit", steps=ctx.alert_steps("PluginRejectRate")),
                    timeseries("Signals by type and status", [
                        prom("sum by (signal_type, status) (rate(dvt_signals_received_total[$__rate_interval]))", "{{signal_type}} {{status}}"),
                    ], unit="ops"),
                ],
            ),
            Row(
                "Logs",
                [logs("DVT errors", '{service="dvt", level=~"ERROR|FATAL"}',
                      links=[explore_link("Open DVT logs in Explore", LOGS)])],
                collapsed=True,
            ),
        ],
    )


def development(ctx: Context) -> Dashboard:
    plan = 'planId="$plan"'
    return DVT.dashboard(
        ctx, "dvt-development", "DVT Development",
        "Feature testing: one plan's step timings and retries, determinism, traces, event replay and logs of one run (seed 003 section 3.3).",
        tags=("development",),
        variables=(
            label_var("plan", "Plan", "dvt_step_duration_seconds_bucket", "planId", multi=False, include_all=False),
            Variable("run", "Run ID", textbox=True, include_all=False, multi=False),
        ),
        rows=[
            Row(
                "Test plan status",
                [
                    timeseries("Step timings (p95) for $plan", [
                        prom(quantile(0.95, "dvt_step_duration_seconds", plan, ("stepId",)), "{{stepId}}"),
                    ], unit="s"),
                    timeseries("Step retries for $plan", [
                        prom(f"sum by (stepId, cause) (increase(dvt_step_retries_total{{{plan}}}[$__rate_interval]))", "{{stepId}} {{cause}}"),
                    ], unit="short", stack=True),
                    table("Determinism check (spread across attempts)", [
                        prom(f"histogram_quantile(0.5, sum by (le, stepId) (rate(dvt_step_duration_seconds_bucket{{{plan}}}[$__range])))",
                             instant=True, format="table"),
                        prom(f"histogram_quantile(0.95, sum by (le, stepId) (rate(dvt_step_duration_seconds_bucket{{{plan}}}[$__range])))",
                             instant=True, format="table"),
                        prom(f"sum by (stepId) ({increase_born(f'dvt_step_retries_total{{{plan}}}', '$__range')})", instant=True, format="table"),
                    ], columns={"stepId": "Step", "Value #A": "p50", "Value #B": "p95", "Value #C": "Retries"},
                        description="A deterministic step keeps p50 close to p95 and needs no retries."),
                    bargauge("Artifacts written by step", [
                        prom(f"sum by (stepId) ({increase_born(f'dvt_step_artifacts_written_bytes_total{{{plan}}}', '$__range')})", "{{stepId}}",
                             instant=True),
                    ], unit="bytes"),
                ],
            ),
            Row(
                "Tracing and event replay",
                [
                    traces("Trace: plan $plan, run $run", '{ name = "engine.executeRun" && span.planId = "$plan" && span.runId =~ "$run.*" }', width=12),
                    timeseries("Event sequence", [
                        prom("sum by (event_type) (increase(dvt_event_emission_duration_ms_count[$__rate_interval]))", "{{event_type}}"),
                    ], unit="short", stack=True),
                ],
            ),
            Row(
                "Logs and plugins",
                [
                    logs("Log tail (last 100 for run $run)", '{service="dvt"} | json | runId="$run"', max_lines=100, width=12,
                         links=[explore_link("Open the run's logs in Explore", '{service="dvt"} | json | runId="$run"', variables=("$run",))]),
                    table("Plugin invocations (timing, sandbox memory)", [
                        prom("histogram_quantile(0.95, sum by (le, plugin_type) (rate(dvt_plugin_duration_seconds_bucket[$__range])))",
                             instant=True, format="table"),
                        prom(f"sum by (plugin_type) ({increase_born('dvt_plugin_invocations_total', '$__range')})", instant=True, format="table"),
                        prom("max by (plugin_type) (dvt_plugin_sandbox_memory_bytes)", instant=True, format="table"),
                    ], columns={"plugin_type": "Plugin", "Value #A": "p95 duration (s)", "Value #B": "Invocations", "Value #C": "Sandbox memory (bytes)"}),
                ],
            ),
        ],
    )


DASHBOARDS = (platform_health, operations, development)
