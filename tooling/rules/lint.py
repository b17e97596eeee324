"""Lint for rule sets: metrics and labels against the catalog, conventions, cardinality.

``lint(specs)`` returns a list of problems (empty when clean), each naming the
rule set, group, rule and what is wrong:

- every PromQL expression parses (promql-parser), every selector names a
  metric in the catalog (or a series recorded by the rule set), every label
  it matches, groups by, or joins on exists on the metrics below it;
- ``histogram_quantile`` runs over ``rate(<histogram>_bucket[..])`` keeping ``le``;
- ``rate``/``increase`` (and their kin) and ``histogram_quantile`` never run
  over a family with per-run labels (catalog ``churn_labels``) unless that
  label was aggregated away first (a recording rule or a subquery);
- every ``le`` a selector matches is one of the family's catalog buckets;
- every number compared with a histogram quantile (directly or through a recording rule) is one of the
  histogram's bucket bounds (tooling/rules/quantile_thresholds.py);
- no label the seeds forbid (user_id, email, ...) appears anywhere;
- every alert has a severity of the five levels, a service and a component
  label, a dashboard link (``dashboard_url``), a one-line
  ``summary`` sentence, a ``description`` with templating, ``Impact:`` and
  ``Actions:``, and a ``runbook_url`` whose runbook exists and follows the
  seed 004 template;
- recording rule names follow ``level:metric:operations``, except a rule that produces a metric the
  catalog names as the seeds give it (e.g. rabbitmq_queue_message_age_seconds, which nothing exports).

``coverage(specs, test_docs)`` lists alerts without a firing and a silent
promtool case, without the generated vanish case (and churn / born-non-zero
cases where the catalog calls for them, components/rules/guards.py), and
recording rules without a promql_expr_test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import promql_parser as pp

from components.rules import guards
from components.rules.catalog import FORBIDDEN_LABELS, Catalog, load_catalog
from components.rules.loader import RUNBOOKS_DIR, runbook_path
from tooling.rules import quantile_thresholds

SEVERITIES = ("info", "warning", "error", "critical", "emergency")
RUNBOOK_SECTIONS = ("## Symptoms", "## Impact", "## Diagnosis", "## Resolution", "## Escalation", "## References")
_RECORD_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]+$")
_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.S)

Labels = frozenset[str] | None  # None: unknown (recorded series), checks below it are skipped


class _Expr:
    """Walks one PromQL AST and collects problems."""

    def __init__(self, catalog: Catalog, recorded: set[str], where: str, problems: list[str]) -> None:
        self.catalog, self.recorded, self.where, self.problems = catalog, recorded, where, problems

    def bad(self, msg: str) -> None:
        self.problems.append(f"{self.where}: {msg}")

    def label_names(self, names: Iterable[str], available: Labels, context: str) -> None:
        for name in names:
            if name in FORBIDDEN_LABELS:
                self.bad(f"{context} uses the forbidden high-cardinality label {name!r}")
            elif available is not None and name not in available:
                self.bad(f"{context} uses label {name!r}, which no metric below it carries "
                         f"(catalog labels: {sorted(available)})")

    def visit(self, node: Any) -> Labels:
        if isinstance(node, pp.VectorSelector):
            return self.selector(node)
        if isinstance(node, pp.MatrixSelector):
            return self.visit(node.vector_selector)
        if isinstance(node, (pp.SubqueryExpr, pp.ParenExpr, pp.UnaryExpr)):
            return self.visit(node.expr)
        if isinstance(node, (pp.NumberLiteral, pp.StringLiteral)):
            return frozenset()
        if isinstance(node, pp.Call):
            return self.call(node)
        if isinstance(node, pp.AggregateExpr):
            inner = self.visit(node.expr)
            if node.param is not None:
                self.visit(node.param)
            mod = node.modifier
            if mod is None:
                return frozenset()
            self.label_names(mod.labels, inner, f"{node.op} {'by' if mod.type == pp.AggModifierType.By else 'without'}")
            if mod.type == pp.AggModifierType.By:
                return frozenset(mod.labels)
            return None if inner is None else inner - set(mod.labels)
        if isinstance(node, pp.BinaryExpr):
            left, right = self.visit(node.lhs), self.visit(node.rhs)
            both = None if left is None or right is None else left | right
            bmod = node.modifier
            if bmod is not None:
                if bmod.matching is not None:
                    self.label_names(bmod.matching.labels, both, "vector matching on/ignoring")
                self.label_names(bmod.group_labels or [], both, "group_left/group_right")
            return both
        self.bad(f"unsupported PromQL node {type(node).__name__}")
        return None

    def selector(self, node: Any) -> Labels:
        name = node.name
        matchers = list(node.matchers.matchers) + [m for ms in node.matchers.or_matchers for m in ms]
        if not name:
            name_m = [m for m in matchers if m.name == "__name__"]
            if len(name_m) == 1 and str(name_m[0].op) == "MatchOp.Equal":
                name = name_m[0].value
            else:
                self.bad(f"selector {node} must name one metric (no __name__ regex), so it can be checked")
                return None
        names = [m.name for m in matchers if m.name != "__name__"]
        if name in self.recorded:
            self.label_names(names, None, f"selector {name}")
            return None
        if not self.catalog.has_metric(name):
            self.bad(f"metric {name!r} is not in the metric catalog (catalog/metrics.yaml)")
            self.label_names(names, None, f"selector {name}")
            return None
        labels = self.catalog.labels(name)
        self.label_names(names, labels, f"selector {name}")
        self.le_bounds(name, matchers)
        return labels - {"__name__"}

    def call(self, node: Any) -> Labels:
        fname = node.func.name
        results = [self.visit(a) for a in node.args]
        vectors = [r for a, r in zip(node.args, results, strict=True)
                   if not isinstance(a, (pp.NumberLiteral, pp.StringLiteral))]
        first: Labels = vectors[0] if vectors else frozenset()
        strings = [a.val for a in node.args if isinstance(a, pp.StringLiteral)]
        if fname == "label_replace" and len(strings) >= 4:
            self.label_names([strings[0]], None, "label_replace destination")
            if strings[2]:
                self.label_names([strings[2]], first, "label_replace source")
            return None if first is None else first | {strings[0]}
        if fname == "label_join" and strings:
            self.label_names([strings[0]], None, "label_join destination")
            self.label_names(strings[2:], first, "label_join source")
            return None if first is None else first | {strings[0]}
        if fname in guards.RANGE_CHANGE_FUNCS or fname == "histogram_quantile":
            self.per_run(fname, node.args[-1], vectors[-1] if vectors else None)
        if fname == "histogram_quantile":
            self.histogram_quantile(node.args[1])
            return None if first is None else first - {"le"}
        if fname in ("vector", "time", "scalar", "pi"):
            return frozenset()
        return first

    def per_run(self, fname: str, arg: Any, labels: Labels) -> None:
        """Refuse a rate-like function over a per-run family whose run label is still there."""
        churn: set[str] = set()

        def pre(n: Any) -> None:
            if isinstance(n, pp.VectorSelector) and n.name and self.catalog.has_metric(n.name):
                churn.update(self.catalog.family(n.name).churn_labels)

        pp.walk(arg, pre)
        kept = churn if labels is None and isinstance(arg, pp.MatrixSelector) else churn & set(labels or ())
        if kept:
            self.bad(f"{fname}() over a per-run series: label(s) {sorted(kept)} make every run a new series born "
                     "with its final value; aggregate them away first (a recording rule "
                     "`sum without (" + ", ".join(sorted(kept)) + ") (...)`, then rate() over it)")

    def le_bounds(self, name: str, matchers: list[Any]) -> None:
        """Every le a selector matches must be a bucket bound of the family (catalog ``buckets``)."""
        for m in matchers:
            if m.name == "le":
                problem = self.catalog.le_problem(name, str(m.op), m.value)
                if problem:
                    self.bad(problem)

    def histogram_quantile(self, arg: Any) -> None:
        found: list[str] = []
        kept_le = [True]

        def pre(n: Any) -> None:
            if isinstance(n, pp.VectorSelector):
                found.append(n.name or "")
            if isinstance(n, pp.AggregateExpr) and n.modifier is not None:
                by = n.modifier.type == pp.AggModifierType.By
                if by != ("le" in n.modifier.labels):
                    kept_le[0] = False
            if isinstance(n, pp.AggregateExpr) and n.modifier is None:
                kept_le[0] = False

        pp.walk(arg, pre)
        if not any(f.endswith("_bucket") or f in self.recorded for f in found):
            self.bad("histogram_quantile must run over rate(<histogram>_bucket[...]) (seed queries that pass the "
                     "histogram name directly are invalid)")
        if not kept_le[0]:
            self.bad("histogram_quantile input aggregates away the le label; aggregate with `by (..., le)`")


def _recorded(specs: Mapping[str, Mapping[str, Any]]) -> set[str]:
    return {r["record"] for s in specs.values() for g in s["groups"] for r in g["rules"] if "record" in r}


def _one_sentence(text: str) -> bool:
    plain = _TEMPLATE.sub("X", text).strip()
    return bool(plain) and "\n" not in plain and plain.endswith(".") and ". " not in plain[:-1]


def _alert_conventions(rule: Mapping[str, Any], where: str, base_url: str | None) -> list[str]:
    out = []
    labels, ann = rule.get("labels") or {}, rule.get("annotations") or {}
    if labels.get("severity") not in SEVERITIES:
        out.append(f"{where}: labels.severity is {labels.get('severity')!r}; accepted: one of {list(SEVERITIES)}")
    if not labels.get("service"):
        out.append(f"{where}: labels.service is missing; every alert names the service it is about")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", str(labels.get("component", ""))):
        out.append(f"{where}: labels.component is {labels.get('component')!r}; every alert names its component "
                   "(seed 004 alert template), e.g. message_bus, document_processing, vectorstore")
    if not re.search(r"/d/[a-z0-9][a-z0-9-]*$", str(ann.get("dashboard_url", ""))):
        out.append(f"{where}: annotations.dashboard_url {ann.get('dashboard_url')!r} must link a dashboard "
                   "(write annotations.dashboard: <uid> in the rule file)")
    summary = ann.get("summary")
    if not isinstance(summary, str) or not _one_sentence(summary):
        out.append(f"{where}: annotations.summary {summary!r} must be one plain sentence ending with '.'")
    desc = ann.get("description")
    if not isinstance(desc, str) or "{{" not in desc or "Impact:" not in desc or "Actions:" not in desc:
        out.append(f"{where}: annotations.description must be templated ({{{{ $value }}}} or {{{{ $labels.x }}}}) "
                   "and contain 'Impact:' and 'Actions:'")
    url = ann.get("runbook_url")
    expected_tail = f"/docs/runbooks/{rule['alert']}.md"
    if not isinstance(url, str) or not url.endswith(expected_tail) or (base_url and not url.startswith(base_url)):
        out.append(f"{where}: annotations.runbook_url {url!r} must point at docs/runbooks/{rule['alert']}.md")
    path = runbook_path(rule["alert"])
    if not path.is_file():
        out.append(f"{where}: runbook {path.relative_to(RUNBOOKS_DIR.parents[1])} does not exist")
    else:
        text = path.read_text(encoding="utf-8")
        missing = [s for s in RUNBOOK_SECTIONS if s not in text]
        if not text.startswith(f"# Runbook: {rule['alert']}") or missing:
            out.append(f"{where}: runbook {path.name} must start with '# Runbook: {rule['alert']}' and have the "
                       f"seed 004 template sections; missing {missing}")
    return out


def lint(specs: Mapping[str, Mapping[str, Any]], catalog: Catalog | None = None,
         base_url: str | None = None) -> list[str]:
    """Every problem found in the rule sets (empty list when clean)."""
    catalog = catalog or load_catalog()
    recorded = _recorded(specs)
    problems: list[str] = []
    for set_name, spec in specs.items():
        for group in spec["groups"]:
            for i, rule in enumerate(group["rules"]):
                name = rule.get("alert") or rule.get("record") or f"rules[{i}]"
                where = f"{set_name}/{group['name']}/{name}"
                try:
                    expr = pp.parse(str(rule.get("expr", "")))
                except Exception as exc:  # the parser raises its own error types
                    problems.append(f"{where}: expr does not parse: {exc}")
                    continue
                _Expr(catalog, recorded, where, problems).visit(expr)
                for key in rule.get("labels") or {}:
                    if key in FORBIDDEN_LABELS:
                        problems.append(f"{where}: labels.{key} is a forbidden high-cardinality label")
                if "alert" in rule:
                    problems += _alert_conventions(rule, where, base_url)
                elif not (_RECORD_NAME.match(rule.get("record", "")) or catalog.has_metric(rule.get("record", ""))):
                    problems.append(f"{where}: recording rule name must follow level:metric:operations (or be a catalog metric it produces)")
    problems += quantile_thresholds.problems(specs, catalog)
    return problems


def coverage(specs: Mapping[str, Mapping[str, Any]], test_docs: Iterable[Mapping[str, Any]]) -> list[str]:
    """Alerts without a firing and a silent promtool case; recording rules without an expression test."""
    firing: set[str] = set()
    silent: set[str] = set()
    generated: dict[str, set[str]] = {}
    expr_tests: list[tuple[str, str]] = []
    for doc in test_docs:
        for test in doc.get("tests") or []:
            name = str(test.get("name", ""))
            kind = next((k for k, prefix in guards.CASE_PREFIX.items() if name.startswith(prefix)), None)
            if kind is not None:
                alert = name[len(guards.CASE_PREFIX[kind]):].strip().split(" ")[0].rstrip(":")
                if any(c.get("exp_alerts") for c in test.get("alert_rule_test") or []):
                    generated.setdefault(alert, set()).add(kind)
                continue
            for case in test.get("alert_rule_test") or []:
                (firing if case.get("exp_alerts") else silent).add(case.get("alertname", ""))
            for case in test.get("promql_expr_test") or []:
                for sample in case.get("exp_samples") or [{"labels": ""}]:
                    expr_tests.append((str(case.get("expr", "")), str(sample.get("labels", ""))))
    problems = []
    for alert, kinds in guards.required_cases(specs).items():
        for kind in sorted(kinds - generated.get(alert, set())):
            problems.append(f"alert {alert} has no generated {kind.replace('_', '-')} case that asserts a firing alert")
    for spec in specs.values():
        for group in spec["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    name = rule["alert"]
                    if name not in firing:
                        problems.append(f"alert {name} has no promtool case where it fires (exp_alerts non-empty)")
                    # An alert that reads no series (the Watchdog heartbeat) fires by construction: it has no silent case.
                    if name not in silent and guards.selectors(str(rule["expr"])):
                        problems.append(f"alert {name} has no promtool case where it stays silent (exp_alerts: [])")
                else:
                    want = [f'{k}="{v}"' for k, v in (rule.get("labels") or {}).items()]
                    if not any(e.startswith(rule["record"]) and all(w in lab for w in want) for e, lab in expr_tests):
                        problems.append(f"recording rule {rule['record']} {want} has no promql_expr_test")
    return sorted(set(problems))
