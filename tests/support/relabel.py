"""Applies the relabel rules of a rendered ``discovery.relabel`` or ``prometheus.relabel`` block to a label
set, as Alloy v1.10.1 does.

The semantics are those of Alloy's internal/component/common/relabel/relabel.go (doRelabel), for the
actions the stack writes: ``drop``, ``keep``, ``replace`` (the default), ``hashmod`` and ``labeldrop``.
Source values are joined with the separator (default ``;``); regexes are anchored (``^(?:...)$``);
``hashmod`` is the md5 of the joined value, its last 8 bytes read as a big-endian unsigned integer, modulo
``modulus``; a replace whose result is empty deletes the target label; ``labeldrop`` deletes every label
whose name the regex matches. An attribute that is a call of ``sys.env`` reads ``env``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from tests.support.alloy_parser import Block, Call

DEFAULT_SEPARATOR = ";"
DEFAULT_REGEX = "(.*)"
DEFAULT_REPLACEMENT = "$1"


def _value(item: Any, env: Mapping[str, str]) -> Any:
    if isinstance(item, Call):
        assert item.name == "sys.env" and len(item.args) == 1, f"no evaluation for {item}"
        return env.get(item.args[0], "")
    return item


def _anchored(pattern: str) -> re.Pattern[str]:
    return re.compile(f"^(?:{pattern})$")


def _expand(template: str, match: re.Match[str]) -> str:
    # Go's Regexp.Expand: $1 and ${1} name a group; only numbered groups are used by the stack.
    return re.sub(r"\$\{?(\d+)\}?", lambda m: match.group(int(m.group(1))) or "", template)


def hashmod(value: str, modulus: int) -> int:
    """Alloy's (and Prometheus') hashmod of one joined source value."""
    digest = hashlib.md5(value.encode()).digest()
    return int.from_bytes(digest[8:], "big") % modulus


def apply(rules: list[Block], target: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str] | None:
    """The target after every rule, or None when a rule drops it."""
    labels = dict(target)
    for rule in rules:
        attributes = {name: _value(item, env) for name, item in rule.attributes.items()}
        action = attributes.get("action", "replace")
        separator = attributes.get("separator", DEFAULT_SEPARATOR)
        joined = separator.join(labels.get(name, "") for name in attributes.get("source_labels", []))
        regex = _anchored(attributes.get("regex", DEFAULT_REGEX))
        if action == "drop":
            if regex.match(joined):
                return None
        elif action == "keep":
            if not regex.match(joined):
                return None
        elif action == "hashmod":
            labels[attributes["target_label"]] = str(hashmod(joined, int(attributes["modulus"])))
        elif action == "labeldrop":
            labels = {name: value for name, value in labels.items() if not regex.match(name)}
        elif action == "replace":
            match = regex.match(joined)
            if match is None:
                continue
            result = _expand(attributes.get("replacement", DEFAULT_REPLACEMENT), match)
            if result:
                labels[attributes["target_label"]] = result
            else:
                labels.pop(attributes["target_label"], None)
        else:
            raise AssertionError(f"action {action} is not modelled here")
    return labels
