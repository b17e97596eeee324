"""Parsers for the value forms an operator types into stack config.

Each parser raises ValueError whose message states the accepted form, so the
settings loader can report key, value and form in one line.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

DURATION_FORM = "an integer with a unit ms, s, m, h, d, w or y, combined largest first (e.g. 30s, 15m, 72h, 7d, 1h30m)"
QUANTITY_FORM = "a Kubernetes quantity: a number with an optional suffix Ki, Mi, Gi, Ti, Pi, k, M, G, T, P (e.g. 512Mi, 20Gi)"
CPU_FORM = "a Kubernetes CPU quantity: cores as a number or millicores with m (e.g. 0.5, 2, 250m)"
BYTE_SIZE_FORM = "a number with a unit B, KB, MB, GB, TB or PB (powers of 1024, as Prometheus reads them; e.g. 18GB)"
PERCENT_FORM = "a percentage from 0 to 100, written 10% or 10"

_DURATION_UNITS_SECONDS: dict[str, Decimal] = {
    "y": Decimal(365 * 86400),
    "w": Decimal(7 * 86400),
    "d": Decimal(86400),
    "h": Decimal(3600),
    "m": Decimal(60),
    "s": Decimal(1),
    "ms": Decimal("0.001"),
}
# Prometheus' own duration grammar: units in descending order, each at most once.
_DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_QUANTITY_RE = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_CPU_RE = re.compile(r"^(\d+(?:\.\d+)?)(m)?$")
_BYTE_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)(B|KB|MB|GB|TB|PB|EB)$")
_PERCENT_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*%?$")

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"k": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
_BYTE_UNITS = {"B": 0, "KB": 1, "MB": 2, "GB": 3, "TB": 4, "PB": 5, "EB": 6}


def duration_seconds(text: str) -> Decimal:
    """Seconds in a Prometheus-style duration such as ``7d`` or ``1h30m``."""
    match = _DURATION_RE.match(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise ValueError(f"not a duration; accepted form: {DURATION_FORM}")
    total = Decimal(0)
    for unit, amount in zip(_DURATION_UNITS_SECONDS, match.groups(), strict=True):
        if amount is not None:
            total += Decimal(amount) * _DURATION_UNITS_SECONDS[unit]
    if total <= 0:
        raise ValueError(f"a duration must be longer than zero; accepted form: {DURATION_FORM}")
    return total


def quantity_bytes(text: str) -> Decimal:
    """Bytes in a Kubernetes memory or storage quantity such as ``20Gi``."""
    match = _QUANTITY_RE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not a quantity; accepted form: {QUANTITY_FORM}")
    number, suffix = Decimal(match.group(1)), match.group(2)
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number * (Decimal(1000) ** _DECIMAL[suffix])
    return number


def cpu_cores(text: str) -> Decimal:
    """Cores in a Kubernetes CPU quantity such as ``500m`` or ``2``."""
    match = _CPU_RE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not a CPU quantity; accepted form: {CPU_FORM}")
    number = Decimal(match.group(1))
    return number / 1000 if match.group(2) else number


def byte_size_bytes(text: str) -> Decimal:
    """Bytes in a Prometheus byte size such as ``18GB`` (powers of 1024)."""
    match = _BYTE_SIZE_RE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not a byte size; accepted form: {BYTE_SIZE_FORM}")
    return Decimal(match.group(1)) * (Decimal(1024) ** _BYTE_UNITS[match.group(2)])


def percent_fraction(value: str | int | float) -> Decimal:
    """The fraction (0..1) of a percentage written ``10%`` or ``10``."""
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        if isinstance(value, (int, float)):
            number = Decimal(str(value))
        else:
            match = _PERCENT_RE.match(value.strip())
            if not match:
                raise InvalidOperation
            number = Decimal(match.group(1))
    except (InvalidOperation, AttributeError):
        raise ValueError(f"not a percentage; accepted form: {PERCENT_FORM}") from None
    if not 0 <= number <= 100:
        raise ValueError(f"out of range; accepted form: {PERCENT_FORM}")
    return number / 100
