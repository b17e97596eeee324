"""Promote the checked-out commit from one stack to the next, with guard rails.

    python -m scripts.promote --source staging --target prod            # checks only
    python -m scripts.promote --source staging --target prod --preview  # + pulumi preview
    python -m scripts.promote --source staging --target prod --up       # + pulumi up

Checks, in order; any failure refuses the promotion (exit status 1):

1. every config key the source's stack file sets is also set in the target's
   (a key staging sets and prod lacks would silently fall back to a default,
   or leave a receiver without its secret);
2. both stacks' effective settings validate, and every difference between them
   is listed: the ones that come from the per-environment defaults are
   expected, the ones that come from a stack file's explicit override are drift;
   and every secret the target's settings need (its alert receivers) is set;
3. the target renders offline (the same path as ``python -m scripts.render``);
4. the test suite passes (``--skip-tests`` when CI has just run it on this commit).

Then, with the Pulumi CLI on PATH, ``pulumi preview``/``up`` of the target
through the Automation API, with the policy pack in ``policy/``; the stack is
created on the backend when it does not exist yet (a first promotion).

The promotion workflow previews before its approval gate and deploys after it:

    python -m scripts.promote ... --preview --changes-out changes.json   # before approval: the plan to review
    python -m scripts.promote ... --up --expect-changes changes.json     # after: refused if the plan changed

``--expect-changes`` previews again and refuses the ``up`` unless the change
summary's creates, deletes and replacements are the approved ones: nothing is
added, removed or replaced that the reviewer did not see. (In-place update
counts are not compared: the read-only preview and the deploy's own preview
may count them differently, see ``IN_PLACE_OPS``.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from components.paths import POLICY_DIR
from components.settings.errors import NAMESPACE
from components.settings.loader import load_settings
from components.settings.metrics_checks import required_secrets
from components.settings.secrets import how_to_set
from tooling.engine import Engine
from tooling.render import render
from tooling.stack_config import REPO_ROOT, StackConfig, read_stack_config

# Settings fields that name the stack (and its cluster) rather than configure it.
IDENTITY_FIELDS = {"stack", "environment", "secretsSet", "kubernetes"}
# The backend `make preview`/`make up` use when PULUMI_BACKEND_URL is unset.
LOCAL_BACKEND_DIR = ".pulumi-state"


class PromotionRefusedError(Exception):
    """The promotion must not go ahead; the message says why and what to do."""


# --- config comparison ------------------------------------------------------


def leaf_keys(values: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten ``{"observability:prometheus": {"storage": {"size": "5Gi"}}}`` to
    ``{"observability:prometheus.storage.size": "5Gi"}``: the keys a stack file sets."""

    def walk(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
        if isinstance(value, Mapping) and value:
            for key, child in value.items():
                yield from walk(f"{prefix}.{key}", child)
        else:
            yield prefix, value

    return {path: value for key, value in values.items() for path, value in walk(key, value)}


def missing_in_target(source: StackConfig, target: StackConfig) -> list[str]:
    """Keys the source's stack file sets that the target's does not."""
    target_keys = leaf_keys(target.values)
    return sorted(key for key in leaf_keys(source.values) if key not in target_keys)


@dataclass(frozen=True)
class Difference:
    path: str  # settings path, as in the stack file without the namespace (prometheus.retention)
    source: Any
    target: Any
    explicit_in: tuple[str, ...]  # stacks whose file sets this path; empty: per-environment default


@dataclass
class Comparison:
    source: str
    target: str
    missing: list[str] = field(default_factory=list)
    expected: list[Difference] = field(default_factory=list)
    drift: list[Difference] = field(default_factory=list)


def _explicit_paths(config: StackConfig) -> set[str]:
    prefix = f"{NAMESPACE}:"
    return {key[len(prefix) :] for key in leaf_keys(config.values) if key.startswith(prefix)}


def _overridden(path: str, explicit: set[str]) -> bool:
    """A settings path is set by a stack file when the file sets it or a section above it."""
    parts = path.split(".")
    return any(".".join(parts[:i]) in explicit for i in range(1, len(parts) + 1))


def effective(config: StackConfig) -> dict[str, Any]:
    """The stack's validated settings, flattened to config-style paths."""
    settings = load_settings(config.engine_form(), config.stack, config.secret_keys)
    dumped = settings.model_dump(by_alias=True, mode="json")
    return {path: value for path, value in leaf_keys(dumped).items() if path.split(".")[0] not in IDENTITY_FIELDS}


def compare(source: StackConfig, target: StackConfig) -> Comparison:
    """Missing keys, and every settings difference sorted into expected and drift."""
    result = Comparison(source.stack, target.stack, missing=missing_in_target(source, target))
    explicit = {source.stack: _explicit_paths(source), target.stack: _explicit_paths(target)}
    src, dst = effective(source), effective(target)
    for path in sorted(src.keys() | dst.keys()):
        if src.get(path) == dst.get(path):
            continue
        setters = tuple(stack for stack in (source.stack, target.stack) if _overridden(path, explicit[stack]))
        difference = Difference(path, src.get(path), dst.get(path), setters)
        (result.drift if setters else result.expected).append(difference)
    return result


def _fmt(value: Any) -> str:
    return "(unset)" if value is None else str(value)


def report(comparison: Comparison) -> str:
    c = comparison
    lines = [f"Promotion {c.source} -> {c.target}"]
    if c.missing:
        lines.append(f"\nMissing in {c.target} (set in Pulumi.{c.source}.yaml, absent from Pulumi.{c.target}.yaml):")
        lines += [f"  - {key}" for key in c.missing]
    if c.drift:
        lines.append("\nDrift (differences that come from a stack file, not from the per-environment defaults):")
        for d in c.drift:
            where = " and ".join(f"Pulumi.{stack}.yaml" for stack in d.explicit_in)
            lines.append(f"  - {d.path}: {c.source}={_fmt(d.source)} {c.target}={_fmt(d.target)} (set in {where})")
    if c.expected:
        lines.append("\nExpected per-environment differences (components/settings/defaults.yaml):")
        lines += [f"  - {d.path}: {c.source}={_fmt(d.source)} {c.target}={_fmt(d.target)}" for d in c.expected]
    if not (c.missing or c.drift or c.expected):
        lines.append("\nThe two stacks' settings are identical.")
    return "\n".join(lines)


def refusal_for_missing(comparison: Comparison, secret_keys: set[str]) -> str:
    lines = [f"refusing to promote to {comparison.target}: Pulumi.{comparison.target}.yaml lacks key(s) that Pulumi.{comparison.source}.yaml sets:"]
    for key in comparison.missing:
        top = key.split(".", 1)[0]
        if top in secret_keys:
            name = top.split(":", 1)[1] if top.startswith(f"{NAMESPACE}:") else top
            lines.append(f"  - {key} (a secret): {how_to_set(name)} --stack {comparison.target}")
        else:
            lines.append(f"  - {key}: set it in Pulumi.{comparison.target}.yaml (to the default value if {comparison.target} should keep it)")
    return "\n".join(lines)


def unset_required_secrets(config: StackConfig) -> dict[str, str]:
    """Secrets the stack's settings need (key -> the setting that needs it) that its file does not set."""
    settings = load_settings(config.engine_form(), config.stack, config.secret_keys)
    return {key: needed_by for key, needed_by in sorted(required_secrets(settings).items()) if key not in settings.secrets_set}


def refusal_for_secrets(target: str, unset: Mapping[str, str]) -> str:
    lines = [f"refusing to promote to {target}: its settings need secret(s) that Pulumi.{target}.yaml does not set:"]
    lines += [f"  - {NAMESPACE}:{key} (needed by {needed_by}): {how_to_set(key)} --stack {target}" for key, needed_by in unset.items()]
    return "\n".join(lines)


# --- the seams: tests and deployment ----------------------------------------


# Operation -> count, as `pulumi preview` summarises a plan ({"create": 2, "same": 140, "update": 1}).
ChangeSummary = dict[str, int]


class Deployer(Protocol):
    def preview(self, stack: str) -> ChangeSummary: ...

    def up(self, stack: str, message: str) -> None: ...


def changes_text(changes: Mapping[str, int]) -> str:
    shown = {op: n for op, n in sorted(changes.items()) if n and op != "same"}
    return ", ".join(f"{op} {n}" for op, n in shown.items()) or "no changes"


TestRunner = Callable[[Path], int]


def run_test_suite(root: Path) -> int:
    """The project's pytest suite (``make test`` minus lint) in ``root``."""
    return subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=root, check=False).returncode


class AutomationDeployer:
    """``pulumi preview``/``up`` through the Automation API, with the policy pack.

    The Automation API drives the Pulumi CLI, so this needs ``pulumi`` on PATH; the program is the project's
    in ``project_dir`` (Pulumi.yaml, its ``.venv``), run as tooling/engine.py describes."""

    def __init__(self, project_dir: Path) -> None:
        if shutil.which("pulumi") is None:
            raise PromotionRefusedError(
                "the Pulumi CLI is not on PATH: install it (https://www.pulumi.com/docs/iac/download-install/) "
                "or run without --preview/--up for the checks only"
            )
        self.project_dir = project_dir

    def _stack(self, stack: str) -> Any:
        env = {}
        if not os.environ.get("PULUMI_BACKEND_URL"):
            (self.project_dir / LOCAL_BACKEND_DIR).mkdir(exist_ok=True)
            env["PULUMI_BACKEND_URL"] = f"file://{self.project_dir / LOCAL_BACKEND_DIR}"
        # A first promotion to a stack nobody has initialised on the shared backend creates it.
        self.engine = Engine(project_dir=self.project_dir, env=env)
        return self.engine.stack(stack)

    def preview(self, stack: str) -> ChangeSummary:
        selected = self._stack(stack)
        result = selected.preview(policy_packs=self.engine.policy_packs([POLICY_DIR]), diff=True, on_output=print)
        return {str(getattr(op, "value", op)): int(n) for op, n in result.change_summary.items()}

    def up(self, stack: str, message: str) -> None:
        selected = self._stack(stack)
        selected.up(policy_packs=self.engine.policy_packs([POLICY_DIR]), message=message, on_output=print)


# --- the promotion ----------------------------------------------------------


def head_commit(root: Path) -> tuple[str, bool]:
    """(HEAD's SHA, whether tracked files differ from it)."""
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()
    return sha, bool(dirty)


@dataclass
class Promotion:
    source: str
    target: str
    root: Path = REPO_ROOT
    # Where Pulumi.yaml and the stack files are (default: the checkout, ``root``).
    project_dir: Path | None = None
    skip_tests: bool = False
    expect_sha: str | None = None
    run_tests: TestRunner = run_test_suite
    render_stack: Callable[[StackConfig], Any] = render
    out: Callable[[str], None] = print

    def check(self) -> Comparison:
        """Every check that needs no cluster; raises PromotionRefusedError on the first failure."""
        if self.source == self.target:
            raise PromotionRefusedError(f"source and target are both '{self.source}'; promote from one stack to another")
        if self.expect_sha:
            sha, dirty = head_commit(self.root)
            if sha != self.expect_sha or dirty:
                state = " with uncommitted changes" if dirty else ""
                raise PromotionRefusedError(f"refusing: checked out {sha}{state}, but the commit to promote is {self.expect_sha}")
        try:
            project = self.project_dir or self.root
            source, target = read_stack_config(self.source, project), read_stack_config(self.target, project)
            comparison = compare(source, target)
        except (FileNotFoundError, ValueError) as error:  # SettingsError is a ValueError
            raise PromotionRefusedError(f"refusing: {error}") from error
        self.out(report(comparison))
        if comparison.missing:
            raise PromotionRefusedError(refusal_for_missing(comparison, source.secret_keys))
        unset = unset_required_secrets(target)
        if unset:
            raise PromotionRefusedError(refusal_for_secrets(self.target, unset))
        try:
            result = self.render_stack(target)
        except Exception as error:  # any failure of the program under mocks blocks the promotion
            raise PromotionRefusedError(f"refusing: the {self.target} stack does not render: {type(error).__name__}: {error}") from error
        self.out(f"\nRendered {self.target} offline: {len(result.records)} resources.")
        if not self.skip_tests:
            code = self.run_tests(self.root)
            if code != 0:
                raise PromotionRefusedError(f"refusing: the test suite failed (exit status {code})")
            self.out("Tests passed.")
        return comparison

    def deploy(
        self, deployer: Deployer, up: bool, expect_changes: ChangeSummary | None = None, changes_out: Path | None = None
    ) -> ChangeSummary:
        """Preview the target; with ``up``, apply it, refusing first if the preview differs from ``expect_changes``."""
        changes = deployer.preview(self.target)
        self.out(f"\nPreview of {self.target}: {changes_text(changes)}.")
        if changes_out is not None:
            changes_out.write_text(json.dumps(changes, sort_keys=True) + "\n", encoding="utf-8")
        if up:
            if expect_changes is not None and structural(changes) != structural(expect_changes):
                raise PromotionRefusedError(
                    f"refusing to deploy {self.target}: the preview now shows {changes_text(changes)}, but the approved preview "
                    f"showed {changes_text(expect_changes)}; the stack changed since then. Run the promotion again and review the new preview."
                )
            sha = self.expect_sha or head_commit(self.root)[0]
            deployer.up(self.target, f"promote {sha} from {self.source}")
        return changes


# Operations that leave every object in place. Their counts may differ between the approved preview
# (read-only identity: pulumi-kubernetes falls back to a client-side preview when a server-side dry
# run is forbidden) and the deploy's own preview (server-side dry run): only these are not compared.
IN_PLACE_OPS = frozenset({"same", "update", "read", "refresh"})


def structural(changes: Mapping[str, int]) -> dict[str, int]:
    """The counts that create, delete or replace objects (create, delete, replace, import, ...)."""
    return {op: n for op, n in changes.items() if n and op not in IN_PLACE_OPS}


def read_changes(value: str) -> ChangeSummary:
    """``--expect-changes``: a JSON object or a file holding one ({"update": 1, "same": 140})."""
    text = Path(value).read_text(encoding="utf-8") if not value.lstrip().startswith("{") else value
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise PromotionRefusedError(f"--expect-changes: not a JSON change summary ({error}); accepted form: {{\"update\": 1, \"same\": 140}}") from None
    if not isinstance(parsed, dict) or not all(isinstance(k, str) and isinstance(n, int) for k, n in parsed.items()):
        raise PromotionRefusedError('--expect-changes: accepted form: a JSON object of operation -> count, e.g. {"update": 1, "same": 140}')
    return parsed


def main(
    argv: list[str] | None = None,
    deployer_factory: Callable[[Path], Deployer] = AutomationDeployer,
    render_stack: Callable[[StackConfig], Any] = render,
) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.promote", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="stack the commit runs in now (e.g. staging)")
    parser.add_argument("--target", required=True, help="stack to promote it to (e.g. prod)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--preview", action="store_true", help="then run pulumi preview on the target")
    action.add_argument("--up", action="store_true", help="then run pulumi preview and pulumi up on the target")
    parser.add_argument("--skip-tests", action="store_true", help="do not run the test suite (CI ran it on this commit)")
    parser.add_argument("--expect-sha", help="refuse unless the checkout is exactly this commit, unmodified")
    parser.add_argument("--changes-out", type=Path, help="write the preview's change summary (JSON) to this file")
    parser.add_argument("--expect-changes", help="with --up: refuse unless the preview's change summary is this one (JSON, or a file)")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--project-dir", type=Path, help="the directory of Pulumi.yaml and the stack files (default: the checkout)")
    args = parser.parse_args(argv)

    promotion = Promotion(
        args.source,
        args.target,
        root=args.root,
        project_dir=args.project_dir,
        skip_tests=args.skip_tests,
        expect_sha=args.expect_sha,
        render_stack=render_stack,
    )
    try:
        expected = read_changes(args.expect_changes) if args.expect_changes else None
        promotion.check()
        if args.preview or args.up:
            promotion.deploy(deployer_factory(args.project_dir or args.root), up=args.up, expect_changes=expected, changes_out=args.changes_out)
    except PromotionRefusedError as refusal:
        print(f"\n{refusal}", file=sys.stderr)
        return 1
    print(f"\nPromotion {args.source} -> {args.target}: {'deployed' if args.up else 'previewed' if args.preview else 'checks passed'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
