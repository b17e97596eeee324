"""How an alert prints a number: one formatting per unit, for the value Prometheus renders and for thresholds.

An alert declares the unit of its expression's value (``unit:`` on the rule, beside ``alert:``); its text
writes ``{{value}}`` where the value belongs and ``{{threshold_text:<name>}}`` where a threshold does. Both
expand to the same formatting for the same unit, so the page prints the value and its threshold alike
("p99 is 2.5s (target 2s)", never "2.425s (target 2)" or "6% ... threshold 0.01").

Units (the ``unit`` field of rules/thresholds.yaml uses the same words):

- ``s``: seconds, as a duration: Prometheus's ``humanizeDuration`` ("480ms", "2.5s", "3m 12s");
- ``ms``: milliseconds, a whole number: ``printf "%.0f"`` then ``ms`` ("9950ms", never "9.95kms");
- ``ratio``: a fraction of 1, as a percentage: ``humanizePercentage`` ("6%");
- ``bytes``: ``humanize1024`` then ``B`` ("4.843GiB");
- a rate (a unit ending in ``/s`` or ``/min``, e.g. ``requests/min``): ``humanize`` then `` <unit>``, except
  between -1 and 1, where ``printf "%.3g"`` ("0.1 requests/min": humanize's milli prefix would read
  "100m requests/min", a hundred million or a hundred minutes);
- anything else names what is counted (``events``, ``spans``, ``restarts``): a whole number, then the noun.

``go_template(unit)`` is the Go template text for ``$value`` (rendered by Prometheus's template engine,
template/template.go of the deployed release); ``render(value, unit)`` is the same text computed here, for
thresholds and for tests. They agree: tests/rules/test_units.py renders both through the real engine.
Errors: :class:`UnitError` for an empty unit.
"""

from __future__ import annotations

import math

RATE_SUFFIXES = ("/s", "/min")
RATE_PLAIN_BELOW = 1.0  # a rate of magnitude below this prints without an SI prefix


class UnitError(ValueError):
    """A unit that cannot format a number; the message names it and the accepted forms."""


def _check(unit: str) -> str:
    if not isinstance(unit, str) or not unit.strip() or unit != unit.strip():
        raise UnitError(f"unit: got {unit!r}; accepted: s, ms, ratio, bytes, a rate ending in /s or /min, or a noun (events)")
    return unit


def is_rate(unit: str) -> bool:
    return unit.endswith(RATE_SUFFIXES)


def go_template(unit: str, value: str = "$value") -> str:
    """The Go template that prints ``value`` (a template expression) in ``unit``."""
    unit = _check(unit)
    if unit == "s":
        return f"{{{{ {value} | humanizeDuration }}}}"
    if unit == "ms":
        return f'{{{{ printf "%.0f" {value} }}}}ms'
    if unit == "ratio":
        return f"{{{{ {value} | humanizePercentage }}}}"
    if unit == "bytes":
        return f"{{{{ {value} | humanize1024 }}}}B"
    if is_rate(unit):
        small = f"and (gt {value} {-RATE_PLAIN_BELOW}) (lt {value} {RATE_PLAIN_BELOW})"
        return (f'{{{{ if {small} }}}}{{{{ printf "%.3g" {value} }}}}{{{{ else }}}}{{{{ {value} | humanize }}}}'
                f"{{{{ end }}}} {unit}")
    return f'{{{{ printf "%.0f" {value} }}}} {unit}'


def _g4(v: float) -> str:
    """Go's ``%.4g`` (shortest form, exponent with at least two digits), which Python's matches."""
    return f"{v:.4g}"


def humanize(v: float) -> str:
    """Prometheus's ``humanize``: SI prefixes, 4 significant digits."""
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return _g4(v) + prefix
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return _g4(v) + prefix


def humanize1024(v: float) -> str:
    """Prometheus's ``humanize1024``: binary prefixes, 4 significant digits."""
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix, v = p, v / 1024
    return _g4(v) + prefix


def humanize_duration(v: float) -> str:
    """prometheus/common's ``HumanizeDuration`` (the template function ``humanizeDuration``)."""
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return _g4(v) + "s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        whole = int(v)
        seconds, minutes, hours, days = whole % 60, whole // 60 % 60, whole // 3600 % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{_g4(v)}{prefix}s"


def humanize_percentage(v: float) -> str:
    return f"{_g4(v * 100)}%"


def render(value: float, unit: str) -> str:
    """``value`` printed in ``unit`` exactly as ``go_template(unit)`` prints it in Prometheus."""
    unit = _check(unit)
    value = float(value)
    if unit == "s":
        return humanize_duration(value)
    if unit == "ms":
        return f"{value:.0f}ms"
    if unit == "ratio":
        return humanize_percentage(value)
    if unit == "bytes":
        return humanize1024(value) + "B"
    if is_rate(unit):
        plain = -RATE_PLAIN_BELOW < value < RATE_PLAIN_BELOW
        return f"{value:.3g} {unit}" if plain else f"{humanize(value)} {unit}"
    return f"{value:.0f} {unit}"
