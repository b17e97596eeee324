"""Dashboard lint: every query of every rendered dashboard model is checked before it reaches Grafana.

    python -m dashboards.lint DIR        # DIR from `python -m scripts.render`: checks DIR/dashboards/*.json

Checks, per panel target, variable query and annotation:
- the datasource UID is one the stack creates (components.wiring.endpoints) and matches the query language;
- PromQL parses (promql-parser) once Grafana's macros and variables are substituted;
- every metric it names is in the metric catalog (or recorded by a rule of the same stack),
  a ``__name__`` regex matches at least one catalog metric, and every label it matches on
  is a label that metric carries;
- no ``rate``/``increase``/... over a per-run family (catalog ``churn_labels``);
- every ``le`` a histogram bucket selector matches is one of the catalog's buckets of that family;
- no label the seeds forbid (components.rules.catalog.FORBIDDEN_LABELS) appears in a matcher,
  grouping, vector matching, label_replace/label_join or a Loki stream selector;
- every template variable used (``$x``, ``${x}``, ``${x:fmt}``, ``[[x]]``) is defined on the dashboard, and every
  variable defined is used (by a query, a title, a link or another variable's query): an unused selector filters nothing;
- an ``increase()`` over a counter whose children are born non-zero (catalog ``born_non_zero_labels``) counting over
  the dashboard's range or a fixed window counts those children as the alerts do (``dashboards.common.increase_born``):
  a child created by its first increment has no increase, so the panel would read 0 while the alert fires; so does
  any ``rate()``/``irate()``/``increase()`` (per-step graphs too) of a family an alert counting up reads in that form
  (``born_counted``: StateStoreWriteFailure, NodeFailures, the loss alerts ...);
- LogQL targets go to Loki and select streams by the labels the log pipeline writes; TraceQL targets go to Tempo.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from components.logs.loki_config import STREAM_LABELS as LOKI_STREAM_LABELS
from components.rules.catalog import FORBIDDEN_LABELS, Catalog, load_catalog
from components.rules.guards import RANGE_CHANGE_FUNCS, alert_rules, counts_up, recordings
from components.wiring.endpoints import DATASOURCE_UIDS, LOKI_UID, PROMETHEUS_UID, TEMPO_UID

# libyaml's parser when PyYAML has it (the same safe constructor): a render's rules are some 200 kB of YAML.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
GRAFANA_BUILTIN_UID = "-- Grafana --"
# Grafana's global variables; everything else must be defined in templating.list.
BUILTIN_VARIABLES = frozenset(
    {
        "__rate_interval", "__rate_interval_ms", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms",
        "__from", "__to", "__now", "__dashboard", "__user", "__org", "__name", "__timeFilter", "__auto", "__all",
    }
)
# Macros that stand where PromQL wants a duration.
_DURATION_MACROS = re.compile(r"\$\{?(__rate_interval|__interval|__range|__auto)(?::\w+)?\}?")
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<selector>.*),\s*)?(?P<label>[A-Za-z_]\w*)\s*\)\s*$", re.S)
_STREAM_SELECTOR = re.compile(r"\{([^{}]*)\}")
_STREAM_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*\"")
_TYPES = {PROMETHEUS_UID: "prometheus", LOKI_UID: "loki", TEMPO_UID: "tempo"}
# The only stream labels the log pipeline writes: a selector on any other label matches nothing.
STREAM_LABELS = frozenset(LOKI_STREAM_LABELS)


@dataclass(frozen=True)
class Problem:
    dashboard: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.dashboard}: {self.where}: {self.message}"


def variables_used(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in _VARIABLE.finditer(text)}


def substitute(expr: str, *, born: bool = False) -> str:
    """PromQL Prometheus would receive: duration macros become 5m, other variables a plain word.

    ``born=True`` keeps the counting windows apart: the range macro becomes ``1234567s``, the per-step macros ``17s``.
    """
    if born:
        return _VARIABLE.sub("var", _DURATION_MACROS.sub(lambda m: "1234567s" if m.group(1) == "__range" else "17s", expr))
    return _VARIABLE.sub("var", _DURATION_MACROS.sub("5m", expr))


# Windows a graph draws per step: a born child misses one step there, not a whole count (see docs/dashboards.md).
_STEP_WINDOW_SECONDS = 17


def _selector_key(selector: Any) -> tuple[str, tuple[tuple[str, str, str], ...]]:
    return selector.name or "", tuple(sorted((m.name, str(m.op), m.value) for m in selector.matchers.matchers))


def _born_guarded(ast: Any) -> set[tuple[str, tuple[tuple[str, str, str], ...]]]:
    """Selectors S of the expression that appear as ``S unless S offset <w>`` (children born within w counted)."""
    guarded = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.BinaryExpr) and str(node.op) == "unless":
            lhs, rhs = node.lhs, node.rhs
            while isinstance(lhs, promql_parser.ParenExpr):
                lhs = lhs.expr
            if (isinstance(lhs, promql_parser.VectorSelector) and isinstance(rhs, promql_parser.VectorSelector)
                    and rhs.offset is not None and _selector_key(lhs) == _selector_key(rhs)):
                guarded.add(_selector_key(lhs))
        return True

    promql_parser.walk(ast, visit)
    return guarded


# Functions whose value misses the first count of a child created by its first increment.
_BORN_FUNCS = ("increase", "rate", "irate")


def _born_problem(func: str, matrix: Any, catalog: Catalog, guarded: set[Any], counted: frozenset[str]) -> list[str]:
    """A rate()/irate()/increase() over a born-non-zero family outside the born form, where it must count births:

    - an ``increase()`` over the range or a fixed window (a count of what happened: a child born in it is missing);
    - any of the three over a family an alert counting up reads in the born form (``counted``, e.g.
      dvt_statestore_write_errors_total under StateStoreWriteFailure), per-step graphs included: such a child may
      count once and never again, so the panel would read 0 while the alert fires.

    Exception: a per-step graph, or a rate over a window, of a family whose alerts read it with plain rate()
    (ratios, quantiles, throughput): it shows what those alerts compare (a born child's first count is missing
    from both), and the born form would make the panel disagree with them.
    """
    selector = matrix.vector_selector
    if selector.name:
        names = [selector.name] if catalog.has_metric(selector.name) else []
    else:  # {__name__=~"copilot_.+_failures_total"}: every catalog family the regex selects
        names = catalog.series_names()
        for m in (m for m in selector.matchers.matchers if m.name == "__name__"):
            names = [n for n in names if _name_matches(str(m.op), m.value, n)]
    born = sorted({label for n in names for label in catalog.family(n).born_non_zero_labels})
    window = matrix.range.total_seconds()
    if not born or _selector_key(selector) in guarded:
        return []
    shown = selector.name or sorted(names)[:3]
    if set(names) & counted:
        return [f"{func}() of {shown} over {int(window)}s misses the children born holding their first count (labels {born}), "
                "which the alerts over it count; accepted: dashboards.common.increase_born(selector, window) "
                "(or rate_born(selector, window))"]
    if func == "increase" and window != _STEP_WINDOW_SECONDS:
        return [f"increase() of {shown} over {int(window)}s misses the children born holding their first "
                f"count (labels {born}); accepted: dashboards.common.increase_born(selector, window)"]
    return []


def born_counted(rule_specs: Iterable[dict[str, Any]]) -> frozenset[str]:
    """Series the stack's alerts that count up (components.rules.guards.counts_up) read in the born form,
    ``S unless S offset <w>``: panels over them must count births too."""
    specs = {str(i): spec for i, spec in enumerate(rule_specs)}
    recorded = recordings(specs)
    out: set[str] = set()
    for _, rule in alert_rules(specs):
        if counts_up([rule], recorded):
            out.update(name for name, _ in _born_guarded(promql_parser.parse(str(rule["expr"]))) if name)
    return frozenset(out)


def _name_matches(op: str, value: str, series: str) -> bool:
    """Whether a __name__ matcher (op as promql-parser prints it) selects ``series``; regexes are anchored like Prometheus."""
    if op.endswith("NotRe"):
        return re.fullmatch(value, series) is None
    if op.endswith("Re"):
        return re.fullmatch(value, series) is not None
    if op.endswith("NotEqual"):
        return series != value
    return series == value


def _selector_metrics(selector: Any, catalog: Catalog, recorded: frozenset[str]) -> tuple[list[str], list[str]]:
    """(catalog series the selector reads, problems) for one VectorSelector."""
    matchers = list(selector.matchers.matchers)
    if selector.name:
        name = selector.name
        if catalog.has_metric(name):
            return [name], []
        if name in recorded:
            return [], []
        return [], [f"metric {name!r} is not in the metric catalog (catalog/metrics.yaml) nor recorded by a rule of this stack"]
    name_matchers = [m for m in matchers if m.name == "__name__"]
    if not name_matchers:
        return [], [f"selector {selector} names no metric; accepted: a metric name or a __name__ matcher"]
    found = catalog.series_names()
    for m in name_matchers:
        found = [s for s in found if _name_matches(str(m.op), m.value, s)]
    if not found:
        return [], [f"__name__ matcher in {selector} matches no metric of the catalog"]
    return found, []


def check_promql(expr: str, catalog: Catalog, recorded: frozenset[str] = frozenset(), counted: frozenset[str] = frozenset()) -> list[str]:
    """Problems of one PromQL expression (as written in Grafana, macros included); ``counted``: born_counted()."""
    try:
        ast = promql_parser.parse(substitute(expr, born=True))
    except (ValueError, TypeError) as error:
        return [f"PromQL does not parse: {error}: {expr}"]
    guarded = _born_guarded(ast)
    problems: list[str] = []
    labels_used: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            series, errors = _selector_metrics(node, catalog, recorded)
            problems.extend(errors)
            names = {m.name for m in node.matchers.matchers if m.name != "__name__"}
            labels_used.update(names)
            for m in node.matchers.matchers:
                if m.name == "le":
                    problems.extend(p for p in (catalog.le_problem(s, str(m.op), m.value) for s in series) if p)
            if series:
                known = frozenset().union(*(catalog.labels(s) for s in series))
                for label in sorted(names - known):
                    problems.append(f"label {label!r} is not carried by {node.name or sorted(series)[:3]}; its labels: {sorted(known)}")
        if (isinstance(node, promql_parser.Call) and node.func.name in _BORN_FUNCS
                and isinstance(node.args[-1], promql_parser.MatrixSelector)):
            problems.extend(_born_problem(node.func.name, node.args[-1], catalog, guarded, counted))
        if (isinstance(node, promql_parser.Call) and node.func.name in RANGE_CHANGE_FUNCS
              and isinstance(node.args[-1], promql_parser.MatrixSelector)):
            name = node.args[-1].vector_selector.name
            churn = catalog.family(name).churn_labels if name and catalog.has_metric(name) else frozenset()
            if churn:
                problems.append(f"{node.func.name}() over the per-run series {name} (labels {sorted(churn)}: every run is a new "
                                "series born with its final value); read a recorded sum without those labels instead")
        if isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            labels_used.update(node.modifier.labels)
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            if node.modifier.matching is not None:
                labels_used.update(node.modifier.matching.labels)
            labels_used.update(node.modifier.group_labels or [])
        elif isinstance(node, promql_parser.Call) and node.func.name in ("label_replace", "label_join"):
            strings = [a.val for a in node.args if isinstance(a, promql_parser.StringLiteral)]
            labels_used.update(s for s in strings if re.fullmatch(r"[A-Za-z_]\w*", s))
        return True

    promql_parser.walk(ast, visit)
    for label in sorted(labels_used & FORBIDDEN_LABELS):
        problems.append(f"label {label!r} is forbidden (high cardinality, seed 004): {expr}")
    return problems


def check_logql(expr: str) -> list[str]:
    selectors = _STREAM_SELECTOR.findall(expr)
    if not selectors:
        return [f"LogQL has no stream selector {{label=\"value\"}}: {expr}"]
    problems = []
    for selector in selectors:
        for label, _ in _STREAM_MATCHER.findall(selector):
            if label in FORBIDDEN_LABELS:
                problems.append(f"stream label {label!r} is forbidden (high cardinality, seed 004): {expr}")
            elif label not in STREAM_LABELS:
                problems.append(f"stream label {label!r} is not written by the log pipeline; accepted: {sorted(STREAM_LABELS)}: {expr}")
    return problems


def check_traceql(query: str) -> list[str]:
    return [] if query.strip().startswith("{") else [f"TraceQL must start with a span selector {{ ... }}: {query}"]


def _panels(panels: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])


def _check_variable_refs(text: str, defined: set[str], where: str, uid: str) -> list[Problem]:
    return [
        Problem(uid, where, f"template variable ${name} is used but not defined; defined: {sorted(defined)}")
        for name in sorted(variables_used(text) - defined - BUILTIN_VARIABLES)
    ]


def _check_target(target: dict[str, Any], panel_ds: dict[str, Any] | None, ctx: tuple[str, str], catalog: Catalog,
                  recorded: frozenset[str], defined: set[str], counted: frozenset[str] = frozenset()) -> list[Problem]:
    uid, where = ctx
    datasource = target.get("datasource") or panel_ds or {}
    ds_uid = datasource.get("uid")
    if ds_uid not in DATASOURCE_UIDS:
        return [Problem(uid, where, f"datasource UID {ds_uid!r} does not exist; accepted: one of {list(DATASOURCE_UIDS)}")]
    kind = _TYPES.get(ds_uid)
    if datasource.get("type") and datasource.get("type") != kind:
        return [Problem(uid, where, f"datasource type {datasource.get('type')!r} does not match UID {ds_uid!r} ({kind})")]
    out: list[Problem] = []
    if "expr" in target and kind == "prometheus":
        text = target["expr"]
        out += [Problem(uid, where, p) for p in check_promql(text, catalog, recorded, counted)]
    elif "expr" in target and kind == "loki":
        text = target["expr"]
        out += [Problem(uid, where, p) for p in check_logql(text)]
    elif "query" in target and kind == "tempo":
        text = target["query"]
        out += [Problem(uid, where, p) for p in check_traceql(text)]
    else:
        field = "query" if kind == "tempo" else "expr"
        return [Problem(uid, where, f"a {kind} datasource needs a {field} in its {_language(kind)} target; got keys {sorted(target)}")]
    return out + _check_variable_refs(text, defined, where, uid)


def _language(kind: str | None) -> str:
    return {"prometheus": "PromQL", "loki": "LogQL", "tempo": "TraceQL"}.get(kind or "", "?")


def lint_dashboard(model: dict[str, Any], catalog: Catalog | None = None, recorded: Iterable[str] = (),
                   counted: Iterable[str] = ()) -> list[Problem]:
    """Every problem of one dashboard JSON model; ``recorded``: series the stack's rules record, ``counted``: series
    its alerts count births of (born_counted)."""
    catalog = catalog or load_catalog()
    recorded = frozenset(recorded)
    born = frozenset(counted)
    uid = str(model.get("uid") or model.get("title") or "?")
    variables = (model.get("templating") or {}).get("list") or []
    defined = {str(v.get("name")) for v in variables}
    problems: list[Problem] = []

    problems += _unused_variables(model, uid)
    for variable in variables:
        where = f"variable ${variable.get('name')}"
        if variable.get("type") != "query":
            continue
        ds_uid = (variable.get("datasource") or {}).get("uid")
        if ds_uid != PROMETHEUS_UID:
            problems.append(Problem(uid, where, f"datasource UID {ds_uid!r}; accepted: {PROMETHEUS_UID!r} for label_values queries"))
            continue
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        match = _LABEL_VALUES.match(text)
        if match is None:
            problems.append(Problem(uid, where, f"query {text!r}; accepted: label_values(<selector>, <label>)"))
            continue
        label = match.group("label")
        if label in FORBIDDEN_LABELS:
            problems.append(Problem(uid, where, f"label {label!r} is forbidden (high cardinality, seed 004)"))
        selector = match.group("selector")
        if selector:
            problems += [Problem(uid, where, p) for p in check_promql(selector, catalog, recorded)]
            name = selector.split("{", 1)[0].strip()
            if name and catalog.has_metric(name) and label not in catalog.labels(name):
                problems.append(Problem(uid, where, f"label {label!r} is not carried by {name}; its labels: {sorted(catalog.labels(name))}"))
        problems += _check_variable_refs(text, defined - {str(variable.get("name"))}, where, uid)

    for annotation in (model.get("annotations") or {}).get("list") or []:
        where = f"annotation {annotation.get('name')!r}"
        ds_uid = (annotation.get("datasource") or {}).get("uid")
        if ds_uid == GRAFANA_BUILTIN_UID:
            continue
        problems += _check_target(annotation, None, (uid, where), catalog, recorded, defined, born)

    for link in model.get("links") or []:
        problems += _check_variable_refs(str(link.get("url", "")), defined, f"link {link.get('title')!r}", uid)

    for panel in _panels(model.get("panels") or []):
        title = panel.get("title", "?")
        problems += _check_variable_refs(str(title), defined, f"panel {title!r} title", uid)
        for link in panel.get("links") or []:
            problems += _check_variable_refs(str(link.get("url", "")), defined, f"panel {title!r} link {link.get('title')!r}", uid)
        panel_ds = panel.get("datasource")
        if panel_ds and panel_ds.get("uid") not in DATASOURCE_UIDS:
            problems.append(Problem(uid, f"panel {title!r}", f"datasource UID {panel_ds.get('uid')!r} does not exist; accepted: {list(DATASOURCE_UIDS)}"))
        for target in panel.get("targets") or []:
            where = f"panel {title!r} target {target.get('refId', '?')}"
            problems += _check_target(target, panel_ds, (uid, where), catalog, recorded, defined, born)
    return problems


def _unused_variables(model: dict[str, Any], uid: str) -> list[Problem]:
    """Variables no query, title, link or other variable reads: a selector on the page that filters nothing."""
    variables = (model.get("templating") or {}).get("list") or []
    texts = [json.dumps(p) for p in _panels(model.get("panels") or [])]
    texts += [json.dumps(a) for a in (model.get("annotations") or {}).get("list") or []]
    texts += [json.dumps(link) for link in model.get("links") or []]
    problems = []
    for variable in variables:
        name = str(variable.get("name"))
        others = [json.dumps(v.get("query")) for v in variables if v.get("name") != name]
        if not any(name in variables_used(text) for text in texts + others):
            problems.append(Problem(uid, f"variable ${name}", "is defined but no panel query, title, link or other variable uses it; "
                                    "accepted: use it to filter the panels it is offered for, or remove it"))
    return problems


def recorded_series(rule_specs: Iterable[dict[str, Any]]) -> frozenset[str]:
    """Series names recorded by PrometheusRule specs ({groups: [{rules: [{record: ...}]}]})."""
    return frozenset(
        str(rule["record"]) for spec in rule_specs for group in spec.get("groups") or [] for rule in group.get("rules") or [] if "record" in rule
    )


def lint_render(directory: Path) -> tuple[int, list[Problem]]:
    """Lint every dashboard of a render directory against its catalog and its own rules; (dashboards, problems)."""
    specs = [yaml.load(p.read_text(), Loader=_LOADER) for p in sorted((directory / "rules").glob("*.yaml"))]
    recorded, counted = recorded_series(specs), born_counted(specs)
    catalog = load_catalog()
    paths = sorted((directory / "dashboards").glob("*.json"))
    problems: list[Problem] = []
    for path in paths:
        problems += lint_dashboard(json.loads(path.read_text()), catalog, recorded, counted)
    return len(paths), problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m dashboards.lint RENDER_DIR", file=sys.stderr)
        return 2
    count, problems = lint_render(Path(args[0]))
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{count} dashboards, {len(problems)} problems")
    return 1 if problems or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
