"""Every rule set a stack deploys: the hand-written rule files, the SLO rule groups and the generated companions.

The composition sits above its parts: the loader expands one file, ``slo`` generates from the SLO
specs (and reads the loader's links), ``guards`` adds the MetricsSourceAbsent companions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.rules import guards, slo
from components.rules.loader import (
    RULES_DIR,
    RuleContext,
    RuleFileError,
    dashboard_url,
    load_guards,
    load_static_rules,
    runbook_url,
)


def load_all_rules(ctx: RuleContext, rules_dir: Path = RULES_DIR, slo_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Hand-written rule files, the rule groups generated from the SLO specs, and the
    MetricsSourceAbsent companions generated from the catalog (rule set ``sources``)."""
    out = load_static_rules(ctx, rules_dir)
    for name, spec in slo.generate_all(ctx, slo_dir).items():
        if name in out:
            raise RuleFileError(f"{name}: an SLO rule set has the same name as rules/{name}.yaml")
        out[name] = spec
    if guards.COMPANION_SET in out:
        raise RuleFileError(f"{guards.COMPANION_SET}: the name is taken by the generated companion alerts")
    out[guards.COMPANION_SET] = guards.companion_rules(out, runbook_url(guards.COMPANION, ctx.runbook_base_url),
                                                       dashboard_url(guards.COMPANION_DASHBOARD, ctx.grafana_url),
                                                       counts_down=counts_missing_as_down(rules_dir, slo_dir))
    return out


def counts_missing_as_down(rules_dir: Path = RULES_DIR, slo_dir: Path | None = None) -> set[tuple[str, str]]:
    """(alert, service) of the alerts that count a vanished source as down and fire on their own: those declared
    ``guard: {vanish: self}`` in the rule files, and the alerts of the uptime SLOs (their record counts a target
    gone from discovery as down, components/rules/slo.py uptime_record_expr)."""
    out = {key for key, guard in load_guards(rules_dir).items() if guard.get("vanish") == "self"}
    return out | {(alert, s.service) for s in slo.all_slos(slo_dir) if s.sli_kind == "uptime"
                  for alert in (s.alert, s.half_alert)}
