#!/usr/bin/env -S python3 -I
"""This policy pack as a binary analyzer plugin: ``pulumi preview --policy-pack policy/analyzer.py``.

The CLI starts a pack directory (``--policy-pack policy``) through the Python language host's RunPlugin,
which runs ``python -u -m pulumi.policy <engine address> <pack directory>`` with the interpreter of the
pack's ``virtualenv`` option. Where no language host is installed (the deploy test: the Go module proxy
serves none to build, docs/deploy-test.md), the CLI can still start a pack given as an executable file,
with argv ``[engine address]`` (pkg/resource/plugin/analyzer_plugin.go, NewPolicyAnalyzer). This file is
that executable: it runs the same command the language host would, for the directory it lives in.
Standard library only: it runs before any virtualenv is chosen.
"""

import os
import re
import sys
from pathlib import Path

PACK = Path(__file__).resolve().parent


def command(engine: str, environ: dict[str, str]) -> tuple[str, list[str], dict[str, str]]:
    """(interpreter, argv, environment) the language host would use for this pack."""
    spec = (PACK / "PulumiPolicy.yaml").read_text(encoding="utf-8")
    found = re.search(r"^\s*virtualenv:\s*(\S+)\s*$", spec, re.MULTILINE)
    env = dict(environ)
    if found:
        venv = (PACK / found.group(1)).resolve()
        python = str(venv / "bin" / "python")
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = str(venv / "bin") + os.pathsep + env.get("PATH", "")
        env.pop("PYTHONHOME", None)
    else:
        python = env.get("PULUMI_PYTHON_CMD", "python3")
    return python, [python, "-u", "-m", "pulumi.policy", engine, str(PACK)], env


if __name__ == "__main__":
    interpreter, argv, environment = command(sys.argv[1], dict(os.environ))
    os.chdir(PACK)
    os.execvpe(interpreter, argv, environment)
