"""The README's commands work exactly as written on a fresh checkout: no activated virtualenv,
and `make test` says what it is doing from its first step."""

from __future__ import annotations

import os
import re
import shlex
import subprocess

from components import paths

ROOT = paths.REPO_ROOT
README = paths.README.read_text(encoding="utf-8")
MAKEFILE = paths.MAKEFILE.read_text(encoding="utf-8")


def _clean_env() -> dict[str, str]:
    # A fresh shell: no virtualenv activated, nothing of .venv on PATH.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    return env


def test_no_command_needs_an_activated_virtualenv() -> None:
    commands = re.findall(r"`([^`]*\bpython[^`]*)`", README) + re.findall(r"^\$ (.*python.*)$", README, re.M)
    assert commands
    for command in commands:
        assert re.search(r"(^|\s)\.venv/bin/python -m ", command), f"README command needs an activated venv: {command}"


def test_the_settings_example_runs_as_written_and_prints_what_the_readme_shows() -> None:
    block = re.search(r"```\n\$ (\.venv/bin/python -m scripts\.render [^\n]*)\n(.*?)```", README, re.S)
    assert block, "the README's render example is gone"
    command, shown = block.group(1), block.group(2).strip().splitlines()
    result = subprocess.run(shlex.split(command), cwd=ROOT, env=_clean_env(), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    printed = result.stderr.strip().splitlines()
    assert len(printed) == len(shown)
    for want, got in zip(shown, printed, strict=True):
        assert got.startswith(want.removesuffix("...").rstrip()), (want, got)


def test_every_make_test_step_announces_itself_first() -> None:
    steps = re.search(r"^test:([^\n]*)$", MAKEFILE, re.M)
    assert steps, "make test is gone"
    for target in ("$(VENV)/.installed", "tools", "lint", "checkov", "pytest"):
        recipe = re.search(rf"^{re.escape(target)}:[^\n]*\n\t([^\n]*)", MAKEFILE, re.M)
        assert recipe and recipe.group(1).startswith('@echo "==> '), f"make target {target} starts silently"
    assert {"venv", "tools", "lint", "checkov", "pytest"} <= set(steps.group(1).split())
    assert "--quiet" not in MAKEFILE.split("venv: $(VENV)/.installed")[0]
