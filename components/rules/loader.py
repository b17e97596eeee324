"""Load the rule files of ``rules/`` into promtool-ready PrometheusRule specs.

Each ``rules/<system>.yaml`` is a PrometheusRule ``spec`` (``groups: [...]``)
with placeholders that are expanded here:

- ``{{threshold:<name>}}``          -> the number in rules/thresholds.yaml
- ``{{threshold_percent:<name>}}``  -> the same ratio as a percentage, for prose
- ``{{threshold_text:<name>}}``     -> the threshold in its unit, as a page prints it (components/rules/units.py)
- ``{{threshold_le:<name>}}``       -> the threshold as the ``le`` text Prometheus 3 stores for that bucket bound
                                       (catalog.stored_bound: 2.5 -> ``2.5``, 180 -> ``180.0``), for bucket matchers
- ``{{value}}``                     -> (annotations only) the Go template printing ``$value`` in the rule's ``unit``
- ``{{namespace}}``                 -> the stack's namespace
- ``{{host_namespace}}``            -> the namespace of the stack's host collectors (``<namespace>-host``)
- ``{{retention_seconds:<part>}}``  -> retention of prometheus, loki or tempo, in seconds (for expressions)
- ``{{retention_text:<part>}}``     -> the same retention as a page prints a duration (``7d 0h 0m 0s``, unit ``s``)
- ``{{statefulset:<component>}}``   -> the name of that component's StatefulSet (components/wiring/endpoints.py)

and every alert gets ``annotations.runbook_url`` = ``<runbook base URL>/docs/runbooks/<alert>.md``
and, from its ``annotations.dashboard: <dashboard uid>``, ``annotations.dashboard_url`` =
``<Grafana URL>/d/<uid>`` (seed 004 alert template: a dashboard link on every alert).

An alert that prints its value declares the value's unit: ``unit: <s|ms|ratio|bytes|rate|noun>`` (the
unit of what its expression returns; components/rules/units.py), removed like ``guard``.

A rule may carry ``guard: {vanish: self}`` (its expression fires on its own
when its source vanishes; see components/rules/guards.py). The key is not part
of a PrometheusRule: ``expand_spec`` removes it and ``load_guards`` reads it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components import paths
from components.kit import yaml_load
from components.kit.context import HOST_NAMESPACE_SUFFIX
from components.rules import thresholds, units
from components.rules.catalog import stored_bound
from components.wiring import endpoints

REPO_ROOT = paths.REPO_ROOT
RULES_DIR = paths.RULES_DIR
RUNBOOKS_DIR = paths.RUNBOOKS_DIR
NOT_RULE_FILES = {"thresholds.yaml"}

_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_]+)(?::([A-Za-z0-9_]+))?\}\}")


class RuleFileError(ValueError):
    """A rule file is malformed; the message names the file, the field and the accepted form."""


@dataclass(frozen=True)
class RuleContext:
    """Per-stack facts the rule files may reference."""

    namespace: str
    runbook_base_url: str  # settings: rules.runbookBaseUrl
    # Seconds per store; documentation renders pass text such as '<loki retention in seconds>'.
    retention_seconds: Mapping[str, int | str] = field(default_factory=dict)
    # Where operators open Grafana: dashboard links are <grafana_url>/d/<uid>.
    grafana_url: str = "http://grafana"


def dashboard_url(uid: str, base: str) -> str:
    return f"{base.rstrip('/')}/d/{uid}"


def runbook_path(alert: str) -> Path:
    return RUNBOOKS_DIR / f"{alert}.md"


def runbook_url(alert: str, base: str) -> str:
    return f"{base.rstrip('/')}/docs/runbooks/{alert}.md"


def _expand(text: str, ctx: RuleContext, where: str) -> str:
    def sub(m: re.Match[str]) -> str:
        kind, arg = m.group(1), m.group(2)
        if kind in ("threshold", "threshold_percent") and arg:
            fmt = thresholds.format_number if kind == "threshold" else thresholds.format_percent
            try:
                return fmt(thresholds.threshold(arg))
            except thresholds.ThresholdError as exc:
                raise RuleFileError(f"{where}: {exc}") from None
        if kind == "threshold_text" and arg:
            try:
                return units.render(thresholds.threshold(arg), thresholds.thresholds()[arg].unit)
            except (thresholds.ThresholdError, units.UnitError) as exc:
                raise RuleFileError(f"{where}: {exc}") from None
        if kind == "threshold_le" and arg:
            try:
                return stored_bound(thresholds.threshold(arg))
            except thresholds.ThresholdError as exc:
                raise RuleFileError(f"{where}: {exc}") from None
        if kind == "value" and arg is None:
            return m.group(0)  # expanded per rule, in its unit (expand_spec)
        if kind == "namespace" and arg is None:
            return ctx.namespace
        if kind == "host_namespace" and arg is None:
            return ctx.namespace + HOST_NAMESPACE_SUFFIX
        if kind in ("retention_seconds", "retention_text") and arg:
            if arg not in ctx.retention_seconds:
                raise RuleFileError(
                    f"{where}: no retention known for {arg!r}; accepted: one of {sorted(ctx.retention_seconds)}"
                )
            retention = ctx.retention_seconds[arg]
            if kind == "retention_text" and not isinstance(retention, str):
                return units.render(retention, "s")  # as {{value}} prints seconds, never "604800 seconds"
            return str(retention)
        if kind == "statefulset" and arg:
            if arg not in endpoints.STATEFULSETS:
                raise RuleFileError(f"{where}: no StatefulSet known for {arg!r}; accepted: one of {sorted(endpoints.STATEFULSETS)}")
            return endpoints.STATEFULSETS[arg]
        raise RuleFileError(
            f"{where}: unknown placeholder {m.group(0)!r}; accepted: {{{{threshold:<name>}}}}, {{{{threshold_percent:<name>}}}}, "
            "{{threshold_text:<name>}}, {{threshold_le:<name>}}, {{value}}, "
            "{{namespace}}, {{host_namespace}}, {{retention_seconds:<component>}}, {{retention_text:<component>}}, "
            "{{statefulset:<component>}}"
        )

    return _PLACEHOLDER.sub(sub, text)


def _walk(node: Any, ctx: RuleContext, where: str) -> Any:
    if isinstance(node, str):
        return _expand(node, ctx, where)
    if isinstance(node, list):
        return [_walk(v, ctx, f"{where}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, dict):
        return {k: _walk(v, ctx, f"{where}.{k}") for k, v in node.items()}
    return node


def expand_spec(raw: Any, ctx: RuleContext, source: str) -> dict[str, Any]:
    """Expand placeholders in one rule spec and add runbook links."""
    if not isinstance(raw, dict) or not isinstance(raw.get("groups"), list):
        raise RuleFileError(f"{source}: groups: expected a PrometheusRule spec with a 'groups' list")
    spec: dict[str, Any] = _walk(raw, ctx, source)
    for gi, group in enumerate(spec["groups"]):
        if not isinstance(group, dict) or not isinstance(group.get("rules"), list):
            raise RuleFileError(f"{source}: groups[{gi}].rules: expected a list of rules")
        for ri, rule in enumerate(group["rules"]):
            guard = rule.pop("guard", None)
            if guard is not None and (not isinstance(guard, dict) or set(guard) != {"vanish"}
                                      or guard["vanish"] != "self" or "alert" not in rule):
                raise RuleFileError(f"{source}: groups[{gi}].rules[{ri}].guard: got {guard!r}; accepted: "
                                    "{vanish: self} on an alert whose expression fires when its source vanishes")
            unit = rule.pop("unit", None)
            where = f"{source}: groups[{gi}].rules[{ri}]"
            if "alert" not in rule:
                if unit is not None or VALUE in json.dumps(rule):
                    raise RuleFileError(f"{where}: unit and {VALUE} belong to alerts; accepted: leave them out of recording rules")
                continue
            ann = rule.setdefault("annotations", {})
            _expand_value(rule, unit, where)
            url = runbook_url(rule["alert"], ctx.runbook_base_url)
            if ann.get("runbook_url", url) != url:
                raise RuleFileError(
                    f"{source}: groups[{gi}].rules[{ri}].annotations.runbook_url: got {ann['runbook_url']!r}; "
                    "accepted: leave it out (the loader links docs/runbooks/<alert>.md)"
                )
            ann["runbook_url"] = url
            uid = ann.pop("dashboard", None)
            if not isinstance(uid, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", uid):
                raise RuleFileError(
                    f"{source}: groups[{gi}].rules[{ri}].annotations.dashboard: got {uid!r}; "
                    "accepted: the uid of the dashboard an operator opens first, e.g. dvt-operations"
                )
            ann["dashboard_url"] = dashboard_url(uid, ctx.grafana_url)
    return spec


VALUE = "{{value}}"


def _expand_value(rule: dict[str, Any], unit: Any, where: str) -> None:
    """Replace ``{{value}}`` in the annotations by the template printing ``$value`` in ``unit``."""
    if VALUE in str(rule.get("expr", "")) or VALUE in json.dumps(rule.get("labels") or {}):
        raise RuleFileError(f"{where}: {VALUE} is only for annotations; the expression and labels cannot print it")
    used = any(VALUE in str(v) for v in rule["annotations"].values())
    if unit is None:
        if used:
            raise RuleFileError(f"{where} ({rule['alert']}): prints {VALUE} but declares no unit; accepted: "
                                "unit: s, ms, ratio, bytes, a rate ending in /s or /min, or a noun, beside alert:")
        return
    try:
        template = units.go_template(unit)
    except units.UnitError as exc:
        raise RuleFileError(f"{where} ({rule['alert']}).{exc}") from None
    for key, text in rule["annotations"].items():
        if isinstance(text, str):
            rule["annotations"][key] = text.replace(VALUE, template)


def rule_files(rules_dir: Path = RULES_DIR) -> list[Path]:
    return sorted(p for p in rules_dir.glob("*.yaml") if p.name not in NOT_RULE_FILES)


def load_rule_file(path: Path, ctx: RuleContext) -> dict[str, Any]:
    try:
        raw = yaml_load.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RuleFileError(f"{path}: not valid YAML: {exc}") from exc
    return expand_spec(raw, ctx, str(path))


def load_static_rules(ctx: RuleContext, rules_dir: Path = RULES_DIR) -> dict[str, dict[str, Any]]:
    """Every hand-written rule file, by name (file stem), expanded."""
    return {p.stem: load_rule_file(p, ctx) for p in rule_files(rules_dir)}


def load_guards(rules_dir: Path = RULES_DIR) -> dict[tuple[str, str], dict[str, Any]]:
    """(alert name, service label) -> its ``guard`` declaration, as written in the rule files."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in rule_files(rules_dir):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in raw.get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule and rule.get("guard"):
                    out[(rule["alert"], str((rule.get("labels") or {}).get("service", "")))] = dict(rule["guard"])
    return out


def alerts(specs: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for s in specs.values() for g in s["groups"] for r in g["rules"] if "alert" in r]


def recording_rules(specs: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for s in specs.values() for g in s["groups"] for r in g["rules"] if "record" in r]


def dump(spec: Mapping[str, Any]) -> str:
    """YAML text of a spec, multi-line strings as blocks (readable in previews)."""

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(d: yaml.SafeDumper, s: str) -> yaml.ScalarNode:
        style = "|" if "\n" in s else None
        return d.represent_scalar("tag:yaml.org,2002:str", s, style=style)

    _Dumper.add_representer(str, _str)
    return yaml.dump(dict(spec), Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
