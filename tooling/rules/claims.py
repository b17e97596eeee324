"""What a page claims about time, checked against what the rule can know (issue 23, second review).

A page that says "for 25 minutes" or "in the last 5 minutes" makes a claim the rule must back:

- **"for N"** (how long a condition has held): Prometheus knows only that the expression held for the rule's
  ``for:``. A bare "for N" must be ``for:`` (StackReplicasUnavailable said "for 25 minutes" after 15: its 10m
  ``changes()`` window bounds the rollout condition, not the shortfall). A rule without ``for:`` may name the
  window its expression looks over ("in flight for 30 minutes"), and "for at least/over/more than N" may name
  ``for:``, a window, or a duration the expression compares with, each a lower bound of what held.
- **"in/over/of/during the last N"** (a count or rate over a window): N must be a window the expression reads
  (a range, a subquery, or the range of a recording rule it reads, e.g. ``slo:sli_error:ratio_rate1h``).
- **held alerts** (``keep_firing_for``): during the hold Prometheus keeps the alert with the value and the
  annotations of the last evaluation at which the expression held (rules/alerting.go of 3.5.0: an alert absent
  from the result keeps its ``Value`` and ``Annotations``). So its text may not claim a count "in the last N"
  (at 40 minutes the 5-minute count is 0 while the page still says 3), and must say that it holds, naming the
  hold (a duration equal to ``keep_firing_for``).

Claims are read in the summary and in the description up to ``Impact:`` (what the alert asserts; actions may
ask to wait "for 10 minutes"). ``problems(rule, records)`` names what is wrong (empty when nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import promql_parser as pp

_UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60, "minutes": 60,
                 "h": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400, "days": 86400,
                 "w": 604800, "week": 604800, "weeks": 604800}
_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10,
          "fifteen": 15, "twenty": 20, "thirty": 30, "sixty": 60}
_AMOUNT = r"(?:\d+(?:\.\d+)?|" + "|".join(sorted(_WORDS, key=len, reverse=True)) + ")"
_UNIT = r"(?:" + "|".join(sorted(_UNIT_SECONDS, key=len, reverse=True)) + r")"
# "10 minutes", "an hour", "5m", and humanizeDuration's "15m 0s", "1h 0m 0s", "10d 0h 0m 0s".
DURATION = rf"(?:{_AMOUNT}\s?{_UNIT}\b(?:\s\d+\s?[dhms]\b)*)"
_PART = re.compile(rf"({_AMOUNT})\s?({_UNIT})\b", re.IGNORECASE)
FOR_CLAIM = re.compile(rf"\bfor\s+(at least\s+|over\s+|more than\s+)?({DURATION})", re.IGNORECASE)
WINDOW_CLAIM = re.compile(rf"\b(?:in|over|of|during|within)\s+the\s+(?:last|past)\s+({DURATION})", re.IGNORECASE)
_TEXT_KEYS = ("summary", "description")


def seconds(text: str) -> float:
    """The seconds a duration written in prose or by humanizeDuration stands for ("15m 0s" -> 900)."""
    total = 0.0
    for amount, unit in _PART.findall(text):
        n = _WORDS.get(amount.lower())
        total += (float(amount) if n is None else n) * _UNIT_SECONDS[unit.lower()]
    return total


def rule_seconds(value: Any) -> float:
    """A rule's ``for:``/``keep_firing_for:`` ("15m", "1h30m", absent) in seconds."""
    if not value:
        return 0.0
    return sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}[u]
               for n, u in re.findall(r"(\d+)(ms|[smhdwy])", str(value)))


def claimed_text(rule: Mapping[str, Any]) -> str:
    """The summary and the description up to ``Impact:``: what the page asserts."""
    annotations = rule.get("annotations") or {}
    description = str(annotations.get("description", "")).split("Impact:")[0]
    return str(annotations.get("summary", "")) + "\n" + description


def _nodes(tree: Any) -> list[Any]:
    found: list[Any] = []
    pp.walk(tree, found.append)
    return found


def windows(expr: str, records: Mapping[str, Iterable[str]]) -> tuple[set[float], set[float]]:
    """(windows read, numbers compared) of ``expr`` in seconds: ranges, subquery ranges and offsets, also of
    the recording rules it reads (``records``: record name -> its expressions), transitively; and every number
    literal (a duration compared, ``time() - x > 600``)."""
    spans: set[float] = set()
    numbers: set[float] = set()
    seen: set[str] = set()
    todo = [expr]
    while todo:
        try:
            tree = pp.parse(todo.pop())
        except Exception:  # the parser's own error types; lint.py reports unparsable rules
            continue
        for node in _nodes(tree):
            if isinstance(node, (pp.MatrixSelector, pp.SubqueryExpr)) and node.range is not None:
                spans.add(node.range.total_seconds())
            if isinstance(node, pp.NumberLiteral):
                numbers.add(float(node.val))
            if isinstance(node, pp.VectorSelector):
                if node.offset:
                    spans.add(node.offset.total_seconds())
                if node.name and node.name in records and node.name not in seen:
                    seen.add(node.name)
                    todo.extend(records[node.name])
    return spans, numbers


def _shown(s: float) -> str:
    return f"{s / 60:g} minutes" if s < 3600 or s % 3600 else f"{s / 3600:g}h"


def problems(rule: Mapping[str, Any], records: Mapping[str, Iterable[str]]) -> list[str]:
    """What the time claims of one expanded alert rule get wrong."""
    text = claimed_text(rule)
    hold = rule_seconds(rule.get("keep_firing_for"))
    held_for = rule_seconds(rule.get("for"))
    spans, numbers = windows(str(rule.get("expr", "")), records)
    out = []
    for m in FOR_CLAIM.finditer(text):
        claimed, qualified = seconds(m.group(2)), bool(m.group(1))
        allowed = {held_for, hold} - {0.0} | ((spans | numbers) if qualified or not held_for else set())
        if claimed not in allowed:
            why = f"its for: is {_shown(held_for)}" if held_for else "it has no for:"
            out.append(f"says {m.group(0)!r}, but {why} and no window of its expression is {_shown(claimed)}: "
                       "say what the rule knows (for: is how long the whole expression held)")
    for m in WINDOW_CLAIM.finditer(text):
        claimed = seconds(m.group(1))
        if hold:
            out.append(f"says {m.group(0)!r}, but it holds {_shown(hold)} (keep_firing_for) with the value and text "
                       "of its last evaluation that held: during the hold that count is no longer true; say what was "
                       "counted when it last held, and that the page holds")
        elif claimed not in spans:
            out.append(f"says {m.group(0)!r}, but its expression reads no {_shown(claimed)} window "
                       f"(windows: {', '.join(_shown(s) for s in sorted(spans)) or 'none'})")
    if hold and not any(seconds(m.group(0)) == hold for m in re.finditer(DURATION, text, re.IGNORECASE)):
        out.append(f"holds {_shown(hold)} after its condition last held (keep_firing_for) but its text does not say so "
                   "(name the hold, a duration equal to keep_firing_for), so the page reads as a current count")
    return out


__all__ = ["DURATION", "FOR_CLAIM", "WINDOW_CLAIM", "claimed_text", "problems", "rule_seconds", "seconds", "windows"]
