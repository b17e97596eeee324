"""A small writer for Alloy's configuration syntax: blocks, attributes and expressions.

Values are written from Python data, so strings are always quoted and
escaped, and braces always balance; ``Expr`` marks the few places where a
reference to another component or a function call is meant.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

INDENT = "  "


@dataclass(frozen=True)
class Expr:
    """An Alloy expression written as is, e.g. a component export ``loki.write.default.receiver``."""

    text: str


@dataclass(frozen=True)
class Block:
    name: str
    label: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    blocks: Sequence[Block] = ()


def value(item: Any, depth: int = 0) -> str:
    if isinstance(item, Expr):
        return item.text
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, (int, float)):
        return repr(item)
    if isinstance(item, str):
        return json.dumps(item, ensure_ascii=False)
    if isinstance(item, Mapping):
        if not item:
            return "{}"
        inner = INDENT * (depth + 1)
        fields = "".join(f"{inner}{_key(k)} = {value(v, depth + 1)},\n" for k, v in item.items())
        return "{\n" + fields + INDENT * depth + "}"
    if isinstance(item, Sequence):
        return "[" + ", ".join(value(v, depth) for v in item) + "]"
    raise TypeError(f"no Alloy form for {item!r}")


def _key(name: str) -> str:
    # Object keys that are not identifiers are written as strings.
    return name if name.isidentifier() else json.dumps(name)


def render(block: Block, depth: int = 0) -> str:
    pad = INDENT * depth
    header = block.name + (f" {json.dumps(block.label)}" if block.label is not None else "")
    lines = [f"{pad}{header} {{"]
    lines += [f"{pad}{INDENT}{name} = {value(item, depth + 1)}" for name, item in block.attributes.items()]
    for child in block.blocks:
        lines.append(render(child, depth + 1))
    lines.append(f"{pad}}}")
    return "\n".join(lines)


def document(blocks: Sequence[Block]) -> str:
    return "\n\n".join(render(block) for block in blocks) + "\n"


def export(block: Block, name: str) -> Expr:
    """A reference to one of a component's exports, e.g. export(write, "receiver")."""
    if block.label is None:
        raise ValueError(f"{block.name} has no label and cannot be referenced")
    return Expr(f"{block.name}.{block.label}.{name}")
