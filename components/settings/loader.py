"""Build the validated Settings of one stack from its config.

Order: defaults for every stack, then the environment's defaults, then the
stack's own config. Every problem is collected and raised together, before a
single resource is registered.
"""

from __future__ import annotations

import difflib
import json
import typing
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from components import yaml_load
from components.settings.checks import cross_field_problems
from components.settings.errors import NAMESPACE, Problem, SettingsError
from components.settings.model import Environment, Settings
from components.settings.receivers import missing_secret_problems
from components.settings.secrets import SECRET_KEYS, secret_problems

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")
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


def stack_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """This project's keys without their namespace; structured values arrive as JSON text from the engine."""
    values: dict[str, Any] = {}
    prefix = f"{NAMESPACE}:"
    for full_key, raw in config.items():
        if not full_key.startswith(prefix):
            continue
        value = raw
        if isinstance(raw, str) and raw[:1] in "{[":
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
        values[full_key[len(prefix):]] = value
    return values


def load_settings(
    config: Mapping[str, Any], stack: str, secret_keys: set[str] | frozenset[str] = frozenset(), *, require_secrets: bool = False
) -> Settings:
    """Validated settings for ``stack``; raises SettingsError naming every bad key.

    ``require_secrets``: also refuse when a secret the settings need is not set. The Pulumi program
    asks for it; offline tools (render, promotion checks) read stack files that never hold them.
    """
    values = stack_values(config)
    problems = secret_problems(values, set(secret_keys))
    secrets_set = frozenset(key for key in SECRET_KEYS if key in values)
    values = {key: value for key, value in values.items() if key not in SECRET_KEYS}

    environment = values.get("environment", stack if stack in ENVIRONMENTS else None)
    if environment not in ENVIRONMENTS:
        problems.append(Problem("environment", environment, f"unknown environment; accepted form: one of {', '.join(ENVIRONMENTS)}"))
        raise SettingsError(stack, problems)

    merged = deep_merge(environment_defaults(environment), values)
    merged.update(stack=stack, environment=environment, secretsSet=secrets_set)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as error:
        raise SettingsError(stack, problems + _problems_from(error)) from None
    problems += cross_field_problems(settings)
    if require_secrets:
        problems += missing_secret_problems(settings)
    if problems:
        raise SettingsError(stack, problems)
    return settings


def _problems_from(error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        key = ".".join(loc)
        if item["type"] == "extra_forbidden":
            problems.append(Problem(key, item["input"], _unknown_key_message(loc)))
        elif item["type"] == "missing":
            problems.append(Problem(key, None, "is required but not set; give it a value in the stack's config"))
        else:
            message = item["msg"].removeprefix("Value error, ")
            problems.append(Problem(key, item.get("input"), message))
    return problems


def _unknown_key_message(loc: list[str]) -> str:
    model = _model_at(loc[:-1])
    accepted = sorted(field.alias or name for name, field in model.model_fields.items()) if model else []
    accepted = [name for name in accepted if name not in ("stack", "secretsSet")]
    close = difflib.get_close_matches(loc[-1], accepted, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown key{hint}; accepted keys here: {', '.join(accepted)}"


def _model_at(path: list[str]) -> type[BaseModel] | None:
    model: type[BaseModel] = Settings
    for part in path:
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        nested = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nested is None:
            return None
        model = nested
    return model
