"""Build the validated Settings of one stack from its config.

Order: defaults for every stack, then the environment's defaults, then the
stack's own config. Every problem is collected and raised together, before a
single resource is registered.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from functools import cache
from typing import Any, get_args

from pydantic import ValidationError

from components import paths
from components.kit import yaml_load
from components.settings.checks import cross_field_problems
from components.settings.errors import NAMESPACE, Problem, SettingsError
from components.settings.messages import message
from components.settings.metrics_checks import missing_secret_problems
from components.settings.model import Settings
from components.settings.platform import Environment
from components.settings.secrets import SECRET_KEYS, secret_problems

DEFAULTS_FILE = paths.SETTINGS_DEFAULTS
ENVIRONMENTS: tuple[str, ...] = get_args(Environment)


@cache
def _defaults_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml_load.safe_load(DEFAULTS_FILE.read_text())
    return document


def environment_defaults(environment: str) -> dict[str, Any]:
    """The defaults a stack of this environment starts from, before its own overrides."""
    document = _defaults_document()
    return deep_merge(document["common"], document["environments"].get(environment, {}))


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# Config namespaces the program reads: its own, the providers it configures, and Pulumi's.
KNOWN_NAMESPACES = (NAMESPACE, "kubernetes", "grafana", "pulumi")
# Text the engine hands over for a top-level null (structured values arrive as JSON).
_NULL_TEXTS = ("null", "~", "Null", "NULL")
MAX_PASSES = 8  # substitution rounds when reporting every problem at once


def stack_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """This project's keys without their namespace; structured values arrive as JSON text from the engine."""
    values: dict[str, Any] = {}
    prefix = f"{NAMESPACE}:"
    for full_key, raw in config.items():
        if not full_key.startswith(prefix):
            continue
        value = raw
        if raw is None or (isinstance(raw, str) and raw.strip() in _NULL_TEXTS):
            # A null given on the command line or in YAML is "no value", never the text "null".
            value = None
        elif isinstance(raw, str) and raw[:1] in "{[":
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
        values[full_key[len(prefix):]] = value
    return values


def namespace_problems(config: Mapping[str, Any]) -> list[Problem]:
    """Keys in a config namespace nothing reads (a typo such as ``observabilty:``) would be ignored silently."""
    problems = []
    for full_key in sorted(config):
        namespace, sep, _ = full_key.partition(":")
        if sep and namespace not in KNOWN_NAMESPACES:
            close = difflib.get_close_matches(namespace, KNOWN_NAMESPACES, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}:'?)" if close else ""
            problems.append(
                Problem(full_key, config[full_key], f"unknown config namespace '{namespace}'{hint}; accepted namespaces: {', '.join(KNOWN_NAMESPACES)}")
            )
    return problems


def named_environment(stack: str) -> str | None:
    """The environment a stack's name says: ``prod``, ``prod-eu`` and ``eu-prod`` say prod."""
    for environment in ENVIRONMENTS:
        if stack == environment or stack.startswith(f"{environment}-"):
            return environment
    for environment in ENVIRONMENTS:
        if stack.endswith(f"-{environment}"):
            return environment
    return None


def _environment(values: Mapping[str, Any], stack: str) -> tuple[str | None, list[Problem]]:
    named = named_environment(stack)
    accepted = ", ".join(ENVIRONMENTS)
    if "environment" not in values:
        if named is None:
            return None, [Problem("environment", None, f"is required: the stack's name '{stack}' names no environment; accepted form: one of {accepted}")]
        return named, []
    environment = values["environment"]
    if environment not in ENVIRONMENTS:
        return None, [Problem("environment", environment, f"unknown environment; accepted form: one of {accepted}")]
    override = values.get("environmentOverride")
    if override is not None and override != stack:
        return environment, [
            Problem("environmentOverride", override, f"names another stack; accepted form: this stack's name '{stack}', or remove the key")
        ]
    if named is not None and environment != named and override != stack:
        return environment, [
            Problem(
                "environment",
                environment,
                f"differs from the stack's name '{stack}', which says {named} (a {environment} stack drops {named}'s protection and paging); "
                f"accepted form: {named}, or set observability:environmentOverride: {stack} to run this stack as {environment} on purpose",
            )
        ]
    return environment, []


def load_settings(
    config: Mapping[str, Any], stack: str, secret_keys: set[str] | frozenset[str] = frozenset(), *, require_secrets: bool = False
) -> Settings:
    """Validated settings for ``stack``; raises SettingsError naming every bad key, all at once.

    Field problems and cross-field problems are reported together: a field that fails on its own
    is stood in for by its default so the rules spanning several fields still run (their findings
    about a stood-in field are dropped, they would describe a value nobody wrote).

    ``require_secrets``: also refuse when a secret the settings need is not set. The Pulumi program
    asks for it; offline tools (render, promotion checks) read stack files that never hold them.
    """
    problems = namespace_problems(config)
    values = stack_values(config)
    problems += secret_problems(values, set(secret_keys))
    secrets_set = frozenset(key for key in SECRET_KEYS if key in values)
    values = {key: value for key, value in values.items() if key not in SECRET_KEYS}

    environment, environment_problems = _environment(values, stack)
    problems += environment_problems
    # With no usable environment the fields are still checked, against the named (or dev) defaults.
    base = environment or named_environment(stack) or ENVIRONMENTS[0]
    defaults = environment_defaults(base)
    merged = deep_merge(defaults, values)
    merged.update(stack=stack, environment=base, secretsSet=secrets_set)
    settings, field_problems, stood_in = _validated(merged, defaults)
    problems += field_problems
    if settings is not None and environment is not None:
        cross = cross_field_problems(settings)
        if require_secrets:
            cross += missing_secret_problems(settings)
        problems += [problem for problem in cross if not _mentions(problem, stood_in)]
    if problems or settings is None:
        raise SettingsError(stack, problems)
    return settings


def _validated(merged: dict[str, Any], defaults: Mapping[str, Any]) -> tuple[Settings | None, list[Problem], list[str]]:
    """The settings with every failing field stood in for by its default, the problems, the stood-in keys."""
    problems: list[Problem] = []
    stood_in: list[str] = []
    for _ in range(MAX_PASSES):
        try:
            return Settings.model_validate(merged), problems, stood_in
        except ValidationError as error:
            items = error.errors()
        for item in items:
            # A mapping key's own error is located at "<key>.[key]": name the key once.
            key = ".".join(str(part) for part in item["loc"] if part != "[key]")
            if key not in stood_in:
                problems.append(Problem(key, item.get("input"), message(item)))
                stood_in.append(key)
            _stand_in(merged, defaults, [str(part) for part in item["loc"]])
    return None, problems, stood_in


def _stand_in(merged: dict[str, Any], defaults: Any, loc: list[str]) -> None:
    """Replace the value at ``loc`` (or the nearest mapping entry above a list) by its default, or drop it."""
    target: Any = merged
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        default = defaults.get(part, _ABSENT) if isinstance(defaults, Mapping) else _ABSENT
        value = target.get(part) if isinstance(target, dict) else None
        if last or not isinstance(value, dict):
            if isinstance(target, dict):
                if default is _ABSENT:
                    target.pop(part, None)
                else:
                    target[part] = default
            return
        target, defaults = value, default


_ABSENT = object()


def _mentions(problem: Problem, keys: list[str]) -> bool:
    return any(key == problem.key or key.startswith(f"{problem.key}.") or problem.key.startswith(f"{key}.") or key in problem.message for key in keys)
