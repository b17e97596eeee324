"""Alert thresholds, one number per name, read from ``rules/thresholds.yaml``.

API (for rules, dashboards and docs alike)::

    from components.rules.thresholds import threshold, thresholds

    threshold("dvt_projection_lag_events")   # -> 100.0
    thresholds()                             # -> {name: Threshold(value, unit, source)}

Rule files write ``{{threshold:<name>}}`` where the number belongs (and
``{{threshold_percent:<name>}}`` in prose, for ratios: 0.05 -> "5%");
``expand()`` replaces ``{{threshold:<name>}}`` and fails on an unknown name.
An unknown name raises ``ThresholdError`` naming the file and the known names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from components import paths
from components.kit import yaml_load

THRESHOLDS_PATH = paths.THRESHOLDS_FILE
PLACEHOLDER = re.compile(r"\{\{threshold:([A-Za-z0-9_]+)\}\}")


class ThresholdError(KeyError):
    """An unknown or malformed threshold; the message names file, key and accepted form."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@dataclass(frozen=True)
class Threshold:
    value: float
    unit: str
    source: str


def parse_thresholds(data: Any, path: Path = THRESHOLDS_PATH) -> dict[str, Threshold]:
    if not isinstance(data, dict):
        raise ThresholdError(f"{path}: expected a mapping of name -> {{value, unit, source}}, got {type(data).__name__}")
    out: dict[str, Threshold] = {}
    for name, raw in data.items():
        if not isinstance(raw, dict) or set(raw) - {"value", "unit", "source"}:
            raise ThresholdError(f"{path}: {name}: got {raw!r}; accepted: {{value: <number>, unit: <str>, source: <str>}}")
        value = raw.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ThresholdError(f"{path}: {name}.value: got {value!r}; accepted: a number")
        out[str(name)] = Threshold(float(value), str(raw.get("unit", "")), str(raw.get("source", "")))
    return out


@lru_cache(maxsize=1)
def thresholds() -> dict[str, Threshold]:
    """Every threshold by name."""
    return parse_thresholds(yaml_load.safe_load(THRESHOLDS_PATH.read_text(encoding="utf-8")))


def threshold(name: str) -> float:
    """The value of one threshold."""
    try:
        return thresholds()[name].value
    except KeyError:
        raise ThresholdError(
            f"{THRESHOLDS_PATH}: no threshold named {name!r}; accepted: one of {sorted(thresholds())}"
        ) from None


def format_number(value: float) -> str:
    """A PromQL literal: integers without a trailing .0, others in shortest repr."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def format_percent(value: float) -> str:
    """A ratio threshold as people read it: 0.05 -> '5%', 0.001 -> '0.1%'."""
    return f"{format_number(round(float(value) * 100, 10))}%"


def expand(text: str, where: str = "") -> str:
    """Replace every ``{{threshold:name}}`` in ``text`` by its number."""

    def sub(m: re.Match[str]) -> str:
        try:
            return format_number(threshold(m.group(1)))
        except ThresholdError as exc:
            raise ThresholdError(f"{where}: {exc}" if where else str(exc)) from None

    return PLACEHOLDER.sub(sub, text)
