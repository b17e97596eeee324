"""Observability Stack Health: the stack watching itself (ingestion, storage against retention, scrape health, alert delivery)."""

from __future__ import annotations

from components.kit.context import HOST_NAMESPACE_SUFFIX
from components.rules.thresholds import threshold
from components.wiring import endpoints
from dashboards.builder import (
    Dashboard,
    Row,
    above,
    below,
    explore_link,
    gauge,
    logs,
    prom,
    stat,
    table,
    timeseries,
)
from dashboards.common import Context, System, label_var, rate_born

STACK_SERVICES = "prometheus|alertmanager|loki|tempo|observability-stack"
# Log streams of the stack's own pods (service comes from app.kubernetes.io/name).
STACK_PODS = "|".join((
    endpoints.PROMETHEUS_NAME, endpoints.ALERTMANAGER_NAME, endpoints.OPERATOR_NAME, endpoints.PUSHGATEWAY_NAME, endpoints.LOKI_NAME,
    endpoints.TEMPO_NAME, endpoints.ALLOY_NAME, endpoints.GRAFANA_NAME, endpoints.NODE_EXPORTER_NAME, endpoints.KUBE_STATE_METRICS_NAME,
    endpoints.BLACKBOX_EXPORTER_NAME,
))
COMPONENTS = ("prometheus", "loki", "tempo")


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g}d"


def stack_health(ctx: Context) -> Dashboard:
    ns = f'namespace="{ctx.namespace}"'
    stack_pods = f'namespace=~"{ctx.namespace}|{ctx.namespace}{HOST_NAMESPACE_SUFFIX}"'
    job = 'job=~"$job"'
    full = threshold("prometheus_storage_full_ratio")
    loki_window = ctx.born_window("LokiIngestionErrors", "loki_discarded_samples_total")
    refused_window = ctx.born_window("TempoIngestionErrors", "tempo_receiver_refused_spans")
    discarded_window = ctx.born_window("TempoIngestionErrors", "tempo_discarded_spans_total")
    retention = {"prometheus": ctx.prometheus_retention_seconds, "loki": ctx.loki_retention_seconds, "tempo": ctx.tempo_retention_seconds}
    stream = f'{{environment="{ctx.environment}", service=~"{STACK_PODS}"}}'
    return System(folder="platform", services=STACK_SERVICES, deployments=ns).dashboard(
        ctx, "platform-stack-health", "Observability Stack Health",
        f"The stack itself in {ctx.environment}: scrape health, ingestion, storage against retention "
        f"(metrics {_days(retention['prometheus'])}, logs {_days(retention['loki'])}, traces {_days(retention['tempo'])}) and alert delivery.",
        alerts={
            "Targets down": "ScrapeTargetDown",
            "StatefulSet replicas not ready": "StackReplicasUnavailable",
            "Container restarts (30m)": "StackContainerRestarting",
            "Scrape samples against the sample limit": "ScrapeSampleLimitApproaching",
            "Span metrics series over the limit": "SpanMetricsSeriesLimited",
            "Stack probes failing": "StackComponentDown",
            "Rule evaluation failures (range)": "PrometheusRuleEvaluationFailures",
            "Scrapes rejected by limits": "PrometheusScrapeLimitsExceeded",
            "Loki lines received": "LokiIngestionErrors",
            "Loki push errors": "LokiPushErrors",
            "Tempo spans": "TempoIngestionErrors",
            "Prometheus storage against retention size": "PrometheusStorageAlmostFull",
            "Prometheus volume used": "StackVolumeFillsBeforeRetention",
            "Loki volume used": "StackVolumeFillsBeforeRetention",
            "Tempo volume used": "StackVolumeFillsBeforeRetention",
            "Prometheus → Alertmanager failures": "PrometheusNotificationsFailing",
            "Alertmanager notification failures by integration": "AlertmanagerNotificationsFailing",
            "Dead-man's switch firing": "Watchdog",
        },
        tags=("observability-stack",),
        variables=(label_var("job", "Job", "up"),),
        rows=[
            Row(
                "Scrape health",
                [
                    stat("Targets up", [prom(f"sum(up{{{job}}}) / count(up{{{job}}})", "up")], unit="percentunit", steps=below(1)),
                    stat("Targets down", [prom(f"count(up{{{job}}} == 0) or vector(0)", "down")], steps=above(critical=1),
                         description="ScrapeTargetDown fires for a target down for 10 minutes."),
                    stat("Stack probes failing", [prom("count(probe_success == 0) or vector(0)", "failing")], steps=above(critical=1)),
                    stat("Rule evaluation failures (range)", [prom("sum(increase(prometheus_rule_evaluation_failures_total[$__range]))", "failures")],
                         decimals=0, steps=ctx.alert_steps("PrometheusRuleEvaluationFailures")),
                    table("Targets down", [prom(f"up{{{job}}} == 0", instant=True, format="table")],
                          columns={"job": "Job", "instance": "Instance", "namespace": "Namespace", "Value": "Up"}, width=8),
                    timeseries("Scrape duration by job", [prom(f"max by (job) (scrape_duration_seconds{{{job}}})", "{{job}}")], unit="s", width=8),
                    timeseries("Samples scraped by job", [prom(f"sum by (job) (scrape_samples_scraped{{{job}}})", "{{job}}")], unit="short", width=8),
                    timeseries("Scrapes rejected by limits", [
                        prom("sum(rate(prometheus_target_scrapes_exceeded_sample_limit_total[$__rate_interval]))", "sample limit"),
                        prom("sum(rate(prometheus_target_scrape_pool_exceeded_label_limits_total[$__rate_interval]))", "label limits"),
                    ], unit="ops", width=24),
                ],
            ),
            Row(
                "Ingestion",
                [
                    timeseries("Prometheus samples appended", [prom("sum(rate(prometheus_tsdb_head_samples_appended_total[$__rate_interval]))", "samples/s")],
                               unit="short", width=8),
                    timeseries("Prometheus head series", [prom("sum(prometheus_tsdb_head_series)", "series")], unit="short", width=8),
                    timeseries("Loki lines received", [
                        prom("sum(rate(loki_distributor_lines_received_total[$__rate_interval]))", "lines/s"),
                        # As LokiIngestionErrors counts them: a reason's child is born holding its first discards.
                        prom(f"sum by (reason) ({rate_born('loki_discarded_samples_total', loki_window)})", f"discarded {{{{reason}}}} ({loki_window})"),
                    ], unit="short", width=8),
                    timeseries("Loki bytes received", [prom("sum(rate(loki_distributor_bytes_received_total[$__rate_interval]))", "bytes/s")],
                               unit="Bps", width=8),
                    timeseries("Loki push errors", [prom(
                        'sum(rate(loki_request_duration_seconds_count{route="loki_api_v1_push", status_code=~"5.."}[5m]))'
                        ' / sum(rate(loki_request_duration_seconds_count{route="loki_api_v1_push"}[5m]))', "5xx share")],
                        unit="percentunit", steps=ctx.alert_steps("LokiPushErrors"), width=8),
                    timeseries("Tempo spans", [
                        prom("sum(rate(tempo_distributor_spans_received_total[$__rate_interval]))", "received/s"),
                        # As TempoIngestionErrors counts them (children born holding their first refused/discarded spans).
                        prom(f"sum({rate_born('tempo_receiver_refused_spans', refused_window)})", f"refused/s ({refused_window})"),
                        prom(f"sum by (reason) ({rate_born('tempo_discarded_spans_total', discarded_window)})",
                             f"discarded {{{{reason}}}} ({discarded_window})"),
                    ], unit="short", width=8),
                ],
            ),
            Row(
                "Storage against retention",
                [
                    gauge("Prometheus storage against retention size", [prom(
                        "max(prometheus_tsdb_storage_blocks_bytes / (prometheus_tsdb_retention_limit_bytes > 0))", "used", instant=True)],
                        unit="percentunit", min=0, max=1, steps=above(critical=full),
                        description="PrometheusStorageAlmostFull fires above this share of the retention size."),
                    stat("Metrics time covered against retention", [prom(
                        f"(time() - min(prometheus_tsdb_lowest_timestamp_seconds)) / {retention['prometheus']:g}", "covered")],
                        unit="percentunit", decimals=0,
                        description=f"Age of the oldest sample over the {_days(retention['prometheus'])} retention. Staying below 100% "
                                    "in steady state means the size limit deletes data before the time limit does."),
                    *(
                        gauge(f"{name.capitalize()} volume used", [prom(
                            f'max(kubelet_volume_stats_used_bytes{{{ns}, persistentvolumeclaim=~".*{name}.*"}}'
                            f' / kubelet_volume_stats_capacity_bytes{{{ns}, persistentvolumeclaim=~".*{name}.*"}})', "used", instant=True)],
                            unit="percentunit", min=0, max=1, steps=above(warning=threshold("volume_fill_min_used_ratio"), critical=full), width=4,
                            description=f"Retention {_days(retention[name])}. StackVolumeFillsBeforeRetention predicts filling once "
                                        "a volume is past the warning mark.")
                        for name in COMPONENTS
                    ),
                    timeseries("Prometheus blocks against the retention size", [
                        prom("sum(prometheus_tsdb_storage_blocks_bytes)", "blocks"),
                        prom("max(prometheus_tsdb_retention_limit_bytes)", "retention size"),
                    ], unit="bytes"),
                    timeseries("Stack volumes used", [prom(
                        f"max by (persistentvolumeclaim) (kubelet_volume_stats_used_bytes{{{ns}}} / kubelet_volume_stats_capacity_bytes{{{ns}}})",
                        "{{persistentvolumeclaim}}")], unit="percentunit", min=0, max=1, steps=above(critical=full)),
                ],
            ),
            Row(
                "Stack workloads",
                [
                    timeseries("StatefulSet replicas not ready", [prom(
                        f"sum by (statefulset) (kube_statefulset_replicas{{{ns}}} - kube_statefulset_status_replicas_ready{{{ns}}})",
                        "{{statefulset}}")], unit="short", width=6,
                        description="StackReplicasUnavailable fires when replicas stay not ready while no rollout progresses."),
                    timeseries("Container restarts (30m)", [prom(
                        f"max by (pod, container) (increase(kube_pod_container_status_restarts_total{{{stack_pods}}}[30m]))",
                        "{{pod}} {{container}}")], unit="short", width=6,
                        description="StackContainerRestarting fires at 3 restarts of one container in 30 minutes (critical for Alloy)."),
                    timeseries("Scrape samples against the sample limit", [prom(
                        "max by (job) (scrape_samples_post_metric_relabeling / (scrape_sample_limit > 0))", "{{job}}")],
                        unit="percentunit", steps=ctx.alert_steps("ScrapeSampleLimitApproaching"), width=6),
                    timeseries("Span metrics series over the limit", [prom(
                        'count by (collector) (traces_spanmetrics_calls_total{otel_metric_overflow="true"}) or vector(0)', "{{collector}}")],
                        unit="short", steps=ctx.alert_steps("SpanMetricsSeriesLimited"), width=6),
                ],
            ),
            Row(
                "Alert delivery",
                [
                    stat("Alerts firing", [prom('sum(alertmanager_alerts{state="active"})', "active")]),
                    # Watchdog always fires while rules evaluate; 0 here means the heartbeat receiver hears nothing.
                    stat("Dead-man's switch firing", [prom('count(ALERTS{alertname="Watchdog", alertstate="firing"}) or vector(0)', "watchdog")],
                         steps=below(1), decimals=0),
                    stat("Prometheus config reloaded", [prom("min(prometheus_config_last_reload_successful)", "ok")], steps=below(1)),
                    stat("Alertmanager config reloaded", [prom("min(alertmanager_config_last_reload_successful)", "ok")], steps=below(1)),
                    stat("Alerts dropped (range)", [prom("sum(increase(prometheus_notifications_dropped_total[$__range]))", "dropped")], decimals=0,
                         steps=above(warning=1)),
                    timeseries("Prometheus → Alertmanager failures", [prom(
                        "sum by (alertmanager) (rate(prometheus_notifications_errors_total[5m]))"
                        " / sum by (alertmanager) (rate(prometheus_notifications_sent_total[5m]))", "{{alertmanager}}")],
                        unit="percentunit", steps=ctx.alert_steps("PrometheusNotificationsFailing")),
                    timeseries("Alertmanager notification failures by integration", [prom(
                        "sum by (integration) (rate(alertmanager_notifications_failed_total[5m]))"
                        " / sum by (integration) (rate(alertmanager_notifications_total[5m]))", "{{integration}}")],
                        unit="percentunit", steps=ctx.alert_steps("AlertmanagerNotificationsFailing")),
                    timeseries("Notifications sent by integration", [
                        prom("sum by (integration) (rate(alertmanager_notifications_total[$__rate_interval]))", "{{integration}}"),
                    ], unit="ops"),
                    timeseries("Alerts held by Alertmanager", [prom("sum by (state) (alertmanager_alerts)", "{{state}}")], unit="short"),
                ],
            ),
            Row(
                "Logs",
                [logs("Stack component errors and warnings", f'{stream} |~ "(?i)level=(error|warn)"',
                      links=[explore_link("Open stack logs in Explore", stream)])],
                collapsed=True,
            ),
        ],
    )


DASHBOARDS = (stack_health,)
