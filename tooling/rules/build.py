"""Write the rule set as promtool-ready files, with their unit tests.

    python -m scripts.build_rules --out build/rules
    build/tools/bin/promtool check rules build/rules/rules/*.yaml
    build/tools/bin/promtool test rules build/rules/tests/*.yaml

(``make tools`` builds that promtool, the deployed Prometheus release's.)

``rules/`` holds the expanded PrometheusRule specs (hand-written files and
the generated ``slo-*``); ``tests/`` holds the cases of ``rules/tests/*.test.yaml``,
the generated SLO cases and the generated failure-mode cases, each in a file that
loads only the rule groups its cases need (``tests/groups/<set>--<group>.yaml``,
copied from ``rules/``; see ``write_tests``). The unit tests run against those
copies, without annotations: promtool compares annotations verbatim, and the
templates are checked by ``promtool check rules`` on the full files instead.
``--for-tests`` strips them from ``rules/`` too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from components import paths
from components.kit import yaml_load
from components.rules import causes, guards, slo
from components.rules.all_rules import load_all_rules
from components.rules.loader import RuleContext, dump, load_guards
from tooling.rules import deps, slo_tests

TESTS_DIR = paths.RULE_TESTS_DIR
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


GROUPS_DIR = "groups"  # under the tests directory: one rule file per rule group, what the tests load
GroupRef = tuple[str, dict[str, Any]]  # (rule set, group)
_Key = tuple[str, str, tuple[tuple[str, str], ...]]  # (file prefix, file head, loaded (set, group name)s)


class _CaseWriter:
    """Writes test cases in files that load only the groups the cases need (``deps``): promtool
    evaluates every loaded rule at every step of every case, and the SLO sets alone hold 18
    groups of 12-15 rules that all record the same series names."""

    def __init__(self, out: Path, rules_out: Path) -> None:
        self.out, self.rules_out = out, rules_out
        self._specs: dict[str, dict[str, Any]] = {}
        self._group_files: dict[tuple[str, str], Path] = {}
        self._names: set[str] = set()
        self._pending: dict[_Key, tuple[dict[str, Any], tuple[GroupRef, ...], list[Any]]] = {}

    def groups(self, set_names: list[str], where: str) -> list[GroupRef]:
        """(rule set, group) of every group of the named rule files, as written under ``rules_out``."""
        out = []
        for name in set_names:
            if name not in self._specs:
                path = self.rules_out / f"{name}.yaml"
                if not path.is_file():
                    raise FileNotFoundError(f"{where}: rule_files: {name}.yaml is not among the built rule files in {self.rules_out}")
                spec = yaml_load.safe_load(path.read_text(encoding="utf-8"))
                group_names = [str(g["name"]) for g in spec["groups"]]
                twice = sorted({g for g in group_names if group_names.count(g) > 1})
                if twice:
                    raise ValueError(f"{path}: groups: names {twice} repeat; accepted: one group per name in a rule file")
                self._specs[name] = spec
            out += [(name, g) for g in self._specs[name]["groups"]]
        return out

    def group_file(self, set_name: str, group: Mapping[str, Any]) -> Path:
        key = (set_name, str(group["name"]))
        if key not in self._group_files:
            path = self.out / GROUPS_DIR / f"{set_name}--{group['name']}.yaml"
            path.parent.mkdir(exist_ok=True)
            # JSON is YAML to promtool and an order of magnitude faster to write than PyYAML's emitter.
            path.write_text(json.dumps(strip_annotations({"groups": [group]})), encoding="utf-8")
            self._group_files[key] = path
        return self._group_files[key]

    def add(self, prefix: str, doc: Mapping[str, Any], refs: list[GroupRef],
            alert_groups: list[int] | None = None) -> None:
        """Queue the cases of ``doc`` by the groups each needs. ``refs`` are the groups the cases
        may load; ``alert_groups`` (indices into ``refs``, default all) those where an
        ``alertname`` is looked up."""
        pool = deps.Pool([g for _, g in refs])
        head = {k: v for k, v in doc.items() if k not in ("rule_files", "tests")}
        for case in doc.get("tests") or []:
            loaded = tuple(refs[i] for i in pool.case_groups(case, alert_groups))
            key = (prefix, json.dumps(head, sort_keys=True), tuple((s, str(g["name"])) for s, g in loaded))
            self._pending.setdefault(key, (head, loaded, []))[2].append(case)

    def write(self) -> list[Path]:
        """Write the queued cases as ``<prefix>--<loaded groups>.test.yaml``, one file per prefix and
        set of groups loaded, cases in the order they were queued."""
        paths = []
        for (prefix, _, _), (head, loaded, cases) in self._pending.items():
            names = [str(g["name"]) for _, g in loaded] or ["no-rules"]
            stem = f"{prefix}--{'+'.join(names) if len(names) <= 4 else f'{names[0]}+{len(names) - 1}-more'}"
            n = 1
            while (name := stem + (f"-{n}" if n > 1 else "")) in self._names:
                n += 1
            self._names.add(name)
            data = dict(head)
            data["rule_files"] = [str(self.group_file(s, g)) for s, g in loaded]
            if "group_eval_order" in head:
                data["group_eval_order"] = [g for g in head["group_eval_order"] if g in names]
            data["tests"] = cases
            path = self.out / f"{name}.test.yaml"
            path.write_text(json.dumps(data, indent=1), encoding="utf-8")
            paths.append(path)
        self._pending.clear()
        return paths


def write_tests(out: Path, rules_out: Path, tests_dir: Path = TESTS_DIR, slo_dir: Path | None = None,
                specs: Mapping[str, Mapping[str, Any]] | None = None) -> list[Path]:
    """Write the hand-written tests, the SLO tests and, given the rule specs, the generated
    vanish/churn/born-non-zero cases, against the rule files written under ``rules_out``.

    Each case runs against only the groups it needs (``tooling/rules/deps.py``), of the rule
    files its source names (hand-written: ``rule_files``; SLO: its ``slo-<spec>`` set; generated:
    every set, alerts looked up in the group under test and the companion set). Cases loading the
    same groups share a file ``<source>--<groups>.test.yaml`` whose ``rule_files`` are per-group
    files under ``groups/``. Every case is written unchanged (name included), once; promtool takes
    all the files in one run.
    """
    out.mkdir(parents=True, exist_ok=True)
    writer = _CaseWriter(out, rules_out)
    docs: list[dict[str, Any]] = []
    for src in sorted(tests_dir.glob("*.yaml")):
        data = yaml.safe_load(src.read_text(encoding="utf-8"))
        docs.append(data)
        refs = writer.groups([Path(f).stem for f in data.get("rule_files", [])], str(src))
        writer.add(src.name.removesuffix(".yaml").removesuffix(".test"), data, refs)
    for spec_path in slo.spec_files(slo_dir):
        set_name = f"slo-{spec_path.stem}"
        data = slo_tests.test_file(slo.load_slos(spec_path), f"{set_name}.yaml")
        docs.append(data)
        writer.add(set_name, data, writer.groups([set_name], str(spec_path)))
    if specs is not None:
        refs = writer.groups(list(specs), "generated cases")
        index = {(s, str(g["name"])): i for i, (s, g) in enumerate(refs)}
        companion = [i for i, (s, _) in enumerate(refs) if s == guards.COMPANION_SET]
        for (set_name, group), cases in guards.guard_tests(specs, docs, load_guards()).items():
            doc = {"evaluation_interval": "1m", "tests": cases}
            writer.add(f"guards-{set_name}", doc, refs, [index[(set_name, group)], *companion])
    return writer.write()


def build(out: Path, ctx: RuleContext = TEST_CONTEXT, *, for_tests: bool = False) -> tuple[list[Path], list[Path]]:
    specs = load_all_rules(ctx)
    # The rule files carry the causes' onset companions, as deployed; the cases cover the rule set they copy.
    rules = write_rules(out / "rules", causes.with_onsets(specs), for_tests=for_tests)
    tests = write_tests(out / "tests", out / "rules", specs=specs)
    return rules, tests
