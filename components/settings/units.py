"""Parsers for the value forms an operator types into stack config.

Each parser raises ValueError whose message states the accepted form, so the
settings loader can report key, value and form in one line. Numerals are ASCII
only: Python's ``\\d`` and ``Decimal`` read ``７`` as 7, the programs that get
the value (Go's strconv, the Kubernetes API) do not.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Go's time.Duration and Prometheus' model.Duration are int64 nanoseconds; longer durations
# fail to parse ("duration out of range", prometheus/common model/time.go ParseDuration).
MAX_DURATION_NS = 2**63 - 1
MAX_DURATION_TEXT = "106751d (about 292 years, the longest duration Prometheus and Go programs hold)"
# Kubernetes quantities and Prometheus byte sizes are int64 underneath (alecthomas/units ParseUnit
# refuses overflow; the API server saturates larger quantities).
MAX_INT64 = 2**63 - 1

DURATION_FORM = f"a whole number with a unit ms, s, m, h, d, w or y, units combined largest first (e.g. 30s, 15m, 72h, 7d, 1h30m), at most {MAX_DURATION_TEXT}"
QUANTITY_FORM = (
    "a Kubernetes quantity above zero: a number with an optional suffix Ki, Mi, Gi, Ti, Pi, Ei (powers of 1024), "
    "k, M, G, T, P, E (powers of 1000) or an exponent such as e9 (e.g. 512Mi, 20Gi, 1e9)"
)
CPU_FORM = "a Kubernetes CPU quantity above zero: cores as a number or millicores with m, at most 3 decimals of a core (e.g. 0.5, 2, 250m)"
BYTE_SIZE_FORM = (
    "a number above zero with a unit B, KB or KiB, MB or MiB, GB or GiB, TB or TiB, PB or PiB, EB or EiB "
    "(all powers of 1024, as Prometheus reads them; e.g. 18GB, 4GiB, 1.5TB)"
)
PERCENT_FORM = "a percentage from 0 to 100, written 10% or 10"
ZERO_OR_DURATION_FORM = f"0s, or {DURATION_FORM}"
GO_DURATION_FORM = "h, m, s and ms only (a Go duration, e.g. 120h for 5d)"

_DURATION_UNITS_MS: dict[str, int] = {
    "y": 365 * 86_400_000,
    "w": 7 * 86_400_000,
    "d": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1000,
    "ms": 1,
}
# Prometheus' own duration grammar: units in descending order, each at most once.
_DURATION_RE = re.compile("^" + "".join(rf"(?:([0-9]{{1,30}}){unit})?" for unit in ("y", "w", "d", "h", "m", "s", "ms")) + r"\Z", re.ASCII)
_NUMBER = r"([0-9]{1,30}(?:\.[0-9]{1,30})?|\.[0-9]{1,30})"
_QUANTITY_RE = re.compile(rf"^{_NUMBER}(?:(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)|[eE]([+-]?[0-9]{{1,3}}))?\Z", re.ASCII)
_CPU_RE = re.compile(rf"^{_NUMBER}(m)?\Z", re.ASCII)
_BYTE_SIZE_RE = re.compile(rf"^{_NUMBER}(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB|PB|PiB|EB|EiB)\Z", re.ASCII)
_PERCENT_RE = re.compile(rf"^{_NUMBER}\s*%?\Z", re.ASCII)

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"k": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
_BYTE_UNITS = {"B": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) else None


def duration_ms(text: str, *, allow_zero: bool = False) -> int:
    """Whole milliseconds in a Prometheus-style duration such as ``7d`` or ``1h30m``.

    Raises ValueError (with the accepted form) for another form, zero (unless ``allow_zero``:
    ``0`` or ``0s``), or more than Go's int64-nanosecond limit (prometheus/common
    model.ParseDuration, time.ParseDuration).
    """
    value = _text(text)
    match = _DURATION_RE.match(value) if value is not None else None
    if allow_zero and value == "0":
        return 0
    form = ZERO_OR_DURATION_FORM if allow_zero else DURATION_FORM
    if not match or not any(match.groups()):
        raise ValueError(f"not a duration; accepted form: {form}")
    total = sum(int(amount) * _DURATION_UNITS_MS[unit] for unit, amount in zip(_DURATION_UNITS_MS, match.groups(), strict=True) if amount)
    if total <= 0 and not allow_zero:
        raise ValueError(f"a duration must be longer than zero; accepted form: {DURATION_FORM}")
    if total * 1_000_000 > MAX_DURATION_NS:
        raise ValueError(f"out of range; accepted form: {DURATION_FORM}")
    return total


def zero_or_duration_seconds(text: str) -> Decimal:
    """Seconds in a duration that may be zero (``0s``), such as Alertmanager's group_wait."""
    return Decimal(duration_ms(text, allow_zero=True)) / 1000


def duration_seconds(text: str) -> Decimal:
    """Seconds in a Prometheus-style duration such as ``7d`` or ``1h30m`` (see ``duration_ms``)."""
    return Decimal(duration_ms(text)) / 1000


def go_duration(text: str) -> str:
    """The same span written with h, m, s and ms only, as Go's time.ParseDuration and the
    operator's GoDuration fields (Alertmanager ``retention``) read it: ``5d`` -> ``120h``."""
    remaining = duration_ms(text)
    parts = []
    for unit in ("h", "m", "s", "ms"):
        amount, remaining = divmod(remaining, _DURATION_UNITS_MS[unit])
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def hours(duration: str) -> str:
    """A settings duration written in whole hours, the form Loki and Tempo print back: ``3d`` -> ``72h``."""
    seconds = duration_seconds(duration)
    # Otherwise the exact Go form (1h500ms): both programs read durations with time.ParseDuration or its superset.
    return f"{int(seconds // 3600)}h" if seconds % 3600 == 0 else go_duration(duration)


def quantity_bytes(text: str) -> Decimal:
    """Bytes in a Kubernetes memory or storage quantity such as ``20Gi``: above zero, a whole number of bytes."""
    value = _text(text)
    match = _QUANTITY_RE.match(value) if value is not None else None
    if not match:
        raise ValueError(f"not a quantity; accepted form: {QUANTITY_FORM}")
    number, suffix, exponent = Decimal(match.group(1)), match.group(2), match.group(3)
    if suffix in _BINARY:
        number *= Decimal(1024) ** _BINARY[suffix]
    elif suffix in _DECIMAL:
        number *= Decimal(1000) ** _DECIMAL[suffix]
    elif exponent is not None:
        number = number.scaleb(int(exponent))
    if number <= 0:
        raise ValueError(f"must be above zero; accepted form: {QUANTITY_FORM}")
    if number > MAX_INT64:
        raise ValueError(f"too large (Kubernetes holds at most 8Ei); accepted form: {QUANTITY_FORM}")
    if number != number.to_integral_value():
        raise ValueError(f"is not a whole number of bytes; accepted form: {QUANTITY_FORM}")
    return number


def cpu_cores(text: str) -> Decimal:
    """Cores in a Kubernetes CPU quantity such as ``500m`` or ``2``: above zero, whole millicores."""
    value = _text(text)
    match = _CPU_RE.match(value) if value is not None else None
    if not match:
        raise ValueError(f"not a CPU quantity; accepted form: {CPU_FORM}")
    number = Decimal(match.group(1))
    cores = number / 1000 if match.group(2) else number
    if cores <= 0:
        raise ValueError(f"must be above zero; accepted form: {CPU_FORM}")
    if cores * 1000 > MAX_INT64:
        raise ValueError(f"too large; accepted form: {CPU_FORM}")
    if cores * 1000 != (cores * 1000).to_integral_value():
        # Kubernetes keeps CPU in whole millicores.
        raise ValueError(f"finer than a millicore; accepted form: {CPU_FORM}")
    return cores


def byte_size_bytes(text: str) -> Decimal:
    """Bytes in a Prometheus byte size such as ``18GB`` or ``4GiB`` (powers of 1024).

    Prometheus reads --storage.tsdb.retention.size with alecthomas/units ParseBase2Bytes
    (KB and KiB both 1024); the operator's CRD pattern allows one number and one unit.
    """
    value = _text(text)
    match = _BYTE_SIZE_RE.match(value) if value is not None else None
    if not match:
        raise ValueError(f"not a byte size; accepted form: {BYTE_SIZE_FORM}")
    number = Decimal(match.group(1)) * (Decimal(1024) ** _BYTE_UNITS[match.group(2)[0]])
    if number <= 0:
        raise ValueError(f"must be above zero; accepted form: {BYTE_SIZE_FORM}")
    if number > MAX_INT64:
        raise ValueError(f"too large (at most 8EiB); accepted form: {BYTE_SIZE_FORM}")
    return number


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
        if not number.is_finite():
            raise InvalidOperation
    except (InvalidOperation, AttributeError):
        raise ValueError(f"not a percentage; accepted form: {PERCENT_FORM}") from None
    if not 0 <= number <= 100:
        raise ValueError(f"out of range; accepted form: {PERCENT_FORM}")
    return number / 100
