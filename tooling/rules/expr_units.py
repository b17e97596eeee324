"""What an alert's expression returns, read from its parse tree: the kind of its value and the thresholds it
is compared with on the way (issue 23, second review: substring checks missed ``increase(x[10m]) * 60`` as
``requests/min``, ``rate(x[5m]) * 600``, ``delta()`` as ``errors/s`` and a threshold compared mid-expression).

``value_kind(expr)`` follows the *value path*: the samples an alert prints as ``$value``. Through parentheses,
aggregations that keep a sample's scale (``sum``, ``max``, ``min``, ``avg``, ``topk``, ``bottomk``), label
functions, the left side of ``and``/``unless``, both sides of ``or``, and the vector side of a filtering
comparison (``x > 5`` and ``5 < x`` both return ``x``). It returns a :class:`Kind`:

- ``per_s``: ``rate``/``irate`` (per second), or that divided by a vector that is no rate (per second per thing);
- ``per_min``: a per-second value times 60, ``increase(x[1m])``, or ``increase(x[w])`` divided by ``w`` in minutes;
- ``count``: ``increase(x[w])`` (``window`` seconds);
- ``delta``: ``delta``/``idelta`` (a gauge's change over a window, no rate);
- ``scaled``: a per-second value or a count times or over a number that makes it neither of the above;
- ``ratio``: one rate or count over another of the same kind;
- ``other``: anything else (a gauge, a series, a function), named.

``compared_thresholds(expr)`` gives every threshold compared on the value path, and whether arithmetic sits
between that comparison and the printed value (then the threshold is not compared with what the page prints).
Thresholds are written ``{{threshold:<name>}}`` in rules/*.yaml; :func:`parse_raw` reads them as selectors
``__threshold__<name>`` so the expression parses, and every other placeholder as a neutral literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import promql_parser as pp

from components.rules import thresholds
from components.rules.catalog import stored_bound

THRESHOLD_PREFIX = "__threshold__"
COMPARISONS = frozenset({">", ">=", "<", "<=", "==", "!="})
SECONDS_PER_MINUTE = 60.0
_KEEP_SCALE_AGGREGATIONS = frozenset({"sum", "max", "min", "avg", "topk", "bottomk"})
_KEEP_VALUE_CALLS = frozenset({"label_replace", "label_join", "sort", "sort_desc"})
_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_]+)(?::([A-Za-z0-9_]+))?\}\}")


@dataclass(frozen=True)
class Kind:
    """What a value is: ``name`` (per_s, per_min, count, delta, scaled, ratio, other), and a detail for messages."""

    name: str
    detail: str = ""
    window: float | None = None  # seconds, for count and delta

    def __str__(self) -> str:
        return f"{self.name} ({self.detail})" if self.detail else self.name


@dataclass(frozen=True)
class Compared:
    """A threshold compared on the value path; ``scaled_after``: arithmetic between it and the printed value."""

    name: str
    scaled_after: bool


def parse_raw(expr: str) -> Any:
    """Parse an expression as written in rules/*.yaml (placeholders unexpanded). Raises the parser's error."""

    def sub(m: re.Match[str]) -> str:
        kind, arg = m.group(1), m.group(2)
        following = expr[m.end():m.end() + 2]
        if kind == "threshold" and arg and re.match(r"[smhdwy]\]|ms", following):
            return thresholds.format_number(thresholds.threshold(arg))  # a range: [{{threshold:x}}s]
        if kind == "threshold" and arg:
            return THRESHOLD_PREFIX + arg
        if kind == "threshold_le" and arg:
            return stored_bound(thresholds.threshold(arg))
        return "0"  # namespace, statefulset, retention: label values or numbers; neutral for the shape

    return pp.parse(_PLACEHOLDER.sub(sub, expr))


def _threshold(node: Any) -> str | None:
    if isinstance(node, pp.ParenExpr):
        return _threshold(node.expr)
    if isinstance(node, pp.VectorSelector) and (node.name or "").startswith(THRESHOLD_PREFIX):
        return str(node.name)[len(THRESHOLD_PREFIX):]
    return None


def _number(node: Any) -> float | None:
    if isinstance(node, pp.NumberLiteral):
        return float(node.val)
    if isinstance(node, pp.ParenExpr):
        return _number(node.expr)
    if isinstance(node, pp.UnaryExpr):
        inner = _number(node.expr)
        return None if inner is None else -inner
    return None


def _scalar_side(node: Any) -> bool:
    return _number(node) is not None or _threshold(node) is not None


def _strip(node: Any) -> Any:
    while True:
        if isinstance(node, pp.ParenExpr) or (isinstance(node, pp.AggregateExpr)
                                              and str(node.op) in _KEEP_SCALE_AGGREGATIONS):
            node = node.expr
        elif isinstance(node, pp.Call) and node.func.name in _KEEP_VALUE_CALLS:
            node = node.args[0]
        else:
            return node


def _value_sides(node: Any) -> list[Any]:
    """The operands whose samples a binary expression returns."""
    op = str(node.op)
    if op in ("and", "unless"):
        return [node.lhs]
    if op == "or":
        return [node.lhs, node.rhs]
    if op in COMPARISONS:
        if node.modifier is not None and node.modifier.return_bool:
            return []
        if _scalar_side(node.lhs) and not _scalar_side(node.rhs):
            return [node.rhs]
        return [node.lhs]
    return []


def value_kind(node: Any) -> Kind:
    """The kind of the samples ``node`` returns (see the module docstring)."""
    node = _strip(node)
    if isinstance(node, pp.Call):
        name = node.func.name
        rng = node.args[0].range.total_seconds() if node.args and isinstance(node.args[0], pp.MatrixSelector) else None
        if name in ("rate", "irate"):
            return Kind("per_s", name)
        if name == "increase":
            if rng == SECONDS_PER_MINUTE:
                return Kind("per_min", "increase over 1m", rng)
            return Kind("count", f"increase over {rng:g}s" if rng else "increase", rng)
        if name in ("delta", "idelta"):
            return Kind("delta", name, rng)
        return Kind("other", f"{name}()")
    if isinstance(node, pp.BinaryExpr):
        sides = _value_sides(node)
        if sides:
            kinds = [value_kind(s) for s in sides]
            return kinds[0] if all(k == kinds[0] for k in kinds) else Kind("other", "or of " + ", ".join(map(str, kinds)))
        return _arithmetic(node)
    if isinstance(node, pp.NumberLiteral):
        return Kind("other", "a number")
    if isinstance(node, (pp.VectorSelector, pp.MatrixSelector)):
        return Kind("other", "a series")
    return Kind("other", type(node).__name__)


def _arithmetic(node: Any) -> Kind:
    op = str(node.op)
    left, right = _number(node.lhs), _number(node.rhs)
    if op == "*" and (left is not None or right is not None):
        factor, inner = (left, value_kind(node.rhs)) if left is not None else (right, value_kind(node.lhs))
        assert factor is not None
        if inner.name == "per_s" and factor == SECONDS_PER_MINUTE:
            return Kind("per_min", f"{inner.detail} * 60")
        if inner.name in ("per_s", "per_min", "count", "delta"):
            return Kind("scaled", f"{inner} * {factor:g}")
        return inner if inner.name == "other" else Kind("scaled", f"{inner} * {factor:g}")
    if op == "/" and right is not None:
        inner = value_kind(node.lhs)
        if inner.name == "count" and inner.window and right == inner.window:
            return Kind("per_s", f"{inner.detail} / {right:g}")
        if inner.name == "count" and inner.window and right * SECONDS_PER_MINUTE == inner.window:
            return Kind("per_min", f"{inner.detail} / {right:g}")
        if inner.name in ("per_s", "per_min", "count", "delta"):
            return Kind("scaled", f"{inner} / {right:g}")
        return inner
    if op == "/":
        top, bottom = value_kind(node.lhs), value_kind(node.rhs)
        if top.name == bottom.name and top.name in ("per_s", "per_min", "count"):
            return Kind("ratio", f"{top.name} / {bottom.name}")
        if top.name == "per_s" and bottom.name == "other":
            return Kind("per_s", f"{top.detail} per {bottom.detail}")
        return Kind("other", f"{top} / {bottom}")
    if op in ("+", "-"):
        a, b = value_kind(node.lhs), value_kind(node.rhs)
        if left is not None or right is not None:
            return b if left is not None else a
        return a if a == b else Kind("other", f"{a} {op} {b}")
    return Kind("other", f"arithmetic {op}")


def compared_thresholds(node: Any, scaled: bool = False) -> list[Compared]:
    """Thresholds compared on the value path of ``node`` (``scaled``: arithmetic above this node)."""
    if isinstance(node, pp.ParenExpr):
        return compared_thresholds(node.expr, scaled)
    if isinstance(node, pp.AggregateExpr):
        return compared_thresholds(node.expr, scaled or str(node.op) not in _KEEP_SCALE_AGGREGATIONS)
    if isinstance(node, pp.Call) and node.func.name in _KEEP_VALUE_CALLS:
        return compared_thresholds(node.args[0], scaled)
    if not isinstance(node, pp.BinaryExpr):
        return []
    op = str(node.op)
    found: list[Compared] = []
    if op in COMPARISONS:
        for side, other in ((node.lhs, node.rhs), (node.rhs, node.lhs)):
            name = _threshold(other)
            if name is not None and _threshold(side) is None:
                found.append(Compared(name, scaled))
    sides = _value_sides(node)
    if not sides and op not in COMPARISONS and op not in ("and", "or", "unless"):
        sides, scaled = [node.lhs, node.rhs], True  # arithmetic: what is compared below is not what is printed
    for side in sides:
        found += compared_thresholds(side, scaled)
    return found


__all__ = ["Compared", "Kind", "compared_thresholds", "parse_raw", "value_kind"]
