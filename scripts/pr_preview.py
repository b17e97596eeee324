"""The preview the pull-request workflow posts, reproduced locally with the real CLI (``make pr-preview``).

    python -m scripts.pr_preview [--stack dev] [--out build/pr-preview/dev.md]

.github/workflows/pull-request.yml runs ``pulumi/actions`` with ``command: preview``, ``diff: true``,
``policyPacks: policy`` and ``suppress-outputs: true`` on dev and posts the CLI's output as a comment.
This runs the same preview (the CLI on PATH, or build/tools/bin first when ``make tools`` built it),
against the cluster and backend your environment names (KUBECONFIG, PULUMI_BACKEND_URL), and writes
the comment's body: a heading and the CLI's output in a code block. Exit status: the preview's.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from components.paths import BUILD_DIR, POLICY_DIR, REPO_ROOT
from tooling.engine import Engine
from tooling.go_tools import BIN_DIR


def comment(stack: str, output: str) -> str:
    """The comment body: which command ran on which stack, then its output verbatim."""
    return f"#### :tropical_drink: `preview` on {stack}\n\n<details><summary>Pulumi report</summary>\n\n```\n{output.rstrip()}\n```\n\n</details>\n"


def main(argv: list[str] | None = None, project_dir: Path = REPO_ROOT) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.pr_preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev", help="the stack the workflow previews (dev)")
    parser.add_argument("--out", type=Path, help="where to write the comment (default: build/pr-preview/STACK.md)")
    parser.add_argument("--project-dir", type=Path, default=project_dir, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    command = BIN_DIR / "pulumi" if (BIN_DIR / "pulumi").exists() else None
    path = os.environ.get("PATH", "")
    env = {"PATH": f"{BIN_DIR}{os.pathsep}{path}"} if command else {}
    lines: list[str] = []
    from pulumi import automation as auto

    failed = False
    try:
        engine = Engine(project_dir=args.project_dir, env=env, command=command)
        engine.stack(args.stack, create=False).preview(
            diff=True, policy_packs=engine.policy_packs([POLICY_DIR]), suppress_outputs=True, color="never", on_output=lines.append
        )
    except auto.CommandError as error:
        failed = True
        lines.append(str(error))
    out = args.out or BUILD_DIR / "pr-preview" / f"{args.stack}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(comment(args.stack, "\n".join(lines)), encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
