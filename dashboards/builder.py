"""A thin builder that turns dashboard definitions (Python data) into Grafana dashboard JSON models.

Definitions say what to show; this module owns how Grafana wants it written:
grid positions, panel ids, datasource references, threshold steps, variable
and annotation shapes. Every datasource UID comes from components.wiring.endpoints,
so a panel cannot point at a datasource the stack does not create.

    Dashboard(uid="dvt-operations", title="DVT Operations", folder="dvt", rows=[
        Row("StateStore", [timeseries("Write latency", [prom("...")], unit="ms")]),
    ]).model(context)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from components.grafana.access import FOLDERS
from components.wiring.endpoints import LOKI_UID, PROMETHEUS_UID, TEMPO_UID

# Grafana 12 writes this schema version; dashboards are stored as written.
SCHEMA_VERSION = 41
GRID_WIDTH = 24
GRAFANA_BUILTIN = {"type": "grafana", "uid": "-- Grafana --"}

DATASOURCES: dict[str, dict[str, str]] = {
    "prometheus": {"type": "prometheus", "uid": PROMETHEUS_UID},
    "loki": {"type": "loki", "uid": LOKI_UID},
    "tempo": {"type": "tempo", "uid": TEMPO_UID},
}

# Seed 004 colour scheme: green healthy, yellow warning, orange error, red critical.
GREEN, YELLOW, ORANGE, RED = "green", "yellow", "orange", "red"


@dataclass(frozen=True)
class Target:
    """One query. ``language`` picks the datasource: promql -> Prometheus, logql -> Loki, traceql -> Tempo."""

    expr: str
    language: str = "promql"
    legend: str = ""
    instant: bool = False
    format: str = "time_series"  # time_series | table | heatmap
    max_lines: int | None = None  # LogQL only

    def model(self, ref_id: str) -> dict[str, Any]:
        if self.language == "promql":
            return {
                "refId": ref_id,
                "datasource": DATASOURCES["prometheus"],
                "expr": self.expr,
                "legendFormat": self.legend or "__auto",
                "range": not self.instant,
                "instant": self.instant,
                "format": self.format,
                "editorMode": "code",
            }
        if self.language == "logql":
            return {
                "refId": ref_id,
                "datasource": DATASOURCES["loki"],
                "expr": self.expr,
                "legendFormat": self.legend,
                "queryType": "range",
                "editorMode": "code",
            } | ({"maxLines": self.max_lines} if self.max_lines else {})
        if self.language == "traceql":
            return {
                "refId": ref_id,
                "datasource": DATASOURCES["tempo"],
                "query": self.expr,
                "queryType": "traceql",
                "limit": 20,
                "tableType": "traces",
            }
        raise ValueError(f"target language {self.language!r}; accepted: promql | logql | traceql")


def prom(expr: str, legend: str = "", *, instant: bool = False, format: str = "time_series") -> Target:
    return Target(" ".join(expr.split()), "promql", legend, instant, format)


def logql(expr: str, legend: str = "", max_lines: int | None = None) -> Target:
    return Target(" ".join(expr.split()), "logql", legend, max_lines=max_lines)


def traceql(query: str) -> Target:
    return Target(query, "traceql")


@dataclass(frozen=True)
class Steps:
    """Threshold steps: a base colour, then (value, colour) in increasing order."""

    base: str = GREEN
    levels: tuple[tuple[float, str], ...] = ()

    def model(self) -> dict[str, Any]:
        steps: list[dict[str, Any]] = [{"color": self.base, "value": None}]
        steps += [{"color": color, "value": value} for value, color in self.levels]
        return {"mode": "absolute", "steps": steps}


def above(warning: float | None = None, critical: float | None = None) -> Steps:
    """Green below, yellow from ``warning``, red from ``critical`` (higher is worse)."""
    levels = [(v, c) for v, c in ((warning, YELLOW), (critical, RED)) if v is not None]
    return Steps(GREEN, tuple(levels))


def below(critical: float, warning: float | None = None) -> Steps:
    """Red below ``critical``, yellow below ``warning``, green above (lower is worse)."""
    levels: list[tuple[float, str]] = [(critical, YELLOW if warning is not None else GREEN)]
    if warning is not None:
        levels.append((warning, GREEN))
    return Steps(RED, tuple(levels))


@dataclass(frozen=True)
class Link:
    title: str
    url: str

    def model(self) -> dict[str, Any]:
        return {"title": self.title, "url": self.url, "targetBlank": True}


def explore_link(title: str, expr: str, *, language: str = "logql", variables: Sequence[str] = ()) -> Link:
    """A link to Grafana Explore with ``expr`` loaded on the Loki (or Tempo) datasource.

    The pane state is URL-encoded JSON; each ``${name:pipe}`` in ``variables``
    is left unencoded so Grafana substitutes the current selection.
    """
    source = "loki" if language == "logql" else "tempo"
    query: dict[str, Any] = {"refId": "A", "datasource": DATASOURCES[source]}
    query["expr" if source == "loki" else "query"] = expr
    if source == "tempo":
        query["queryType"] = "traceql"
    panes = {"a": {"datasource": DATASOURCES[source]["uid"], "queries": [query], "range": {"from": "${__from}", "to": "${__to}"}}}
    encoded = quote(json.dumps(panes, separators=(",", ":"), sort_keys=True), safe="")
    for token in ("${__from}", "${__to}", *variables):
        encoded = encoded.replace(quote(token, safe=""), token)
    return Link(title, f"/explore?schemaVersion=1&orgId=1&panes={encoded}")


@dataclass(frozen=True)
class Panel:
    """A panel: ``kind`` is the Grafana panel type; the rest are the options definitions use."""

    title: str
    kind: str
    targets: tuple[Target, ...]
    width: int = 12
    height: int = 8
    unit: str = ""
    description: str = ""
    steps: Steps | None = None
    min: float | None = None
    max: float | None = None
    decimals: int | None = None
    links: tuple[Link, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    transformations: tuple[dict[str, Any], ...] = ()
    stack: bool = False
    # Grafana field overrides, e.g. per-series thresholds of an alert with one number per service (dashboards/alerts.py).
    overrides: tuple[dict[str, Any], ...] = ()

    def datasource(self) -> dict[str, str] | None:
        languages = {t.language for t in self.targets}
        if not languages:
            return None
        if len(languages) != 1:
            raise ValueError(f"panel {self.title!r} mixes query languages {sorted(languages)}; use one per panel")
        return DATASOURCES[{"promql": "prometheus", "logql": "loki", "traceql": "tempo"}[languages.pop()]]

    def model(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        defaults: dict[str, Any] = {"unit": self.unit} if self.unit else {}
        if self.steps is not None:
            defaults["thresholds"] = self.steps.model()
            defaults["color"] = {"mode": "thresholds"} if self.kind in ("stat", "gauge", "bargauge") else {"mode": "palette-classic"}
        for key, value in (("min", self.min), ("max", self.max), ("decimals", self.decimals)):
            if value is not None:
                defaults[key] = value
        custom = dict(self.custom)
        if self.kind == "timeseries":
            custom.setdefault("lineWidth", 1)
            custom.setdefault("fillOpacity", 10)
            custom.setdefault("showPoints", "never")
            if self.stack:
                custom["stacking"] = {"mode": "normal", "group": "A"}
            if self.steps is not None:
                # Seed 004: "show threshold lines on graphs", aligned with the alert.
                custom["thresholdsStyle"] = {"mode": "line+area" if self.steps.levels else "off"}
        if custom:
            defaults["custom"] = custom
        model: dict[str, Any] = {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "gridPos": {"x": x, "y": y, "w": self.width, "h": self.height},
            "targets": [t.model(chr(ord("A") + i)) for i, t in enumerate(self.targets)],
            "fieldConfig": {"defaults": defaults, "overrides": list(self.overrides)},
            "options": _default_options(self.kind) | self.options,
        }
        source = self.datasource()
        if source is not None:
            model["datasource"] = source
        if self.description:
            model["description"] = self.description
        if self.links:
            model["links"] = [link.model() for link in self.links]
        if self.transformations:
            model["transformations"] = list(self.transformations)
        return model


def _default_options(kind: str) -> dict[str, Any]:
    reduce = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    if kind == "timeseries":
        return {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}, "tooltip": {"mode": "multi", "sort": "desc"}}
    if kind == "stat":
        return reduce | {"colorMode": "background", "graphMode": "area", "justifyMode": "auto", "textMode": "auto"}
    if kind == "gauge":
        return reduce | {"showThresholdLabels": False, "showThresholdMarkers": True}
    if kind == "bargauge":
        return reduce | {"displayMode": "gradient", "orientation": "horizontal"}
    if kind == "heatmap":
        return {
            "calculate": False,
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Spectral", "exponent": 0.5, "steps": 64},
            "yAxis": {"axisPlacement": "left"},
            "tooltip": {"mode": "single", "yHistogram": True},
            "legend": {"show": True},
        }
    if kind == "table":
        return {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    if kind == "logs":
        return {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending", "enableLogDetails": True, "dedupStrategy": "none"}
    return {}


def timeseries(title: str, targets: Sequence[Target], **kw: Any) -> Panel:
    return Panel(title, "timeseries", tuple(targets), **kw)


def stat(title: str, targets: Sequence[Target], **kw: Any) -> Panel:
    kw.setdefault("width", 6)
    kw.setdefault("height", 5)
    return Panel(title, "stat", tuple(targets), **kw)


def gauge(title: str, targets: Sequence[Target], **kw: Any) -> Panel:
    kw.setdefault("width", 6)
    kw.setdefault("height", 6)
    return Panel(title, "gauge", tuple(targets), **kw)


def bargauge(title: str, targets: Sequence[Target], **kw: Any) -> Panel:
    return Panel(title, "bargauge", tuple(targets), **kw)


def heatmap(title: str, expr: str, *, unit: str = "", **kw: Any) -> Panel:
    """A latency heatmap of a classic histogram: increase per bucket, Grafana de-accumulates by le."""
    options = {"yAxis": {"axisPlacement": "left", "unit": unit}, "rowsFrame": {"layout": "auto"}}
    return Panel(title, "heatmap", (prom(expr, "{{le}}", format="heatmap"),), options=_default_options("heatmap") | options, **kw)


def table(title: str, targets: Sequence[Target], *, columns: dict[str, str] | None = None, **kw: Any) -> Panel:
    """An instant-query table; ``columns`` renames fields (and drops the Time column)."""
    transformations: list[dict[str, Any]] = [{"id": "merge", "options": {}}]
    if columns is not None:
        transformations.append({"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": columns}})
    kw.setdefault("options", {"sortBy": [{"displayName": list(columns.values())[-1], "desc": True}]} if columns else {})
    return Panel(title, "table", tuple(targets), transformations=tuple(transformations), **kw)


def logs(title: str, expr: str, *, links: Sequence[Link] = (), max_lines: int | None = None, **kw: Any) -> Panel:
    kw.setdefault("width", 24)
    kw.setdefault("height", 10)
    return Panel(title, "logs", (logql(expr, max_lines=max_lines),), links=tuple(links), **kw)


def traces(title: str, query: str, **kw: Any) -> Panel:
    """A TraceQL search shown as a table of matching traces (each opens the waterfall)."""
    kw.setdefault("width", 24)
    return Panel(title, "table", (traceql(query),), **kw)


def text(title: str, content: str, **kw: Any) -> Panel:
    kw.setdefault("width", 24)
    kw.setdefault("height", 3)
    return Panel(title, "text", (), options={"mode": "markdown", "content": content}, **kw)


@dataclass(frozen=True)
class Row:
    title: str
    panels: Sequence[Panel]
    collapsed: bool = False


@dataclass(frozen=True)
class Variable:
    """A template variable: a Prometheus label_values query, or a fixed list (``values``)."""

    name: str
    label: str
    query: str = ""
    values: tuple[str, ...] = ()
    multi: bool = True
    include_all: bool = True
    # What "All" stands for: a regex matching any value, or None for the values the query found (Grafana
    # then substitutes their alternation, so "All" still filters).
    all_value: str | None = ".*"
    default: str | None = None
    hide: bool = False
    textbox: bool = False  # free text (e.g. a run id to search logs and traces for)

    def model(self) -> dict[str, Any]:
        current: dict[str, Any] = {}
        if self.default is not None:
            current = {"selected": True, "text": self.default, "value": self.default}
        elif self.include_all:
            current = {"selected": True, "text": "All", "value": "$__all"}
        base: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "multi": self.multi,
            "includeAll": self.include_all,
            "current": current,
            "hide": 2 if self.hide else 0,
        }
        if self.include_all and self.all_value is not None:
            base["allValue"] = self.all_value
        if self.textbox:
            return base | {"type": "textbox", "query": self.default or "", "includeAll": False, "multi": False}
        if self.values:
            options = [{"selected": v == self.default, "text": v, "value": v} for v in self.values]
            return base | {"type": "custom", "query": ",".join(self.values), "options": options}
        return base | {
            "type": "query",
            "datasource": DATASOURCES["prometheus"],
            "definition": self.query,
            "query": {"query": self.query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
            "refresh": 2,  # on time range change: new label values appear without a reload
            "sort": 1,
            "regex": "",
            "options": [],
        }


@dataclass(frozen=True)
class Annotation:
    """An annotation source: a PromQL query (alerts, rollouts) or Grafana annotations with tags (CI/CD)."""

    name: str
    expr: str = ""
    tags: tuple[str, ...] = ()
    color: str = "red"
    title: str = ""
    text: str = ""
    label_keys: str = ""

    def model(self) -> dict[str, Any]:
        if self.tags:
            return {
                "name": self.name,
                "enable": True,
                "iconColor": self.color,
                "datasource": GRAFANA_BUILTIN,
                "target": {"type": "tags", "tags": list(self.tags), "matchAny": False, "limit": 100},
            }
        return {
            "name": self.name,
            "enable": True,
            "iconColor": self.color,
            "datasource": DATASOURCES["prometheus"],
            "expr": self.expr,
            "step": "60s",
            "titleFormat": self.title,
            "textFormat": self.text,
            "tagKeys": self.label_keys,
            "useValueForTime": False,
        }


# Grafana's own annotation list entry (manual incident markers, seed 004).
BUILTIN_ANNOTATION: dict[str, Any] = {
    "builtIn": 1,
    "datasource": GRAFANA_BUILTIN,
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    folder: str  # key of components.grafana.access.FOLDERS
    rows: Sequence[Row]
    description: str = ""
    tags: tuple[str, ...] = ()
    variables: Sequence[Variable] = ()
    annotations: Sequence[Annotation] = ()
    links: Sequence[Link] = ()
    refresh: str = "1m"
    time_from: str = "now-6h"
    # Panel title -> links added to every panel of that title (e.g. the runbook of the alert it mirrors).
    panel_links: Mapping[str, Sequence[Link]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.folder not in FOLDERS:
            raise ValueError(f"dashboard {self.uid}: folder {self.folder!r}; accepted: one of {sorted(FOLDERS)}")
        if not 0 < len(self.uid) <= 40:
            raise ValueError(f"dashboard uid {self.uid!r}; accepted: 1 to 40 characters")
        titles = {panel.title for row in self.rows for panel in row.panels}
        unknown = sorted(set(self.panel_links) - titles)
        if unknown:
            raise ValueError(f"dashboard {self.uid}: panel_links for {unknown}; accepted: titles of its panels")

    def _panel(self, panel: Panel) -> Panel:
        extra = tuple(self.panel_links.get(panel.title, ()))
        return replace(panel, links=panel.links + extra) if extra else panel

    def model(self) -> dict[str, Any]:
        panels: list[dict[str, Any]] = []
        y = 0
        next_id = 1
        for row in self.rows:
            row_model: dict[str, Any] = {
                "id": next_id,
                "type": "row",
                "title": row.title,
                "collapsed": row.collapsed,
                "gridPos": {"x": 0, "y": y, "w": GRID_WIDTH, "h": 1},
                "panels": [],
            }
            next_id += 1
            y += 1
            children: list[dict[str, Any]] = []
            x, line_height = 0, 0
            for panel in map(self._panel, row.panels):
                if x + panel.width > GRID_WIDTH:
                    x, y, line_height = 0, y + line_height, 0
                children.append(panel.model(next_id, x, y))
                next_id += 1
                x += panel.width
                line_height = max(line_height, panel.height)
            y += line_height
            # A collapsed row keeps its panels inside; an open row is followed by them.
            if row.collapsed:
                row_model["panels"] = children
                panels.append(row_model)
            else:
                panels.extend([row_model, *children])
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": sorted({*self.tags, self.folder}),
            "timezone": "utc",
            "editable": False,
            "graphTooltip": 1,
            "refresh": self.refresh,
            "time": {"from": self.time_from, "to": "now"},
            "timepicker": {"refresh_intervals": ["30s", "1m", "5m", "15m", "1h"]},
            "schemaVersion": SCHEMA_VERSION,
            "templating": {"list": [v.model() for v in self.variables]},
            "annotations": {"list": [BUILTIN_ANNOTATION, *(a.model() for a in self.annotations)]},
            "links": [link.model() for link in self.links],
            "panels": panels,
        }
