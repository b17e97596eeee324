"""Guards for the failure modes the metric catalog records, and the promtool cases that prove them.

A series can go away in three ways that value-only tests never show (issue 14):

- **vanish**: the scrape job that exports it is down or gone, so the series
  goes stale and an alert over it evaluates to nothing;
- **churn**: a label with one value per run (``run_id``) makes every run a new
  series born holding its final value, so ``rate``/``increase`` see no change;
- **born non-zero**: a labelled counter child is created by its first
  increment, so ``rate``/``increase`` never see that increment.

``companion_rules(specs)`` generates rule set ``sources``: one
``MetricsSourceAbsent`` alert per scrape job (catalog ``job``) that an alert
depends on. It fires when the job was seen in the last day and no target of
it is up now (down, or dropped from discovery); a job never seen in a stack
(a system that stack does not run) stays quiet. Its severity is the highest
of the alerts it guards.

An alert whose own expression fires when its source vanishes (it keeps the
last value with ``max_over_time(...[1d])``, or has a branch for the missing
series) says so in its rule file with ``guard: {vanish: self}``; the loader
strips the key before deployment. Every other alert is guarded against a
vanishing source by the companion.

``guard_tests(specs, test_docs)`` writes, per rule set, promtool cases built
from the rules and the catalog: for every alert name a **vanish** case (its
inputs present, then stale: the alert itself, when ``vanish: self``, and
``MetricsSourceAbsent`` for each source job fire), and for alerts over a
churning or born-non-zero family a **churn** / **born-non-zero** case: the
alert's own firing cases, their inputs rewritten into one series per run, or
into children that appear only once they count, must still fire. For an alert
that fires on more (``> <number>``) the children are born as late as the case
allows (its first expected firing less the rule's ``for``), holding all they
counted before, so an alert that reads them with plain ``increase``/``rate``
misses a count above its threshold (issue 23: SeamlessConformanceFlagSpike);
for one that fires on too few they are born at their first increment.
Evaluation times keep clear of window edges so the cases hold under the
left-open ``(t-r, t]`` windows of Prometheus 3 (deployed, and the promtool the
tests run, built by `make tools`) as under the closed ``[t-r, t]`` windows of
Prometheus 2.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import promql_parser as pp

from components.rules.catalog import ANY_JOB, Catalog, Metric, load_catalog, stored_bound
from components.wiring import endpoints

# Functions whose result is wrong when each run of a per-run label is a new series (churn, above);
# the rule lint and the dashboard lint refuse them over a churning family.
RANGE_CHANGE_FUNCS = ("rate", "irate", "increase", "delta", "idelta", "deriv", "resets", "changes")
COMPANION = "MetricsSourceAbsent"
COMPANION_SET = "sources"
COMPANION_FOR = "2m"
COMPANION_MAX_SEVERITY = "critical"
COMPANION_DASHBOARD = "platform-stack-health"
# A job seen within this window and not up now is a source that went away.
SEEN_WINDOW = "1d"
DEFAULT_JOB = endpoints.PROMETHEUS_NAME  # per-target series (up) read without a job matcher come from Prometheus itself
SEVERITY_ORDER = ("info", "warning", "error", "critical", "emergency")
VANISH_MODES = ("self",)
UP = "up"  # Prometheus's per-target health: 0 while a target is down, absent once it is gone from discovery
CASE_PREFIX = {"vanish": "vanish:", "churn": "churn:", "born_non_zero": "born-non-zero:"}

PRESENT_MINUTES = 10  # inputs exist for 0..10m, then go stale
_SUFFIXES = ("_bucket", "_count", "_sum", "_created")


class GuardError(ValueError):
    """A guard declaration or a rule the generator cannot guard; the message names the rule and the accepted form."""


@dataclass(frozen=True)
class Selector:
    name: str
    equal: dict[str, str]
    regex: dict[str, str]

    def absent_labels(self) -> dict[str, str]:
        """The labels ``absent(<this selector>)`` returns: its equality matchers."""
        return dict(self.equal)


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of a PromQL expression, with its equality and regex matchers."""
    found: list[Selector] = []

    def pre(n: Any) -> None:
        if isinstance(n, pp.VectorSelector):
            equal: dict[str, str] = {}
            regex: dict[str, str] = {}
            for m in n.matchers.matchers:
                op = str(m.op)
                if m.name == "__name__":
                    continue
                if op == "MatchOp.Equal":
                    equal[m.name] = m.value
                elif op == "MatchOp.Re":
                    regex[m.name] = m.value
            found.append(Selector(n.name or "", equal, regex))

    try:
        tree = pp.parse(expr)
    except ValueError:  # documentation renders put text such as <retention> where numbers go
        return []
    pp.walk(tree, pre)
    return found


def result_labels(expr: str) -> dict[str, str]:
    """The labels an alert expression's result carries, where its selectors fix them
    (equality matchers kept by its aggregations). Raises GuardError where they cannot be known."""

    def find(node: Any, label: str) -> str | None:
        found: list[str] = []

        def pre(n: Any) -> None:
            if isinstance(n, pp.VectorSelector):
                sel = selectors(str(n))[0]
                if label in sel.equal:
                    found.append(sel.equal[label])

        pp.walk(node, pre)
        return found[0] if found else None

    def labels(node: Any) -> dict[str, str] | None:
        if isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
            return labels(node.expr)
        if isinstance(node, (pp.NumberLiteral, pp.StringLiteral)):
            return None
        if isinstance(node, pp.VectorSelector):
            return selectors(str(node))[0].absent_labels()
        if isinstance(node, pp.MatrixSelector):
            return labels(node.vector_selector)
        if isinstance(node, pp.BinaryExpr):
            left = labels(node.lhs)
            return left if left is not None or str(node.op) == "or" else labels(node.rhs)
        if isinstance(node, pp.Call):
            if node.func.name in ("time", "pi", "scalar"):
                return None
            if node.func.name == "vector":
                return {}
            vectors = [labels(a) for a in node.args if not isinstance(a, (pp.NumberLiteral, pp.StringLiteral))]
            return next((v for v in vectors if v is not None), None)
        if isinstance(node, pp.AggregateExpr):
            mod = node.modifier
            if mod is None:
                return {}
            if mod.type != pp.AggModifierType.By:
                raise GuardError(f"{expr!r}: cannot tell the labels of a `without` aggregation")
            out = {}
            for label in mod.labels:
                value = find(node.expr, label)
                if value is None:
                    raise GuardError(f"{expr!r}: no equality matcher fixes label {label!r}")
                out[label] = value
            return out
        raise GuardError(f"{expr!r}: cannot tell the labels of {type(node).__name__}")

    return labels(pp.parse(expr)) or {}


def family(catalog: Catalog, name: str) -> Metric | None:
    return catalog.family(name) if catalog.has_metric(name) else None


Recorded = Mapping[str, list[tuple[dict[str, str], str]]]


def _recording_exprs(specs: Mapping[str, Mapping[str, Any]]) -> dict[str, list[tuple[dict[str, str], str]]]:
    """Recorded series name -> (rule labels, expression) of every rule that records it."""
    out: dict[str, list[tuple[dict[str, str], str]]] = {}
    for spec in specs.values():
        for group in spec["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    out.setdefault(rule["record"], []).append((dict(rule.get("labels") or {}), str(rule["expr"])))
    return out


def recordings(specs: Mapping[str, Mapping[str, Any]]) -> dict[str, list[tuple[dict[str, str], str]]]:
    """Recorded series name -> (rule labels, expression) of every rule that records it, in ``specs``."""
    return _recording_exprs(specs)


def raw_selectors(expr: str, recorded: Recorded, depth: int = 0) -> list[Selector]:
    """Selectors of catalog series an expression reads, following recorded series to the rules
    that record them (only those whose labels agree with the selector's matchers)."""
    out: list[Selector] = []
    for sel in selectors(expr):
        if sel.name in recorded and depth < 5:
            for labels, inner in recorded[sel.name]:
                if all(labels.get(k, v) == v for k, v in sel.equal.items()):
                    out.extend(raw_selectors(inner, recorded, depth + 1))
        else:
            out.append(sel)
    return out


def source_job(sel: Selector, catalog: Catalog) -> str | None:
    """The scrape job whose absence makes this selector empty, from the catalog (None: not a catalog series)."""
    fam = family(catalog, sel.name)
    if fam is None:
        return None
    if fam.job == ANY_JOB:
        return sel.equal.get("job", DEFAULT_JOB)
    return fam.job


def source_selectors(expr: str, recorded: Recorded, catalog: Catalog) -> list[Selector]:
    """The catalog selectors an alert reads for its data: a per-target series (``up``) read
    without a job next to other series is a gate (was the target up?), not a source."""
    found = [s for s in raw_selectors(expr, recorded) if family(catalog, s.name) is not None]
    data = [s for s in found if not (family(catalog, s.name).job == ANY_JOB and "job" not in s.equal)]  # type: ignore[union-attr]
    return data or found


def alert_rules(specs: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, r) for name, s in specs.items() for g in s["groups"] for r in g["rules"] if "alert" in r]


def _reads_only_up(expr: str, job: str) -> bool:
    """True when every selector of ``expr`` is ``up{job="<job>"}``."""
    found = selectors(expr)
    return bool(found) and all(s.name == "up" and s.equal.get("job") == job for s in found)


def _max_severity(severities: Iterable[str]) -> str:
    return max(severities, key=lambda s: SEVERITY_ORDER.index(s) if s in SEVERITY_ORDER else 0)


def jobs_by_alert(specs: Mapping[str, Mapping[str, Any]], catalog: Catalog | None = None) -> dict[int, set[str]]:
    """id(rule) -> the source jobs it depends on."""
    catalog = catalog or load_catalog()
    recorded = _recording_exprs(specs)
    out: dict[int, set[str]] = {}
    for _, rule in alert_rules(specs):
        jobs = {source_job(s, catalog) for s in source_selectors(str(rule["expr"]), recorded, catalog)}
        out[id(rule)] = {j for j in jobs if j}
    return out


def _listed(names: Iterable[str]) -> str:
    names = sorted(set(names))
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def vanish_effect(rule: Mapping[str, Any], job: str, recorded: Recorded, catalog: Catalog,
                  counts_down: Collection[tuple[str, str]]) -> str:
    """What ``rule`` does while no target of ``job`` (one of its sources) is up:

    - ``"fires"``: it counts the missing source as down (declared ``guard: {vanish: self}``, or an uptime SLO,
      whose record counts a target gone from discovery as down), given in ``counts_down`` as (alert, service);
    - ``"while-down"``: it reads only the job's own ``up``: it fires while the targets are down (up is 0),
      and goes quiet once they are gone from discovery;
    - ``"quiet"``: it reads the job's metrics, which go stale: it evaluates to nothing, and resolves if firing.
    """
    if (rule["alert"], str(rule["labels"].get("service", ""))) in counts_down:
        return "fires"
    own = [s for s in source_selectors(str(rule["expr"]), recorded, catalog) if source_job(s, catalog) == job]
    if own and all(s.name == UP for s in own):
        return "while-down"
    return "quiet"


def companion_rules(specs: Mapping[str, Mapping[str, Any]], runbook: str, dashboard: str,
                    catalog: Catalog | None = None, counts_down: Collection[tuple[str, str]] = ()) -> dict[str, Any]:
    """Rule set ``sources``: one MetricsSourceAbsent alert per scrape job an alert depends on.

    Its text says what each dependent alert does while the job is gone (``vanish_effect``): which stay quiet
    (and resolve if firing), which fire on their own, which fire only while the targets are down.
    ``counts_down``: (alert, service) of the alerts that count a missing source as down.
    """
    catalog = catalog or load_catalog()
    recorded = _recording_exprs(specs)
    by_rule = jobs_by_alert(specs, catalog)
    severities: dict[str, list[str]] = {}
    effects: dict[str, dict[str, set[str]]] = {}
    for _, rule in alert_rules(specs):
        for job in by_rule[id(rule)]:
            severities.setdefault(job, []).append(rule["labels"]["severity"])
            effect = vanish_effect(rule, job, recorded, catalog, counts_down)
            effects.setdefault(job, {}).setdefault(effect, set()).add(rule["alert"])
    rules = []
    for job in sorted(severities):
        sel = f'up{{job="{job}"}}'
        # An alert of the job's own service over its `up` alone reports the same outage and names it
        # (CopilotDependencyDown{service="qdrant"}, 5m): the companion waits as long, so the one that
        # names the dependency mutes it before either pages (components/rules/causes.py).
        waits = [_minutes(r.get("for", "0m")) for _, r in alert_rules(specs)
                 if r["labels"].get("service") == job and _reads_only_up(str(r["expr"]), job)]
        wait = f"{max(waits)}m" if waits and max(waits) > _minutes(COMPANION_FOR) else COMPANION_FOR
        quiet, fires, while_down = (effects[job].get(k, set()) for k in ("quiet", "fires", "while-down"))
        # An alert name with several rules (one per service) may sit in two lists: each rule acts as listed.
        impact = []
        if quiet:
            impact.append(f"these alerts read its metrics, which are now stale: they cannot fire, and any that was firing "
                          f"resolves although nothing is fixed: {_listed(quiet)}")
        if fires:
            impact.append(f"these count the missing source as down and fire on their own: {_listed(fires)}")
        if while_down:
            impact.append(f"these read the job's up: they fire while its targets are down (up is 0), "
                          f"not once they are gone from discovery: {_listed(while_down)}")
        summary = f"No target of scrape job {job} is up" + (
            f"; {len(quiet)} alert{'s' if len(quiet) != 1 else ''} over its metrics cannot fire until it is back." if quiet else ".")
        rules.append({
            "alert": COMPANION,
            # Seen in the last day, no target up now: down, or dropped from discovery. A job never
            # seen in this stack (a system it does not run) stays quiet.
            "expr": f"max by (job) (max_over_time({sel}[{SEEN_WINDOW}])) unless on (job) ({sel} == 1)",
            "for": wait,
            # At most critical: an emergency (data loss risk) is known only from the data this job no longer sends.
            "labels": {"severity": min(_max_severity(severities[job]), COMPANION_MAX_SEVERITY, key=SEVERITY_ORDER.index),
                       "service": job, "component": "scrape"},
            "annotations": {
                "summary": summary,
                "description": (
                    "Scrape job {{ $labels.job }} had targets in the last " + SEEN_WINDOW + " and none is up now "
                    "(down, or gone from service discovery).\n"
                    "Impact: " + "; ".join(impact) + ".\n"
                    "Actions:\n"
                    "  1. Check the targets of the job on Prometheus /targets and the pods behind them.\n"
                    "  2. Check the ServiceMonitor/PodMonitor/ScrapeConfig that names the job (catalog/metrics.yaml `job`).\n"
                    "  3. Until the job is back, treat the alerts that cannot fire as unknown: a resolved notification "
                    "from them does not mean their fault is gone."
                ),
                "runbook_url": runbook,
                "dashboard_url": dashboard,
            },
        })
    return {"groups": [{"name": "metrics-source-absent", "rules": rules}]} if rules else {"groups": []}


# --- promtool input values: the expanding notation, both ways ---

STALE = "stale"
Value = float | str | None  # a number, STALE, or None (missing)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(rf"^(?P<a>_|stale|{_NUMBER})(?:(?P<op>[-+])(?P<b>{_NUMBER}))?(?:x(?P<n>[0-9]+))?$")


def expand_values(text: str) -> list[Value]:
    """promtool's ``values`` notation ('0+1x3 _ 5 stale') as a list (None = missing)."""
    out: list[Value] = []
    for tok in str(text).split():
        m = _TOKEN.match(tok)
        if m is None:
            raise GuardError(f"input values: cannot read {tok!r}; accepted: promtool notation such as 0+1x10, _x3, stale")
        a, op, b, n = m.group("a"), m.group("op"), m.group("b"), m.group("n")
        if a == "_":
            out.extend([None] * (int(n) if n else 1))
            continue
        if a == STALE:
            out.append(STALE)
            continue
        start = float(a)
        if n is None:
            out.append(start)
            continue
        step = 0.0 if op is None else float(b) * (1 if op == "+" else -1)
        out.extend(start + step * i for i in range(int(n) + 1))
    return out


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def render_values(values: list[Value]) -> str:
    """The inverse of expand_values, with runs of equal values compacted."""
    parts: list[str] = []
    i = 0
    while i < len(values):
        v = values[i]
        j = i
        while j + 1 < len(values) and values[j + 1] == v:
            j += 1
        count = j - i + 1
        if v is None:
            parts.append(f"_x{count}" if count > 1 else "_")
        elif v == STALE:
            parts.extend([STALE] * count)
        else:
            parts.append(f"{_num(float(v))}x{count - 1}" if count > 1 else _num(float(v)))
        i = j + 1
    return " ".join(parts)


def parse_series(text: str) -> tuple[str, dict[str, str]]:
    sel = pp.parse(text)
    if not isinstance(sel, pp.VectorSelector):
        raise GuardError(f"input series {text!r} is not a selector")
    return sel.name or "", {m.name: m.value for m in sel.matchers.matchers if m.name != "__name__"}


def series_text(name: str, labels: Mapping[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _regex_value(pattern: str) -> str:
    """A label value a regex matcher accepts (fully anchored, as PromQL does)."""
    def simplify(p: str) -> str:
        p = re.sub(r"\([^()]*\)[?*]", "", p)  # optional groups
        p = re.sub(r"\[([^]\\^])\]", lambda m: re.escape(m.group(1)), p)  # a class of one character: [.] is a literal dot
        p = p.replace(".*", "a").replace(".+", "a")
        p = re.sub(r"(?<!\\)\.", "0", p)  # any character
        p = re.sub(r"\\(.)", r"\1", p)  # escaped literals
        return re.sub(r"[()^$?*+\[\]{}]", "", p) or "a"

    candidates = [simplify(pattern), simplify(pattern.split("|")[0].lstrip("("))]
    for candidate in candidates:
        if re.fullmatch(pattern, candidate):
            return candidate
    raise GuardError(f"cannot make a label value that matches {pattern!r} for a generated case")


def _label_value(label: str, pattern: str, fam: Metric) -> str:
    """A value of ``label`` the regex matcher accepts; for ``le``, a bucket bound of the family spelled as
    Prometheus 3 stores a scraped one (catalog.stored_bound: "1.0", not "1"), so the case's series is one
    the cluster's Prometheus can hold."""
    if label == "le":
        for text in [*(stored_bound(b) for b in fam.buckets), "+Inf"]:
            if re.fullmatch(pattern, text):
                return text
    return _regex_value(pattern)


# --- the generated cases ---


def _family_key(name: str, catalog: Catalog) -> str | None:
    fam = family(catalog, name)
    return fam.name if fam else None


def _modes(rules: list[dict[str, Any]], recorded: Recorded, catalog: Catalog) -> tuple[bool, bool]:
    churn = born = False
    for rule in rules:
        for sel in raw_selectors(str(rule["expr"]), recorded):
            fam = family(catalog, sel.name)
            if fam is None:
                continue
            churn |= bool(fam.churn_labels)
            born |= bool(fam.born_non_zero_labels)
    return churn, born


def source_series(rules: Iterable[Mapping[str, Any]], recorded: Recorded, catalog: Catalog) -> dict[str, tuple[str, bool]]:
    """Series text -> (its scrape job, whether it rises like a counter) of one series per source selector of
    ``rules``, with labels their matchers accept, and ``up`` of every job they come from."""
    out: dict[str, tuple[str, bool]] = {}
    for rule in rules:
        for sel in source_selectors(str(rule["expr"]), recorded, catalog):
            fam = family(catalog, sel.name)
            if fam is None:
                continue
            job = source_job(sel, catalog) or DEFAULT_JOB
            labels = {**{k: _label_value(k, v, fam) for k, v in sel.regex.items()}, **sel.equal}
            labels.setdefault("job", job)
            out[series_text(sel.name, labels)] = (job, fam.type in ("counter", "histogram"))
    for job in {job for job, _ in out.values()}:
        out.setdefault(series_text(UP, {"job": job}), (job, False))
    return out


def _vanish_case(alert: str, rules: list[dict[str, Any]], recorded: Recorded, catalog: Catalog,
                 companions: Mapping[str, dict[str, Any]], guards: Mapping[tuple[str, str], Mapping[str, Any]]) -> dict[str, Any]:
    present = PRESENT_MINUTES + 1
    sources = source_series(rules, recorded, catalog)
    jobs = {job for job, _ in sources.values()}
    series: dict[str, list[Value]] = {
        text: [*(float(i if rising else 1) for i in range(present)), STALE] for text, (_, rising) in sources.items()}
    own = [r for r in rules if (guards.get((alert, r["labels"].get("service", ""))) or {}).get("vanish") == "self"]
    # Past the 5m lookback (as if no staleness marker were seen) and the `for` of what must fire.
    waits = [_minutes(companions[j].get("for", COMPANION_FOR)) for j in jobs if j in companions]
    longest = max([_minutes(r.get("for", "0m")) for r in own] + waits + [_minutes(COMPANION_FOR)])
    eval_min = present + 5 + longest + 3
    tests: list[dict[str, Any]] = []
    if own:
        exp = []
        for rule in own:
            exp.append({"exp_labels": {**result_labels(str(rule["expr"])), **rule["labels"]}})
        tests.append({"eval_time": f"{eval_min}m", "alertname": alert, "exp_alerts": exp})
    missing = sorted(j for j in jobs if j not in companions)
    if missing:
        raise GuardError(f"alert {alert}: no {COMPANION} rule for job(s) {missing}")
    tests.append({"eval_time": f"{eval_min}m", "alertname": COMPANION,
                  "exp_alerts": [{"exp_labels": {"job": j, **companions[j]["labels"]}} for j in sorted(jobs)]})
    return {
        "name": f"{CASE_PREFIX['vanish']} {alert}: its source goes away, "
                + (f"{alert} and " if own else "") + f"{COMPANION} fire",
        "interval": "1m",
        "input_series": [{"series": s, "values": render_values(v)} for s, v in sorted(series.items())],
        "alert_rule_test": tests,
    }


def _minutes(duration: str) -> int:
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", str(duration))
    if m is None or not any(m.groups()):
        raise GuardError(f"cannot read duration {duration!r}")
    h, mi, s = (int(x or 0) for x in m.groups())
    return h * 60 + mi + (1 if s else 0)


def _group_key(name: str, labels: Mapping[str, str], drop: Iterable[str], catalog: Catalog) -> tuple[str, tuple[tuple[str, str], ...]]:
    fam = _family_key(name, catalog) or name
    gone = {"le", *drop}
    return fam, tuple(sorted((k, v) for k, v in labels.items() if k not in gone))


def _numbers(values: list[Value]) -> list[float | None]:
    return [float(v) if isinstance(v, float) else None for v in values]


def churn_inputs(inputs: list[dict[str, Any]], catalog: Catalog) -> list[dict[str, Any]]:
    """Rewrite per-run families into one series per run, each born holding its increment."""
    out: list[dict[str, Any]] = []
    groups: dict[Any, list[tuple[str, dict[str, str], list[float | None]]]] = {}
    for item in inputs:
        name, labels = parse_series(item["series"])
        fam = family(catalog, name)
        if fam is None or not fam.churn_labels:
            out.append(item)
            continue
        key = _group_key(name, labels, fam.churn_labels, catalog)
        groups.setdefault(key, []).append((name, labels, _numbers(expand_values(item["values"]))))
    for members in groups.values():
        length = max(len(v) for _, _, v in members)
        deltas = []
        for _, _, vals in members:
            d: list[float] = []
            prev = 0.0
            for v in vals + [None] * (length - len(vals)):
                if v is None:
                    d.append(0.0)
                    continue
                d.append(v - prev if v >= prev else v)  # a drop is a reset: the new value is the increment
                prev = v
            deltas.append(d)
        runs = [i for i in range(length) if any(d[i] > 0 for d in deltas)]
        for i in runs:
            for (name, labels, _), d in zip(members, deltas, strict=True):
                fam = family(catalog, name)
                assert fam is not None
                run_labels = {**labels, **{label: f"run-{i}" for label in fam.churn_labels}}
                values: list[Value] = [*([None] * i), *([d[i]] * (length - i))]
                out.append({"series": series_text(name, run_labels), "values": render_values(values)})
    return out


def born_inputs(inputs: list[dict[str, Any]], catalog: Catalog, born_at: int = 0) -> list[dict[str, Any]]:
    """Rewrite lazily created children so each appears only with its first increment.

    ``born_at`` (a sample index, the case's ``interval`` apart): a child is absent until then (or until its first
    change, if later) and first appears holding everything it counted before, as a child created by an increment
    and first scraped after a burst does. Born late, its count can be above an alert's threshold while
    ``increase()`` sees none of it (a new flag_type born holding 80 against ``increase(...[15m]) > 50``).
    Each child keeps its later samples; the buckets of a histogram child are born together.
    """
    groups: dict[Any, list[int]] = {}
    parsed = []
    for idx, item in enumerate(inputs):
        name, labels = parse_series(item["series"])
        vals = expand_values(item["values"])
        parsed.append((name, labels, vals))
        fam = family(catalog, name)
        if fam is not None and fam.born_non_zero_labels:
            groups.setdefault(_group_key(name, labels, (), catalog), []).append(idx)
    out = [dict(i) for i in inputs]
    for members in groups.values():
        first = None
        for idx in members:
            nums = _numbers(parsed[idx][2])
            base = next((v for v in nums if v is not None), None)
            if base is None or base != 0:
                continue  # already born non-zero, or never present
            change = next((i for i, v in enumerate(nums) if v is not None and v != base), None)
            if change is not None:
                first = change if first is None else min(first, change)
        if first is None:
            continue
        birth = max(first, born_at)
        if any(birth >= len(parsed[idx][2]) for idx in members):
            birth = first  # the series ends before: born at its first increment
        for idx in members:
            vals = parsed[idx][2]
            out[idx] = {"series": inputs[idx]["series"], "values": render_values([*([None] * birth), *vals[birth:]])}
    return out


def counts_up(rules: Iterable[Mapping[str, Any]], recorded: Recorded) -> bool:
    """Whether every rule compares a count of events, ``<expr> > <number>`` (or ``>=``) with no ratio (``/``) or
    quantile in ``<expr>``: more counted is worse, so events born later, inside the window, must not silence it.

    For a rule that fires on too few (``< 1``, "no progress") late events would be progress; a ratio or a
    quantile compares shares whose sides are born together: their children are born at their first increment.
    Recorded series are followed to the rules that record them (an SLO's ratio).
    """
    def shares(node: Any, depth: int = 0) -> bool:
        found = []
        pp.walk(node, lambda n: found.append(n) if (isinstance(n, pp.BinaryExpr) and str(n.op) == "/" and selectors(str(n.rhs)))
                or (isinstance(n, pp.Call) and n.func.name == "histogram_quantile") else None)
        inner = [expr for sel in selectors(str(node)) for _, expr in recorded.get(sel.name, [])]
        return bool(found) or (depth < 5 and any(shares(pp.parse(e), depth + 1) for e in inner))

    def counts(node: Any) -> bool:
        while isinstance(node, pp.ParenExpr):
            node = node.expr
        if isinstance(node, pp.BinaryExpr) and str(node.op) == "or":  # one comparison per source, each counting
            return counts(node.lhs) and counts(node.rhs)
        return (isinstance(node, pp.BinaryExpr) and str(node.op) in (">", ">=") and not selectors(str(node.rhs))
                and not shares(node.lhs))

    return all(counts(pp.parse(str(rule["expr"]))) for rule in rules)


def _born_index(case: Mapping[str, Any], rules: Iterable[Mapping[str, Any]]) -> int:
    """The sample index children are born at in the born-non-zero case of an alert counting up: its first
    expected firing minus its longest ``for`` (it must hold from there on), in steps of the case's interval."""
    step = _seconds(str(case.get("interval", "1m")))
    first = min(_seconds(str(t["eval_time"])) for t in case["alert_rule_test"])
    hold = max(_seconds(str(r.get("for", "0m"))) for r in rules)
    return max(0, int((first - hold) // step))


def _seconds(duration: str) -> int:
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    if m is None or not any(m.groups()):
        raise GuardError(f"cannot read duration {duration!r}; accepted: 1h2m3s")
    h, mi, s = (int(x or 0) for x in m.groups())
    return h * 3600 + mi * 60 + s


def _firing_cases(alert: str, test_docs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    cases = []
    for doc in test_docs:
        for test in doc.get("tests") or []:
            if str(test.get("name", "")).startswith(tuple(CASE_PREFIX.values())):
                continue
            firing = [c for c in test.get("alert_rule_test") or [] if c.get("alertname") == alert and c.get("exp_alerts")]
            if firing:
                case = {k: copy.deepcopy(v) for k, v in test.items() if k not in ("promql_expr_test", "alert_rule_test")}
                case["alert_rule_test"] = copy.deepcopy(firing)
                cases.append(case)
    return cases


def guard_tests(specs: Mapping[str, Mapping[str, Any]], test_docs: Sequence[Mapping[str, Any]],
                guards: Mapping[tuple[str, str], Mapping[str, Any]], catalog: Catalog | None = None
                ) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(rule set, group) -> the generated vanish / churn / born-non-zero cases of its alerts.

    Cases are keyed by group: their alerts are looked up in that group and the
    companion set only (``build.write_tests`` loads, per case, the groups it needs).
    """
    catalog = catalog or load_catalog()
    recorded = _recording_exprs(specs)
    companions = {r["labels"]["service"]: r for _, r in alert_rules({COMPANION_SET: specs[COMPANION_SET]})} \
        if COMPANION_SET in specs else {}
    by_group: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for set_name, spec in specs.items():
        if set_name == COMPANION_SET:
            continue
        for group in spec["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    by_group.setdefault((set_name, group["name"]), {}).setdefault(rule["alert"], []).append(rule)
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for key, by_alert in by_group.items():
        cases: list[dict[str, Any]] = []
        for alert, rules in by_alert.items():
            cases.append(_vanish_case(alert, rules, recorded, catalog, companions, guards))
            churn, born = _modes(rules, recorded, catalog)
            firing = _firing_cases(alert, test_docs)
            if (churn or born) and not firing:
                raise GuardError(f"alert {alert}: no firing promtool case to derive its churn/born-non-zero cases from")
            # One derived case per alert name: its first firing case (each case costs a promtool run
            # over its whole evaluation span).
            for i, case in enumerate(firing[:1]):
                if churn:
                    c = copy.deepcopy(case)
                    c["input_series"] = churn_inputs(c["input_series"], catalog)
                    c["name"] = f"{CASE_PREFIX['churn']} {alert} (from case {i + 1}): one series per run, still fires"
                    cases.append(c)
                if born:
                    c = copy.deepcopy(case)
                    late = counts_up(rules, recorded)
                    c["input_series"] = born_inputs(c["input_series"], catalog, _born_index(c, rules) if late else 0)
                    c["name"] = (f"{CASE_PREFIX['born_non_zero']} {alert} (from case {i + 1}): "
                                 + ("children born late, holding all they counted before, still fires" if late
                                    else "children born at their first increment, still fires"))
                    cases.append(c)
        out[key] = cases
    return out


def required_cases(specs: Mapping[str, Mapping[str, Any]], catalog: Catalog | None = None) -> dict[str, set[str]]:
    """Alert name -> the generated case kinds it must have (vanish always; churn, born_non_zero per catalog)."""
    catalog = catalog or load_catalog()
    recorded = _recording_exprs(specs)
    by_alert: dict[str, list[dict[str, Any]]] = {}
    for set_name, rule in alert_rules(specs):
        if set_name != COMPANION_SET:
            by_alert.setdefault(rule["alert"], []).append(rule)
    out: dict[str, set[str]] = {}
    for alert, rules in by_alert.items():
        churn, born = _modes(rules, recorded, catalog)
        out[alert] = {"vanish"} | ({"churn"} if churn else set()) | ({"born_non_zero"} if born else set())
    return out
