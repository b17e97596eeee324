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

from components import paths
from components.settings.errors import NAMESPACE
from components.settings.masking import HIDDEN, secret_looking_key, secret_looking_value

REPO_ROOT = paths.REPO_ROOT
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


class StackFileError(ValueError):
    """A stack file that is not YAML, not a mapping, or has a key twice."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML says keys are unique;
    PyYAML would keep the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (list, dict)):
                raise yaml.constructor.ConstructorError(None, None, "a key must be a single value, not a list or mapping", key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (first on line {seen[key].line + 1}); keep one", key_node.start_mark
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _where(error: yaml.YAMLError) -> str:
    # Line and column and the parser's problem, never the snippet: it could show a secret.
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or "not valid YAML"
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else str(problem)


def parse_yaml(text: str) -> Any:
    """A YAML document with unique keys; raises yaml.YAMLError."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


def stack_file(stack: str, root: Path = REPO_ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def read_stack_config(stack: str, root: Path = REPO_ROOT) -> StackConfig:
    path = stack_file(stack, root)
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        raise FileNotFoundError(f"no stack file {path.name}; known stacks: {', '.join(known)}")
    try:
        document = parse_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise StackFileError(f"{path.name}: {_where(error)}; accepted form: YAML with each key once, values that start with '#' quoted") from None
    except UnicodeDecodeError:
        raise StackFileError(f"{path.name}: not UTF-8 text; accepted form: a UTF-8 YAML file") from None
    if not isinstance(document, dict):
        raise StackFileError(f"{path.name}: the file is not a mapping; accepted form: a YAML mapping with a 'config' section")
    raw = document.get("config") or {}
    if not isinstance(raw, dict) or not all(isinstance(key, str) for key in raw):
        raise StackFileError(f"{path.name}: 'config' is not a mapping of keys to values; accepted form: config: {{observability:key: value, ...}}")
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
    """Apply ``section.key=value`` assignments (value read as YAML) to the stack's config.

    Raises OverrideError naming the assignment; a secret-looking value is never shown.
    """
    for assignment in assignments:
        path_text, sep, value_text = assignment.partition("=")
        path = [part for part in path_text.strip().split(".") if part]
        shown = _shown_assignment(path_text, value_text)
        if not sep or not path:
            raise OverrideError(f"--set {shown}: accepted form: section.key=value, e.g. prometheus.retention=30d")
        try:
            value = parse_yaml(value_text) if value_text.strip() else ""
        except yaml.YAMLError as error:
            raise OverrideError(
                f"--set {shown}: the value is not valid YAML ({_where(error)}); accepted form: a YAML value, "
                "quoted when it holds [ ] { } : # or starts with a quote, e.g. --set 'alerting.slack.channel=\"#ops\"'"
            ) from None
        full_key = path[0] if ":" in path[0] else f"{NAMESPACE}:{path[0]}"
        if len(path) == 1:
            config.values[full_key] = value
            continue
        target = config.values.setdefault(full_key, {})
        if not isinstance(target, dict):
            raise OverrideError(f"--set {shown}: {full_key} holds a single value, not a section; accepted form: {full_key}=value")
        for part in path[1:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise OverrideError(f"--set {shown}: {part} holds a single value, not a section; accepted form: set {part} itself")
        target[path[-1]] = value


def _shown_assignment(path_text: str, value_text: str) -> str:
    if secret_looking_key(path_text) or secret_looking_value(value_text):
        return f"{path_text}={HIDDEN}"
    return repr(f"{path_text}={value_text}" if len(value_text) <= 200 else f"{path_text}={value_text[:200]}... (cut)")


def add_secret(config: StackConfig, key: str, value: str) -> None:
    """Set a secret config value for one run (tests use it to prove a value never leaks)."""
    full_key = key if ":" in key else f"{NAMESPACE}:{key}"
    config.values[full_key] = value
    config.secret_keys.add(full_key)
