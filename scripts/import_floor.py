"""The import floor of a render: every module a render imports that is not the project's own code.

    python -m scripts.import_floor list --stack prod > modules.json   # render in this process, list what it imported
    python -m scripts.import_floor import modules.json                # import exactly those modules, nothing else

``make bench`` times the second against ``python -m scripts.render``: the SDKs load their
submodules lazily (``import pulumi_kubernetes`` alone loads none of ``core.v1``, ``apps.v1``, ...),
so the floor is what a render actually ended up importing (standard library included), not
the top-level packages.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
import tempfile
from pathlib import Path

from components import paths

REPO = paths.REPO_ROOT


def _is_project_module(module: object) -> bool:
    file = getattr(module, "__file__", None)
    if not file:
        return False
    path = Path(file).resolve()
    return path.is_relative_to(REPO) and "site-packages" not in path.parts


def imported_by_render(stack: str) -> list[str]:
    """Modules in ``sys.modules`` after rendering ``stack`` in this process, minus the project's and this script's own.

    Only importable ones: Cython registers helper modules without a spec, which no import statement loads.
    """
    from scripts import render

    # The render's own report goes to stderr: stdout carries the list.
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(sys.stderr):
        code = render.main(["--stack", stack, "--out", str(Path(out) / "render")])
    if code != 0:
        raise SystemExit(f"render of stack {stack!r} failed (exit {code}); the floor needs a render that works")
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if name not in ("__main__", "__mp_main__") and getattr(module, "__spec__", None) is not None and not _is_project_module(module)
    )


def import_all(names: list[str]) -> None:
    for name in names:
        importlib.import_module(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.import_floor", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="render a stack in this process and print the modules it imported (JSON)")
    listing.add_argument("--stack", required=True)
    importing = sub.add_parser("import", help="import the modules a JSON list names")
    importing.add_argument("modules", type=Path)
    args = parser.parse_args(argv)
    if args.command == "list":
        print(json.dumps(imported_by_render(args.stack)))
    else:
        import_all(json.loads(args.modules.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
