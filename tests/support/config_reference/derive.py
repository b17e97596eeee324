"""Derive the key/type reference data in this folder from a local checkout of the upstream repository.

    python -m tests.support.config_reference.derive loki  CHECKOUT_GIT_DIR v3.5.3  > tests/support/config_reference/loki-3.5.3.yaml
    python -m tests.support.config_reference.derive tempo CHECKOUT_GIT_DIR v2.8.2  > tests/support/config_reference/tempo-2.8.2.yaml
    python -m tests.support.config_reference.derive alloy CHECKOUT_GIT_DIR v1.10.1 > tests/support/config_reference/alloy-1.10.1.yaml

CHECKOUT_GIT_DIR is a clone (bare is fine) of github.com/grafana/<name>; files are read with
``git show TAG:PATH``. Only key paths, types and (Alloy) exported field types are written: no prose.
The checkout itself is never part of this repository.

Sources per product (the configuration reference published with the release):
- Loki: docs/sources/shared/configuration.md (generated from the Go structs by tools/doc-generator).
- Tempo: docs/sources/tempo/configuration/manifest.md (the complete default configuration as YAML);
  keys it cannot show (empty by default) are kept by hand in the data file's ``supplement`` with their Go source.
- Alloy: docs/sources/reference/components/**/*.md and docs/sources/reference/config-blocks/*.md
  (Arguments, Blocks and Exported fields tables), with docs/sources/shared/ includes resolved.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

LOKI_DOC = "docs/sources/shared/configuration.md"
TEMPO_DOC = "docs/sources/tempo/configuration/manifest.md"
ALLOY_DOCS = "docs/sources/reference/components"
ALLOY_CONFIG_BLOCKS = "docs/sources/reference/config-blocks"
ALLOY_STDLIB = "docs/sources/reference/stdlib"
ALLOY_SHARED = "docs/sources/shared"


def git_show(checkout: Path, tag: str, path: str) -> str:
    return subprocess.run(["git", "-C", str(checkout), "show", f"{tag}:{path}"], check=True, capture_output=True, text=True).stdout


def git_ls(checkout: Path, tag: str, path: str) -> list[str]:
    out = subprocess.run(["git", "-C", str(checkout), "ls-tree", "-r", "--name-only", tag, path], check=True, capture_output=True, text=True).stdout
    return out.split()


def commit_of(checkout: Path, tag: str) -> str:
    return subprocess.run(["git", "-C", str(checkout), "rev-list", "-n1", tag], check=True, capture_output=True, text=True).stdout.strip()


# Loki: the generated reference is YAML-like: "[key: <type> | default = ...]" leaves, "key:" nested
# blocks, "[key: <block_name>]" references to a "### block_name" section, "[<block_name>]" inlined blocks.

_LEAF = re.compile(r"^(?P<indent> *)\[(?P<key>[A-Za-z0-9_]+): <(?P<type>[^>]+)>(?P<rest>.*)$")
_INLINE = re.compile(r"^(?P<indent> *)\[<(?P<block>[a-z0-9_]+)>\]\s*$")
_NESTED = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_]+):\s*$")
_BYTES_DEFAULT = re.compile(r"\|\s*default = [0-9.]+\s*[KMGTPE]?i?B\]\s*$")


def _loki_sections(text: str) -> dict[str, list[str]]:
    """### heading -> the lines of its reference block ("" for the top-level loki.yaml section).

    A section may open with an example; its reference block is the first yaml block written in the
    reference's "[key: <type>]" form.
    """
    blocks: dict[str, list[list[str]]] = {}
    current: str | None = None
    block: list[str] | None = None
    for line in text.splitlines():
        heading = re.match(r"^##+ (.+)$", line)
        if heading and block is None:
            title = heading.group(1).strip()
            # Only the "###" sections are the reference; "##" ones are prose with examples.
            current = ("" if "loki.yaml" in title else title) if line.startswith("### ") else None
            continue
        if current is None:
            continue
        if line.startswith("```yaml"):
            block = []
        elif line.startswith("```") and block is not None:
            blocks.setdefault(current, []).append(block)
            block = None
        elif block is not None:
            block.append(line)
    return {name: next((b for b in found if any(_LEAF.match(line) or _INLINE.match(line) for line in b)), found[0]) for name, found in blocks.items()}


def _loki_type(raw: str, rest: str, blocks: set[str]) -> str:
    raw = raw.strip()
    if raw in blocks:
        return f"block {raw}"
    listed = re.fullmatch(r"list of ([a-z_]+?)s", raw)
    if listed and listed.group(1) in blocks:
        return f"list of block {listed.group(1)}"
    mapped = re.fullmatch(r"map of string to ([a-z_]+)", raw)
    if mapped and mapped.group(1) in blocks:
        return f"map of string to block {mapped.group(1)}"
    if raw == "int" and _BYTES_DEFAULT.search(rest):
        return "bytes"  # flagext.ByteSize: documented as int, read as "3MB" or a number of bytes
    if raw in {"string", "int", "float", "boolean", "duration", "list of strings", "map of string to string", "url", "daytime", "time"}:
        return raw
    return "any"  # a type the reference does not spell out (relabel configs, named stores, ...)


def _loki_block(lines: list[str], blocks: set[str]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if leaf := _LEAF.match(line):
            parent[leaf.group("key")] = _loki_type(leaf.group("type"), leaf.group("rest"), blocks)
        elif inline := _INLINE.match(line):
            parent.setdefault("<include>", []).append(inline.group("block"))
        elif nested := _NESTED.match(line):
            child: dict[str, Any] = {}
            parent[nested.group("key")] = child
            stack.append((indent, child))
    return root


def derive_loki(checkout: Path, tag: str) -> dict[str, Any]:
    sections = _loki_sections(git_show(checkout, tag, LOKI_DOC))
    names = {name for name in sections if name}
    return {
        "source": {"repo": "grafana/loki", "tag": tag, "commit": commit_of(checkout, tag), "path": LOKI_DOC},
        "root": _loki_block(sections[""], names),
        "blocks": {name: _loki_block(sections[name], names) for name in sorted(names)},
    }


# Tempo: the manifest is the default configuration; a key's type is the type of its default value.

_GO_DURATION = re.compile(r"^-?([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


def _tempo_node(value: Any) -> Any:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "duration" if _GO_DURATION.match(value) else "string"
    if isinstance(value, list):
        if value and all(isinstance(item, str) for item in value):
            return "list of strings"
        if value and all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in value):
            return "list of floats"
        return "list"  # empty by default: the item type is not shown
    if isinstance(value, dict):
        if not value:
            return "any"  # an empty map or a struct with no non-empty default
        if all(isinstance(key, int) for key in value):
            return "any"
        return {str(key): _tempo_node(item) for key, item in value.items()}
    return "any"  # null: a pointer or interface without a default


def derive_tempo(checkout: Path, tag: str) -> dict[str, Any]:
    text = git_show(checkout, tag, TEMPO_DOC)
    body = text.split("```yaml", 1)[1].split("```", 1)[0]
    return {
        "source": {"repo": "grafana/tempo", "tag": tag, "commit": commit_of(checkout, tag), "path": TEMPO_DOC},
        "root": _tempo_node(yaml.safe_load(body)),
    }


# Alloy: per component, the Arguments table, the Blocks table (paths "a > b > c" linked to "### c"
# sections with their own Arguments tables) and the Exported fields table.

_INCLUDE = re.compile(r'\{\{<\s*docs/shared\s+lookup="([^"]+)".*?>\}\}')
_HEADING = re.compile(r"^(#{2,4}) (.+?)\s*$")
_LINK_DEF = re.compile(r"^\[([^\]]+)\]:\s*#(\S+)\s*$")


def _resolve_includes(text: str, checkout: Path, tag: str, depth: int = 0) -> str:
    if depth > 5:
        return text

    def include(match: re.Match[str]) -> str:
        try:
            shared = git_show(checkout, tag, f"{ALLOY_SHARED}/{match.group(1)}")
        except subprocess.CalledProcessError:
            return ""
        return _resolve_includes(shared.split("---", 2)[-1], checkout, tag, depth + 1)

    return _INCLUDE.sub(include, text)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9_\- ]", "", title.lower().replace("`", "")).strip().replace(" ", "-")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _tables(lines: list[str]) -> list[tuple[list[str], list[list[str]]]]:
    tables, index = [], 0
    while index < len(lines):
        if lines[index].lstrip().startswith("|") and index + 1 < len(lines) and re.match(r"^\s*\|[\s:|-]+\|\s*$", lines[index + 1]):
            header = [cell.lower() for cell in _cells(lines[index])]
            rows, index = [], index + 2
            while index < len(lines) and lines[index].lstrip().startswith("|"):
                rows.append(_cells(lines[index]))
                index += 1
            tables.append((header, rows))
        else:
            index += 1
    return tables


def _code(cell: str) -> str:
    found = re.findall(r"`([^`]+)`", cell)
    return found[0] if found else cell.strip()


def _arguments(lines: list[str]) -> dict[str, str]:
    arguments: dict[str, str] = {}
    for header, rows in _tables(lines):
        if header[:2] != ["name", "type"]:
            continue
        for row in rows:
            if len(row) >= 2 and row[0]:
                arguments[_code(row[0])] = _code(row[1])
    return arguments


def _required(lines: list[str]) -> list[str]:
    """The arguments whose Required column says yes."""
    names = []
    for header, rows in _tables(lines):
        if header[:2] != ["name", "type"] or "required" not in header:
            continue
        column = header.index("required")
        names += [_code(row[0]) for row in rows if len(row) > column and row[column].strip("`* ").lower() == "yes"]
    return names


def _sections(lines: list[str]) -> list[tuple[int, str, list[str]]]:
    """(level, slug, lines up to the next heading of the same or a higher level)."""
    headings = [(i, len(m.group(1)), m.group(2)) for i, line in enumerate(lines) if (m := _HEADING.match(line))]
    out = []
    for position, (start, level, title) in enumerate(headings):
        end = next((i for i, lvl, _ in headings[position + 1 :] if lvl <= level), len(lines))
        # Stop the section's own tables at its first sub-heading: those belong to the sub-section.
        own_end = next((i for i, _, _ in headings[position + 1 :]), len(lines))
        out.append((level, _slug(title), lines[start + 1 : min(end, own_end)]))
    return out


def _alloy_component(text: str) -> dict[str, Any]:
    lines = text.splitlines()
    sections = _sections(lines)
    by_slug: dict[str, list[str]] = {}
    for _, slug, body in sections:
        by_slug.setdefault(slug, body)
    links = {m.group(1).strip("`"): m.group(2) for line in lines if (m := _LINK_DEF.match(line.strip()))}
    arguments = by_slug.get("arguments", [])
    component: dict[str, Any] = {"arguments": _arguments(arguments), "blocks": {}, "exports": {}, "required": {}, "required_blocks": []}
    if _required(arguments):
        component["required"][""] = _required(arguments)
    for header, rows in _tables(by_slug.get("blocks", [])):
        if not header or header[0] not in ("block", "hierarchy", "name"):
            continue
        required_column = header.index("required") if "required" in header else None
        for row in rows:
            parts = [part.strip() for part in row[0].split(">")]
            path = [_code(part) for part in parts]
            if not all(path):
                continue
            link = re.search(r"\]\[([^\]]+)\]", parts[-1])
            anchor = links.get(link.group(1), _slug(link.group(1))) if link else _slug(path[-1])
            body = by_slug.get(anchor) or by_slug.get(_slug(path[-1]), [])
            key = " > ".join(path)
            component["blocks"][key] = _arguments(body)
            if _required(body):
                component["required"][key] = _required(body)
            if required_column is not None and len(row) > required_column and row[required_column].strip("`* ").lower() == "yes":
                component["required_blocks"].append(key)
    component["exports"] = _arguments(by_slug.get("exported-fields", []))
    return component


def derive_alloy(checkout: Path, tag: str) -> dict[str, Any]:
    def read(directory: str, dotted: bool) -> dict[str, Any]:
        found = {}
        for path in git_ls(checkout, tag, directory):
            name = Path(path).stem
            if not path.endswith(".md") or name.startswith("_") or (dotted and "." not in name):
                continue
            found[name] = _alloy_component(_resolve_includes(git_show(checkout, tag, path), checkout, tag))
        return dict(sorted(found.items()))

    return {
        "source": {"repo": "grafana/alloy", "tag": tag, "commit": commit_of(checkout, tag), "path": f"{ALLOY_DOCS}, {ALLOY_CONFIG_BLOCKS}, {ALLOY_STDLIB}"},
        "components": read(ALLOY_DOCS, dotted=True),
        # Unlabelled top-level blocks (logging, tracing, http, ...).
        "config_blocks": read(ALLOY_CONFIG_BLOCKS, dotted=False),
        "stdlib": _stdlib(checkout, tag),
    }


def _stdlib(checkout: Path, tag: str) -> list[str]:
    """The standard library's functions: one page per namespace, one "## name" heading per function,
    or a page named after its single function (coalesce, json_path). Constants are values, not functions."""
    names = []
    for path in git_ls(checkout, tag, ALLOY_STDLIB):
        stem = Path(path).stem
        if not path.endswith(".md") or stem.startswith("_") or stem == "constants":
            continue
        found = [m.group(1) for line in git_show(checkout, tag, path).splitlines() if (m := re.match(r"^## ([A-Za-z_][A-Za-z0-9_.]*)\s*$", line))]
        functions = [name if "." in name else f"{stem}.{name}" for name in found if name not in ("Examples", "Example")]
        names += functions or [stem]
    return sorted(names)


DERIVE = {"loki": derive_loki, "tempo": derive_tempo, "alloy": derive_alloy}


def main(argv: list[str]) -> int:
    product, checkout, tag = argv
    data = DERIVE[product](Path(checkout), tag)
    source = data["source"]
    print(f"# {product} {tag.lstrip('v')}: configuration keys and their types, derived (key paths and types only) from")
    print(f"# https://github.com/{source['repo']} tag {tag} (commit {source['commit']}), {source['path']}")
    print(f"# by: python -m tests.support.config_reference.derive {product} CHECKOUT {tag}")
    print(yaml.safe_dump(data, sort_keys=False, width=200), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
