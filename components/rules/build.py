"""Write the rule set as promtool-ready files, with their unit tests.

    python -m components.rules.build --out build/rules
    promtool check rules build/rules/rules/*.yaml
    promtool test rules build/rules/tests/*.yaml

``rules/`` holds the expanded PrometheusRule specs (hand-written files and
the generated ``slo-*``); ``tests/`` holds ``rules/tests/*.test.yaml`` with
their ``rule_files`` pointed there, plus the generated SLO tests. Unit tests
run against copies without annotations (``--for-tests``): promtool compares
annotations verbatim, and the templates are checked by ``promtool check rules``
on the full files instead.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from components.rules import guards, slo, slo_tests
from components.rules.loader import RULES_DIR, RuleContext, dump, load_all_rules, load_guards

TESTS_DIR = RULES_DIR / "tests"
# The context the hand-written promtool tests are written against.
TEST_CONTEXT = RuleContext(
    namespace="observability",
    runbook_base_url="https://runbooks.test.invalid/observability",
    retention_seconds={"prometheus": 7 * 86400, "loki": 3 * 86400, "tempo": 3 * 86400},
    grafana_url="https://grafana.test.invalid",
)


def strip_annotations(spec: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(spec))
    for group in out["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    return out


def write_rules(out: Path, specs: Mapping[str, Mapping[str, Any]], *, for_tests: bool = False) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, spec in specs.items():
        p = out / f"{name}.yaml"
        p.write_text(dump(strip_annotations(spec) if for_tests else spec), encoding="utf-8")
        paths.append(p)
    return paths


def write_tests(out: Path, rules_out: Path, tests_dir: Path = TESTS_DIR, slo_dir: Path | None = None,
                specs: Mapping[str, Mapping[str, Any]] | None = None) -> list[Path]:
    """Copy the hand-written tests (rule_files re-pointed), write the SLO tests and, given the
    rule specs, the generated vanish/churn/born-non-zero cases (``guards-<set>.test.yaml``)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    docs: list[dict[str, Any]] = []
    for src in sorted(tests_dir.glob("*.yaml")):
        data = yaml.safe_load(src.read_text(encoding="utf-8"))
        data["rule_files"] = [str(rules_out / Path(f).name) for f in data.get("rule_files", [])]
        docs.append(data)
        p = out / src.name
        p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        paths.append(p)
    for spec_path in slo.spec_files(slo_dir):
        data = slo_tests.test_file(slo.load_slos(spec_path), str(rules_out / f"slo-{spec_path.stem}.yaml"))
        docs.append(data)
        p = out / f"slo-{spec_path.stem}.test.yaml"
        p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        paths.append(p)
    if specs is not None:
        # One test file per rule group, loading only that group (and what it reads): promtool
        # evaluates every loaded rule at every step, so this keeps the generated cases cheap.
        guard_rules = out / "guard-rules"
        guard_rules.mkdir(exist_ok=True)
        companion = guard_rules / f"{guards.COMPANION_SET}.yaml"
        # JSON is YAML to promtool and an order of magnitude faster to write than PyYAML's emitter.
        companion.write_text(json.dumps(strip_annotations(specs[guards.COMPANION_SET])), encoding="utf-8")
        for (set_name, group), cases in guards.guard_tests(specs, docs, load_guards()).items():
            rules_file = guard_rules / f"{set_name}--{group}.yaml"
            rules_file.write_text(json.dumps(strip_annotations(guards.groups_for(specs, set_name, group))), encoding="utf-8")
            data = {"rule_files": [str(rules_file), str(companion)], "evaluation_interval": "1m", "tests": cases}
            p = out / f"guards-{set_name}--{group}.test.yaml"
            p.write_text(json.dumps(data, indent=1), encoding="utf-8")
            paths.append(p)
    return paths


def build(out: Path, ctx: RuleContext = TEST_CONTEXT, *, for_tests: bool = False) -> tuple[list[Path], list[Path]]:
    specs = load_all_rules(ctx)
    rules = write_rules(out / "rules", specs, for_tests=for_tests)
    tests = write_tests(out / "tests", out / "rules", specs=specs)
    return rules, tests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--for-tests", action="store_true", help="strip annotations (what the unit tests run on)")
    args = parser.parse_args(argv)
    rules, tests = build(args.out, for_tests=args.for_tests)
    print(f"wrote {len(rules)} rule files and {len(tests)} test files under {args.out}")


if __name__ == "__main__":
    main()
