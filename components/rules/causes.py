"""Which firing alert explains which: the inhibitions that make one fault page once.

Alertmanager's inhibition mutes a *target* alert while a *source* alert fires (same values of the
``equal`` labels). The stack derives every source -> target relation from the rules, the metric
catalog and the tables below, not from a hand list of alert pairs (issue 23: a dvt-engine scrape outage
paged three times, a RabbitMQ outage twice, slow runs twice, a Loki outage four times). Four kinds:

- **dependency down** (``dependency``): an alert that reports a dependency of a watched system down
  (``DEPENDENCIES``: CopilotDependencyDown{service=<dependency>}) explains the alerts of the services that
  use that dependency (``DEPENDENCY_USERS``) and nothing else: an unrelated service's fault during the
  outage still pages.
- **component down** (``component``): a stack component that fails its health probe
  (``COMPONENT_DOWN``, one rule per component, its ``service`` the component) explains the component's
  other alerts of the same outage (``SAME_OUTAGE``: its StatefulSet short of replicas, its scrape job
  absent) and the loss its senders report while it refuses their data (``DELIVERY_LOSS``: Alloy's loss
  to Loki, Tempo and Prometheus; the page of the component says Alloy drops, and the loss alert still
  fires for its window after the component is back).
- **source absent** (``scrape``): ``MetricsSourceAbsent{job=X}`` explains every alert whose data comes
  from scrape job X (the catalog's ``job`` of each series it reads, through recording rules:
  ``guards.jobs_by_alert``) and ``ScrapeTargetDown{job=X}``.
- **same signal** (``peer``): two alerts of one ``service`` that read exactly the same series (catalog
  family and job) report one fault twice. The higher-ranked one (``rank``) mutes the others.

A cause must fire no later than the symptoms it mutes could fire: Prometheus sends an alert only once its
``for:`` has passed, so a cause that waits longer than a symptom (CopilotDependencyDown{ollama}, 10m by
seed 004, against CopilotErrorRateHigh's 5m) would let the symptom page first. Such a cause gets an
**onset** companion (``onset_rules``): labelled ``notify="none"`` (Alertmanager routes it to no one), used
only as an inhibition source next to its cause, with no ``for:``. It holds only while the cause is *new*:
where the cause's expression holds now and held nowhere in the ``for:`` before the last ``for:``
(``onset_expr``). A condition that keeps holding makes the cause fire as the onset ends; one that flaps
(down 8 minutes, up 1) never satisfies the cause's ``for:``, and its onset mutes the symptoms for at most
one ``for:`` of each episode instead of for ever (second review of issue 23: a flapping Ollama paged nobody).

A prober's scrape job gone (``PROBERS``: the blackbox exporter) also fails the scrapes of the jobs it
probes for (``up == 0`` of each Probe's job, so ``ScrapeTargetDown``): those jobs are the ``job`` values the
rules select the prober's families with (``probe_success{job="ollama"}``), and its ``MetricsSourceAbsent``
mutes their ``ScrapeTargetDown``.

A source never mutes a target more severe than itself (an emergency stays reachable), and the relation is
acyclic (``rank`` is a total order; causes are never targets of the kinds below them), so two alerts never
mute each other. The Watchdog is never muted.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.rules import guards
from components.rules.all_rules import counts_missing_as_down
from components.rules.catalog import ANY_JOB, Catalog, load_catalog
from components.wiring import endpoints, scrape_jobs

SEVERITIES = guards.SEVERITY_ORDER
SOURCE_ABSENT = guards.COMPANION
TARGET_DOWN = "ScrapeTargetDown"
# An alert that reports a dependency of a watched system down -> the catalog system of the services.
DEPENDENCIES = {"CopilotDependencyDown": "copilot"}
# Which Copilot services call each dependency (the cause alert's `service`): the values the `dependency`
# label of copilot_<service>_dependency_call_duration_seconds takes per service (seed 004 "Per-Service
# Metrics Checklist"). Seed 004's architecture: every stage consumes and publishes its RabbitMQ queue
# (tracing phase 1, "RabbitMQ consumer spans") and keeps its documents in MongoDB; Qdrant holds the
# vectors the embedding service writes and the orchestrator's RAG retrieval reads (phase 2 "Qdrant
# searches"); Ollama is the LLM backend (span attribute copilot.llm_backend) of the orchestrator and
# summarization, and a backend of the embedding service. A service not listed under a dependency keeps
# paging while that dependency is down.
_EVERY_STAGE = ("ingestion", "parsing", "chunking", "embedding", "summarization", "reporting", "orchestrator")
DEPENDENCY_USERS: dict[str, tuple[str, ...]] = {
    "rabbitmq": _EVERY_STAGE,
    "mongodb": _EVERY_STAGE,
    "qdrant": ("embedding", "orchestrator"),
    "ollama": ("embedding", "orchestrator", "summarization"),
}
# A stack component failing its health probe (rules/observability-stack.yaml, one rule per component).
COMPONENT_DOWN = "StackComponentDown"
# The component's other alerts of the same outage (with the component as `service`, or as job).
SAME_OUTAGE = ("StackReplicasUnavailable", SOURCE_ABSENT)
# Data a component receives -> the sender's alert that counts what the sender drops while it is refused
# (the flows of components/wiring/flows.py data_flows: Alloy pushes logs to Loki, traces to Tempo and
# remote-writes span metrics to Prometheus).
DELIVERY_LOSS = {
    endpoints.LOKI_NAME: ("AlloyLogsDropped",),
    endpoints.TEMPO_NAME: ("AlloyTraceExportFailing",),
    endpoints.PROMETHEUS_NAME: ("AlloyRemoteWriteFailing",),
}
# The Watchdog never has a cause: it must keep firing whatever else is wrong.
NEVER_MUTED = ("Watchdog",)
# An onset companion's name and the label that routes it to no one (components/metrics/alertmanager_config.py).
ONSET_SUFFIX = "Onset"
INHIBIT_ONLY = ("notify", "none")
ONSET_SET = "cause-onsets"
# An onset's rule group is evaluated at another moment than its cause's, so an onset that stops when its cause
# starts to fire could leave up to one evaluation interval in which neither mutes; it keeps firing this long
# (Prometheus keep_firing_for) to bridge that. The settings refuse an evaluation interval above it
# (components/settings/metrics_checks.py, onset_hold_problems).
ONSET_HOLD = "1m"
# Exporters whose series carry the job of the target they probe (the Probe's job), not their own: when the
# exporter's own scrape job is gone, each probed job's scrape fails too (components/wiring/monitors.py and
# components/metrics/service_exporters.py make the Probes; the job of each is read off the rules).
PROBERS = (scrape_jobs.job(endpoints.BLACKBOX_EXPORTER_NAME),)


class CauseError(ValueError):
    """The cause tables and the rule set disagree; the message names the table, the key and the value."""


@dataclass(frozen=True)
class Alert:
    """One alerting rule as the inhibitions see it: name, static labels, what it reads, how it was written."""

    name: str
    service: str
    severity: str
    jobs: frozenset[str]
    signal: frozenset[tuple[str, str]]  # (catalog family, scrape job) of every series it reads
    generated: bool  # an SLO or companion rule (generated), not a hand-written one
    wait: float = 0.0  # its `for:`, in seconds
    rule: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def rank(self) -> tuple[int, int, float, str]:
        """Who mutes whom among alerts on one signal: more severe first, then the hand-written alert (it
        names the value and fires first: a threshold over 5 minutes beats a burn rate over an hour), then
        the one that waits less (it fires first: a 6h burn rate before the budget's half-spent alert), then
        by name (so a tie is still an order)."""
        return (SEVERITIES.index(self.severity), 0 if self.generated else 1, -self.wait, self.name)


@dataclass(frozen=True)
class Relation:
    """A cause ``source`` and the symptoms it mutes; ``by_fault``: the ones the cause's fault can make fire
    (the others go quiet with it), whose ``for:`` the cause must not exceed."""

    kind: str
    source: Alert
    source_matchers: tuple[str, ...]
    targets: tuple[Alert, ...]
    by_fault: tuple[Alert, ...]


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def seconds(duration: str) -> float:
    """A rule's ``for:`` (Prometheus duration with h, m, s: ``10m``, ``1h30m``) in seconds."""
    m = _DURATION.fullmatch(str(duration))
    if m is None:
        raise CauseError(f"for: {duration!r} is not a duration; accepted form: hours, minutes, seconds such as 10m or 1h30m")
    h, mi, s = (int(x or 0) for x in m.groups())
    return float(h * 3600 + mi * 60 + s)


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
                         frozenset(signal), generated=set_name == guards.COMPANION_SET or "slo" in labels,
                         wait=seconds(rule.get("for", "0s")), rule=rule))
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


def _allowed(source_severity: str, alerts: Iterable[Alert]) -> list[Alert]:
    """``alerts`` no more severe than the source, the Watchdog left out."""
    allowed = set(SEVERITIES[: SEVERITIES.index(source_severity) + 1])
    return [a for a in alerts if a.severity in allowed and a.name not in NEVER_MUTED]


def _targets(source_severity: str, alerts: Iterable[Alert]) -> list[list[str]]:
    """Target matchers for ``alerts`` (one list per service), each limited to severities at most the source's."""
    per_service: dict[str, set[str]] = {}
    for alert in _allowed(source_severity, alerts):
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


def _check_tables(alerts: list[Alert], catalog: Catalog) -> None:
    for cause, system in DEPENDENCIES.items():
        services = {m.job.removeprefix(f"{system}-") for m in catalog.by_system(system) if m.job and m.job.startswith(f"{system}-")}
        for alert in (a for a in alerts if a.name == cause):
            if alert.service not in DEPENDENCY_USERS:
                raise CauseError(f"causes.DEPENDENCY_USERS: no entry for {cause}{{service={alert.service!r}}}; "
                                 f"accepted: one key per dependency the rules watch, listing the {system} services that call it")
        for dependency, users in DEPENDENCY_USERS.items():
            if unknown := sorted(set(users) - services):
                raise CauseError(f"causes.DEPENDENCY_USERS[{dependency!r}]: {unknown} are not {system} services of the "
                                 f"catalog; accepted: {sorted(services)}")


def relations(specs: Mapping[str, Mapping[str, Any]], catalog: Catalog | None = None,
              counts_down: Collection[tuple[str, str]] | None = None) -> list[Relation]:
    """Every cause -> symptoms relation of the rule set ``specs`` except the same-signal kind's lower ranks
    (see ``inhibit_rules``). ``counts_down``: (alert, service) of the alerts that fire on their own when
    their source vanishes (components.rules.all_rules.counts_missing_as_down)."""
    catalog = catalog or load_catalog()
    counts_down = counts_missing_as_down() if counts_down is None else counts_down
    alerts = _alerts(specs, catalog)
    _check_tables(alerts, catalog)
    recorded = guards.recordings(specs)
    causes = set(DEPENDENCIES) | {SOURCE_ABSENT, COMPONENT_DOWN}
    peers = peer_groups(alerts)
    # Alerts that outrank a source-absent alert on its own signal (a dependency down on the job's `up`).
    outranks_absent = {(a.name, a.service) for g in peers for i, a in enumerate(g)
                       if any(b.name == SOURCE_ABSENT for b in g[i + 1:])}
    out: list[Relation] = []

    def add(kind: str, source: Alert, matchers: list[str], targets: Iterable[Alert], by_fault: Iterable[Alert] | None = None) -> None:
        kept = tuple(_allowed(source.severity, targets))
        fault = kept if by_fault is None else tuple(a for a in _allowed(source.severity, by_fault) if a in kept)
        if kept:
            out.append(Relation(kind, source, tuple(matchers), kept, fault))

    # Dependency down -> the alerts of the services that use it (their scrape jobs are the system's jobs).
    for cause, system in sorted(DEPENDENCIES.items()):
        system_jobs = {m.job for m in catalog.by_system(system) if m.job and m.job != ANY_JOB}
        for source in sorted((a for a in alerts if a.name == cause), key=lambda a: a.service):
            users = set(DEPENDENCY_USERS[source.service])
            symptoms = [a for a in alerts if a.name not in causes and a.jobs and a.jobs <= system_jobs and a.service in users]
            user_jobs = {job for a in symptoms for job in a.jobs}
            symptoms += [a for a in alerts if a.name == SOURCE_ABSENT and a.service in user_jobs]
            add("dependency", source, [f'alertname="{cause}"', f'service="{source.service}"', f'severity="{source.severity}"'], symptoms)

    # Component down -> its other alerts of the same outage and the loss its senders report.
    for source in sorted((a for a in alerts if a.name == COMPONENT_DOWN), key=lambda a: a.service):
        symptoms = [a for a in alerts if a.name in SAME_OUTAGE and a.service == source.service]
        symptoms += [a for a in alerts if a.name in DELIVERY_LOSS.get(source.service, ())]
        add("component", source, [f'alertname="{COMPONENT_DOWN}"', f'service="{source.service}"', f'severity="{source.severity}"'], symptoms)

    # Source absent -> the alerts over that job's series, and the job's per-target ScrapeTargetDown.
    for source in sorted((a for a in alerts if a.name == SOURCE_ABSENT), key=lambda a: a.service):
        job = source.service
        symptoms = [a for a in alerts if job in a.jobs and a.name not in causes | {TARGET_DOWN}
                    and (a.name, a.service) not in outranks_absent]
        # Only the alerts that count the vanished source as down, or read its `up`, can fire from it.
        fired = [a for a in symptoms if guards.vanish_effect(a.rule, job, recorded, catalog, counts_down) != "quiet"]
        add("scrape", source, [f'alertname="{SOURCE_ABSENT}"', f'job="{job}"'], symptoms, fired)

    # One signal, several alerts: the highest-ranked mutes the rest (never a more severe one). A more severe
    # peer that fires later is an escalation of a fault already notified, not the fault's first word.
    for group in peers:
        for i, source in enumerate(group):
            lower = [b for b in group[i + 1:] if b.name != source.name]
            add("peer", source, [f'alertname="{source.name}"', f'service="{source.service}"', f'severity="{source.severity}"'],
                lower, [b for b in lower if b.severity == source.severity])
    return out


def late_causes(rels: Iterable[Relation]) -> list[Alert]:
    """The sources that wait longer (``for:``) than a symptom their fault can make fire: they need an onset."""
    late: dict[int, Alert] = {}
    for rel in rels:
        if any(t.wait < rel.source.wait for t in rel.by_fault):
            late[id(rel.source.rule)] = rel.source
    return sorted(late.values(), key=lambda a: (a.name, a.service))


def onset_name(alert: str) -> str:
    return f"{alert}{ONSET_SUFFIX}"


def onset_expr(expr: str, wait: str) -> str:
    """The cause's ``expr`` while the cause is new: it holds now and held at no evaluation of the ``wait``
    (its ``for:``) that ended ``wait`` ago. The subquery's step is left out, so it is the evaluation interval
    (Prometheus v3.5.0 docs, querying/basics "Subquery"). ``unless`` without ``on`` matches on every label
    except the metric name, which max_over_time drops: the same expression gives the same label sets."""
    cause = expr.strip()
    return f"({cause})\nunless\nmax_over_time(({cause})[{wait}:] offset {wait})\n"


def probed_jobs(specs: Mapping[str, Mapping[str, Any]], catalog: Catalog | None = None) -> dict[str, list[str]]:
    """Prober job (``PROBERS``) -> the jobs it probes for: the ``job`` matcher of every selector the rules
    ``specs`` write on a family the catalog says comes from the prober's scrape (``probe_success{job="ollama"}``),
    sorted. A Probe no rule reads is not known here (tests/rules/test_causes.py compares with the rendered Probes)."""
    catalog = catalog or load_catalog()
    recorded = guards.recordings(specs)
    out: dict[str, set[str]] = {prober: set() for prober in PROBERS}
    for _, rule in guards.alert_rules(specs):
        for sel in guards.raw_selectors(str(rule["expr"]), recorded):
            family = guards.family(catalog, sel.name)
            job = sel.equal.get("job")
            if family is not None and family.job in out and job and job != family.job:
                out[family.job].add(job)
    return {prober: sorted(jobs) for prober, jobs in out.items()}


def onset_rules(specs: Mapping[str, Mapping[str, Any]], catalog: Catalog | None = None,
                counts_down: Collection[tuple[str, str]] | None = None) -> dict[str, Any]:
    """Rule set ``cause-onsets``: for every cause that waits longer than a symptom it mutes, its expression
    while the cause is new (``onset_expr``) with no ``for:``, labelled ``notify="none"``; Alertmanager sends it
    nowhere and mutes the cause's symptoms with it from the first evaluation where the cause holds until the
    cause fires, or for at most the cause's ``for:`` when it never does (``inhibit_rules``)."""
    rules = []
    for cause in late_causes(relations(specs, catalog, counts_down)):
        rule = cause.rule
        key, value = INHIBIT_ONLY
        wait = rule.get("for", "0s")
        rules.append({
            "alert": onset_name(cause.name),
            "expr": onset_expr(str(rule["expr"]), wait),
            "keep_firing_for": ONSET_HOLD,
            "labels": {**rule["labels"], key: value},
            "annotations": {
                "summary": f"{cause.name} holds and pages once it has held for {wait}; until then, for at most {wait}, this alert mutes its symptoms.",
                "description": (f"The expression of {cause.name}{{service={cause.service}}} is true; that alert waits {wait}, "
                                "shorter-waiting alerts it explains would page first.\n"
                                "Impact: none; it notifies no one (routed by notify=none) and only mutes the symptoms.\n"
                                f"Actions:\n  1. Nothing; follow {cause.name} when it pages."),
                **{k: v for k, v in (rule.get("annotations") or {}).items() if k in ("runbook_url", "dashboard_url")},
            },
        })
    return {"groups": [{"name": ONSET_SET, "rules": rules}] if rules else []}


def with_onsets(specs: Mapping[str, Mapping[str, Any]], counts_down: Collection[tuple[str, str]] | None = None) -> dict[str, dict[str, Any]]:
    """``specs`` and, when a cause needs one, the ``cause-onsets`` rule set: what a stack deploys."""
    if ONSET_SET in specs:
        raise CauseError(f"{ONSET_SET}: the rule set name is taken by the generated onset companions")
    onsets = onset_rules(specs, counts_down=counts_down)
    out = {name: dict(spec) for name, spec in specs.items()}
    if onsets["groups"]:
        out[ONSET_SET] = onsets
    return out


def inhibit_rules(specs: Mapping[str, Mapping[str, Any]], catalog: Catalog | None = None,
                  counts_down: Collection[tuple[str, str]] | None = None) -> list[dict[str, Any]]:
    """Alertmanager ``inhibit_rules`` for every cause -> symptom relation in the rule set ``specs``
    (rule set name -> PrometheusRule spec, as components.rules.all_rules.load_all_rules returns); a cause
    with an onset companion matches as ``alertname=~"<cause>|<cause>Onset"``."""
    rels = relations(specs, catalog, counts_down)
    late = {a.name for a in late_causes(rels)}

    def source(matchers: Iterable[str]) -> list[str]:
        out = []
        for m in matchers:
            name = m.removeprefix('alertname="').removesuffix('"')
            out.append(f'alertname=~"{name}|{onset_name(name)}"' if m.startswith('alertname="') and name in late else m)
        return out

    rules: list[dict[str, Any]] = []
    for rel in rels:
        for target in _targets(rel.source.severity, rel.targets):
            rules.append(_rule(source(rel.source_matchers), target))
    # A prober gone: the scrapes of the jobs it probes for fail with it (ScrapeTargetDown has no `service` of
    # the job, so it is matched by job).
    for prober, jobs in sorted(probed_jobs(specs, catalog).items()):
        if jobs:
            rules.append(_rule(source([f'alertname="{SOURCE_ABSENT}"', f'job="{prober}"']),
                               [f'alertname="{TARGET_DOWN}"', f'job=~"{"|".join(re.escape(j) for j in jobs)}"']))
    # The dependency's own scrape job gone (its exporter or endpoint): the same outage, one page naming the
    # dependency; a companion's `service` is its job (guards.companion_rules). A component's probe and its
    # scrape job: the same, by its service (above).
    for cause in sorted(DEPENDENCIES):
        rules.append(_rule(source([f'alertname="{cause}"']), [f'alertname="{SOURCE_ABSENT}"'], equal=["service"]))
    rules.append(_rule([f'alertname="{SOURCE_ABSENT}"'], [f'alertname="{TARGET_DOWN}"'], equal=["job"]))
    return rules
