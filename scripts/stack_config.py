"""Read a stack's config from Pulumi.<stack>.yaml, as the engine would hand it to the program.

Encrypted values cannot be read without the stack's secrets provider, so they
are replaced by a fixed placeholder and stay marked secret.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.settings.errors import NAMESPACE

REPO_ROOT = Path(__file__).resolve().parent.parent
SECRET_PLACEHOLDER = "[secret]"


@dataclass
class StackConfig:
    stack: str
    values: dict[str, Any]  # full key (namespace:key) -> value, structured values as Python objects
    secret_keys: set[str] = field(default_factory=set)

    def engine_form(self) -> dict[str, str]:
        """Values as the engine passes them: structured ones as JSON text, scalars as text."""
        return {key: _engine_text(value) for key, value in self.values.items()}


def _engine_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date):
        return value.isoformat()
    # A YAML date (since: 2027-01-04) reaches the program as its text, as the Pulumi CLI passes it.
    return json.dumps(value, default=_date_text)


def _date_text(value: Any) -> str:
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a config value")


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _replace_secure(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {k: _replace_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure(v) for v in value]
    return value


def stack_file(stack: str, root: Path = REPO_ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def read_stack_config(stack: str, root: Path = REPO_ROOT) -> StackConfig:
    path = stack_file(stack, root)
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        raise FileNotFoundError(f"no stack file {path.name}; known stacks: {', '.join(known)}")
    document = yaml.safe_load(path.read_text()) or {}
    raw = document.get("config") or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path.name}: 'config' must be a mapping of keys to values")
    config = StackConfig(stack=stack, values={})
    for key, value in raw.items():
        full_key = key if ":" in key else f"{NAMESPACE}:{key}"
        if _has_secure(value):
            config.secret_keys.add(full_key)
        config.values[full_key] = _replace_secure(value)
    return config


class OverrideError(ValueError):
    pass


def apply_overrides(config: StackConfig, assignments: Iterable[str]) -> None:
    """Apply ``section.key=value`` assignments (value read as YAML) to the stack's config."""
    for assignment in assignments:
        path_text, sep, value_text = assignment.partition("=")
        path = [part for part in path_text.strip().split(".") if part]
        if not sep or not path:
            raise OverrideError(f"--set {assignment!r}: accepted form: section.key=value, e.g. prometheus.retention=30d")
        value = yaml.safe_load(value_text) if value_text.strip() else ""
        full_key = path[0] if ":" in path[0] else f"{NAMESPACE}:{path[0]}"
        if len(path) == 1:
            config.values[full_key] = value
            continue
        target = config.values.setdefault(full_key, {})
        if not isinstance(target, dict):
            raise OverrideError(f"--set {assignment!r}: {full_key} holds a single value, not a section")
        for part in path[1:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise OverrideError(f"--set {assignment!r}: {part} holds a single value, not a section")
        target[path[-1]] = value


def add_secret(config: StackConfig, key: str, value: str) -> None:
    """Set a secret config value for one run (tests use it to prove a value never leaks)."""
    full_key = key if ":" in key else f"{NAMESPACE}:{key}"
    config.values[full_key] = value
    config.secret_keys.add(full_key)
