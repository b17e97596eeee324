"""How a bad value is reported: the config key, the value, the accepted form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NAMESPACE = "observability"


@dataclass(frozen=True)
class Problem:
    key: str  # dotted path below the config namespace, e.g. prometheus.retention
    value: Any
    message: str  # what is wrong and the accepted form

    def __str__(self) -> str:
        return f"{NAMESPACE}:{self.key} = {self.value!r}: {self.message}"


class SettingsError(ValueError):
    """Every problem found in a stack's config, reported together."""

    def __init__(self, stack: str, problems: list[Problem]) -> None:
        self.stack = stack
        self.problems = sorted(problems, key=lambda p: p.key)
        lines = [f"invalid config for stack '{stack}' ({len(self.problems)} problem(s)):"]
        lines += [f"  - {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))
