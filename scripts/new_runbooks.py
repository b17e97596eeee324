"""Write a runbook skeleton for every alert that has none (never overwrites).

    python -m scripts.new_runbooks

The skeleton follows the seed 004 runbook template and is filled from the
alert itself: its summary, impact, thresholds per rule, the PromQL to run,
the LogQL for its service, its actions and its severity's escalation. Edit
the result by hand where the alert deserves more.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from components.rules.build import TEST_CONTEXT
from components.rules.loader import load_all_rules, runbook_path

DASHBOARDS = {
    "qmtl-seamless": "Seamless SLA Overview, Backfill Coordinator Health, Conformance Quality",
    "slo-qmtl": "Seamless SLA Overview (error budget gauge)",
    "qmtl-core": "QMTL DAG Manager and Gateway",
    "dvt": "DVT Operations, DVT Platform Health",
    "slo-dvt": "DVT Platform Health, SLO Dashboard",
    "copilot": "Service Metrics, Queue Status, System Health",
    "slo-copilot": "SLO Dashboard, Service Metrics",
    "observability-stack": "Observability Stack Health",
}
SOURCES = {
    "qmtl-seamless": "seed 000 (Seamless SLA Dashboards)",
    "slo-qmtl": "seed 000 (Seamless SLA budget)",
    "qmtl-core": "seed 002 (QMTL Monitoring and Alerting)",
    "dvt": "seed 003 (DVT Observability Guide, sections 4 and 7)",
    "slo-dvt": "seed 003 (DVT SLOs, section 7)",
    "copilot": "seed 004 (Copilot Core SLOs)",
    "slo-copilot": "seed 004 (Copilot Core SLOs, error budgets)",
    "observability-stack": "this stack's self-monitoring (DESIGN.md)",
}
ESCALATION = {
    "info": ("No response needed.", "the owning team's channel"),
    "warning": ("Open a ticket; respond within 4 hours. Escalate if it lasts a working day or turns into an error or critical alert.",
                "the owning team via Slack"),
    "error": ("Respond within 1 hour. Escalate if not mitigated within 2 hours.", "the owning team via Slack and e-mail"),
    "critical": ("Page: respond within 30 minutes. Escalate to the service owner if not mitigated within 1 hour.", "the on-call engineer via PagerDuty"),
    "emergency": ("Page with escalation: respond immediately; involve the incident commander.", "the on-call engineer and the escalation chain via PagerDuty"),
}


def _section(desc: str, key: str) -> str:
    m = re.search(rf"{key}:\s*(.*?)(?:\n[A-Z][a-z]+:|\Z)", desc, re.S)
    return m.group(1).strip() if m else ""


def _steps(desc: str) -> list[str]:
    return [re.sub(r"^\d+\.\s*", "", line.strip()) for line in _section(desc, "Actions").splitlines() if line.strip()]


def _plain(text: str, service: str | None) -> str:
    """Alert template text made readable: {{ $labels.x }} -> <x>, {{ $value }} -> <value>."""
    text = re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", r"<\1>", text)
    text = re.sub(r"\{\{\s*\$value[^}]*\}\}", "<value>", text)
    if service:  # one text for several services' rules
        text = re.sub(rf"\b{re.escape(service)}\b", "<service>", text)
    return text


def render(alert: str, set_name: str, rules: list[dict[str, Any]], related: list[str], sli: str | None) -> str:
    first = rules[0]
    ann, labels = first["annotations"], first["labels"]
    severity = labels["severity"]
    generic = labels["service"] if len({r["labels"]["service"] for r in rules}) > 1 else None
    desc = _plain(ann["description"], generic)
    ann = {**ann, "summary": _plain(ann["summary"], generic)}
    symptoms = desc.split("\n", 1)[0]
    services = sorted({r["labels"]["service"] for r in rules})
    when, who = ESCALATION[max((r["labels"]["severity"] for r in rules), key=list(ESCALATION).index)]
    lines = [f"# Runbook: {alert}", "", f"Severity: {', '.join(sorted({r['labels']['severity'] for r in rules}))}. "
             f"Service: {', '.join(services)}. Source: {SOURCES.get(set_name, set_name)}.", "", "## Symptoms", "",
             f"- {ann['summary']}", f"- Alert text: {symptoms}", "", "## Impact", "", f"- {_section(desc, 'Impact')[:1].upper()}{_section(desc, 'Impact')[1:]}",
             f"- Severity `{severity}`: {when}", "", "## Diagnosis", "",
             f"1. Check dashboard: {DASHBOARDS.get(set_name, 'Observability Stack Health')} (Grafana), filtered to "
             f"service {', '.join(services)}.",
             "2. Query metrics: the alert fires when this returns series"
             + (" (one rule per service)" if generic else "") + ":", ""]
    for r in rules:
        for_ = r.get("for", "0m")
        who = f"service `{r['labels']['service']}`" if generic else f"severity `{r['labels']['severity']}`"
        prefix = f"   {who}, for {for_}:" if len(rules) > 1 else f"   for {for_}:"
        lines += [prefix, "", "   ```promql", *(f"   {x}" for x in r["expr"].strip().splitlines()), "   ```", ""]
    if sli is not None:
        lines += ["   The SLI behind it (error ratio over 5 minutes; the same for every window):", "", "   ```promql",
                  f"   {sli}", "   ```", "",
                  f"   Budget left over 30 days: `slo:error_budget_remaining:ratio{{slo=\"{labels['slo']}\"}}` "
                  "(1 = untouched, 0 = spent, negative = SLO missed). A page means the budget is gone in about "
                  "2 days (14.4x) or 5 days (6x) at this rate; a ticket means 10 days (3x) or the whole month (1x).",
                  ""]
    svc = "|".join(services)
    op = "=~" if len(services) > 1 else "="
    lines += ["3. Check logs (Loki, stream labels service/environment/level):", "", "   ```logql",
              f'   {{service{op}"{svc}", level=~"ERROR|CRITICAL"}}', "   ```", "",
              "4. Verify dependencies: check the pods and recent events of the service and what it calls "
              "(`kubectl get pods,events -n <namespace>`), and recent deploys.", "", "## Resolution", ""]
    lines += [f"{i}. {s}" for i, s in enumerate(_steps(desc), 1)]
    lines += ["", "Verify the fix: the query under Diagnosis returns nothing and the alert resolves in Alertmanager.",
              "", "Long term: record the cause in the incident tracker and fix it at the source (capacity, code, "
              "configuration) rather than raising the threshold; thresholds live in `rules/thresholds.yaml`.", "",
              "## Escalation", "", f"- When to escalate: {when}", f"- Who to contact: {who}.",
              f"- Incident severity: {severity}.", "", "## References", ""]
    if related:
        lines.append("- Related alerts: " + ", ".join(f"[{a}]({a}.md)" for a in related))
    lines += [f"- Rule definition: `rules/{set_name}.yaml`" if not set_name.startswith("slo-")
              else f"- SLO definition: `slo/{set_name.removeprefix('slo-')}.yaml` (rules generated by `components/rules/slo.py`)",
              f"- Source: {SOURCES.get(set_name, set_name)}", ""]
    return "\n".join(lines)


def main() -> None:
    specs = load_all_rules(TEST_CONTEXT)
    sli_by_slo = {r["labels"]["slo"]: r["expr"] for s in specs.values() for g in s["groups"] for r in g["rules"]
                  if r.get("record") == "slo:sli_error:ratio_rate5m"}
    for set_name, spec in specs.items():
        by_alert: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for g in spec["groups"]:
            for r in g["rules"]:
                if "alert" in r:
                    by_alert[r["alert"]].append(r)
        for alert, rules in by_alert.items():
            path = runbook_path(alert)
            if path.exists():
                continue
            related = sorted(a for a in by_alert if a != alert)[:6]
            path.parent.mkdir(parents=True, exist_ok=True)
            sli = sli_by_slo.get(rules[0]["labels"].get("slo", ""))
            path.write_text(render(alert, set_name, rules, related, sli), encoding="utf-8")
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
