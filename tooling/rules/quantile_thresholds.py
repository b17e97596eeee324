"""Lint: a number compared with an interpolated histogram quantile must be one of the histogram's bucket bounds.

``histogram_quantile`` knows only how many observations fell in each bucket; inside the bucket that holds the
quantile it interpolates linearly between the bucket's bounds (Prometheus 3.5.0, promql/quantile.go
``BucketQuantile``; the first bucket starts at 0). A threshold ``T`` strictly between two bounds ``lo < T < hi``
is therefore crossed by traffic that never reaches ``T``: with buckets ``1, 2.5`` and every request at 1.1 s the
p95 reads ``1 + 0.95 * 1.5 = 2.425`` and ``> 2`` fires. Compared with a bound, the quantile is exact: ``q-quantile
> B`` holds exactly when more than ``1 - q`` of the observations are above ``B``.

``problems(specs, catalog)`` finds every comparison (``> >= < <= == !=``, ``bool`` or not) in every alert and
recording rule whose one side is a quantile and whose other side is a number (a literal, ``vector(<n>)``,
``scalar(<n>)``, or arithmetic of them, e.g. ``0.8 * 240``). A quantile is ``histogram_quantile(q, ...)`` over
catalog ``_bucket`` series or over a recorded series of them (``sum without (run_id) (x_bucket)``), or a recorded
series whose rule is such a quantile (a recorded p99 compared in another rule, records of records), possibly
under ``max``/``min``/``avg``/``topk``/``bottomk``, ``max|min|avg|last_over_time`` or parentheses, and possibly
times or over a number (``histogram_quantile(...) * 1000 > 2500`` compares with the bound 2.5). Each problem
names the rule, the histogram family, the number and its neighbouring bounds (``catalog/metrics.yaml``).

Refused as unreadable, with a message saying why: a comparison of anything else built on a quantile (a ``sum``
of quantiles, ``quantile + 1``, recorded or not), and a quantile compared with an expression that is no number
(a series, ``time()``), whose value the lint cannot know.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import promql_parser as pp

from components.rules.catalog import Catalog
from components.rules.thresholds import format_number

COMPARISONS = frozenset({">", ">=", "<", "<=", "==", "!="})
_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": math.fmod, "^": math.pow,
}
_SAME_SCALE_AGGREGATIONS = frozenset({"max", "min", "avg", "topk", "bottomk"})
_SAME_SCALE_OVER_TIME = frozenset({"max_over_time", "min_over_time", "avg_over_time", "last_over_time"})
_FIX = ("Accepted: compare with a bound, or alert on the fraction of observations above a bound "
        '(1 - rate(<family>_bucket{le="<bound>"}) / rate(<family>_bucket{le="+Inf"}), exact) and print the bound '
        "measured ({{threshold_text:<name>}}), or add a bucket at the threshold to the application and the catalog")


@dataclass(frozen=True)
class Quantile:
    """What a quantile-valued expression is a quantile of: ``q`` (None when not a literal) of these families."""

    q: float | None
    families: frozenset[str]
    scale: float = 1.0  # the expression is the quantile times this (``histogram_quantile(...) * 1000``: 1000)


def _rules(specs: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, int, dict[str, Any]]]:
    return [(set_name, g["name"], i, r) for set_name, s in specs.items() for g in s["groups"]
            for i, r in enumerate(g["rules"])]


def _parse(rule: Mapping[str, Any]) -> Any:
    try:
        return pp.parse(str(rule.get("expr", "")))
    except Exception:  # the parser raises its own error types; lint.py reports unparsable rules
        return None


def _nodes(expr: Any) -> list[Any]:
    found: list[Any] = []
    pp.walk(expr, found.append)
    return found


class _Resolver:
    """Histogram families behind selectors, through recording rules."""

    def __init__(self, specs: Mapping[str, Mapping[str, Any]], catalog: Catalog) -> None:
        self.catalog = catalog
        parsed = [(r["record"], expr) for *_, r in _rules(specs) if "record" in r if (expr := _parse(r)) is not None]
        # Records built on a quantile (directly or through other records): never bucket series.
        on_quantile: set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, expr in parsed:
                if name not in on_quantile and any(
                        (isinstance(n, pp.Call) and n.func.name == "histogram_quantile")
                        or (isinstance(n, pp.VectorSelector) and n.name in on_quantile) for n in _nodes(expr)):
                    on_quantile.add(name)
                    changed = True
        # Recorded bucket series (e.g. a sum without a per-run label), to a fixed point: records may chain.
        self.buckets: dict[str, frozenset[str]] = {}
        changed = True
        while changed:
            changed = False
            for name, expr in parsed:
                if name in on_quantile:
                    continue
                fams = frozenset(f for n in _nodes(expr) if isinstance(n, pp.VectorSelector)
                                 for f in self.bucket_families(n.name or ""))
                if fams - self.buckets.get(name, frozenset()):
                    self.buckets[name] = self.buckets.get(name, frozenset()) | fams
                    changed = True
        # Recorded quantiles: a record that is a quantile, possibly scaled by a number (one name may have several
        # rules; a name recorded with two scales has none). Every other record on a quantile is derived (sum, +).
        self.quantiles: dict[str, Quantile] = {}
        self.derived: set[str] = set()
        for _ in range(len(parsed) + 1):  # records may chain; each pass resolves one more link
            quantiles: dict[str, Quantile] = {}
            for name, expr in parsed:
                found = self.quantile(expr) if name in on_quantile else None
                old = quantiles.get(name)
                if found is not None:
                    quantiles[name] = found if old is None else Quantile(
                        old.q if old.q == found.q else None, old.families | found.families,
                        old.scale if old.scale == found.scale else math.nan)
            derived = {name for name in on_quantile if name not in quantiles}
            if (quantiles, derived) == (self.quantiles, self.derived):
                break
            self.quantiles, self.derived = quantiles, derived
        self.quantiles = {k: v for k, v in self.quantiles.items() if not math.isnan(v.scale)}
        self.derived |= on_quantile - set(self.quantiles)

    def bucket_families(self, series: str) -> frozenset[str]:
        if series.endswith("_bucket") and self.catalog.has_metric(series):
            family = self.catalog.family(series)
            if family.type == "histogram":
                return frozenset({family.name})
        return self.buckets.get(series, frozenset())

    def of_call(self, call: Any) -> Quantile:
        q = call.args[0].val if isinstance(call.args[0], pp.NumberLiteral) else None
        fams = frozenset(f for n in _nodes(call.args[1]) if isinstance(n, pp.VectorSelector)
                         for f in self.bucket_families(n.name or ""))
        return Quantile(q, fams)

    def quantile(self, node: Any) -> Quantile | None:
        """The quantile a value-preserving expression returns, possibly scaled by a number, or None."""
        node = _unwrap(node)
        if isinstance(node, pp.Call) and node.func.name == "histogram_quantile":
            return self.of_call(node)
        if isinstance(node, pp.VectorSelector) and node.name in self.quantiles:
            return self.quantiles[node.name]
        if isinstance(node, pp.BinaryExpr) and str(node.op) in ("*", "/"):
            for inner, factor, divides in ((node.lhs, constant(node.rhs), str(node.op) == "/"),
                                           (node.rhs, constant(node.lhs), False)):
                if factor is None or (str(node.op) == "/" and inner is node.rhs) or factor == 0:
                    continue
                found = self.quantile(inner)
                if found is not None:
                    return Quantile(found.q, found.families, found.scale / factor if divides else found.scale * factor)
        return None

    def mentions_quantile(self, node: Any) -> bool:
        return any((isinstance(n, pp.Call) and n.func.name == "histogram_quantile")
                   or (isinstance(n, pp.VectorSelector) and (n.name in self.quantiles or n.name in self.derived))
                   for n in _nodes(node))


def _unwrap(node: Any) -> Any:
    """Strip what keeps a sample's value: parentheses, max/min/avg/topk/bottomk, *_over_time, label_*."""
    while True:
        if isinstance(node, (pp.ParenExpr, pp.SubqueryExpr)):
            node = node.expr
        elif isinstance(node, pp.MatrixSelector):
            node = node.vector_selector
        elif isinstance(node, pp.AggregateExpr) and str(node.op) in _SAME_SCALE_AGGREGATIONS:
            node = node.expr
        elif isinstance(node, pp.Call) and (node.func.name in _SAME_SCALE_OVER_TIME
                                            or node.func.name in ("label_replace", "label_join")):
            node = node.args[0]
        else:
            return node


def constant(node: Any) -> float | None:
    """The number a literal expression (``240``, ``0.8 * 240``, ``-(1)``, ``vector(2)``, ``scalar(vector(2))``)
    evaluates to, else None."""
    if isinstance(node, pp.NumberLiteral):
        return float(node.val)
    if isinstance(node, pp.ParenExpr):
        return constant(node.expr)
    if isinstance(node, pp.Call) and node.func.name in ("vector", "scalar") and len(node.args) == 1:
        return constant(node.args[0])
    if isinstance(node, pp.UnaryExpr):
        inner = constant(node.expr)
        return None if inner is None else -inner
    if isinstance(node, pp.BinaryExpr) and str(node.op) in _ARITHMETIC:
        lhs, rhs = constant(node.lhs), constant(node.rhs)
        if lhs is None or rhs is None:
            return None
        try:
            return _ARITHMETIC[str(node.op)](lhs, rhs)
        except (ZeroDivisionError, ValueError, OverflowError):
            return None
    return None


def neighbours(buckets: tuple[float, ...], value: float) -> tuple[float | None, float | None]:
    """The bounds around ``value``: (largest below, smallest above); the first bucket starts at 0 when its bound is
    positive, as histogram_quantile assumes; None where there is none."""
    lows = [b for b in buckets if b < value] or ([0.0] if buckets and buckets[0] > 0 and value > 0 else [])
    highs = [b for b in buckets if b > value]
    return (max(lows) if lows else None, min(highs) if highs else None)


def threshold_problem(where: str, quantile: Quantile, family: str, buckets: tuple[float, ...], value: float,
                      above: bool = True) -> str | None:
    """Why comparing ``quantile`` of ``family`` with ``value`` is unsound, or None when ``value`` is a bound (of
    the quantile's scale: ``histogram_quantile(...) * 1000 > 2500`` compares with the bound 2.5).
    ``above``: the rule holds when the quantile is above ``value`` (``q > T``, ``T < q``)."""
    shown_value = format_number(value)
    if quantile.scale != 1:
        above = above if quantile.scale > 0 else not above
        value = value / quantile.scale
        shown_value += f" ({format_number(round(value, 12))} in {family}'s unit: the quantile is scaled by {format_number(quantile.scale)})"
    if any(math.isclose(value, b, rel_tol=1e-9, abs_tol=1e-12) for b in buckets):
        return None
    if not buckets:
        return (f"{where}: compares a quantile of {family} with {shown_value}, but the catalog declares no "
                f"buckets for {family}; add them (catalog/metrics.yaml buckets: [...]) so the bounds can be checked")
    lo, hi = neighbours(buckets, value)
    shown = "[" + ", ".join(format_number(b) for b in buckets) + "]"
    what = f"the {format_number(quantile.q)}-quantile" if quantile.q is not None else "a quantile"
    head = f"{where}: compares {what} of {family} (histogram_quantile) with {shown_value}, which is not a bucket bound"
    if hi is None:
        return (f"{head}: it is above the largest finite bound {format_number(buckets[-1])}, and histogram_quantile "
                f"never returns more, so the comparison cannot hold (catalog/metrics.yaml buckets of {family}: {shown}). {_FIX}")
    around = f"between the bounds {format_number(lo)} and {format_number(hi)}" if lo is not None else \
        f"below the first bound {format_number(hi)}"
    reads = ""
    if above and lo is not None and quantile.q is not None and 0 <= quantile.q <= 1:
        reads = (f"; every observation just above {format_number(lo)} reads {format_number(round(lo + quantile.q * (hi - lo), 9))}"
                 f" (linear interpolation inside the bucket), so the rule fires on traffic entirely below {format_number(value)}")
    return f"{head}: it lies {around} (catalog/metrics.yaml buckets of {family}: {shown}){reads}. {_FIX}"


def _where(set_name: str, group: str, index: int, rule: Mapping[str, Any], repeated: bool) -> str:
    name = rule.get("alert") or rule.get("record") or f"rules[{index}]"
    labels = rule.get("labels") or {}
    tail = f"[{index}]" + (f" {{{', '.join(f'{k}={v}' for k, v in sorted(labels.items()))}}}" if labels else "")
    return f"{set_name}/{group}/{name}" + (tail if repeated else "")


def problems(specs: Mapping[str, Mapping[str, Any]], catalog: Catalog) -> list[str]:
    """Every comparison of a quantile with a number that is not a bucket bound of its histogram (empty when none)."""
    resolver = _Resolver(specs, catalog)
    rules = _rules(specs)
    counts: dict[tuple[str, str, str], int] = {}
    for set_name, group, _, rule in rules:
        key = (set_name, group, str(rule.get("alert") or rule.get("record")))
        counts[key] = counts.get(key, 0) + 1
    out: list[str] = []
    for set_name, group, index, rule in rules:
        expr = _parse(rule)
        if expr is None:
            continue
        where = _where(set_name, group, index, rule,
                       counts[(set_name, group, str(rule.get("alert") or rule.get("record")))] > 1)
        for node in _nodes(expr):
            if not isinstance(node, pp.BinaryExpr) or str(node.op) not in COMPARISONS:
                continue
            for on_left, side, other in ((True, node.lhs, node.rhs), (False, node.rhs, node.lhs)):
                out += _comparison_problems(where, resolver, catalog, side, other,
                                            above=(str(node.op) in (">", ">=")) == on_left)
    return out


def _comparison_problems(where: str, resolver: _Resolver, catalog: Catalog, side: Any, other: Any,
                         above: bool) -> list[str]:
    """What is wrong with comparing ``side`` (maybe a quantile) with ``other``."""
    if not resolver.mentions_quantile(side):
        return []
    value = constant(other)
    if value is None:
        if resolver.mentions_quantile(other) and resolver.quantile(other) is not None:
            return []  # quantile against quantile: read from the other side, never a threshold
        return [f"{where}: compares a histogram quantile ({side}) with {other}, which is no number the lint can "
                "evaluate, so it cannot check the number against the bucket bounds: compare with a literal "
                "({{threshold:<name>}}), or with the fraction of observations above a bound"]
    quantile = resolver.quantile(side)
    if quantile is None:
        return [f"{where}: compares an expression built on a histogram quantile ({side}) with "
                f"{format_number(value)}; the lint cannot tell which bucket bounds that number must be "
                "(a sum, a difference or another function of quantiles is no quantile): compare the quantile "
                "itself (histogram_quantile, its recorded series, or either times a number)"]
    if not quantile.families:
        return [f"{where}: compares a quantile with {format_number(value)} but its buckets are no "
                "catalog histogram (catalog/metrics.yaml), so the bounds cannot be checked"]
    out = []
    for family in sorted(quantile.families):
        problem = threshold_problem(where, quantile, family, catalog.metrics[family].buckets, value, above)
        if problem:
            out.append(problem)
    return out
