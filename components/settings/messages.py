"""Plain-words messages for the validation library's errors: what is wrong and the accepted form.

The library's own text names Python types ("valid tuple", "dict", class names) that an
operator never wrote; every message here says what the stack file should hold instead.
"""

from __future__ import annotations

import difflib
import types
import typing
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from components.settings.model import Settings

# Internal fields the loader fills; never offered as keys.
INTERNAL_FIELDS = ("stack", "secretsSet")
QUOTE_HINT = "a value that starts with '#' must be quoted (e.g. '#monitoring'): unquoted, YAML reads it as a comment and the value as null"
_PROBE = "\x00"  # a value no field accepts: its error states the field's accepted form


def message(item: ErrorDetails) -> str:
    """The message for one validation error (without key or value)."""
    loc = [str(part) for part in item["loc"]]
    kind = item["type"]
    if kind == "extra_forbidden":
        return unknown_key_message(loc)
    if kind == "value_error":
        return str(item["msg"]).removeprefix("Value error, ")
    form = accepted_form(loc)
    if kind == "missing":
        return f"is required but not set; accepted form: {form}"
    if item.get("input") is None:
        return f"is required and cannot be null; accepted form: {form} ({QUOTE_HINT})"
    if kind == "literal_error":
        return f"is not one of the accepted values; accepted form: one of {item.get('ctx', {}).get('expected', form)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"is a single value where a section is expected; accepted form: {form}"
    if kind in ("tuple_type", "list_type", "set_type", "iterable_type", "frozen_set_type"):
        return f"is not a list; accepted form: {form}"
    if kind == "too_short":
        least = item.get("ctx", {}).get("min_length", 1)
        return f"has too few entries; accepted form: {form}, at least {least} of them"
    if kind.startswith("bool"):
        return "is not true or false; accepted form: true or false"
    if kind.startswith("int") or kind in ("finite_number", "greater_than", "less_than", "greater_than_equal", "less_than_equal"):
        return f"is not an accepted number; accepted form: {form}"
    if kind.startswith("string") or kind.startswith("str"):
        return f"is not text; accepted form: {form}"
    return f"is not accepted; accepted form: {form}"


def unknown_key_message(loc: list[str]) -> str:
    model = model_at(loc[:-1])
    accepted = sorted(field.alias or name for name, field in model.model_fields.items()) if model else []
    accepted = [name for name in accepted if name not in INTERNAL_FIELDS]
    close = difflib.get_close_matches(loc[-1], accepted, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown key{hint}; accepted keys here: {', '.join(accepted)}"


def model_at(path: list[str]) -> type[BaseModel] | None:
    annotation = _annotation_at(path)
    return _model_in(annotation)


def accepted_form(loc: list[str]) -> str:
    """The accepted form of the value at ``loc``, in words."""
    annotation = _annotation_at(loc)
    return _form(annotation) if annotation is not None else "a value of the kind components/settings/defaults.yaml gives this key"


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    return next((f for n, f in model.model_fields.items() if key in (n, f.alias)), None)


def _annotation_at(path: list[str]) -> Any:
    annotation: Any = Settings
    for part in path:
        annotation = _strip_optional(annotation)
        model = _model_in(annotation)
        if model is not None:
            field = _field(model, part)
            if field is None:
                return None
            annotation = _full_annotation(field)
        elif typing.get_origin(annotation) in (tuple, list) and part.isdigit():
            annotation = typing.get_args(annotation)[0]
        else:
            return None
    return annotation


def _full_annotation(field: FieldInfo) -> Any:
    if field.metadata:
        return typing.Annotated[(field.annotation, *field.metadata)]
    return field.annotation


def _strip_optional(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation


def _model_in(annotation: Any) -> type[BaseModel] | None:
    annotation = _strip_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _form(annotation: Any) -> str:
    optional = _strip_optional(annotation) is not annotation
    base = _strip_optional(annotation)
    if typing.get_origin(base) is typing.Annotated and typing.get_origin(typing.get_args(base)[0]) in (tuple, list):
        base = typing.get_args(base)[0]  # a list with a length bound: the bound is in the error's ctx
    model = _model_in(base)
    if model is not None:
        keys = [f.alias or n for n, f in model.model_fields.items() if (f.alias or n) not in INTERNAL_FIELDS]
        form = f"a section (mapping) with the keys {', '.join(keys)}"
    elif typing.get_origin(base) in (tuple, list):
        form = f"a list, each entry {_form(typing.get_args(base)[0])}"
    elif typing.get_origin(base) is Literal:
        form = "one of " + ", ".join(str(a) for a in typing.get_args(base))
    else:
        form = _probed_form(base)
    return f"{form}, or null to leave it unset" if optional else form


def _probed_form(annotation: Any) -> str:
    inner = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation
    if typing.get_origin(inner) is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(inner))
    try:
        TypeAdapter(annotation).validate_python(_PROBE)
    except ValidationError as error:
        text = str(error.errors()[0]["msg"])
        if "accepted form: " in text:
            return text.split("accepted form: ", 1)[1]
    except Exception:
        pass
    return {bool: "true or false", int: "a whole number", Decimal: "a number", str: "text"}.get(inner, "a value of this key's kind")
