"""MetricsSourceAbsent says what the alerts over a vanished job do, and Prometheus 3.5.0's rule engine agrees.

For every scrape job with a companion, the sources of every alert that depends on it are fed to ``rule-eval``
(the deployed release's rule engine) on the whole rule set, three ways: nothing goes away (baseline); the job's
targets vanish from discovery (its series, ``up`` included, go stale); the targets are down (``up`` is 0, the
rest stale). Then the page's own lists are read from its rendered text: an alert it says "fires on its own"
must fire with the job gone; one it says "cannot fire" must not (unless it fires in the baseline too); one it
says "fires while the targets are down" must fire with ``up`` at 0 and not once they are gone. Issue 23: the
old text said every such alert "stays silent", while CopilotDependencyDown, AdapterHeartbeatLost and the DVT
availability SLO alerts fire.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from components.rules import guards
from components.rules.all_rules import counts_missing_as_down, load_all_rules
from components.rules.catalog import load_catalog
from components.rules.guards import STALE, Value, render_values
from tooling.rule_eval import evaluate
from tooling.rules.build import TEST_CONTEXT

PRESENT = 11  # minutes of samples before the job goes away
# What the page says, as phrases of its Impact line -> the effect it claims (guards.vanish_effect's words).
CLAIMS = {"cannot fire": "quiet", "stay silent": "quiet", "fire on their own": "fires",
          "fire while its targets are down": "while-down"}


def _claims(description: str) -> dict[str, set[str]]:
    """Effect -> alert names the rendered text lists for it (names hidden behind 'and N more' are not read)."""
    impact = next(line for line in description.splitlines() if line.startswith("Impact:"))
    out: dict[str, set[str]] = {}
    for clause in impact.removeprefix("Impact:").rstrip(".").split("; "):
        effect = next((e for phrase, e in CLAIMS.items() if phrase in clause), None)
        assert effect, f"cannot tell what this clause claims: {clause!r}"
        names = clause.rsplit(": ", 1)[1].split(" and ")[0]
        out.setdefault(effect, set()).update(n.strip() for n in names.split(","))
    return out


def _end(rules: list[dict[str, Any]]) -> int:
    """Minutes: past the 5m lookback and the longest `for` of the companion and of what must fire (HalfSpent: 1h);
    the burn-rate windows fill within it."""
    longest = max(guards._minutes(str(r.get("for", "0m"))) for r in rules)
    return PRESENT + 5 + max(longest, guards._minutes(guards.COMPANION_FOR)) + 10


def _series(sources: dict[str, tuple[str, bool]], job: str, mode: str, steps: int) -> list[dict[str, str]]:
    out = []
    for text, (src_job, rising) in sorted(sources.items()):
        values: list[Value] = [float(i if rising else 1) for i in range(steps)]
        if src_job == job and mode != "baseline":
            gone = mode == "gone" or not text.startswith(guards.UP + "{")
            values = [*values[:PRESENT], *([STALE] if gone else [0.0] * (steps - PRESENT))]
        out.append({"series": text, "values": render_values(values)})
    return out


def test_source_absent_pages_say_what_the_rules_do(tmp_path: Path) -> None:
    specs = load_all_rules(TEST_CONTEXT)
    catalog = load_catalog()
    recorded = guards._recording_exprs(specs)
    files: dict[str, str] = {}
    for name, spec in specs.items():
        files[name] = str(tmp_path / f"{name}.yaml")
        Path(files[name]).write_text(json.dumps(spec), encoding="utf-8")
    by_rule = guards.jobs_by_alert(specs, catalog)
    counts_down = counts_missing_as_down()
    dependants: dict[str, list[dict[str, Any]]] = {}
    sets: dict[str, set[str]] = {}  # job -> the rule sets of its dependants (their recording rules included)
    for set_name, rule in guards.alert_rules(specs):
        if set_name != guards.COMPANION_SET:
            for job in by_rule[id(rule)]:
                dependants.setdefault(job, []).append(rule)
                sets.setdefault(job, {guards.COMPANION_SET}).add(set_name)
    companions = {r["labels"]["service"]: r for _, r in guards.alert_rules({"s": specs[guards.COMPANION_SET]})}
    modes = ("baseline", "gone", "down")
    jobs = sorted(dependants)
    # Only what must fire needs time: a quiet alert is read at the same time as in the baseline.
    ends = {job: _end([r for r in dependants[job] if guards.vanish_effect(r, job, recorded, catalog, counts_down) != "quiet"]
                      or [{}]) for job in jobs}
    cases = [{"rule_files": [files[s] for s in sorted(sets[job])], "interval": "1m", "eval_times": [f"{ends[job]}m"],
              "input_series": _series(guards.source_series(dependants[job], recorded, catalog), job, mode, ends[job] + 1)}
             for job in jobs for mode in modes]
    results = iter(evaluate(cases))
    problems: list[str] = []
    checked = 0
    for job in jobs:
        fired = {mode: next(results).firing(f"{ends[job]}m") for mode in modes}

        def fires(rule: dict[str, Any], mode: str, fired: dict[str, Any] = fired) -> bool:
            return any(a.name == rule["alert"] and a.labels.get("service") == rule["labels"].get("service")
                       for a in fired[mode])

        page = next((a for a in fired["gone"] if a.name == guards.COMPANION and a.labels.get("job") == job), None)
        if page is None:
            problems.append(f"{job}: {guards.COMPANION} did not fire once the job was gone")
            continue
        claims = _claims(page.annotations["description"])
        shown = {n for names in claims.values() for n in names}
        for rule in dependants[job]:
            effect = guards.vanish_effect(rule, job, recorded, catalog, counts_down)
            said = [e for e, names in claims.items() if rule["alert"] in names]
            if rule["alert"] in shown and effect not in said:
                problems.append(f"{job}: the page lists {rule['alert']} under {said}, the generator says {effect}")
            where = f"{job}: {rule['alert']}{{service={rule['labels'].get('service')}}}"
            # What the page and the generator claim, each against the engine.
            for claim, by in [(effect, "the generator"), *((e, "the page") for e in said)]:
                if claim == "fires" and not fires(rule, "gone"):
                    problems.append(f"{where}: {by} says it fires on its own; it does not once the job is gone")
                if claim in ("quiet", "while-down") and fires(rule, "gone") and not fires(rule, "baseline"):
                    problems.append(f"{where}: {by} says it cannot fire once the job is gone; it fires")
                if claim == "while-down" and not fires(rule, "down"):
                    problems.append(f"{where}: {by} says it fires while the targets are down; it does not")
            checked += 1
        assert companions[job]
    assert not problems, "\n".join(problems)
    assert checked > 50


def test_the_claims_reader_reads_the_old_text_too() -> None:
    old = ("Scrape job x had targets.\nImpact: its series are stale, so these alerts evaluate to nothing and stay "
           "silent: CopilotDependencyDown, DatabaseConnectionFailures.\nActions:\n  1. x")
    assert _claims(old) == {"quiet": {"CopilotDependencyDown", "DatabaseConnectionFailures"}}
    assert re.search("fire on their own", "these count the missing source as down and fire on their own: A")
