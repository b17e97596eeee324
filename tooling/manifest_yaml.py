"""Rendered objects as reviewable YAML: keys sorted, multi-line strings as literal blocks, byte-identical run to run.

``dump`` is memoized by content: the CRDs are megabytes of schema that come out the same in
every render, and emitting them was most of the time spent writing a render's files. Entries
live in memory for the process and, for large documents, in the build cache across processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from components.kit import build_cache

# The C emitter when present; the representer (below) stays Python either way.
_BASE: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# Documents whose repr is at least this long are also kept on disk (in practice: the CRDs).
DISK_THRESHOLD = 64 * 1024


class ReviewableDumper(_BASE):  # type: ignore[misc]
    """Multi-line strings (generated config files) as literal blocks, so a diff shows changed lines."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


ReviewableDumper.add_representer(str, _represent_str)


def emit(document: Any) -> str:
    """The YAML text, uncached."""
    return yaml.dump(document, Dumper=ReviewableDumper, sort_keys=True, default_flow_style=False, width=1000)


# Everything that shapes the text besides the document: this module's code, PyYAML and its emitter.
_WRITER = build_cache.key(Path(__file__).read_bytes(), yaml.__version__.encode(), _BASE.__name__.encode())
_memo: dict[str, str] = {}


def dump(document: Any) -> str:
    """``emit(document)``, memoized by content.

    ``document`` holds plain values only (dict, list, str, int, float, bool, None), as rendered inputs do:
    their repr tells every such value apart (1 from 1.0 and "1", key order aside, which the sorted
    output ignores), so equal reprs mean equal text.
    """
    shape = repr(document).encode()
    name = f"yaml-{build_cache.key(_WRITER.encode(), shape)}.yaml"
    text = _memo.get(name)
    if text is None:
        on_disk = len(shape) >= DISK_THRESHOLD
        cached = build_cache.read(name) if on_disk else None
        text = cached.decode() if cached is not None else emit(document)
        if on_disk and cached is None:
            build_cache.write(name, text.encode())
        _memo[name] = text
    return text
