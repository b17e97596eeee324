"""Every rule set a stack deploys: the hand-written rule files, the SLO rule groups and the generated companions.

The composition sits above its parts: the loader expands one file, ``slo`` generates from the SLO
specs (and reads the loader's links), ``guards`` adds the MetricsSourceAbsent companions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.rules import guards, slo
from components.rules.loader import RULES_DIR, RuleContext, RuleFileError, dashboard_url, load_static_rules, runbook_url


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
                                                       dashboard_url(guards.COMPANION_DASHBOARD, ctx.grafana_url))
    return out
