"""Which rule groups a PromQL expression, a rule group or a promtool test case reads.

promtool evaluates every loaded rule at every step of every test case, so a case is
cheapest against only the groups that can change what it asserts: the groups holding the
alerts it names, the groups recording a series one of its expressions reads and,
transitively, the groups recording what those read (issue 17).

What a rule writes (Prometheus ``rules/recording.go`` and ``rules/alerting.go``):

- a recording rule writes the series ``record``, its ``labels`` set verbatim over the
  labels of the expression's result (an empty value removes the label; recording rule
  labels are not templated);
- an alerting rule writes ``ALERTS`` and ``ALERTS_FOR_STATE`` with ``alertname`` = its name
  (its other labels may be templates, so they are not used to rule it out).

A selector may read a rule's series when its matchers accept the name and every label whose
value the rule fixes. A matcher on a label the rule does not fix cannot rule the rule out:
that value comes from the data. Matchers follow Prometheus (``model/labels/matcher.go``):
``=`` and ``!=`` compare a missing label as ""; ``=~`` and ``!~`` are fully anchored RE2. A
regex Python's ``re`` might read differently from RE2 counts as matching (the group is kept).
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import promql_parser as pp

ALERT_SERIES = ("ALERTS", "ALERTS_FOR_STATE")
NAME = "__name__"


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # one of = != =~ !~
    value: str


_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}
# RE2 syntax Python's re reads differently or not at all: POSIX classes, \Q..\E, \z, \p, {,n} (a literal in RE2).
_NOT_PYTHON = re.compile(r"\[\[:|\\[QEzpPC]|\{,")


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str] | None:
    """The pattern anchored as Prometheus anchors it, or None where Python's re may differ from RE2."""
    if _NOT_PYTHON.search(pattern):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. FutureWarning on a nested set: re reads it another way
        try:
            return re.compile(f"(?:{pattern})", re.ASCII)
        except (re.error, Warning):
            return None


def accepts(matcher: Matcher, value: str) -> bool:
    """Whether the matcher accepts a series whose label has ``value`` ("" = label missing)."""
    if matcher.op in ("=", "!="):
        return (value == matcher.value) == (matcher.op == "=")
    compiled = _regex(matcher.value)
    if compiled is None or not value.isascii():
        return True  # cannot tell (RE2 folds case and classes over Unicode): keep
    return (compiled.fullmatch(value) is not None) == (matcher.op == "=~")


@functools.lru_cache(maxsize=4096)
def selectors(expr: str) -> tuple[tuple[tuple[Matcher, ...], ...], ...] | None:
    """Every vector selector of ``expr`` as its alternatives (``a="1" or b="2"``), each a tuple
    of matchers with the metric name as a ``__name__`` matcher. None when ``expr`` does not parse."""
    try:
        tree = pp.parse(expr)
    except ValueError:
        return None
    found: list[tuple[tuple[Matcher, ...], ...]] = []

    def matchers(raw: Iterable[Any], name: str | None) -> tuple[Matcher, ...]:
        out = [Matcher(NAME, "=", name)] if name else []
        return (*out, *(Matcher(m.name, _OPS[str(m.op)], m.value) for m in raw))

    def pre(node: Any) -> None:
        if isinstance(node, pp.VectorSelector):
            alternatives = node.matchers.or_matchers or [node.matchers.matchers]
            found.append(tuple(matchers(alt, node.name) for alt in alternatives))

    pp.walk(tree, pre)
    return tuple(found)


@dataclass(frozen=True)
class Output:
    """A series a rule writes: its name and the labels whose values the rule fixes."""

    name: str
    fixed: Mapping[str, str]


def outputs(rule: Mapping[str, Any]) -> list[Output]:
    if "record" in rule:
        return [Output(str(rule["record"]), {str(k): str(v) for k, v in (rule.get("labels") or {}).items()})]
    return [Output(name, {"alertname": str(rule["alert"])}) for name in ALERT_SERIES]


def may_read(alternatives: Sequence[Sequence[Matcher]], out: Output) -> bool:
    """Whether a selector (its alternatives) may select a series of ``out``."""
    labels = {NAME: out.name, **out.fixed}
    return any(all(accepts(m, labels[m.label]) for m in alt if m.label in labels) for alt in alternatives)


Group = Mapping[str, Any]


class Pool:
    """The rule groups a test may load (for a hand-written test file: those of its ``rule_files``),
    and what each reads. Groups are named by their index in ``groups``."""

    def __init__(self, groups: Sequence[Group]) -> None:
        self.groups = list(groups)
        self._outputs = [(i, o) for i, g in enumerate(self.groups) for r in g["rules"] for o in outputs(r)]
        self._by_name: dict[str, list[tuple[int, Output]]] = {}
        for i, o in self._outputs:
            self._by_name.setdefault(o.name, []).append((i, o))
        self._producers: dict[str, frozenset[int]] = {}
        self._reads: dict[int, frozenset[int]] = {}

    def producers(self, expr: str) -> frozenset[int]:
        """The groups with a rule that writes a series ``expr`` may read. An expression that
        does not parse may read anything: every group with a rule."""
        if expr not in self._producers:
            sels = selectors(expr)
            if sels is None:
                found = {i for i, _ in self._outputs}
            else:
                found = set()
                for alt in (a for s in sels for a in s):
                    name = next((m.value for m in alt if m.label == NAME and m.op == "="), None)
                    for i, out in self._outputs if name is None else self._by_name.get(name, []):
                        if i not in found and may_read([alt], out):
                            found.add(i)
            self._producers[expr] = frozenset(found)
        return self._producers[expr]

    def reads(self, i: int) -> frozenset[int]:
        """The groups recording a series a rule of group ``i`` may read (directly)."""
        if i not in self._reads:
            self._reads[i] = frozenset().union(*(self.producers(str(r["expr"])) for r in self.groups[i]["rules"]))
        return self._reads[i]

    def closure(self, roots: Iterable[int]) -> list[int]:
        """``roots`` and every group recording a series they read, transitively; sorted."""
        done: set[int] = set()
        pending = list(roots)
        while pending:
            i = pending.pop()
            if i not in done:
                done.add(i)
                pending.extend(self.reads(i) - done)
        return sorted(done)

    def case_roots(self, case: Mapping[str, Any], alert_pool: Iterable[int] | None = None) -> list[int]:
        """The groups a promtool test case asserts on: those of ``alert_pool`` (default: every
        group) holding an alert its ``alert_rule_test`` names, and those recording a series one of
        its ``promql_expr_test`` expressions may read. Sorted."""
        names = {str(t.get("alertname", "")) for t in case.get("alert_rule_test") or []}
        candidates = range(len(self.groups)) if alert_pool is None else alert_pool
        roots = {i for i in candidates if any(r.get("alert") in names for r in self.groups[i]["rules"])}
        for test in case.get("promql_expr_test") or []:
            roots |= self.producers(str(test.get("expr", "")))
        return sorted(roots)

    def case_groups(self, case: Mapping[str, Any], alert_pool: Iterable[int] | None = None) -> list[int]:
        """Every group a promtool test case needs loaded: its roots and what they read. Sorted."""
        return self.closure(self.case_roots(case, alert_pool))
