"""Which firing alert explains which: the inhibitions that make one fault page once.

Alertmanager's inhibition mutes a *target* alert while a *source* alert fires (same values of the
``equal`` labels). The stack derives every source -> target relation from the rules and the metric
catalog, not from a hand list of alert pairs (issue 23: a dvt-engine scrape outage paged three times,
a RabbitMQ outage twice, slow runs twice). Three kinds:

- **source absent** (``scrape``): ``MetricsSourceAbsent{job=X}`` explains every alert whose data comes
  from scrape job X (the catalog's ``job`` of each series it reads, through recording rules:
  ``guards.jobs_by_alert``) and ``ScrapeTargetDown{job=X}``. An alert over a vanished source that still
  fires (``guard: {vanish: self}``: AdapterHeartbeatLost, the availability SLO alerts) then waits behind
  the one page that names the job.
- **dependency down** (``dependency``): an alert that reports a dependency of a watched system down
  (``DEPENDENCIES``: CopilotDependencyDown -> the Copilot services) explains the alerts of that system's
  services (errors, throughput, latency, their SLOs and absent sources: the services stop when their
  message bus, database, vector store or model server is gone).
- **same signal** (``peer``): two alerts of one ``service`` that read exactly the same series (catalog
  family and job) report one fault twice: RunCompletionSLAViolation and the run-completion latency
  burn-rate alert, CopilotDependencyDown{rabbitmq} and MetricsSourceAbsent{job=rabbitmq}, HighErrorRate and
  DvtErrorRateAboveSlo. The higher-ranked one (``rank``) mutes the others.

A source never mutes a target more severe than itself (an emergency stays reachable), and the relation is
acyclic (``rank`` is a total order; the dependency and source-absent alerts are never targets of the
kinds below them), so two alerts never mute each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from components.rules import guards
from components.rules.catalog import ANY_JOB, Catalog, load_catalog

SEVERITIES = guards.SEVERITY_ORDER
SOURCE_ABSENT = guards.COMPANION
TARGET_DOWN = "ScrapeTargetDown"
# An alert that reports a dependency of a watched system down -> the catalog system whose services stop
# with it. Written once here; the services and their alerts come from the catalog and the rules.
DEPENDENCIES = {"CopilotDependencyDown": "copilot"}
# The Watchdog never has a cause: it must keep firing whatever else is wrong.
NEVER_MUTED = ("Watchdog",)


@dataclass(frozen=True)
class Alert:
    """One alerting rule as the inhibitions see it: name, static labels, what it reads, how it was written."""

    name: str
    service: str
    severity: str
    jobs: frozenset[str]
    signal: frozenset[tuple[str, str]]  # (catalog family, scrape job) of every series it reads
    generated: bool  # an SLO or companion rule (generated), not a hand-written one

    @property
    def rank(self) -> tuple[int, int, str]:
        """Who mutes whom among alerts on one signal: more severe first, then the hand-written alert (it
        names the value and fires first: a threshold over 5 minutes beats a burn rate over an hour), then
        by name (so a tie is still an order)."""
        return (SEVERITIES.index(self.severity), 0 if self.generated else 1, self.name)


def _alerts(specs: Mapping[str, Mapping[str, Any]], catalog: Catalog) -> list[Alert]:
    recorded = guards.recordings(specs)
    jobs = guards.jobs_by_alert(specs, catalog)
    out = []
    for set_name, rule in guards.alert_rules(specs):
        signal = set()
        for sel in guards.source_selectors(str(rule["expr"]), recorded, catalog):
            family = catalog.family(sel.name)
            signal.add((family.name, guards.source_job(sel, catalog) or ""))
        labels = rule["labels"]
        out.append(Alert(rule["alert"], labels.get("service", ""), labels["severity"], frozenset(jobs[id(rule)]),
                         frozenset(signal), generated=set_name == guards.COMPANION_SET or "slo" in labels))
    return out


def _up_to(severity: str) -> str:
    """A matcher value for every severity at most ``severity``."""
    return "|".join(SEVERITIES[: SEVERITIES.index(severity) + 1])


def _alertname(names: Iterable[str]) -> str:
    unique = sorted(set(names))
    return f'alertname="{unique[0]}"' if len(unique) == 1 else f'alertname=~"{"|".join(unique)}"'


def _rule(source: list[str], target: list[str], equal: list[str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"source_matchers": source, "target_matchers": target}
    if equal:
        rule["equal"] = equal
    return rule


def _targets(source_severity: str, alerts: Iterable[Alert]) -> list[list[str]]:
    """Target matchers for ``alerts`` (one list per service), each limited to severities at most the source's."""
    allowed = set(SEVERITIES[: SEVERITIES.index(source_severity) + 1])
    per_service: dict[str, set[str]] = {}
    for alert in alerts:
        if alert.severity in allowed and alert.name not in NEVER_MUTED:
            per_service.setdefault(alert.service, set()).add(alert.name)
    return [[_alertname(names), f'service="{service}"', f'severity=~"{_up_to(source_severity)}"']
            for service, names in sorted(per_service.items())]


def peer_groups(alerts: Iterable[Alert]) -> list[list[Alert]]:
    """Alerts of one service that read exactly the same series, two or more alert names per group."""
    groups: dict[tuple[str, frozenset[tuple[str, str]]], list[Alert]] = {}
    for alert in alerts:
        if alert.signal and alert.name not in NEVER_MUTED:
            groups.setdefault((alert.service, alert.signal), []).append(alert)
    return [sorted(g, key=lambda a: a.rank, reverse=True) for _, g in sorted(groups.items(), key=lambda kv: (kv[0][0], sorted(kv[0][1])))
            if len({a.name for a in g}) > 1]


def inhibit_rules(specs: Mapping[str, Mapping[str, Any]], catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """Alertmanager ``inhibit_rules`` for every cause -> symptom relation in the rule set ``specs``
    (rule set name -> PrometheusRule spec, as components.rules.all_rules.load_all_rules returns)."""
    catalog = catalog or load_catalog()
    alerts = _alerts(specs, catalog)
    rules: list[dict[str, Any]] = []
    causes = set(DEPENDENCIES) | {SOURCE_ABSENT}
    peers = peer_groups(alerts)
    # Alerts that outrank a source-absent alert on its own signal (a dependency down on the job's `up`).
    outranks_absent = {(a.name, a.service) for g in peers for i, a in enumerate(g)
                       if any(b.name == SOURCE_ABSENT for b in g[i + 1:])}

    # Dependency down -> the alerts of the system's services (their scrape jobs are the system's jobs).
    for cause, system in sorted(DEPENDENCIES.items()):
        system_jobs = {m.job for m in catalog.by_system(system) if m.job and m.job != ANY_JOB}
        for severity in sorted({a.severity for a in alerts if a.name == cause}, key=SEVERITIES.index):
            symptoms = [a for a in alerts if a.name not in causes and a.jobs and a.jobs <= system_jobs]
            symptoms += [a for a in alerts if a.name == SOURCE_ABSENT and a.service in system_jobs]
            for target in _targets(severity, symptoms):
                rules.append(_rule([f'alertname="{cause}"', f'severity="{severity}"'], target))
        # The dependency's own scrape job gone (its exporter or endpoint): the same outage, one page naming
        # the dependency. A companion's `service` is its job (guards.companion_rules).
        rules.append(_rule([f'alertname="{cause}"'], [f'alertname="{SOURCE_ABSENT}"'], equal=["service"]))

    # Source absent -> the alerts over that job's series, and the job's per-target ScrapeTargetDown.
    absent = [a for a in alerts if a.name == SOURCE_ABSENT]
    for source in sorted(absent, key=lambda a: a.service):
        job = source.service
        symptoms = [a for a in alerts if job in a.jobs and a.name not in causes | {TARGET_DOWN}
                    and (a.name, a.service) not in outranks_absent]
        for target in _targets(source.severity, symptoms):
            rules.append(_rule([f'alertname="{SOURCE_ABSENT}"', f'job="{job}"'], target))
    rules.append(_rule([f'alertname="{SOURCE_ABSENT}"'], [f'alertname="{TARGET_DOWN}"'], equal=["job"]))

    # One signal, several alerts: the highest-ranked mutes the rest (never a more severe one).
    for group in peers:
        for i, source in enumerate(group):
            lower = [b for b in group[i + 1:] if b.name != source.name]
            for target in _targets(source.severity, lower):
                rules.append(_rule([f'alertname="{source.name}"', f'service="{source.service}"',
                                            f'severity="{source.severity}"'], target))
    return rules
