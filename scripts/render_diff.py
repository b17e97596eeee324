"""Offline render diff between two checkouts, as Markdown for a PR comment.

Runs ``python -m scripts.render --stack S --out DIR`` in the base and the head
checkout for every stack either of them defines, then ``diff -ru`` per stack.
Needs no cluster and no Pulumi backend, so CI can run it on every pull request.

    python -m scripts.render_diff --base ../base --head . --out diff.md

Exit status: 0 when every head render succeeded (with or without changes),
1 when a head render failed (the report says which and why).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# GitHub rejects comments over 65,536 characters; keep room for the header.
COMMENT_BUDGET = 60_000
STACK_FILE_PREFIX = "Pulumi."
STACK_FILE_SUFFIX = ".yaml"


@dataclass(frozen=True)
class RenderResult:
    ok: bool
    out_dir: Path
    log: str


@dataclass(frozen=True)
class StackDiff:
    stack: str
    diff: str
    base_error: str | None
    head_error: str | None

    @property
    def changed(self) -> bool:
        return bool(self.diff)


def stacks_in(checkout: Path) -> set[str]:
    """Stack names defined by Pulumi.<stack>.yaml files in a checkout."""
    names = set()
    for path in checkout.glob(f"{STACK_FILE_PREFIX}*{STACK_FILE_SUFFIX}"):
        name = path.name[len(STACK_FILE_PREFIX) : -len(STACK_FILE_SUFFIX)]
        if name:
            names.add(name)
    return names


def render(checkout: Path, stack: str, out_dir: Path, python: str) -> RenderResult:
    """Render one stack of one checkout; a checkout without a renderer or without
    that stack renders as empty (everything shows as added or removed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if not (checkout / "scripts" / "render.py").is_file():
        return RenderResult(True, out_dir, "no scripts/render.py in this checkout")
    if stack not in stacks_in(checkout):
        return RenderResult(True, out_dir, f"no Pulumi.{stack}.yaml in this checkout")
    proc = subprocess.run(
        [python, "-m", "scripts.render", "--stack", stack, "--out", str(out_dir)],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    return RenderResult(proc.returncode == 0, out_dir, (proc.stdout + proc.stderr).strip())


def diff_dirs(work: Path, stack: str) -> str:
    """``diff -ru base/<stack> head/<stack>`` run inside ``work`` so the paths in
    the output are short and stable; file timestamps are dropped."""
    proc = subprocess.run(
        ["diff", "-ru", f"base/{stack}", f"head/{stack}"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode > 1:
        raise RuntimeError(f"diff failed in {work} for stack {stack}: {proc.stderr.strip()}")
    lines = []
    for line in proc.stdout.splitlines(keepends=True):
        if line.startswith(("--- ", "+++ ")) and "\t" in line:
            line = line.split("\t", 1)[0] + "\n"
        lines.append(line)
    return "".join(lines)


def diff_stack(base: Path, head: Path, stack: str, work: Path, python: str) -> StackDiff:
    """Render the head, then (only when the head renders) the base, and diff them.

    A head that fails is reported with its error and no diff, so the base is not rendered for it:
    that render would cost as much as the head's and show nowhere (``base_error`` stays None)."""
    head_result = render(head, stack, work / "head" / stack, python)
    if not head_result.ok:
        return StackDiff(stack=stack, diff="", base_error=None, head_error=head_result.log)
    base_result = render(base, stack, work / "base" / stack, python)
    return StackDiff(
        stack=stack,
        diff=diff_dirs(work, stack),
        base_error=None if base_result.ok else base_result.log,
        head_error=None,
    )


def _fenced(text: str, budget: int) -> str:
    if len(text) > budget:
        cut = text[:budget]
        text = cut[: cut.rfind("\n") + 1] + "... (truncated: run `python -m scripts.render_diff` locally)\n"
    return f"```diff\n{text}```\n"


def report(diffs: list[StackDiff], budget: int = COMMENT_BUDGET) -> str:
    """Markdown: one collapsed section per changed stack, errors first."""
    lines = ["### Offline render diff (base → head)", ""]
    per_stack = budget // max(1, len(diffs))
    for d in sorted(diffs, key=lambda d: d.stack):
        if d.head_error is not None:
            lines += [f"**{d.stack}: render failed at head**", "", _fenced(d.head_error + "\n", per_stack)]
            continue
        if d.base_error is not None:
            lines += [f"{d.stack}: render failed at base; the diff is against an empty tree.", ""]
        if not d.changed:
            lines += [f"- `{d.stack}`: no changes", ""]
            continue
        files = sum(1 for line in d.diff.splitlines() if line.startswith(("diff -ru", "Only in")))
        lines += [
            f"<details><summary><code>{d.stack}</code>: {files} file(s) changed</summary>",
            "",
            _fenced(d.diff, per_stack),
            "</details>",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="checkout of the base commit")
    parser.add_argument("--head", type=Path, required=True, help="checkout of the head commit")
    parser.add_argument("--out", type=Path, required=True, help="Markdown report to write")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs the renders")
    parser.add_argument("--stack", action="append", default=[], help="only this stack (repeatable; default: every stack)")
    args = parser.parse_args(argv)
    base, head = args.base.resolve(), args.head.resolve()
    known = stacks_in(base) | stacks_in(head)
    unknown = sorted(set(args.stack) - known)
    if unknown:
        parser.error(f"unknown stack(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    stacks = sorted(args.stack or known)
    if not stacks:
        parser.error(f"no Pulumi.<stack>.yaml in {base} or {head}")
    with tempfile.TemporaryDirectory(prefix="render-diff-") as tmp:
        diffs = [diff_stack(base, head, s, Path(tmp), args.python) for s in stacks]
    args.out.write_text(report(diffs), encoding="utf-8")
    failed = [d.stack for d in diffs if d.head_error is not None]
    if failed:
        print(f"render failed at head for stack(s): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
