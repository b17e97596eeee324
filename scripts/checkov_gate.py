"""Scan every rendered stack with checkov's Kubernetes checks; fail on any finding not documented as a skip.

    python -m scripts.checkov_gate [--stacks dev staging prod] [--checkov .venv-checkov/bin/checkov]

Each stack is rendered (the same path as `make render`) into build/checkov/STACK
and scanned offline. A failed check counts as skipped only when
security/checkov-skips.yaml lists its check id with a pattern matching the
resource (``Kind.namespace.name``) and the reason; a skip that matches nothing
in any stack is reported as stale, so the list cannot outlive its causes.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components import paths
from tooling.render import render, write
from tooling.stack_config import read_stack_config

SKIPS_FILE = paths.CHECKOV_SKIPS
CHECKOV = paths.CHECKOV
OUT = paths.BUILD_DIR / "checkov"
STACKS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class Skip:
    check: str
    resources: tuple[str, ...]  # fnmatch patterns over Kind.namespace.name
    reason: str

    def covers(self, check: str, resource: str) -> bool:
        return check == self.check and any(fnmatch.fnmatchcase(resource, pattern) for pattern in self.resources)


@dataclass
class StackResult:
    stack: str
    passed: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (check id, check name, resource)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (check id, resource)


def load_skips(path: Path = SKIPS_FILE) -> list[Skip]:
    document = yaml.safe_load(path.read_text()) or {}
    skips = []
    for index, entry in enumerate(document.get("skips") or []):
        where = f"{path.name}: skips[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"check", "resources", "reason"}:
            raise ValueError(f"{where}: accepted form: a mapping with exactly check, resources (list of patterns) and reason")
        if not str(entry["reason"]).strip():
            raise ValueError(f"{where} ({entry['check']}): the reason is empty; say why the check cannot apply")
        if not isinstance(entry["resources"], list) or not entry["resources"]:
            raise ValueError(f"{where} ({entry['check']}): resources must be a non-empty list of Kind.namespace.name patterns")
        skips.append(Skip(str(entry["check"]), tuple(str(p) for p in entry["resources"]), str(entry["reason"]).strip()))
    return skips


def _reports(document: Any) -> Iterable[dict[str, Any]]:
    # One framework gives one report object; checkov wraps several in a list.
    if isinstance(document, list):
        yield from document
    elif isinstance(document, dict) and "results" in document:
        yield document


def classify(stack: str, checkov_json: Any, skips: Sequence[Skip]) -> StackResult:
    result = StackResult(stack)
    for report in _reports(checkov_json):
        # --quiet leaves passed checks out of the results; the summary still counts them.
        result.passed += int(report.get("summary", {}).get("passed", 0))
        for finding in report["results"].get("failed_checks", []):
            check, resource = finding["check_id"], finding["resource"]
            if any(skip.covers(check, resource) for skip in skips):
                result.skipped.append((check, resource))
            else:
                result.failed.append((check, finding.get("check_name", ""), resource))
    return result


def stale_skips(results: Sequence[StackResult], skips: Sequence[Skip]) -> list[Skip]:
    used = [(check, resource) for result in results for check, resource in result.skipped]
    return [skip for skip in skips if not any(skip.covers(check, resource) for check, resource in used)]


def scan(manifests: Path, checkov: Path) -> Any:
    command = [str(checkov), "--skip-download", "--framework", "kubernetes", "--quiet", "--compact", "-o", "json", "-d", str(manifests)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    # checkov exits 1 when a check fails; anything else, or no JSON, is a broken run.
    if completed.returncode not in (0, 1) or not completed.stdout.strip():
        raise RuntimeError(f"checkov failed on {manifests} (exit {completed.returncode}): {completed.stderr.strip()[-2000:]}")
    return json.loads(completed.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.checkov_gate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", nargs="+", default=list(STACKS))
    parser.add_argument("--checkov", type=Path, default=CHECKOV, help="checkov executable (its own venv: `make checkov-venv`)")
    args = parser.parse_args(argv)
    if not args.checkov.exists():
        print(f"checkov not found at {args.checkov}; run `make checkov-venv`", file=sys.stderr)
        return 2
    skips = load_skips()
    for stack in args.stacks:
        print(f"checkov: rendering stack {stack}", flush=True)
        write(render(read_stack_config(stack)), OUT / stack)
    # The scans are separate checkov processes, each single-threaded and a quarter of a minute or more: run them side by side.
    started = time.monotonic()
    print(f"checkov: scanning {', '.join(args.stacks)} ({min(len(args.stacks), os.cpu_count() or 1)} at a time)", flush=True)

    def scan_stack(stack: str) -> StackResult:
        result = classify(stack, scan(OUT / stack / "manifests", args.checkov), skips)
        print(f"checkov: {stack} scanned after {time.monotonic() - started:.0f}s", flush=True)  # progress
        return result

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(scan_stack, args.stacks))
    status = 0
    for result in results:
        print(f"checkov {result.stack}: {result.passed} passed, {len(result.failed)} failed, {len(result.skipped)} skipped (documented)")
        for check, name, resource in result.failed:
            print(f"  FAILED {check} {name}: {resource}")
            status = 1
    stale = stale_skips(results, skips) if set(args.stacks) == set(STACKS) else []
    for skip in stale:
        print(f"  STALE skip {skip.check} {list(skip.resources)}: matches no finding; remove it from {SKIPS_FILE.name}")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
