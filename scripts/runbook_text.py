"""What a runbook's steps say, read back from its Markdown; and the log levels its searches name.

Used by the runbook generator (``scripts/new_runbooks.py``) for the levels, and by the tests that run a
runbook's first query and check its log searches and kubectl commands (tests/rules/test_runbooks.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from components.logs.alloy_config import LOG_LEVELS

# Lines at this level or a more severe one (LOG_LEVELS is ordered by severity) are what "check the error
# logs" means: seed 004's services log CRITICAL, seed 003's DVT logs FATAL, QMTL (Python logging) CRITICAL.
SEVERE_FROM = "ERROR"


def severe_levels(known: Iterable[str] = LOG_LEVELS) -> set[str]:
    """The levels, among ``known``, from SEVERE_FROM up (ERROR, CRITICAL, FATAL for Alloy's LOG_LEVELS)."""
    known = set(known)
    return {level for level in LOG_LEVELS[LOG_LEVELS.index(SEVERE_FROM):] if level in known}


def severe_level_regex() -> str:
    """The LogQL regex value matching every severe level, in severity order: ``ERROR|CRITICAL|FATAL``."""
    return "|".join(level for level in LOG_LEVELS if level in severe_levels())


def _section(text: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    return m.group(1) if m else ""


def _blocks(text: str, lang: str) -> list[str]:
    """The fenced code blocks of one language, indentation removed."""
    out = []
    for m in re.finditer(rf"^([ \t]*)```{lang}\n(.*?)^[ \t]*```", text, re.S | re.M):
        indent = m.group(1)
        out.append("\n".join(line.removeprefix(indent) for line in m.group(2).splitlines()).strip())
    return out


def first_promql(text: str) -> str | None:
    """The first ``promql`` block under ``## Diagnosis``, or None."""
    blocks = _blocks(_section(text, "Diagnosis"), "promql")
    return blocks[0] if blocks else None


def logql_selectors(text: str) -> list[str]:
    """Every stream selector of the runbook: the ``{...}`` opening each query of a ``logql`` block, and
    inline code that starts with one (`` `{service="x"}` ``)."""
    found = []
    for block in _blocks(text, "logql"):
        found += re.findall(r"(?m)^\s*(\{[^{}]*\})", block)
    found += re.findall(r"`(\{[^{}`]*\})[^`]*`", text)
    return found


_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def matchers(selector: str) -> list[tuple[str, str, str]]:
    """(label, operator, value) of each matcher of a stream selector."""
    return _MATCHER.findall(selector)


def level_values(op: str, value: str, levels: Iterable[str]) -> set[str]:
    """The levels among ``levels`` a level matcher selects (LogQL regexes are anchored, as in Go)."""
    pattern = re.compile(f"(?:{value})") if op in ("=~", "!~") else None
    hit = {lv for lv in levels if (pattern.fullmatch(lv) if pattern else lv == value)}
    return hit if op in ("=", "=~") else set(levels) - hit


def kubectl_commands(text: str) -> list[str]:
    """Every kubectl command: from ``kubectl`` to the end of its inline code span, line, or prose clause."""
    return [m.group(0).strip() for m in re.finditer(r"\bkubectl\b[^`\n:;]*", text)]


_NAMESPACE = re.compile(r"(?:^|\s)(?:-n|--namespace)(?:\s+|=)(<[^>]+>|\S+)")


def names_namespace(command: str) -> bool:
    """Whether a kubectl command names its namespace (``-n``, ``--namespace``) or all (``-A``)."""
    return bool(_NAMESPACE.search(command) or re.search(r"(?:^|\s)(?:-A|--all-namespaces)\b", command))


def namespace_of(command: str) -> str | None:
    m = _NAMESPACE.search(command)
    return m.group(1) if m else None


# Tried first when choosing the label that tells an alert's rules apart (the per-service alerts' service,
# the SLO alerts' two severity tiers); other labels in name order.
_DISTINGUISHING_ORDER = ("service", "severity")


def distinguishing_labels(labels_per_rule: list[dict[str, str]]) -> list[str]:
    """The rule labels that tell an alert's rules apart: the first one (service, severity, then by name)
    whose values differ on every rule, else every label whose values differ; [] for one rule.

    The runbook's first query carries them (label_replace), so its answer names the rule that fired.
    """
    if len(labels_per_rule) < 2:
        return []
    keys = sorted({k for labels in labels_per_rule for k in labels},
                  key=lambda k: (_DISTINGUISHING_ORDER.index(k) if k in _DISTINGUISHING_ORDER else len(_DISTINGUISHING_ORDER), k))
    differing = [k for k in keys if len({labels.get(k) for labels in labels_per_rule}) > 1]
    for key in differing:
        if len({labels.get(key) for labels in labels_per_rule}) == len(labels_per_rule):
            return [key]
    return differing
