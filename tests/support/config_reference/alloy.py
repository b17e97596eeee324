"""An Alloy configuration (as read by tests/support/alloy_parser.py) against the reference of one Alloy release.

Components and top-level config blocks must exist in the release; every attribute must be an argument of
its component or block with a value of the documented type; a function called must be in the release's
standard library; every argument and block the reference marks
required must be there (nested ones when their parent block is); every nested block must be one the component
documents at that path; a reference to another component's export must name an export of the referenced
component whose type is the one the argument takes (capsules are not inter-compatible; a plain string may
be given where a ``secret`` is expected). Types and conversions from the Alloy syntax reference
(get-started/configuration-syntax/expressions/types_and_values.md of the same release).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.support.alloy_parser import Block, Call, Concat, Ref

_GO_DURATION = re.compile(r"^-?([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$")
_NUMBERS = {"number", "int", "float", "uint", "uint32", "float32"}
# Standard library calls whose result is a string (reference/stdlib of the release).
_STRING_CALLS = {"sys.env", "string.format", "string.join", "string.replace", "string.to_lower", "string.to_upper"} | {
    "string.trim",
    "string.trim_prefix",
    "string.trim_suffix",
    "string.trim_space",
    "file.path_join",
}


@dataclass(frozen=True)
class _Context:
    exports: dict[str, str]  # component.label.export -> type
    stdlib: frozenset[str]  # function names of the release's standard library


def normalise(kind: str) -> str:
    """The docs spell some types in Go or alternative forms: []string, array(string), bool."""
    kind = kind.strip()
    if kind.startswith("[]"):
        return f"list({normalise(kind[2:])})"
    kind = re.sub(r"^(array|lists)\(", "list(", kind)
    kind += ")" * (kind.count("(") - kind.count(")"))
    inner = re.fullmatch(r"(list|map)\((.+)\)", kind)
    if inner:
        return f"{inner.group(1)}({normalise(inner.group(2))})"
    return {"bool": "boolean", "receiver": "LogsReceiver"}.get(kind, kind)


def _value_errors(value: Any, kind: str, ctx: _Context, where: str) -> list[str]:
    kind = normalise(kind)
    if kind in ("any", "object"):
        return [e for ref in _refs(value) for e in _ref_errors(ref, None, ctx, where)]
    if isinstance(value, Ref):
        return _ref_errors(value, kind, ctx, where)
    if isinstance(value, Call):
        if value.name not in ctx.stdlib:
            return [f"{where}: {value.name}() is not a standard library function of this release"]
        errors = [e for arg in value.args for e in _value_errors(arg, "any", ctx, where)]
        if errors:
            return errors
        if value.name in _STRING_CALLS:
            return [] if kind in ("string", "secret", "duration") else [f"{where}: expected {kind}, got a string from {value.name}()"]
        return []  # a function whose result type this check does not model
    if isinstance(value, Concat):
        errors = [e for part in value.parts for e in _value_errors(part, "string", ctx, where)]
        return errors if kind in ("string", "secret") else [*errors, f"{where}: expected {kind}, got a string expression"]
    if isinstance(value, bool):
        return [] if kind == "boolean" else [f"{where}: expected {kind}, got {value!r}"]
    if isinstance(value, (int, float)):
        return [] if kind in _NUMBERS else [f"{where}: expected {kind}, got {value!r}"]
    if isinstance(value, str):
        if kind == "duration":
            return [] if _GO_DURATION.match(value) else [f"{where}: expected duration, got {value!r}"]
        return [] if kind in ("string", "secret", "units.Base2Bytes") else [f"{where}: expected {kind}, got {value!r}"]
    if isinstance(value, list):
        inner = re.fullmatch(r"list\((.+)\)", kind)
        if not inner:
            return [f"{where}: expected {kind}, got a list"]
        return [e for i, item in enumerate(value) for e in _value_errors(item, inner.group(1), ctx, f"{where}[{i}]")]
    if isinstance(value, dict):
        inner = re.fullmatch(r"map\((.+)\)", kind)
        if not inner:
            return [f"{where}: expected {kind}, got an object"]
        return [e for key, item in value.items() for e in _value_errors(item, inner.group(1), ctx, f"{where}.{key}")]
    return [f"{where}: expected {kind}, got {value!r}"]


def _refs(value: Any) -> list[Ref]:
    if isinstance(value, Ref):
        return [value]
    if isinstance(value, (list, tuple)):
        return [r for item in value for r in _refs(item)]
    if isinstance(value, dict):
        return [r for item in value.values() for r in _refs(item)]
    if isinstance(value, Concat):
        return [r for part in value.parts for r in _refs(part)]
    if isinstance(value, Call):
        return [r for arg in value.args for r in _refs(arg)]
    return []


def _ref_errors(ref: Ref, kind: str | None, ctx: _Context, where: str) -> list[str]:
    exports = ctx.exports
    if ref.name not in exports:
        return [f"{where}: {ref.name} is not an export of any component in this configuration"]
    if kind is None or kind == normalise(exports[ref.name]):
        return []
    return [f"{where}: expected {kind}, got {ref.name} ({normalise(exports[ref.name])})"]


def _exports(blocks: list[Block], components: dict[str, Any]) -> dict[str, str]:
    """component.label.export -> type, for every labelled component the configuration declares."""
    found = {}
    for block in blocks:
        if block.label is not None and block.name in components:
            for export, kind in components[block.name]["exports"].items():
                found[f"{block.name}.{block.label}.{export}"] = kind
    return found


def _body_errors(block: Block, spec: dict[str, Any], path: tuple[str, ...], ctx: _Context, where: str) -> list[str]:
    arguments: dict[str, str] = spec["arguments"] if not path else spec["blocks"][" > ".join(path)]
    errors = []
    for name, value in block.attributes.items():
        if name not in arguments:
            errors.append(f"{where}: {name} is not an argument of {' > '.join(path) or 'the component'} in this release")
        else:
            errors += _value_errors(value, arguments[name], ctx, f"{where}.{name}")
    here = " > ".join(path)
    errors += [f"{where}: required argument {name} is missing" for name in spec.get("required", {}).get(here, []) if name not in block.attributes]
    present = {child.name for child in block.blocks}
    for required in spec.get("required_blocks", []):
        *parent, name = required.split(" > ")
        if tuple(parent) == path and name not in present:
            errors.append(f"{where}: required block {name} is missing")
    for child in block.blocks:
        child_path = (*path, child.name)
        if " > ".join(child_path) not in spec["blocks"]:
            errors.append(f"{where}: block {' > '.join(child_path)} does not exist in this release")
        else:
            errors += _body_errors(child, spec, child_path, ctx, f"{where} > {child.name}")
    return errors


def check_alloy(blocks: list[Block], ref: dict[str, Any]) -> list[str]:
    """Every problem of a parsed configuration against one release's reference, as "where: what" strings."""
    components: dict[str, Any] = ref["components"]
    ctx = _Context(_exports(blocks, components), frozenset(ref.get("stdlib", [])))
    errors = []
    for block in blocks:
        if block.label is None:
            spec = ref["config_blocks"].get(block.name)
            where = block.name
            kind = "config block"
        else:
            spec = components.get(block.name)
            where = f'{block.name} "{block.label}"'
            kind = "component"
        if spec is None:
            errors.append(f"{where}: {block.name} is not a {kind} of this release")
            continue
        errors += _body_errors(block, spec, (), ctx, where)
    return errors
