"""Argument types the repository's commands share (argparse ``type=`` callables).

The self-contained seed scripts (scripts/seamless_health_check.py,
scripts/lease_recover.py) keep their own copies: they run with httpx only
and are copied out of the repository (docs/seamless-scripts.md).
"""

from __future__ import annotations

import argparse


def positive_seconds(text: str) -> float:
    """``text`` as a finite number of seconds above zero; argparse.ArgumentTypeError otherwise."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"got {text!r}; accepted: a positive number of seconds")
    return value
