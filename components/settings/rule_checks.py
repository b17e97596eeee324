"""Intervals against the rules' windows: a window that holds fewer than two samples makes rate(),
increase() and friends return nothing, so every alert built on it stays silent forever."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

from components.settings.errors import Problem
from components.settings.model import Settings
from components.settings.units import duration_seconds

_ANY_RETENTION = {"prometheus": 86400, "loki": 86400, "tempo": 86400}
SAMPLES_PER_WINDOW = 2  # rate() needs two samples inside its window (Prometheus extrapolatedRate)


def interval_problems(settings: Settings) -> list[Problem]:
    """Scrape and evaluation intervals of at most half the shortest range window in any rule."""
    shortest = shortest_rule_window()
    if shortest is None:
        return []
    window_seconds, where = shortest
    most = Decimal(window_seconds) / SAMPLES_PER_WINDOW
    problems = []
    # Raw series arrive every scrape interval; recorded ones every evaluation interval.
    intervals = (("prometheus.scrapeInterval", settings.prometheus.scrape_interval), ("prometheus.evaluationInterval", settings.prometheus.evaluation_interval))
    for key, value in intervals:
        if duration_seconds(value) > most:
            problems.append(
                Problem(
                    key,
                    value,
                    f"leaves fewer than {SAMPLES_PER_WINDOW} samples in the shortest rule window ({_text(window_seconds)} in {where}), "
                    f"so alerts on it can never fire; accepted form: a duration of at most {_text(most)}",
                )
            )
    return problems


@cache
def shortest_rule_window() -> tuple[Decimal, str] | None:
    """(seconds, 'group/rule') of the shortest range selector in every rule the stack deploys.

    Windows are written in the rule files and SLO specs, never taken from settings (namespace and
    retention only fill label values and scalars), so one stand-in context gives them all.
    """
    import promql_parser

    from components.rules.loader import RuleContext  # the rules read settings' types
    from components.rules.ruleset import load_all_rules

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


def _text(seconds: Decimal) -> str:
    whole = int(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if whole and whole % size == 0 and whole == seconds:
            return f"{whole // size}{unit}"
    return f"{seconds.normalize():f}s"
