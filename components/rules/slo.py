"""SLOs as data: ``slo/*.yaml`` -> SLI recording rules, burn-rate alerts, budget rules.

A spec file::

    service: dvt                      # default `service` label of its SLOs
    slos:
      - name: dvt-error-rate          # kebab-case, unique; alert DvtErrorRateErrorBudgetBurn
        description: Fewer than 0.1% of runs fail.
        objective: 99.9               # percent of good events, 0 < objective < 100
        window: 30d                   # the only window supported
        service: dvt                  # optional override
        sli:                          # exactly one of:
          latency: {metric: <histogram family>, le: <bucket bound or {{threshold:<name>}}>, matchers: 'a="b"'}
          ratio:   {errors: {metric, matchers}, total: {metric, matchers}}
          uptime:  {metric: <0/1 gauge>, matchers: 'job="x"'}
        impact: <sentence for the alert and runbook>
        # description and impact of a latency SLO write {{le}} for the bound, printed in the
        # histogram's unit as the page prints its value (1s, 500ms, 4m 0s): written once, in le.
        actions: [<step>, ...]
        half_budget_alert: true       # optional: also <Name>ErrorBudgetHalfSpent (below)

For each SLO this generates one rule group ``slo-<name>`` with:
- ``slo:sli_error:ratio_rate<w>`` for every window the alerts and budget need;
- ``slo:objective:ratio`` and ``slo:error_budget_remaining:ratio`` (dashboards);
- the multiwindow, multi-burn-rate alert of the SRE workbook: 1h&5m at 14.4x or
  6h&30m at 6x pages (critical); 1d&2h at 3x or 3d&6h at 1x opens a ticket (warning);
- with ``half_budget_alert: true``, ``<Name>ErrorBudgetHalfSpent`` (warning): half
  the 30-day budget spent within half the window (seed 003: "50% of budget
  consumed before 50% of period elapsed"). Over a rolling window that is an
  error ratio above the budget over the last 15 days (burn rate 1 for 15d spends
  50% of a 30d budget).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from components import paths
from components.kit import yaml_load
from components.rules import units
from components.rules.catalog import Catalog, load_catalog, stored_bound
from components.rules.loader import RuleContext, dashboard_url, runbook_url
from components.rules.thresholds import PLACEHOLDER, ThresholdError, expand, format_number

SLO_DIR = paths.SLO_DIR
WINDOWS = {"30d": 30 * 24 * 3600}
# (long window, short window, burn rate) pairs, SRE workbook table for 30 days.
PAGE_BURNS = (("1h", "5m", 14.4), ("6h", "30m", 6.0))
TICKET_BURNS = (("1d", "2h", 3.0), ("3d", "6h", 1.0))
SLI_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
# SLO groups evaluate once a minute: their 3d and 30d rates are the costliest
# queries of the stack, and a minute is far below the shortest burn window.
GROUP_INTERVAL = "1m"
PAGE_FOR = "2m"
TICKET_FOR = "15m"

_SPEC_KEYS = {"service", "slos", "dashboard"}
_SLO_KEYS = {"name", "description", "objective", "window", "service", "sli", "impact", "actions", "half_budget_alert"}
HALF_WINDOW = "15d"
HALF_FOR = "1h"
_REQUIRED = ("name", "description", "objective", "window", "sli", "impact", "actions")
_SLI_KEYS = {"latency": {"metric", "le", "matchers"}, "ratio": {"errors", "total"}, "uptime": {"metric", "matchers"}}
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class SloSpecError(ValueError):
    """A bad SLO spec; the message names the file, the field, the value and the accepted form."""


@dataclass(frozen=True)
class Slo:
    name: str
    description: str
    objective: float
    window: str
    service: str
    sli: dict[str, Any]
    impact: str
    actions: tuple[str, ...]
    source: str
    half_budget_alert: bool = False
    dashboard: str = ""

    @property
    def half_alert(self) -> str:
        return self.alert.removesuffix("Burn") + "HalfSpent"

    @property
    def alert(self) -> str:
        return "".join(p.capitalize() for p in self.name.split("-")) + "ErrorBudgetBurn"

    @property
    def budget(self) -> float:
        """Allowed error ratio, rounded so 99.9 gives 0.001 and not 0.0010000000000000009."""
        return round(1 - self.objective / 100, 12)

    @property
    def sli_kind(self) -> str:
        return next(iter(self.sli))


def _err(source: str, where: str, value: Any, accepted: str) -> SloSpecError:
    return SloSpecError(f"{source}: {where}: got {value!r}; accepted: {accepted}")


def _expanded(text: str, source: str, where: str) -> str:
    try:
        return expand(text)
    except ThresholdError as exc:
        raise SloSpecError(f"{source}: {where}: {exc}") from None


def _selector(metric: str, matchers: str, source: str, where: str) -> str:
    text = f"{metric}{{{matchers}}}" if matchers else metric
    try:
        expr = promql_parser.parse(text)
    except Exception:  # the parser raises its own error types
        raise _err(source, where, matchers, 'PromQL label matchers such as status="failed"') from None
    if not isinstance(expr, promql_parser.VectorSelector):
        raise _err(source, where, matchers, 'PromQL label matchers such as status="failed"')
    return text


def _metric_ref(raw: Any, source: str, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or set(raw) - {"metric", "matchers"} or not isinstance(raw.get("metric"), str):
        raise _err(source, where, raw, "{metric: <name>, matchers: <optional label matchers>}")
    matchers = str(raw.get("matchers") or "")
    _selector(raw["metric"], matchers, source, f"{where}.matchers")
    return {"metric": raw["metric"], "matchers": matchers}


def _parse_sli(raw: Any, source: str, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in _SLI_KEYS:
        raise _err(source, where, raw, "exactly one of latency: {...}, ratio: {...}, uptime: {...}")
    kind, body = next(iter(raw.items()))
    if not isinstance(body, dict):
        raise _err(source, f"{where}.{kind}", body, f"a mapping with keys {sorted(_SLI_KEYS[kind])}")
    unknown = sorted(set(body) - _SLI_KEYS[kind])
    if unknown:
        raise _err(source, f"{where}.{kind}.{unknown[0]}", unknown[0], f"one of {sorted(_SLI_KEYS[kind])}")
    if kind == "ratio":
        return {kind: {k: _metric_ref(body.get(k), source, f"{where}.ratio.{k}") for k in ("errors", "total")}}
    ref = _metric_ref({k: v for k, v in body.items() if k != "le"}, source, f"{where}.{kind}")
    if kind == "latency":
        le = body.get("le")
        if isinstance(le, str) and PLACEHOLDER.fullmatch(le.strip()):
            # The bound may be an alert threshold: written once, in rules/thresholds.yaml.
            le = float(_expanded(le, source, f"{where}.latency.le"))
        if isinstance(le, bool) or not isinstance(le, (int, float)) or le <= 0:
            raise _err(source, f"{where}.latency.le", le, "a positive number, one of the histogram's bucket bounds")
        ref["le"] = float(le)
    return {kind: ref}


BOUND = "{{le}}"


def bound_text(sli: dict[str, Any]) -> str:
    """A latency SLI's bound as a page prints it, in the unit of its histogram (``_ms`` or seconds)."""
    body = sli["latency"]
    return units.render(body["le"], "ms" if body["metric"].endswith("_ms") else "s")


def _with_bound(text: str, sli: dict[str, Any], source: str, where: str) -> str:
    """``text`` with ``{{le}}`` replaced by the latency bound, written once (in ``sli.latency.le``)."""
    if BOUND not in text:
        return text
    if "latency" not in sli:
        raise _err(source, where, text, f"{BOUND} only in a latency SLO (it prints sli.latency.le)")
    return text.replace(BOUND, bound_text(sli))


def parse_spec(data: Any, source: str) -> list[Slo]:
    """Validate one spec file's data; raise SloSpecError naming file and field."""
    if not isinstance(data, dict):
        raise _err(source, "(top level)", type(data).__name__, "a mapping with keys service and slos")
    unknown = sorted(set(data) - _SPEC_KEYS)
    if unknown:
        raise _err(source, unknown[0], unknown[0], f"one of {sorted(_SPEC_KEYS)}")
    default_service = data.get("service")
    if not isinstance(data.get("dashboard", ""), str):
        raise _err(source, "dashboard", data.get("dashboard"), "the uid of the dashboard the SLO alerts link to")
    slos_raw = data.get("slos")
    if not isinstance(slos_raw, list) or not slos_raw:
        raise _err(source, "slos", slos_raw, "a non-empty list of SLOs")
    out: list[Slo] = []
    for i, raw in enumerate(slos_raw):
        where = f"slos[{i}]"
        if not isinstance(raw, dict):
            raise _err(source, where, raw, "a mapping")
        unknown = sorted(set(raw) - _SLO_KEYS)
        if unknown:
            raise _err(source, f"{where}.{unknown[0]}", unknown[0], f"one of {sorted(_SLO_KEYS)}")
        missing = [k for k in _REQUIRED if k not in raw]
        if missing:
            raise _err(source, f"{where}.{missing[0]}", None, f"a value for every one of {list(_REQUIRED)}")
        name = raw["name"]
        if not isinstance(name, str) or not _NAME.match(name):
            raise _err(source, f"{where}.name", name, "kebab-case such as dvt-error-rate")
        where = f"slos[{i}] ({name})"
        objective = raw["objective"]
        if isinstance(objective, bool) or not isinstance(objective, (int, float)) or not 0 < objective < 100:
            raise _err(source, f"{where}.objective", objective, "a percentage between 0 and 100 (exclusive), e.g. 99.5")
        if raw["window"] not in WINDOWS:
            raise _err(source, f"{where}.window", raw["window"], f"one of {sorted(WINDOWS)}")
        service = raw.get("service", default_service)
        if not isinstance(service, str) or not service:
            raise _err(source, f"{where}.service", service, "a service name (here or at the top of the file)")
        actions = raw["actions"]
        if not isinstance(actions, list) or not actions or not all(isinstance(a, str) for a in actions):
            raise _err(source, f"{where}.actions", actions, "a non-empty list of steps")
        half = raw.get("half_budget_alert", False)
        if not isinstance(half, bool):
            raise _err(source, f"{where}.half_budget_alert", half, "true or false")
        sli = _parse_sli(raw["sli"], source, f"{where}.sli")
        out.append(Slo(
            half_budget_alert=half, dashboard=str(data.get("dashboard") or ""),
            name=name, description=_with_bound(_expanded(str(raw["description"]), source, f"{where}.description"),
                                               sli, source, f"{where}.description"),
            objective=float(objective), window=raw["window"],
            service=service, sli=sli, impact=_with_bound(str(raw["impact"]), sli, source, f"{where}.impact"),
            actions=tuple(actions), source=source,
        ))
    return out


def _le_matcher(le: float) -> str:
    # Go clients expose le="5", Python clients le="5.0": accept both, for series stored as exposed (remote
    # write). Scraped buckets are stored as Prometheus 3 normalises them (catalog.stored_bound: 5 -> "5.0",
    # 1e6 -> "1e+06", prometheus/prometheus#15164): that text is matched too, added where the first
    # pattern misses it (bounds from 1e6 up and below 1e-4).
    text = re.escape(format_number(le))
    pattern = f"{text}(\\.0+)?" if le.is_integer() else f"{text}0*"
    if not re.fullmatch(pattern, stored_bound(le)):
        pattern = f"{pattern}|{re.escape(stored_bound(le))}"
    return 'le=~"' + pattern.replace("\\", "\\\\") + '"'


def _with(metric: str, matchers: str, extra: str = "") -> str:
    inner = ", ".join(m for m in (extra, matchers) if m)
    return f"{metric}{{{inner}}}" if inner else metric


def sli_error_expr(slo: Slo, window: str) -> str:
    """PromQL for the ratio of bad events over ``window``."""
    kind, body = slo.sli_kind, slo.sli[slo.sli_kind]
    if kind == "latency":
        good = _with(f"{body['metric']}_bucket", body["matchers"], _le_matcher(body["le"]))
        total = _with(f"{body['metric']}_count", body["matchers"])
        return f"1 - (sum(rate({good}[{window}])) / sum(rate({total}[{window}])))"
    if kind == "ratio":
        e, t = body["errors"], body["total"]
        return (f"sum(rate({_with(e['metric'], e['matchers'])}[{window}]))"
                f" / sum(rate({_with(t['metric'], t['matchers'])}[{window}]))")
    # Over the recorded up-or-zero series: minutes without any sample (target gone) count as down.
    return f'1 - avg(avg_over_time({UPTIME_RECORD}{{slo="{slo.name}"}}[{window}]))'


UPTIME_RECORD = "slo:sli_up:max_or_zero"
UPTIME_SEEN = "1d"


def uptime_record_expr(slo: Slo) -> str:
    """1 while any target is up, 0 while none is (down or gone from discovery), once seen in the last day."""
    sel = _with(slo.sli["uptime"]["metric"], slo.sli["uptime"]["matchers"])
    return f"max({sel}) or max(max_over_time({sel}[{UPTIME_SEEN}])) * 0"


def record_name(window: str) -> str:
    return f"slo:sli_error:ratio_rate{window}"


def _burn_condition(slo: Slo, pairs: tuple[tuple[str, str, float], ...]) -> str:
    sel = f'{{slo="{slo.name}"}}'
    parts = []
    for long, short, burn in pairs:
        limit = f"({format_number(burn)} * {format_number(slo.budget)})"
        parts.append(f"(\n  {record_name(long)}{sel} > {limit}\nand\n  {record_name(short)}{sel} > {limit}\n)")
    return "\nor\n".join(parts)


def _bad_share(slo: Slo, window: str) -> str:
    """What the alert's value is, in words: the share of bad events (or of down time) over ``window``."""
    value = units.go_template("ratio")
    if slo.sli_kind == "latency":
        return f"{value} of the events measured took longer than {bound_text(slo.sli)} over the last {window}"
    if slo.sli_kind == "uptime":
        body = slo.sli["uptime"]
        return f"no target of {_with(body['metric'], body['matchers'])} was up for {value} of the last {window}"
    return f"the error ratio over the last {window} is {value}"


def _objective(slo: Slo) -> str:
    return (f"SLO: {slo.description} Objective {format_number(slo.objective)}% over {slo.window}, "
            f"an error budget of {units.render(slo.budget, 'ratio')}.")


def _alert(slo: Slo, severity: str, pairs: tuple[tuple[str, str, float], ...], for_: str,
           ctx: RuleContext) -> dict[str, Any]:
    kind = "page" if severity == "critical" else "ticket"
    # `A or B` returns A's value (its long window) when both fire, B's only when A does not.
    (first, _, fastest), others = pairs[0], pairs[1:]
    share = _bad_share(slo, first)
    also = "".join(f" (the last {lg} when only that pair fires)" for lg, _, _ in others)
    limits = ", or ".join(f"above {units.render(b * slo.budget, 'ratio')} ({format_number(b)}x the budget) "
                          f"over both {lg} and {sh}" for lg, sh, b in pairs)
    lasts = units.render(WINDOWS[slo.window] / fastest, "s")
    steps = "\n".join(f"  {i}. {a}" for i, a in enumerate(slo.actions, 1))
    return {
        "alert": slo.alert,
        "expr": _burn_condition(slo, pairs),
        "for": for_,
        "labels": {"severity": severity, "service": slo.service, "slo": slo.name, "component": "slo"},
        "annotations": {
            "summary": f"The {slo.name} SLO is burning its 30-day error budget too fast ({kind}).",
            "description": (
                f"{_objective(slo)}\n"
                f"{share[0].upper() + share[1:]}{also}. It fires {limits}; "
                f"at {format_number(fastest)}x the whole budget is spent in {lasts}.\n"
                f"Impact: {slo.impact}\n"
                f"Actions:\n{steps}"
            ),
            "runbook_url": runbook_url(slo.alert, ctx.runbook_base_url),
            "dashboard_url": dashboard_url(slo.dashboard, ctx.grafana_url),
        },
    }


def _half_alert(slo: Slo, ctx: RuleContext) -> dict[str, Any]:
    steps = "\n".join(f"  {i}. {a}" for i, a in enumerate(slo.actions, 1))
    share = _bad_share(slo, HALF_WINDOW)
    return {
        "alert": slo.half_alert,
        "expr": f'{record_name(HALF_WINDOW)}{{slo="{slo.name}"}} > {format_number(slo.budget)}',
        "for": HALF_FOR,
        "labels": {"severity": "warning", "service": slo.service, "slo": slo.name, "component": "slo"},
        "annotations": {
            "summary": f"The {slo.name} SLO spent half its 30-day error budget within 15 days.",
            "description": (
                f"{_objective(slo)}\n"
                f"{share[0].upper() + share[1:]}, above the budget of {units.render(slo.budget, 'ratio')}: "
                f"half of the 30-day budget is spent before half of the window elapsed.\n"
                f"Impact: {slo.impact}\n"
                f"Actions:\n{steps}"
            ),
            "runbook_url": runbook_url(slo.half_alert, ctx.runbook_base_url),
            "dashboard_url": dashboard_url(slo.dashboard, ctx.grafana_url),
        },
    }


def rule_group(slo: Slo, ctx: RuleContext, catalog: Catalog | None = None) -> dict[str, Any]:
    """The rule group of one SLO."""
    if catalog is not None and slo.sli_kind == "latency":
        body = slo.sli["latency"]
        if body["metric"] in catalog.metrics:
            buckets = catalog.metrics[body["metric"]].buckets
            if buckets and body["le"] not in buckets:
                raise _err(slo.source, f"slos ({slo.name}).sli.latency.le", body["le"],
                           f"one of the bucket bounds of {body['metric']}: {list(buckets)}")
    labels = {"slo": slo.name, "service": slo.service}
    rules: list[dict[str, Any]] = []
    if slo.sli_kind == "uptime":
        rules.append({"record": UPTIME_RECORD, "expr": uptime_record_expr(slo), "labels": dict(labels)})
    windows = SLI_WINDOWS + ((HALF_WINDOW,) if slo.half_budget_alert else ())
    rules += [{"record": record_name(w), "expr": sli_error_expr(slo, w), "labels": dict(labels)} for w in windows]
    rules.append({"record": "slo:objective:ratio", "expr": f"vector({format_number(slo.objective / 100)})",
                  "labels": dict(labels)})
    rules.append({"record": "slo:error_budget_remaining:ratio",
                  "expr": f'1 - (slo:sli_error:ratio_rate30d{{slo="{slo.name}"}} / {format_number(slo.budget)})',
                  "labels": dict(labels)})
    rules.append(_alert(slo, "critical", PAGE_BURNS, PAGE_FOR, ctx))
    rules.append(_alert(slo, "warning", TICKET_BURNS, TICKET_FOR, ctx))
    if slo.half_budget_alert:
        rules.append(_half_alert(slo, ctx))
    return {"name": f"slo-{slo.name}", "interval": GROUP_INTERVAL, "rules": rules}


def spec_files(slo_dir: Path | None = None) -> list[Path]:
    return sorted((slo_dir or SLO_DIR).glob("*.yaml"))


def load_slos(path: Path) -> list[Slo]:
    try:
        data = yaml_load.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SloSpecError(f"{path}: not valid YAML: {exc}") from exc
    return parse_spec(data, str(path))


def all_slos(slo_dir: Path | None = None) -> list[Slo]:
    out: list[Slo] = []
    seen: dict[str, str] = {}
    for path in spec_files(slo_dir):
        for slo in load_slos(path):
            if slo.name in seen:
                raise _err(str(path), f"slos ({slo.name}).name", slo.name, f"a name not already used in {seen[slo.name]}")
            seen[slo.name] = str(path)
            out.append(slo)
    return out


def generate_all(ctx: RuleContext, slo_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Rule specs by name (``slo-<spec file stem>``), one group per SLO."""
    catalog = load_catalog()
    out: dict[str, dict[str, Any]] = {}
    for path in spec_files(slo_dir):
        out[f"slo-{path.stem}"] = {"groups": [rule_group(s, ctx, catalog) for s in load_slos(path)]}
    return out
