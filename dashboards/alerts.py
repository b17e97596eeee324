"""Panel thresholds taken from the alert rules themselves, and the expression families that tie a panel to an alert.

A panel that mirrors an alert does not type the alert's number: it names the alert, and its threshold steps are
read off the alert's expression as the loader expands it from ``rules/thresholds.yaml``::

    stat("Diff failure rate", [...], steps=alert_steps(ctx, "DiffFailureRateHigh"))
    timeseries("Error rate by service", [...], overrides=alert_overrides(ctx, "CopilotErrorRateHigh", "service"))

``bounds(ctx)`` lists every alert whose expression is ``<lhs> <comparison> <constant>`` (or the mirror image) as a
``Bound``: the number is evaluated from the expression (``0.8 * 240`` -> 192), so a panel and the alert cannot differ
by a factor the alert applies. A strict comparison becomes the next float after the number, because a Grafana step
colours values ``>=`` its value: ``x > 192`` is the step at 192.00000000000003, ``x < 1`` the base colour below a
step at 1.

An alert in bucket-ratio form (issue 23 item 2: a threshold between two bucket bounds is measured at a bound ``B``)::

    1 - sum(rate(x_bucket{le="B"}[5m])) / sum(rate(x_bucket{le="+Inf"}[5m])) > 1 - q

is read as the quantile it stands for, ``histogram_quantile(q, sum by (le) (rate(x_bucket[5m]))) > B``: with ``B``
a bucket bound below the histogram's highest, the interpolated q-quantile is above ``B`` exactly when more than
``1 - q`` of the observations are (tests/dashboards/test_bucket_ratio_panels.py shows it on Prometheus 3.5.0's engine), so
a quantile panel stepped at ``B`` (seconds, the panel's unit) turns colour when the alert's condition holds, and the
ratio ``1 - q`` never reaches a panel in seconds.

``signature(expr)`` is the shape of an expression with what does not change its value's meaning taken out: label
matchers, range windows, ``by``/``without`` grouping, vector matching, ``or vector(0)`` fallbacks, and the service
part of per-service family names (``copilot_<service>_failures_total`` -> ``copilot_*_failures_total``). A panel
target with the signature of an alert's left-hand side shows the same quantity in the same unit (a ``* 100`` or a
``/ 1000`` changes the signature), so its thresholds must be the alert's: tests/dashboards/test_alert_mirrors.py
checks every such pair on the built dashboards.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import promql_parser as pp

from components import paths
from components.kit import yaml_load
from components.rules.catalog import Catalog, load_catalog
from components.rules.loader import RuleContext, alerts, load_static_rules
from dashboards.builder import GREEN, ORANGE, RED, YELLOW, Steps

# Seed 004 colours by alert severity (warning yellow, error orange, critical red).
SEVERITY_COLOURS = {"info": YELLOW, "warning": YELLOW, "error": ORANGE, "critical": RED}
_COMPARISONS = {">", ">=", "<", "<="}
_FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
# Functions whose value grows with their window: the window is part of the quantity.
_EXTENSIVE = frozenset({"increase", "delta", "changes", "resets", "count_over_time", "sum_over_time"})
# Grafana's macros as Prometheus receives them, each its own duration so that a count over the dashboard's range
# never passes for a count over an alert's fixed window.
_MACROS = re.compile(r"\$\{?(__rate_interval|__interval|__range|__auto)(?::\w+)?\}?")
_MACRO_DURATIONS = {"__range": "1234567s", "__rate_interval": "17s", "__interval": "17s", "__auto": "17s"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")
_ARITHMETIC = {"+": float.__add__, "-": float.__sub__, "*": float.__mul__, "/": float.__truediv__}


class MirrorError(ValueError):
    """A panel names an alert (or alert labels) with no comparison to a constant; the message lists what exists."""


@dataclass(frozen=True)
class Bound:
    """One alert rule's comparison: ``lhs op value`` (value in the unit ``lhs`` returns)."""

    alert: str
    labels: Mapping[str, str]  # the rule's own labels (severity, service, ...)
    lhs: str
    op: str  # > >= < <=
    value: float
    expr: str = ""  # the whole alert expression
    # Bucket-ratio form: the share of observations above ``value`` the alert compares with (1 - q), else None.
    slow_ratio: float | None = None

    @property
    def severity(self) -> str:
        return str(self.labels.get("severity", ""))

    @property
    def colour(self) -> str:
        return SEVERITY_COLOURS.get(self.severity, RED)

    @property
    def higher_is_worse(self) -> bool:
        return self.op in (">", ">=")

    @property
    def step(self) -> float:
        """The Grafana step value that colours exactly the values the comparison holds for (higher side)."""
        if self.op == ">":
            return math.nextafter(self.value, math.inf)
        if self.op == "<=":
            return math.nextafter(self.value, math.inf)
        return self.value

    def matches(self, alert: str, labels: Mapping[str, str]) -> bool:
        return self.alert == alert and all(self.lhs_matchers().get(k, self.labels.get(k)) == v for k, v in labels.items())

    def lhs_matchers(self) -> dict[str, str]:
        """Equality matchers of the left-hand side (e.g. queue="parsing"), label -> value."""
        return equality_matchers(self.lhs)


def _constant(node: Any) -> float | None:
    """The value of an expression made of number literals and + - * / only, else None."""
    node = _unparen(node)
    if isinstance(node, pp.NumberLiteral):
        return float(node.val)
    if isinstance(node, pp.UnaryExpr):
        inner = _constant(node.expr)
        return None if inner is None else -inner
    if isinstance(node, pp.BinaryExpr) and str(node.op) in _ARITHMETIC:
        left, right = _constant(node.lhs), _constant(node.rhs)
        if left is None or right is None:
            return None
        return _ARITHMETIC[str(node.op)](left, right)
    return None


def _unparen(node: Any) -> Any:
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    return node


def comparison(expr: str) -> tuple[str, str, float] | None:
    """(left-hand side, op, constant) of ``lhs op constant`` or ``constant op lhs``; None for any other shape."""
    node = _unparen(pp.parse(expr))
    if not isinstance(node, pp.BinaryExpr) or str(node.op) not in _COMPARISONS:
        return None
    if node.modifier is not None and getattr(node.modifier, "return_bool", False):
        return None
    right = _constant(node.rhs)
    if right is not None and _constant(node.lhs) is None:
        return str(node.lhs), str(node.op), right
    left = _constant(node.lhs)
    if left is not None and right is None:
        return str(node.rhs), _FLIP[str(node.op)], left
    return None


# The bucket-ratio form the rules lint accepts (tooling/rules/quantile_thresholds.py); the error names it.
BUCKET_RATIO_FORM = ('1 - sum[ by (...)](rate(<family>_bucket{..., le="<B>"}[w])) / sum[ by (...)](rate(<family>_bucket{..., le="+Inf"}[w])) '
                     '> <1 - q>, with B a bucket bound below the family\'s highest')
_LE = re.compile(r'\ble="([^"]*)"')


def _bucket_selectors(node: Any) -> list[Any]:
    found: list[Any] = []
    pp.walk(node, lambda n: found.append(n) if isinstance(n, pp.VectorSelector) and (n.name or "").endswith("_bucket") else None)
    return found


def _le(selector: Any) -> str | None:
    return next((m.value for m in selector.matchers.matchers if m.name == "le" and str(m.op) == "MatchOp.Equal"), None)


def _without_le(text: str) -> str:
    """An expression's text with its ``le="..."`` matchers taken out."""
    return re.sub(r"\{,|,\}", lambda m: m.group(0).replace(",", ""), _LE.sub("", text).replace(",,", ","))


def bucket_ratio(lhs: str, op: str, value: float, catalog: Catalog | None = None) -> tuple[str, float, float] | None:
    """``(quantile expression, B, q)`` of an alert ``lhs op value`` in bucket-ratio form, None for any alert that
    selects no ``le`` bucket; MirrorError for one that does in another form (it cannot be shown as a quantile).

    The quantile expression is ``histogram_quantile(q, sum by (le, <the ratio's grouping>) (rate(<the buckets,
    le taken out>[w])))``, q = 1 - value; B (the numerator's ``le``) is checked against the catalog: a bound of the
    family, and not its highest finite one (a quantile in the ``+Inf`` bucket reads that bound, never above it).
    """
    node = _unparen(pp.parse(lhs))
    selectors = _bucket_selectors(node)
    if not any(_le(sel) is not None for sel in selectors) or (isinstance(node, pp.Call) and node.func.name == "histogram_quantile"):
        return None
    div = _unparen(node.rhs) if isinstance(node, pp.BinaryExpr) and str(node.op) == "-" and _constant(node.lhs) == 1.0 else None
    parts = [_unparen(div.lhs), _unparen(div.rhs)] if isinstance(div, pp.BinaryExpr) and str(div.op) == "/" and div.modifier is None else []
    shaped = (op == ">" and 0 < value < 1 and len(parts) == 2 and len(selectors) == 2
              and all(isinstance(p, pp.AggregateExpr) and str(p.op) == "sum" and isinstance(p.expr, pp.Call)
                      and p.expr.func.name == "rate" and (p.modifier is None or str(p.modifier.type).endswith("By")) for p in parts)
              and _le(_bucket_selectors(parts[1])[0]) == "+Inf" and _le(_bucket_selectors(parts[0])[0]) not in (None, "+Inf")
              and _without_le(str(parts[0])) == _without_le(str(parts[1])))
    if not shaped:
        raise MirrorError(f"{lhs.strip()} {op} {value:g}: compares a share of histogram buckets in a form no panel can show as "
                          f"a quantile; accepted: {BUCKET_RATIO_FORM}")
    numerator = parts[0]
    series, bound = _bucket_selectors(numerator)[0].name, float(str(_le(_bucket_selectors(numerator)[0])))
    catalog = catalog or load_catalog()
    if catalog.has_metric(series):
        finite = catalog.family(series).buckets
        if bound not in finite or bound >= max(finite):
            raise MirrorError(f"{lhs.strip()}: le={bound:g} of {series} must be a bucket bound below its highest {max(finite):g} "
                              f"(catalog buckets {list(finite)}); accepted: {BUCKET_RATIO_FORM}")
    by = [] if numerator.modifier is None else [str(label) for label in numerator.modifier.labels]
    q = round(1 - value, 12)
    quantile = f"histogram_quantile({q!r}, sum by ({', '.join(['le', *by])}) ({_without_le(str(numerator.expr))}))"
    return quantile, bound, q


_SPECS: dict[tuple[str, tuple[tuple[str, Any], ...]], list[Bound]] = {}


def rule_context(namespace: str, retention_seconds: Mapping[str, float]) -> RuleContext:
    """The loader context of a stack (only its namespace and retention reach an expression)."""
    return RuleContext(namespace=namespace, runbook_base_url="", retention_seconds={k: int(v) for k, v in retention_seconds.items()})


def bounds(ctx: RuleContext) -> list[Bound]:
    """Every alert of the hand-written rule files that compares an expression with a constant (cached per stack)."""
    key = (ctx.namespace, tuple(sorted(ctx.retention_seconds.items())))
    if key not in _SPECS:
        _SPECS[key] = bounds_of(load_static_rules(ctx).values())
    return _SPECS[key]


def bounds_of(specs: Iterable[Mapping[str, Any]]) -> list[Bound]:
    """The bounds of PrometheusRule specs ({groups: [{rules: [...]}]}), e.g. the rule files of a render."""
    out = []
    for rule in alerts({str(i): dict(spec) for i, spec in enumerate(specs)}):
        found = comparison(rule["expr"])
        if found is None:
            continue
        lhs, op, value = found
        labels = dict(rule.get("labels") or {})
        try:
            quantile = bucket_ratio(lhs, op, value)
        except MirrorError as error:
            raise MirrorError(f"alert {rule['alert']!r} {labels}: {error}") from None
        if quantile is None:
            out.append(Bound(rule["alert"], labels, lhs, op, value, rule["expr"]))
        else:  # more than `value` of the observations above B: the quantile 1 - value above B
            out.append(Bound(rule["alert"], labels, quantile[0], ">", quantile[1], rule["expr"], slow_ratio=value))
    return out


def find_bounds(ctx: RuleContext, alert: str, **labels: str) -> list[Bound]:
    """The bounds of ``alert`` whose labels (or left-hand side equality matchers) include ``labels``."""
    found = [b for b in bounds(ctx) if b.matches(alert, labels)]
    if not found:
        known = sorted({(b.alert, tuple(sorted(b.labels.items()))) for b in bounds(ctx) if b.alert == alert})
        raise MirrorError(f"alert {alert!r} with labels {labels}: no rule compares an expression with a constant; "
                          f"accepted: an alert of rules/*.yaml of the form '<expr> > <number>' (found for {alert}: {known})")
    return found


def steps_of(found: Iterable[Bound]) -> Steps:
    """Threshold steps of one or more bounds of the same direction (e.g. a warning and a critical alert of one expression)."""
    found = sorted({(b.alert, b.op, b.value, b.colour): b for b in found}.values(), key=lambda b: b.value)
    directions = {b.higher_is_worse for b in found}
    if len(directions) != 1:
        raise MirrorError(f"bounds {[(b.alert, b.op, b.value) for b in found]} point in both directions; accepted: one direction per panel")
    if directions.pop():
        return Steps(GREEN, tuple((b.step, b.colour) for b in found))
    # Lower is worse: the worst colour is the base, each step up is the next better one, green above the highest.
    colours = [b.colour for b in found]
    return Steps(colours[0], tuple((b.step, colours[i + 1] if i + 1 < len(colours) else GREEN) for i, b in enumerate(found)))


def alert_steps(ctx: RuleContext, *refs: str | tuple[str, Mapping[str, str]]) -> Steps:
    """The steps of the alerts ``refs`` (a name, or (name, labels) to pick one rule of several), read off their rules."""
    found: list[Bound] = []
    for ref in refs:
        name, labels = (ref, {}) if isinstance(ref, str) else ref
        matched = find_bounds(ctx, name, **labels)
        if len({(b.op, b.value) for b in matched}) != 1:
            raise MirrorError(f"alert {name!r} {dict(labels)}: its rules compare with different numbers "
                              f"{sorted({(b.op, b.value) for b in matched})}; accepted: labels naming one (or alert_overrides)")
        found.append(matched[0])
    return steps_of(found)


def alert_overrides(ctx: RuleContext, alert: str, label: str, names: Mapping[str, str] | None = None) -> tuple[dict[str, Any], ...]:
    """Per-series thresholds of an alert with one rule per value of ``label`` (service, queue ...).

    Each rule's steps go to the series whose display name is that label value (the panel's legend is ``{{label}}``;
    ``names`` maps a label value to another display name). Grafana field overrides, "Fields with name".
    """
    per_value: dict[str, list[Bound]] = {}
    for bound in find_bounds(ctx, alert):
        value = bound.lhs_matchers().get(label, bound.labels.get(label))
        if value is None:
            raise MirrorError(f"alert {alert!r}: a rule has no label or matcher {label!r}; accepted: a label that tells its rules apart")
        per_value.setdefault(value, []).append(bound)
    return tuple(
        {"matcher": {"id": "byName", "options": (names or {}).get(value, value)},
         "properties": [{"id": "thresholds", "value": steps_of(found).model()},
                        {"id": "custom.thresholdsStyle", "value": {"mode": "line+area"}}]}
        for value, found in sorted(per_value.items())
    )


def born_window(ctx: RuleContext, alert: str, series: str) -> str:
    """The offset ``w`` of ``series unless series offset w`` in ``alert``'s expression (the window it counts births
    in); MirrorError naming what exists when no rule of ``alert`` reads ``series`` that way."""
    found: set[str] = set()
    for rule in alerts(load_static_rules(ctx)):
        if rule["alert"] != alert:
            continue

        def visit(node: Any) -> bool:
            if isinstance(node, pp.BinaryExpr) and str(node.op) == "unless":
                lhs, rhs = _unparen(node.lhs), _unparen(node.rhs)
                if (isinstance(lhs, pp.VectorSelector) and isinstance(rhs, pp.VectorSelector) and lhs.name == rhs.name == series
                        and rhs.offset is not None):
                    found.add(_duration(rhs.offset.total_seconds()))
            return True

        pp.walk(pp.parse(rule["expr"]), visit)
    if len(found) != 1:
        raise MirrorError(f"alert {alert!r}: reads {series} as 'S unless S offset <w>' with windows {sorted(found)}; "
                          "accepted: exactly one window (the loss alerts' born-non-zero form)")
    return found.pop()


def _alert_nodes(ctx: RuleContext, alert: str, kind: type) -> list[Any]:
    """Every node of type ``kind`` in the expressions of ``alert``'s rules."""
    found: list[Any] = []
    for rule in alerts(load_static_rules(ctx)):
        if rule["alert"] == alert:
            pp.walk(pp.parse(rule["expr"]), lambda n: found.append(n) if isinstance(n, kind) else None)
    return found


def alert_matcher(ctx: RuleContext, alert: str, label: str) -> str:
    """The one matcher on ``label`` of ``alert``'s selectors, as PromQL text (``queue=~".+[.]failed"``), so a panel
    selects the series the alert reads; MirrorError when the selectors disagree or none matches on ``label``."""
    ops = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}
    found = {(ops[str(m.op)], m.value) for sel in _alert_nodes(ctx, alert, pp.VectorSelector) for m in sel.matchers.matchers
             if m.name == label}
    if len(found) != 1:
        raise MirrorError(f"alert {alert!r}: matchers on {label!r} {sorted(found)}; accepted: one matcher, the same in every selector")
    op, value = found.pop()
    return f'{label}{op}"{value}"'


def alert_window(ctx: RuleContext, alert: str, func: str) -> str:
    """The range of the one ``func(...[w])`` call of ``alert`` (e.g. delta over 30m -> "30m")."""
    found = {_duration(n.args[-1].range.total_seconds()) for n in _alert_nodes(ctx, alert, pp.Call)
             if n.func.name == func and isinstance(n.args[-1], pp.MatrixSelector)}
    if len(found) != 1:
        raise MirrorError(f"alert {alert!r}: {func}() windows {sorted(found)}; accepted: exactly one")
    return found.pop()


def _duration(seconds: float) -> str:
    """A PromQL duration for whole seconds: 900 -> "15m", 3600 -> "1h", 17 -> "17s"."""
    whole = int(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


# ---- expression families ----------------------------------------------------------------------------------------


@cache
def _per_service_prefixes() -> tuple[re.Pattern[str], ...]:
    """``<system>_(<service>|...)_`` of every system whose catalog declares per-service families."""
    data = yaml_load.safe_load(paths.CATALOG_FILE.read_text(encoding="utf-8")) or {}
    out = []
    for system, body in (data.get("systems") or {}).items():
        services = ((body or {}).get("per_service") or {}).get("services") or []
        if services:
            out.append(re.compile(rf"^{re.escape(system)}_(?:{'|'.join(map(re.escape, services))})_"))
    return tuple(out)


def family_stem(name: str) -> str:
    """A metric name with its service part replaced by ``*`` for per-service families."""
    for prefix in _per_service_prefixes():
        match = prefix.match(name)
        if match:
            return name[: match.start()] + match.group(0).split("_", 1)[0] + "_*_" + name[match.end():]
    return name


def _selector_stem(node: Any) -> str:
    if node.name:
        return family_stem(node.name)
    for m in node.matchers.matchers:
        if m.name == "__name__":
            # {__name__=~"copilot_.+_failures_total"}: the regex's service wildcard is the stem's *.
            return re.sub(r"\.[+*]", "*", m.value)
    return "?"


def _sig(node: Any) -> str:
    node = _unparen(node)
    if isinstance(node, pp.VectorSelector):
        return _selector_stem(node)
    if isinstance(node, pp.MatrixSelector):
        return _sig(node.vector_selector)  # the window of a function that does not scale with it (rate, max_over_time)
    if isinstance(node, pp.SubqueryExpr):
        return _sig(node.expr)
    if isinstance(node, pp.NumberLiteral):
        return format(float(node.val), "g")
    if isinstance(node, pp.StringLiteral):
        return repr(node.val)
    if isinstance(node, pp.UnaryExpr):
        return f"-{_sig(node.expr)}"
    if isinstance(node, pp.Call):
        args = [_sig(a) for a in node.args]
        if node.func.name in _EXTENSIVE and node.args and isinstance(_unparen(node.args[-1]), pp.MatrixSelector):
            args[-1] += f"[{_unparen(node.args[-1]).range}]"  # increase over 15m is not increase over the range
        return f"{node.func.name}({', '.join(args)})"
    if isinstance(node, pp.AggregateExpr):
        param = f"{_sig(node.param)}, " if node.param is not None else ""
        return f"{node.op}({param}{_sig(node.expr)})"
    if isinstance(node, pp.BinaryExpr):
        op = str(node.op)
        # `x or vector(0)` shows x (0 when absent): the same quantity.
        if op == "or" and _unparen(node.rhs).__class__ is pp.Call and _unparen(node.rhs).func.name == "vector":
            return _sig(node.lhs)
        return f"({_sig(node.lhs)} {op} {_sig(node.rhs)})"
    return type(node).__name__


def grafana_to_promql(expr: str) -> str:
    """A panel query as Prometheus receives it: macros become durations (the range its own), variables ``$var``."""
    return _VARIABLE.sub("$var", _MACROS.sub(lambda m: _MACRO_DURATIONS[m.group(1)], expr)).replace("$var", "__var__")


def signature(expr: str) -> str:
    """The expression family of ``expr`` (PromQL, Grafana macros already substituted)."""
    return _sig(pp.parse(expr))


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects by name; a ``__name__`` regex is returned as ``~<regex>``."""
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, pp.VectorSelector):
            if node.name:
                names.add(node.name)
            names.update(f"~{m.value}" for m in node.matchers.matchers if m.name == "__name__")
        return True

    pp.walk(pp.parse(expr), visit)
    return names


def equality_matchers(expr: str) -> dict[str, str]:
    """label -> value of every ``label="value"`` matcher of the expression (the last one wins)."""
    out: dict[str, str] = {}

    def visit(node: Any) -> bool:
        if isinstance(node, pp.VectorSelector):
            out.update({m.name: m.value for m in node.matchers.matchers if str(m.op).endswith("Equal") and "Not" not in str(m.op)
                        and m.name != "__name__"})
        return True

    pp.walk(pp.parse(expr), visit)
    return out


# ---- the drift check: panels of an alert's family carry the alert's thresholds ---------------------------------


def _names(expr: str, series: Iterable[str]) -> set[str]:
    """Concrete metric names of an expression; a ``__name__`` regex is resolved against ``series`` (the catalog)."""
    out: set[str] = set()
    for name in metric_names(expr):
        if name.startswith("~"):
            out.update(s for s in series if re.fullmatch(name[1:], s))
        else:
            out.add(name)
    return out


def applies(bound: Bound, expr: str, series: Iterable[str]) -> bool:
    """Whether a panel query ``expr`` (PromQL as Prometheus receives it) shows the quantity ``bound`` compares: the
    same family, a metric in common, no matcher selecting other series (queue="chunking" against queue="parsing")."""
    if signature(expr) != signature(bound.lhs):
        return False
    return bool(_names(expr, series) & _names(bound.lhs, series)) and _compatible(expr, bound.lhs_matchers())


def reads(bound: Bound, expr: str, series: Iterable[str]) -> bool:
    """Whether ``expr`` reads every metric of the alert's left-hand side (another shape of the same quantity),
    and not a count of series (``count(x < 0.5)`` shows how many series are past a line, not the quantity)."""
    names = _names(bound.lhs, series)
    if not names or not names <= _names(expr, series) or not _compatible(expr, bound.lhs_matchers()):
        return False
    if _quantile(expr) != _quantile(bound.lhs):  # a p99 is not a p95 of the same histogram, nor its bucket ratio
        return False
    shape = signature(expr)
    return not shape.startswith("count(") and signature(bound.expr) not in shape


def _quantile(expr: str) -> float | None:
    """q of an expression that is ``histogram_quantile(<number>, ...)`` (parentheses aside), else None."""
    node = _unparen(pp.parse(expr))
    if isinstance(node, pp.Call) and node.func.name == "histogram_quantile" and isinstance(_unparen(node.args[0]), pp.NumberLiteral):
        return float(_unparen(node.args[0]).val)
    return None


def _other_quantile(bound: Bound, expr: str, series: Iterable[str]) -> float | None:
    """q of ``expr`` when it is another quantile of the histogram an alert compares a quantile of, else None."""
    theirs, ours = _quantile(bound.lhs), _quantile(expr)
    if theirs is None or ours is None or ours == theirs or not _compatible(expr, bound.lhs_matchers()):
        return None
    return ours if _names(bound.lhs, series) & _names(expr, series) else None


def _compatible(expr: str, theirs: Mapping[str, str]) -> bool:
    """Whether the matchers of ``expr`` can select the series the alert's equality matchers name (a variable selects any)."""
    ok = True

    def visit(node: Any) -> bool:
        nonlocal ok
        if isinstance(node, pp.VectorSelector):
            for m in node.matchers.matchers:
                if m.name not in theirs or "__var__" in m.value:
                    continue
                op, value = str(m.op), theirs[m.name]
                matched = re.fullmatch(m.value, value) is not None if op.endswith("Re") else m.value == value
                ok &= (not matched) if "Not" in op else matched
        return True

    pp.walk(pp.parse(expr), visit)
    return ok


def aggregation(expr: str) -> tuple[str, ...]:
    """The outer aggregations of an expression, left to right: ``max by (namespace, pod, container)`` per side of a
    ratio, ``-`` for a side not aggregated; a quantile's ``le`` and filters (``and``/``unless``/``or vector(0)``) aside.

    Two expressions of one family aggregating differently show different numbers: ``sum by (container)`` of two
    pods at 95% and 50% of their limits is 72.5%, under a 90% line that ``max by (namespace, pod, container)`` crosses.
    """
    def outer(node: Any) -> tuple[str, ...]:
        node = _unparen(node)
        if isinstance(node, pp.AggregateExpr):
            mod = node.modifier
            kind = "" if mod is None else ("by" if str(mod.type).endswith("By") else "without")
            labels = [] if mod is None else sorted(str(label) for label in mod.labels)
            return (f"{node.op} {kind} ({', '.join(labels)})" if mod is not None else str(node.op),)
        if isinstance(node, pp.BinaryExpr):
            if str(node.op) in ("and", "unless", "or"):  # a filter, a fallback: the left side is shown
                return outer(node.lhs)
            return outer(node.lhs) + outer(node.rhs)
        if isinstance(node, pp.NumberLiteral):
            return ()
        if isinstance(node, pp.Call) and node.func.name == "histogram_quantile":
            return tuple(a.replace("(le, ", "(").replace(", le)", ")").replace("(le)", "()") for a in outer(node.args[1]))
        if isinstance(node, pp.Call) and node.func.name in ("clamp", "clamp_min", "clamp_max", "abs", "round", "label_replace"):
            return outer(node.args[0])
        return ("-",)

    return outer(pp.parse(expr))


_AGG = re.compile(r"^(\w+)(?: (?:by|without) \(([^)]*)\))?$")


def same_crossing(bound: Bound, expr: str) -> bool:
    """Whether a panel query ``expr`` crosses ``bound``'s line exactly when the alert's left-hand side does:

    - the same aggregations, labels the alert fixes aside (its rule labels and equality matchers: a per-service
      rule's ``sum`` is the panel's ``sum by (service)`` series of that service);
    - one outer ``max`` of the panel over the alert's series when higher is worse (``min`` when lower is), and the
      alert takes no sum, average or count: the panel's line is the highest of the alert's values;
    - a count compared with ``> 0``: a sum of non-negative counts is above 0 exactly when one of them is.
    """
    fixed = set(bound.labels) | set(bound.lhs_matchers())

    def norm(aggs: tuple[str, ...]) -> tuple[tuple[str, frozenset[str]], ...]:
        out = []
        for agg in aggs:
            m = _AGG.match(agg)
            op, labels = (m.group(1), m.group(2) or "") if m else (agg, "")
            out.append((op, frozenset(x.strip() for x in labels.split(",") if x.strip()) - fixed))
        return tuple(out)

    theirs, ours = norm(aggregation(bound.lhs)), norm(aggregation(expr))
    if theirs == ours:
        return True
    ops = {op for op, _ in theirs}
    if len(ours) == 1 and ours[0][0] == ("max" if bound.higher_is_worse else "min") and ops <= {"max", "min", "-"}:
        return True
    return bound.op == ">" and bound.value == 0 and len(ours) == len(theirs) == 1 and {ours[0][0], theirs[0][0]} <= {"sum", "max", "-"}


def _levels(thresholds: Mapping[str, Any] | None) -> list[tuple[float, str]]:
    steps = (thresholds or {}).get("steps") or []
    return [(float(s["value"]), str(s["color"])) for s in steps if s.get("value") is not None]


def _base(thresholds: Mapping[str, Any] | None) -> str | None:
    steps = (thresholds or {}).get("steps") or []
    return next((str(s["color"]) for s in steps if s.get("value") is None), None)


def _thresholds(panel: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
    config = panel.get("fieldConfig") or {}
    return config.get("defaults") or {}, list(config.get("overrides") or [])


def _windows(expr: str) -> set[str]:
    """The range and subquery windows an expression reads (``[10m]``, ``[1h:1m]`` -> ``10m``, ``1h``)."""
    return set(re.findall(r"\[\s*([0-9]+[smhdwy]|\$__\w+)\s*(?::[^\]]*)?\]", expr))


def panel_problems(panel: Mapping[str, Any], found: Iterable[Bound], series: Iterable[str]) -> list[str]:
    """Why a panel's thresholds differ from those of the alerts it shows (``found``: every bound of the stack).

    A panel shows an alert's quantity when a query has the family of the alert's left-hand side, or when it has
    thresholds and reads every metric of it (e.g. the same ratio aggregated otherwise). Its thresholds must then be
    the alerts': one step per alert comparing with one number, and per-series overrides (named after the label
    value that tells the rules apart) for an alert with one number per service, queue ...
    """
    series = list(series)
    exprs = [grafana_to_promql(t["expr"]) for t in panel.get("targets") or []
             if "expr" in t and (t.get("datasource") or {}).get("type") == "prometheus"]
    defaults, overrides = _thresholds(panel)
    has_levels = bool(_levels(defaults.get("thresholds"))) or any(
        p.get("id") == "thresholds" for o in overrides for p in o.get("properties", []))
    found = list(found)
    applicable = [b for b in found if any(applies(b, e, series) for e in exprs)]
    title = panel.get("title", "?")
    if has_levels and not applicable:
        applicable += [b for b in found if b not in applicable and any(reads(b, e, series) for e in exprs)]
        # Read otherwise (another aggregation of the same series): over other windows it is another quantity,
        # whose crossing of the alert's number means nothing (a 24h error share under a 10m alert's line). Two
        # forms cross alike over any window and are let through: a count of events against "> 0" (any event in
        # the panel's range is one the alert saw), and a panel reading no window (an age or a gauge, where the
        # alert's window only guards against a vanished series).
        other = sorted({f"panel {title!r}: carries {b.alert}'s thresholds but reads its series over {sorted(_windows(e))}, "
                        f"where the alert reads {sorted(_windows(b.lhs))}"
                        for b in applicable if not (b.op == ">" and b.value == 0)
                        for e in exprs if _windows(e) and _windows(e) != _windows(b.lhs)})
        if other:
            return other
    if has_levels and not applicable:
        # Thresholds on another quantile of an alert's histogram: the bound is right, the quantity is not.
        return sorted({f"panel {title!r}: shows the {q:g}-quantile of {sorted(_names(b.lhs, series))} with thresholds, but "
                       f"{b.alert} {dict(b.labels)} compares its {_quantile(b.lhs):g}-quantile with {b.value:g}"
                       + ("" if b.slow_ratio is None else f" (more than {b.slow_ratio:g} of the observations above it)")
                       for b in found for e in exprs if (q := _other_quantile(b, e, series)) is not None})
    if not has_levels:
        # Without thresholds, a panel that splits an alert's quantity by a label the alert aggregates away (errors by
        # plan under an overall ratio) is a breakdown, not the alert's number: it must carry no line of the alert.
        applicable = [b for b in applicable if all(same_crossing(b, e) for e in exprs if applies(b, e, series))]
    if not applicable:
        return []
    by_alert: dict[str, list[Bound]] = {}
    for b in applicable:
        by_alert.setdefault(b.alert, []).append(b)
    layered = [bs[0] for bs in by_alert.values() if len({(b.op, b.value) for b in bs}) == 1]
    per_series = [b for bs in by_alert.values() if len({(b.op, b.value) for b in bs}) > 1 for b in bs]
    problems = []
    have = (_base(defaults.get("thresholds")), _levels(defaults.get("thresholds")))
    want = steps_of(layered) if layered else Steps()
    if have != (want.base, list(want.levels)) and (layered or have[1]):
        problems.append(f"panel {title!r}: thresholds {have} but its alerts {sorted({(b.alert, b.op, b.value) for b in layered})} "
                        f"give {(want.base, list(want.levels))}")
    # Same thresholds, same aggregation: a panel that sums what the alert takes the max of (or splits a sum the alert
    # compares whole) reads under the line while the alert fires (issue 23 review: "Memory against limit").
    for b in {(b.alert, b.lhs): b for b in applicable}.values():
        for e in exprs:
            if (applies(b, e, series) or reads(b, e, series)) and not same_crossing(b, e):
                problems.append(f"panel {title!r}: aggregates {list(aggregation(e))} but {b.alert} compares {list(aggregation(b.lhs))}; "
                                f"accepted: the alert's aggregation (or its left-hand side, ctx.alert_lhs)")
    named = {(o.get("matcher") or {}).get("options"): o for o in overrides}
    for b in per_series:
        names = {*b.labels.values(), *b.lhs_matchers().values()} - {b.severity}
        steps = [p["value"] for name in names & set(named) for p in named[name].get("properties", []) if p.get("id") == "thresholds"]
        own = steps_of([b])
        if not any((_base(s), _levels(s)) == (own.base, list(own.levels)) for s in steps):
            problems.append(f"panel {title!r}: the series of {b.alert} {dict(b.labels)} has no threshold at {b.op} {b.value:g} "
                            f"(a field override named after one of {sorted(names)})")
    return problems
