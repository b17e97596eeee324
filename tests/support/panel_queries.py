"""Dashboard panel queries as Grafana would send them to Prometheus.

Template variables are resolved the way Grafana resolves them: a query
variable's values come from the live Prometheus (``label_values(...)`` through
the label-values API), multi-value and "All" selections become a regex
alternation, a single value is used as is. Grafana's own variables get the
values Grafana would compute for the dashboard's default time range.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tooling.localstack import LocalStack, duration_seconds

LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<selector>.+?)\s*,\s*)?(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$")
VARIABLE = re.compile(r"\$\{(?P<braced>[a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|\$(?P<plain>[a-zA-Z_][a-zA-Z0-9_]*)|\[\[(?P<old>[a-zA-Z_][a-zA-Z0-9_]*)\]\]")
REGEX_SPECIAL = re.compile(r"([\\^$.|?*+()\[\]{}])")


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str


def panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    def walk(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for p in items:
            yield p
            yield from walk(p.get("panels") or [])

    yield from walk(model.get("panels") or [])


def prometheus_queries(model: dict[str, Any]) -> list[PanelQuery]:
    """Every PromQL target of every panel (Loki and Tempo targets are left out)."""
    out = []
    for p in panels(model):
        for t in p.get("targets") or []:
            source = t.get("datasource") or p.get("datasource") or {}
            if isinstance(source, dict) and source.get("type") == "prometheus" and t.get("expr"):
                out.append(PanelQuery(model.get("title", model.get("uid", "?")), p.get("title", "?"), t.get("refId", "?"), t["expr"]))
    return out


def grafana_builtins(model: dict[str, Any], scrape_interval: str) -> dict[str, str]:
    """Grafana's variables for the default range: $__rate_interval is at least four scrape intervals."""
    range_text = str((model.get("time") or {}).get("from", "now-6h")).removeprefix("now-") or "6h"
    scrape = duration_seconds(scrape_interval)
    interval = max(scrape, duration_seconds(range_text) / 1000)
    return {
        "__rate_interval": f"{round(max(4 * scrape, interval + scrape))}s",
        "__interval": f"{round(interval)}s",
        "__interval_ms": str(round(interval * 1000)),
        "__range": range_text,
        "__range_s": str(round(duration_seconds(range_text))),
    }


def _escape(value: str) -> str:
    return REGEX_SPECIAL.sub(r"\\\1", value)


def interpolate(text: str, values: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group("braced") or m.group("plain") or m.group("old")
        if name not in values:
            raise KeyError(f"variable ${name} is not defined by the dashboard (known: {sorted(values)})")
        return values[name]

    return VARIABLE.sub(sub, text)


def resolve_variables(model: dict[str, Any], stack: LocalStack, builtins: dict[str, str]) -> dict[str, str]:
    """Each template variable's text as Grafana would substitute it, in dashboard order (later ones may use earlier ones)."""
    values = dict(builtins)
    for var in (model.get("templating") or {}).get("list") or []:
        name, kind = var["name"], var.get("type")
        if kind == "query":
            query = var.get("query")
            query = query.get("query") if isinstance(query, dict) else query
            m = LABEL_VALUES.match(interpolate(str(query), values))
            if not m:
                raise ValueError(f"variable ${name}: unsupported query {query!r}; accepted: label_values([selector,] label)")
            params = {"match[]": m.group("selector")} if m.group("selector") else {}
            found = sorted(stack.api(f"/api/v1/label/{m.group('label')}/values", **params))
            if not found:
                raise ValueError(f"variable ${name}: {query!r} has no values on the live Prometheus")
            if var.get("multi") or var.get("includeAll"):
                values[name] = var.get("allValue") or "(" + "|".join(_escape(v) for v in found) + ")"
            else:
                values[name] = found[0]
        elif kind in ("custom", "constant", "interval"):
            current = (var.get("current") or {}).get("value") or str(var.get("query", "")).split(",")[0]
            values[name] = current if isinstance(current, str) else "|".join(current)
        elif kind == "textbox":
            values[name] = str(var.get("query") or "")
        elif kind == "datasource":
            values[name] = str((var.get("current") or {}).get("value") or "")
        else:
            values[name] = ".*"
    return values


def vector_selectors(expr: str) -> list[str]:
    """The instant vector selectors inside a PromQL expression, as PromQL text."""
    import promql_parser as pp

    found: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, pp.VectorSelector):
            found.append(str(node))
        elif isinstance(node, pp.MatrixSelector):
            visit(node.vector_selector)
        elif isinstance(node, (pp.SubqueryExpr, pp.ParenExpr, pp.UnaryExpr)):
            visit(node.expr)
        elif isinstance(node, pp.Call):
            for arg in node.args:
                visit(arg)
        elif isinstance(node, pp.AggregateExpr):
            visit(node.expr)
            if node.param is not None:
                visit(node.param)
        elif isinstance(node, pp.BinaryExpr):
            visit(node.lhs)
            visit(node.rhs)

    visit(pp.parse(expr))
    return found
