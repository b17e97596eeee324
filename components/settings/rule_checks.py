"""Intervals against the rules' windows: a window that holds fewer than two samples makes rate(),
increase() and friends return nothing, so every alert built on it stays silent forever."""

from __future__ import annotations

from decimal import Decimal

from components.rules.windows import shortest_rule_window
from components.settings.errors import Problem
from components.settings.model import Settings
from components.settings.units import duration_seconds

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


def _text(seconds: Decimal) -> str:
    whole = int(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if whole and whole % size == 0 and whole == seconds:
            return f"{whole // size}{unit}"
    return f"{seconds.normalize():f}s"
