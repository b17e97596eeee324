"""The range windows the rules select over (``rate(x[5m])``): the settings check intervals against the shortest."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

import promql_parser

from components.rules.all_rules import load_all_rules
from components.rules.loader import RuleContext

# Any retention will do: retention only fills scalars, never a window.
_ANY_RETENTION = {"prometheus": 86400, "loki": 86400, "tempo": 86400}


@cache
def shortest_rule_window() -> tuple[Decimal, str] | None:
    """(seconds, 'group/rule') of the shortest range selector in every rule the stack deploys; None without one.

    Windows are written in the rule files and SLO specs, never taken from settings (namespace and
    retention only fill label values and scalars), so one stand-in context gives them all.
    """
    specs = load_all_rules(RuleContext(namespace="observability", runbook_base_url="https://example.invalid", retention_seconds=_ANY_RETENTION))
    shortest: tuple[Decimal, str] | None = None
    for spec in specs.values():
        for group in spec.get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert") or rule.get("record")
                for seconds in _windows(promql_parser.parse(str(rule["expr"]))):
                    if shortest is None or seconds < shortest[0]:
                        shortest = (seconds, f"{group['name']}/{name}")
    return shortest


def _windows(node: Any) -> list[Decimal]:
    found = []
    if type(node).__name__ == "MatrixSelector":
        found.append(Decimal(str(node.range.total_seconds())))
    for attr in ("expr", "lhs", "rhs", "param", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, (str, int, float)):
            found += _windows(child)
    for child in getattr(node, "args", None) or []:
        found += _windows(child)
    return found
