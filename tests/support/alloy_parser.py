"""A strict reader of the Alloy syntax subset the stack writes, so tests check the text Alloy would read.

There is no Python parser for Alloy's syntax; this one accepts blocks,
attributes, strings, numbers, booleans, lists, objects, references, calls and
`+`, and raises on anything unbalanced or unexpected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r'\s*(?:(?P<comment>//[^\n]*)|(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<number>-?\d+(?:\.\d+)?)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(?P<punct>[{}\[\]=,()+]))'
)


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Concat:
    parts: tuple[Any, ...]


@dataclass
class Block:
    name: str
    label: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    def children(self, name: str) -> list[Block]:
        return [b for b in self.blocks if b.name == name]

    def child(self, name: str) -> Block:
        found = self.children(name)
        assert len(found) == 1, f"{self.name}: {len(found)} {name} blocks"
        return found[0]


class AlloySyntaxError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise AlloySyntaxError(f"unexpected text at offset {position}: {text[position : position + 20]!r}")
        position = match.end()
        kind = match.lastgroup
        assert kind is not None
        if kind != "comment":
            tokens.append((kind, match.group(kind)))
    return tokens


class _Reader:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, value: str | None = None, kind: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise AlloySyntaxError(f"unexpected end of file, wanted {value or kind}")
        if (value is not None and token[1] != value) or (kind is not None and token[0] != kind):
            raise AlloySyntaxError(f"unexpected {token[1]!r}, wanted {value or kind}")
        self.at += 1
        return token

    def body(self, closing: bool) -> tuple[dict[str, Any], list[Block]]:
        attributes: dict[str, Any] = {}
        blocks: list[Block] = []
        while True:
            token = self.peek()
            if token is None:
                if closing:
                    raise AlloySyntaxError("a block is not closed")
                return attributes, blocks
            if token == ("punct", "}"):
                if not closing:
                    raise AlloySyntaxError("a '}' closes no block")
                self.take("}")
                return attributes, blocks
            name = self.take(kind="ident")[1]
            following = self.peek()
            if following == ("punct", "="):
                self.take("=")
                if name in attributes:
                    raise AlloySyntaxError(f"attribute {name} set twice")
                attributes[name] = self.expression()
            else:
                label = json.loads(self.take(kind="string")[1]) if following and following[0] == "string" else None
                self.take("{")
                inner_attributes, inner_blocks = self.body(closing=True)
                blocks.append(Block(name, label, inner_attributes, inner_blocks))

    def expression(self) -> Any:
        parts = [self.primary()]
        while self.peek() == ("punct", "+"):
            self.take("+")
            parts.append(self.primary())
        return parts[0] if len(parts) == 1 else Concat(tuple(parts))

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return json.loads(text)
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "ident":
            if text in ("true", "false"):
                return text == "true"
            if self.peek() == ("punct", "("):
                self.take("(")
                args = self.items(")")
                return Call(text, tuple(args))
            return Ref(text)
        if text == "[":
            return self.items("]")
        if text == "{":
            return self.object()
        raise AlloySyntaxError(f"unexpected {text!r} in an expression")

    def items(self, closing: str) -> list[Any]:
        values: list[Any] = []
        while self.peek() != ("punct", closing):
            values.append(self.expression())
            if self.peek() == ("punct", ","):
                self.take(",")
            elif self.peek() != ("punct", closing):
                raise AlloySyntaxError(f"wanted ',' or {closing!r}")
        self.take(closing)
        return values

    def object(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        while self.peek() != ("punct", "}"):
            kind, key = self.take()
            if kind not in ("ident", "string"):
                raise AlloySyntaxError(f"unexpected object key {key!r}")
            self.take("=")
            values[json.loads(key) if kind == "string" else key] = self.expression()
            if self.peek() == ("punct", ","):
                self.take(",")
        self.take("}")
        return values


def parse(text: str) -> list[Block]:
    """Top-level blocks of an Alloy file; raises AlloySyntaxError on unbalanced or unexpected input."""
    attributes, blocks = _Reader(text).body(closing=False)
    if attributes:
        raise AlloySyntaxError(f"top-level attributes are not allowed: {sorted(attributes)}")
    return blocks


def references(value: Any) -> list[str]:
    """Every reference in an attribute value, however nested."""
    if isinstance(value, Ref):
        return [value.name]
    if isinstance(value, Concat):
        return [name for part in value.parts for name in references(part)]
    if isinstance(value, Call):
        return [name for arg in value.args for name in references(arg)]
    if isinstance(value, list):
        return [name for item in value for name in references(item)]
    if isinstance(value, dict):
        return [name for item in value.values() for name in references(item)]
    return []


def all_attributes(block: Block) -> list[Any]:
    return [*block.attributes.values(), *(value for child in block.blocks for value in all_attributes(child))]
