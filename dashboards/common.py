"""Pieces every dashboard shares: the per-stack context, PromQL helpers, variables and annotations."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from components.rules import slo
from components.rules.loader import RuleContext, runbook_url
from components.settings import Settings
from components.settings.units import duration_seconds
from dashboards import alerts
from dashboards.builder import Annotation, Dashboard, Link, Panel, Row, Steps, Variable, below, gauge, prom

# Error budget gauges: red once exhausted, yellow below half (seed 003: alert
# when half the budget is gone before half the period).
BUDGET_STEPS: Steps = below(0.0, 0.5)


@dataclass(frozen=True)
class Context:
    """What a dashboard may depend on from the stack it is deployed to."""

    environment: str
    namespace: str
    prometheus_retention_seconds: float
    loki_retention_seconds: float
    tempo_retention_seconds: float
    runbook_base_url: str

    def runbooks(self, mirrored: Mapping[str, str]) -> dict[str, tuple[Link, ...]]:
        """Panel title -> a link to the runbook of the alert the panel mirrors (seed 004: runbook links on panels)."""
        return {title: (Link(f"Runbook: {alert}", runbook_url(alert, self.runbook_base_url)),) for title, alert in mirrored.items()}

    def rules(self) -> RuleContext:
        """The rule loader's context of this stack (namespace and retention reach the expressions)."""
        return alerts.rule_context(self.namespace, {"prometheus": self.prometheus_retention_seconds,
                                                    "loki": self.loki_retention_seconds, "tempo": self.tempo_retention_seconds})

    def alert_steps(self, *refs: str | tuple[str, Mapping[str, str]]) -> Steps:
        """Threshold steps read off the rules of the alerts ``refs`` (a name, or (name, {label: value}))."""
        return alerts.alert_steps(self.rules(), *refs)

    def alert_lhs(self, alert: str) -> str:
        """The quantity ``alert`` compares (the left-hand side of its one rule), to show on a panel as the alert reads it."""
        (lhs,) = {b.lhs for b in alerts.find_bounds(self.rules(), alert)}
        return lhs

    def born_window(self, alert: str, series: str) -> str:
        """The window over which ``alert`` counts ``series`` with the children born in it (``S unless S offset w``),
        e.g. "15m", so that a panel counts births over the same window; fails when the alert has no such form."""
        return alerts.born_window(self.rules(), alert, series)

    def alert_matcher(self, alert: str, label: str) -> str:
        """The matcher ``alert`` selects ``label`` with (``queue=~".+[.]failed"``), for panels of the same series."""
        return alerts.alert_matcher(self.rules(), alert, label)

    def alert_window(self, alert: str, func: str) -> str:
        """The window of ``alert``'s one ``func(...[w])`` (e.g. "30m")."""
        return alerts.alert_window(self.rules(), alert, func)

    def alert_bound(self, alert: str) -> alerts.Bound:
        """The one comparison of ``alert`` as a panel shows it (a bucket-ratio alert as its quantile against B)."""
        (bound,) = {(b.op, b.value, b.slow_ratio): b for b in alerts.find_bounds(self.rules(), alert)}.values()
        return bound

    def alert_overrides(self, alert: str, label: str) -> tuple[dict[str, Any], ...]:
        """Per-series thresholds of ``alert``, one per value of ``label`` (series named by that label's value)."""
        return alerts.alert_overrides(self.rules(), alert, label)


@cache
def _slos() -> dict[str, slo.Slo]:
    return {s.name: s for path in slo.spec_files() for s in slo.load_slos(path)}


def slo_alert(name: str) -> str:
    """The burn-rate alert of the SLO ``name`` (slo/*.yaml); fails on an SLO that does not exist."""
    try:
        return _slos()[name].alert
    except KeyError:
        raise ValueError(f"no SLO named {name!r} in {slo.SLO_DIR}; accepted: one of {sorted(_slos())}") from None


def budget_query(name: str) -> str:
    """Remaining 30-day error budget of one SLO, from the SLO's recording rule."""
    slo_alert(name)  # the SLO must exist
    return f'slo:error_budget_remaining:ratio{{slo="{name}"}}'


def budget_gauge(ctx: Context, slo: str, title: str, description: str) -> Panel:
    """The share of the SLO's 30-day error budget still unspent, linking the runbook of its burn-rate alert."""
    return gauge(
        title, [prom(budget_query(slo), "budget left", instant=True)], unit="percentunit", min=0, max=1, steps=BUDGET_STEPS,
        description=description, links=ctx.runbooks({title: slo_alert(slo)})[title],
    )


def context(settings: Settings) -> Context:
    return Context(
        runbook_base_url=settings.rules.runbook_base_url,
        environment=settings.environment,
        namespace=settings.namespace,
        prometheus_retention_seconds=float(duration_seconds(settings.prometheus.retention)),
        loki_retention_seconds=float(duration_seconds(settings.loki.retention)),
        tempo_retention_seconds=float(duration_seconds(settings.tempo.retention)),
    )


def quantile(q: float, family: str, matchers: str = "", by: tuple[str, ...] = ()) -> str:
    """The q-quantile of a classic histogram: rate of the buckets, summed by le (and ``by``)."""
    return f"histogram_quantile({q}, sum by ({', '.join(('le', *by))}) (rate({family}_bucket{{{matchers}}}[$__rate_interval])))"


def buckets(family: str, matchers: str = "") -> str:
    """Bucket increases for a heatmap; Grafana turns the cumulative le buckets into cells."""
    return f"sum by (le) (increase({family}_bucket{{{matchers}}}[$__rate_interval]))"


def increase_born(selector: str, window: str) -> str:
    """The increase of a counter over ``window`` counting children born within it with their whole value.

    A labelled child is created by its first increment (catalog ``born_non_zero_labels``): ``increase()`` never
    sees that increment, so a panel would show 0 while the alerts fire. As the loss alerts of rules/ do, a child
    absent ``window`` ago counts with its value, unless its target was down then (a restart is not a birth).
    ``selector`` is a metric with optional matchers; ``window`` a duration or ``$__range``.
    """
    return (f"(({selector} unless {selector} offset {window}) unless on (job, instance) (up offset {window} == 0)"
            f" or increase({selector}[{window}]))")


def rate_born(selector: str, window: str) -> str:
    """Per-second rate of a counter over the fixed ``window`` (e.g. "15m"), children born within it counted with their
    whole value (``increase_born`` divided by the window in seconds): a graph of a counter whose alerts count births."""
    return f"{increase_born(selector, window)} / {duration_seconds(window):g}"


def ratio(errors: str, total: str, window: str = "$__rate_interval") -> str:
    """errors / total of two counters over ``window`` (empty when nothing happened, never a division by zero)."""
    return f"sum(rate({errors}[{window}])) / sum(rate({total}[{window}]))"


def label_var(name: str, label: str, metric: str, key: str | None = None, *, multi: bool = True, include_all: bool = True) -> Variable:
    """A variable listing the values of ``key`` (default: ``name``) on ``metric``."""
    return Variable(name, label, query=f"label_values({metric}, {key or name})", multi=multi, include_all=include_all)


# A label placeholder in an annotation's text, e.g. {{severity}}.
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def query_annotation(name: str, expr: str, color: str, title: str, text: str) -> Annotation:
    """A PromQL annotation, tagged with the labels its text shows (in the order it shows them)."""
    return Annotation(name=name, expr=expr, color=color, title=title, text=text, label_keys=",".join(_PLACEHOLDER.findall(text)))


@dataclass(frozen=True)
class System:
    """The dashboards of one system: its Grafana folder and the annotations each of them shows.

    ``folder`` doubles as the tag CI/CD posts the system's deployments with.
    """

    folder: str
    services: str  # regex of the service label of the system's alerts
    deployments: str  # matchers of the system's Deployments

    def dashboard(self, ctx: Context, uid: str, title: str, description: str, rows: Sequence[Row], *, alerts: Mapping[str, str] | None = None,
                  services: str | None = None, tags: tuple[str, ...] = (), variables: Sequence[Variable] = (), **options: Any) -> Dashboard:
        """A dashboard of the system; each panel titled in ``alerts`` links the runbook of that alert (seed 004).

        ``services`` narrows the alerts annotation to some of the system's services;
        ``options`` are further Dashboard fields (time_from, refresh, links).
        """
        return Dashboard(
            uid=uid, title=title, folder=self.folder, description=description, rows=rows, tags=tags, variables=variables,
            annotations=self.annotations(services or self.services), panel_links=ctx.runbooks(alerts or {}), **options,
        )

    def annotations(self, services: str) -> tuple[Annotation, ...]:
        """Alerts firing for ``services``, rollouts of the system's Deployments, deployments CI/CD posts."""
        alerts = f'ALERTS{{alertstate="firing", service=~"{services}"}}'
        # kube-state-metrics: a Deployment whose spec changed, i.e. a rollout started.
        rollouts = f"changes(kube_deployment_metadata_generation{{{self.deployments}}}[5m]) > 0"
        return (
            query_annotation("Alerts firing", alerts, "red", "{{alertname}}", "{{severity}} alert for {{service}}"),
            query_annotation("Rollouts", rollouts, "purple", "Rollout of {{deployment}}", "{{namespace}}/{{deployment}} spec changed"),
            # Events CI/CD posts to Grafana's annotation API, tagged deployment and the system.
            Annotation(name="Deployments (CI/CD)", tags=("deployment", self.folder), color="blue"),
        )
