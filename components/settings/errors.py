"""How a bad value is reported: the config key, the value (secret-looking parts masked), the accepted form."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from components.settings.masking import masked

NAMESPACE = "observability"
MAX_SHOWN = 200  # characters of a value shown back


@dataclass(frozen=True)
class Problem:
    key: str  # dotted path below the config namespace, e.g. prometheus.retention (or a full namespace:key)
    value: Any
    message: str  # what is wrong and the accepted form

    @property
    def full_key(self) -> str:
        return self.key if ":" in self.key.split(".", 1)[0] else f"{NAMESPACE}:{self.key}"

    def __str__(self) -> str:
        return f"{self.full_key} = {shown(masked(self.key, self.value))}: {self.message}"


def shown(value: Any) -> str:
    """A value in the form the operator wrote it (YAML/JSON words, lists as lists), cut when long."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, (list, tuple, dict, bool)) or value is None:
        text = json.dumps(list(value) if isinstance(value, tuple) else value, default=str, ensure_ascii=False)
    else:
        text = str(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "... (cut)"


class SettingsError(ValueError):
    """Every problem found in a stack's config, reported together."""

    def __init__(self, stack: str, problems: list[Problem]) -> None:
        self.stack = stack
        self.problems = sorted(problems, key=lambda p: (p.key, p.message))
        lines = [f"invalid config for stack '{stack}' ({len(self.problems)} problem(s)):"]
        lines += [f"  - {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))
