"""Every alert's page as a person reads it: rendered from a firing case by Prometheus's own rule engine, then read.

``render_pages(out)`` builds the rule set (tooling/rules/build.py) under ``out``, runs every test case that
expects an alert to fire (the hand-written promtool cases, the SLO cases and the generated vanish/churn/born
non-zero cases) through ``rule-eval`` on the *annotated* rule groups those cases load, and returns, per alert
rule, the firing alerts with their rendered summary and description and the expression's value.

``problems(page)`` reads one rendered page the way the person paged reads it and names what is wrong:

- a template that failed or left text unexpanded;
- a value printed without a declared unit (a bare ``$value`` rather than ``{{value}}`` with ``unit:``), or a
  printed value that is not the expression's value in that unit (``units.render``);
- a metric named in the text that no target exports and no rule records (catalog/, recording rules);
- a label a selector in the text matches on that its metric does not carry (catalog/), or a log stream
  selector (``{service="x"}`` with no metric name) on a label that is not a stream label (endpoints.STREAM_LABELS).
- a label printed (``{{ $labels.x }}``) that the firing alert does not carry, which reads as a blank.

``rule_problems(rule)`` reads the rule as written: thresholds printed in prose must go through
``{{threshold_text:...}}`` (same formatting as the value); and, from the parsed expression
(tooling/rules/expr_units.py), every threshold compared on the way to the printed value must be in the alert's
unit and compared with the value printed (not before arithmetic), and the value must be what the unit says:
``/s`` from ``rate``/``irate`` unscaled, ``/min`` from ``rate * 60`` or ``increase[1m]``, a noun a count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.rules import thresholds, units
from components.rules.all_rules import load_all_rules
from components.rules.catalog import Catalog
from components.rules.loader import alerts, recording_rules
from components.wiring.endpoints import STREAM_LABELS
from tooling.rule_eval import FiringAlert, evaluate
from tooling.rules import claims, expr_units
from tooling.rules.build import GROUPS_DIR, TEST_CONTEXT, write_rules, write_tests

ANNOTATED_GROUPS_DIR = "groups-annotated"
TEXT_KEYS = ("summary", "description")
# What Go's text/template and Prometheus's expander leave when something went wrong.
TEMPLATE_FAILURES = ("<error expanding template", "error executing template", "<no value>", "{{", "}}")
# A word that names a metric: a series suffix Prometheus naming uses, or a name followed by a selector or range.
_METRIC_SUFFIX = re.compile(r"[a-z][a-z0-9_]*_(?:total|seconds|bytes|ms|count|sum|bucket|ratio|info|created|p\d\d)")
_WORD = re.compile(r"(?<![\w.:/-])([a-z][a-z0-9]*(?:_[a-z0-9]+)+(?::[a-z0-9_]+)*)(\{|\[)?")
# A template that prints $value in a unit: the inverse of units.go_template.
_UNIT_TEMPLATES = [
    (re.compile(r"\{\{ \$value \| humanizeDuration \}\}"), "s"),
    (re.compile(r'\{\{ printf "%\.0f" \$value \}\}ms'), "ms"),
    (re.compile(r"\{\{ \$value \| humanizePercentage \}\}"), "ratio"),
    (re.compile(r"\{\{ \$value \| humanize1024 \}\}B"), "bytes"),
    (re.compile(re.escape(units.go_template("x/s").removesuffix(" x/s")) + r" (\S+/(?:s|min))"), None),
    (re.compile(r'\{\{ printf "%\.0f" \$value \}\} ([a-z][a-z -]*?[a-z])(?=[\s.,;:)]|$)'), None),
]
# A selector written in prose: an optional metric name, then {label op "value", ...}.
_SELECTOR = re.compile(r"(?<![\w{])([a-zA-Z_:][\w:]*)?\{((?:\s*[a-zA-Z_]\w*\s*(?:=~|!~|!=|=)\s*\"[^\"]*\"\s*,?)+)\}")
_MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
# A label printed as such ({{ $labels.x }}); one printed only when present is written {{ with $labels.x }}.
_LABEL_PRINT = re.compile(r"\{\{\s*\$labels\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class RuleRef:
    """One alerting rule of the built set: where it is and what it says before rendering."""

    set_name: str
    group: str
    index: int
    rule: Mapping[str, Any]

    @property
    def alert(self) -> str:
        return str(self.rule["alert"])

    @property
    def static_labels(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.rule.get("labels") or {}).items() if "{{" not in str(v)}

    def matches(self, fired: FiringAlert) -> bool:
        return fired.name == self.alert and all(fired.labels.get(k) == v for k, v in self.static_labels.items())

    def __str__(self) -> str:
        labels = ",".join(f"{k}={v}" for k, v in sorted(self.static_labels.items()) if k in ("service", "slo", "job", "severity"))
        return f"{self.set_name}/{self.group}/{self.alert}{{{labels}}}"


@dataclass
class Page:
    """A rule and the alerts it fired in the cases, each with its rendered annotations."""

    ref: RuleRef
    fired: list[tuple[str, FiringAlert]] = field(default_factory=list)  # (case name @ eval time, alert)
    # Alerts firing while their expression no longer returns them: held by keep_firing_for.
    held: list[tuple[str, FiringAlert]] = field(default_factory=list)


def value_units(text: str) -> list[str]:
    """The units in which ``text`` (an annotation before rendering) prints ``$value``, in order."""
    found = []
    for pattern, unit in _UNIT_TEMPLATES:
        for m in pattern.finditer(text):
            found.append(unit or m.group(1))
    return found


def bare_values(text: str) -> int:
    """How many times ``text`` prints ``$value`` other than through a unit template."""
    stripped = text
    for pattern, _ in _UNIT_TEMPLATES:
        stripped = pattern.sub("", stripped)
    return stripped.count("$value")


def _annotated_groups(built: Path, specs: Mapping[str, Mapping[str, Any]]) -> Path:
    """Each rule group of ``specs`` as its own file, annotations kept, named as the test copies are."""
    out = built / ANNOTATED_GROUPS_DIR
    out.mkdir(parents=True, exist_ok=True)
    for set_name, spec in specs.items():
        for group in spec["groups"]:
            (out / f"{set_name}--{group['name']}.yaml").write_text(json.dumps({"groups": [group]}), encoding="utf-8")
    return out


def firing_cases(tests_dir: Path, annotated: Path) -> list[dict[str, Any]]:
    """rule-eval cases of every test case that expects an alert to fire, on the annotated group files."""
    cases = []
    for path in sorted(tests_dir.glob("*.test.yaml")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        files = [str(annotated / Path(f).name) for f in doc["rule_files"] if Path(f).parent.name == GROUPS_DIR]
        for case in doc["tests"]:
            times = sorted({t["eval_time"] for t in case.get("alert_rule_test") or [] if t.get("exp_alerts")})
            if not times:
                continue
            cases.append({"name": f"{path.name}: {case.get('name', '')}", "rule_files": files,
                          "interval": case.get("interval", doc.get("evaluation_interval", "1m")),
                          "evaluation_interval": doc.get("evaluation_interval", "1m"),
                          "input_series": case.get("input_series") or [], "eval_times": times,
                          "external_labels": case.get("external_labels") or {}})
    return cases


def alert_refs(specs: Mapping[str, Mapping[str, Any]]) -> list[RuleRef]:
    return [RuleRef(set_name, str(group["name"]), i, rule)
            for set_name, spec in specs.items() for group in spec["groups"]
            for i, rule in enumerate(group["rules"]) if "alert" in rule]


def render_pages(out: Path) -> tuple[dict[str, dict[str, Any]], list[Page]]:
    """Build the rule set under ``out`` and render every alert rule's pages from the cases that fire it."""
    specs = load_all_rules(TEST_CONTEXT)
    write_rules(out / "rules", specs)
    write_tests(out / "tests", out / "rules", specs=specs)
    cases = firing_cases(out / "tests", _annotated_groups(out, specs))
    pages = [Page(ref) for ref in alert_refs(specs)]
    held_refs = [ref for ref in alert_refs(specs) if ref.rule.get("keep_firing_for")]
    for case in cases:  # what a held rule's expression returns at each time, to tell a held alert from a live one
        loaded = {Path(f).name for f in case["rule_files"]}
        case["queries"] = [{"expr": str(ref.rule["expr"]), "eval_time": t, "alert": ref.alert}
                           for ref in held_refs if f"{ref.set_name}--{ref.group}.yaml" in loaded
                           for t in case["eval_times"]]
    results = evaluate(cases)
    for case, result in zip(cases, results, strict=True):
        live = {(q["alert"], q["eval_time"]): answer.samples for q, answer in zip(case["queries"], result.queries, strict=True)}
        for when, fired in result.alerts.items():
            for alert in fired:
                for page in pages:
                    if not page.ref.matches(alert):
                        continue
                    samples = live.get((page.ref.alert, when))
                    held = samples is not None and not any(
                        all(alert.labels.get(k) == v for k, v in labels.items() if k != "__name__") for labels, _ in samples)
                    found = page.held if held else page.fired
                    if len(found) < 3:
                        found.append((f"{case['name']} @ {when}", alert))
    return specs, pages


def known_series(specs: Mapping[str, dict[str, Any]], catalog: Catalog) -> set[str]:
    """Every series name a text may name: the catalog's, the recorded ones, and Prometheus's own ALERTS."""
    return set(catalog.series_names()) | {str(r["record"]) for r in recording_rules(specs)} | {"ALERTS", "ALERTS_FOR_STATE"}


def named_metrics(text: str) -> set[str]:
    """The words of ``text`` that name a metric (a series suffix, or followed by ``{`` or ``[``)."""
    return {m.group(1) for m in _WORD.finditer(text) if m.group(2) or _METRIC_SUFFIX.fullmatch(m.group(1))}


def selector_problems(text: str, catalog: Catalog, recorded: set[str]) -> list[str]:
    """Selectors in ``text`` that match on a label their series never carries."""
    out = []
    for m in _SELECTOR.finditer(text):
        name, names = m.group(1), set(_MATCHER.findall(m.group(2)))
        if not name and text[:m.start()].rstrip().endswith("("):
            continue  # a PromQL selector on every series (count by (__name__) ({job="x"})), not a log stream
        if not name:
            if names - set(STREAM_LABELS):
                out.append(f"log selector {m.group(0)!r} matches on {sorted(names - set(STREAM_LABELS))}, "
                           f"not stream labels (the only ones: {', '.join(STREAM_LABELS)})")
        elif catalog.has_metric(name) and names - catalog.labels(name):
            out.append(f"selector {m.group(0)!r}: {name} carries no label {sorted(names - catalog.labels(name))}")
    return out


def prints(shown: str, text: str) -> bool:
    """Whether ``text`` prints ``shown`` as a whole number ("60 events" does not print "0 events")."""
    return re.search(rf"(?<![\w.-]){re.escape(shown)}(?![\w])", text) is not None


def problems(page: Page, known: set[str], catalog: Catalog | None = None) -> list[str]:
    """What is wrong with the rendered pages of one rule (empty when nothing)."""
    out: list[str] = []
    rule = page.ref.rule
    raw = {k: str((rule.get("annotations") or {}).get(k, "")) for k in TEXT_KEYS}
    if not page.fired:
        return [f"{page.ref}: no test case fires it, so its page is never rendered; add a firing case to rules/tests/"]
    out += held_problems(page)
    declared = [u for k in TEXT_KEYS for u in value_units(raw[k])]
    for k in TEXT_KEYS:
        if bare_values(raw[k]):
            out.append(f"{page.ref}: {k} prints $value with no unit; write {{{{value}}}} and declare unit: on the rule")
    for where, alert in page.fired:
        for k in TEXT_KEYS:
            text = alert.annotations.get(k, "")
            if not text.strip():
                out.append(f"{page.ref}: {k} is empty")
            for bad in TEMPLATE_FAILURES:
                if bad in text:
                    out.append(f"{page.ref}: {k} rendered with {bad!r} ({where}): {text[:200]!r}")
        for unit in declared:
            shown = units.render(alert.value, unit)
            if not any(prints(shown, alert.annotations.get(k, "")) for k in TEXT_KEYS):
                out.append(f"{page.ref}: value {alert.value!r} in {unit} reads {shown!r}, which the page does not print ({where})")
        for name in sorted({n for k in TEXT_KEYS for n in _LABEL_PRINT.findall(raw[k])}):
            if not alert.labels.get(name):
                out.append(f"{page.ref}: prints label {name!r}, which the alert does not carry, as a blank ({where})")
        for name in sorted(named_metrics("\n".join(alert.annotations.get(k, "") for k in TEXT_KEYS)) - known):
            out.append(f"{page.ref}: names metric {name!r}, which no target exports and no rule records")
        if catalog is not None:
            text = "\n".join(alert.annotations.get(k, "") for k in TEXT_KEYS)
            out += [f"{page.ref}: {p}" for p in selector_problems(text, catalog, known)]
    return list(dict.fromkeys(out))


NAMED_UNITS = ("s", "ms", "ratio", "bytes")


def expression_unit_problems(expr: str, unit: str) -> list[str]:
    """Where the value an expression returns (read from its parse tree, tooling/rules/expr_units.py) is not
    ``unit``: a ``/s`` rate needs ``rate``/``irate`` unscaled, a ``/min`` one ``rate * 60`` or ``increase[1m]``,
    a noun a count (never a rate); every threshold compared on the way to the printed value is in ``unit``."""
    try:
        tree = expr_units.parse_raw(expr)
    except Exception as exc:  # the parser's own error types
        return [f"its expression does not parse ({exc}), so its unit cannot be checked"]
    out = []
    kind = expr_units.value_kind(tree)
    if unit.endswith("/s") and kind.name != "per_s":
        out.append(f"declares a per-second value ({unit}) but its expression returns {kind}: "
                   "accepted: rate()/irate() unscaled (or divided by a count of things)")
    if unit.endswith("/min") and kind.name != "per_min":
        out.append(f"declares a per-minute value ({unit}) but its expression returns {kind}: "
                   "accepted: rate() * 60, increase(x[1m]), or increase(x[<n>m]) / <n>")
    if not units.is_rate(unit) and unit not in NAMED_UNITS and kind.name in ("per_s", "per_min"):
        out.append(f"declares a count ({unit}) but its expression returns a rate, {kind}: "
                   "print a count over a window (increase) or declare a rate unit (<noun>/s)")
    known = thresholds.thresholds()
    for compared in expr_units.compared_thresholds(tree):
        threshold = known.get(compared.name)
        if threshold is None:
            continue
        if threshold.unit != unit:
            out.append(f"compares its value ({unit}) with {compared.name}, whose unit is {threshold.unit}")
        if compared.scaled_after:
            out.append(f"compares {compared.name} with a value that arithmetic then changes, so the page prints "
                       "a number other than the one compared; compare the printed value")
    return out


def held_problems(page: Page) -> list[str]:
    """What a held alert's page (keep_firing_for) says during its hold: rendered at a time inside the hold, it
    must claim no count over a window that is no longer true, and must say that it holds (tooling/rules/claims.py)."""
    if not page.ref.rule.get("keep_firing_for"):
        return []
    if not page.held:
        return [f"{page.ref}: holds {page.ref.rule['keep_firing_for']} (keep_firing_for) but no case renders it inside "
                "the hold (firing while its expression returns nothing); add one to rules/tests/"]
    out = []
    for where, alert in page.held:
        rendered = dict(page.ref.rule) | {"annotations": alert.annotations}
        out += [f"{page.ref}: held ({where}): {p}" for p in claims.problems(rendered, {})]
    return out


def claim_problems(ref: RuleRef, records: Mapping[str, Iterable[str]]) -> list[str]:
    """The time claims of one expanded alert rule against its ``for:``, windows and hold (tooling/rules/claims.py);
    ``records``: record name -> its expressions."""
    return [f"{ref}: {p}" for p in claims.problems(ref.rule, records)]


def rule_problems(ref: RuleRef, raw_rule: Mapping[str, Any]) -> list[str]:
    """What is wrong with one alert rule as written in rules/*.yaml (placeholders unexpanded)."""
    out: list[str] = []
    annotations = {k: str(v) for k, v in (raw_rule.get("annotations") or {}).items()}
    text = "\n".join(annotations.get(k, "") for k in TEXT_KEYS)
    for name in re.findall(r"\{\{threshold:([A-Za-z0-9_]+)\}\}", text):
        out.append(f"{ref}: prose prints threshold {name} as a bare number; write {{{{threshold_text:{name}}}}}")
    for name in re.findall(r"\{\{retention_seconds:([A-Za-z0-9_]+)\}\}", text):
        out.append(f"{ref}: prose prints the {name} retention as bare seconds; write {{{{retention_text:{name}}}}}")
    unit = raw_rule.get("unit")
    if isinstance(unit, str):
        out += [f"{ref}: {p}" for p in expression_unit_problems(str(raw_rule.get("expr", "")), unit)]
    return out


def raw_alert_rules(rule_files: Iterable[Path]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """(set, group, index) -> the alert rule as written, for the hand-written rule files."""
    from components.kit import yaml_load

    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    for path in rule_files:
        spec = yaml_load.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in spec.get("groups") or []:
            for i, rule in enumerate(group.get("rules") or []):
                if "alert" in rule:
                    out[(path.stem, str(group["name"]), i)] = rule
    return out


__all__ = ["Page", "RuleRef", "alert_refs", "alerts", "bare_values", "claim_problems", "held_problems", "known_series", "named_metrics", "problems",
           "raw_alert_rules", "render_pages", "rule_problems", "value_units"]
