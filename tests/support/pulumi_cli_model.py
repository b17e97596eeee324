"""How the Pulumi CLI's Python language host starts a policy pack directory, modelled from its source.

The real CLI runs here (``make tools``; the deploy test runs the pack under it, as ``policy/analyzer.py``),
but the Python language host cannot be built (the Go module proxy serves no version of it,
docs/deploy-test.md), so how *it* starts a pack directory stays modelled: the tests start the pack with
exactly the command, environment and working directory it would use (pulumi/pulumi v3.2xx). Which
commands and flags the CLI accepts is no longer modelled: tests/support/pulumi_cli.py asks the CLI.

- pkg/resource/plugin/plugin.go: a pack directory is run through its
  runtime's RunPlugin with root = program directory = the pack directory and
  the options of PulumiPolicy.yaml's ``runtime``;
- sdk/python/cmd/pulumi-language-python/main.go, parseOptions: policy packs
  (kind analyzer) get no default virtualenv; RunPlugin runs
  ``python -u -m pulumi.policy <engine address> <pack directory>`` in the pack
  directory when it has a __main__.py;
- sdk/python/toolchain/pip.go: a relative ``virtualenv`` is joined to the root;
  with a virtualenv the interpreter is ``<venv>/bin/python`` and the
  environment is "activated" (venv bin first on PATH, VIRTUAL_ENV set,
  PYTHONHOME dropped); without one it is the first ``python3`` (then
  ``python``) on PATH, or $PULUMI_PYTHON_CMD.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

# What a hosted runner has on PATH before any venv: the system interpreter only.
CLEAN_PATH = "/usr/bin:/bin"


class PackStartError(RuntimeError):
    """The CLI could not even find an interpreter for the pack."""


@dataclass(frozen=True)
class PackCommand:
    argv: list[str]
    env: dict[str, str]
    cwd: Path


def policy_pack_command(pack: Path, engine_address: str, environ: Mapping[str, str]) -> PackCommand:
    """The command line, environment and directory the CLI runs ``pack`` with."""
    project = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    runtime = project["runtime"]
    name = runtime if isinstance(runtime, str) else runtime["name"]
    options = {} if isinstance(runtime, str) else dict(runtime.get("options") or {})
    if name != "python":
        raise PackStartError(f"runtime {name!r} is not the Python runtime")
    toolchain = options.get("toolchain", "pip")
    if toolchain != "pip":
        raise PackStartError(f"toolchain {toolchain!r} is not modelled")
    env = {k: v for k, v in environ.items()}
    virtualenv = options.get("virtualenv", "")
    if virtualenv:
        venv = Path(virtualenv) if Path(virtualenv).is_absolute() else pack / virtualenv
        python = str(venv / "bin" / "python")
        env.pop("PYTHONHOME", None)
        env["PATH"] = f"{venv / 'bin'}:{env['PATH']}" if env.get("PATH") else str(venv / "bin")
        env["VIRTUAL_ENV"] = str(venv)
    else:
        found = env.get("PULUMI_PYTHON_CMD") or next(
            (p for p in (shutil.which(c, path=env.get("PATH", "")) for c in ("python3", "python")) if p), None
        )
        if found is None:
            raise PackStartError("no python3 or python on PATH")
        python = found
    args = [python, "-u", "-m", "pulumi.policy", engine_address, str(pack)]
    return PackCommand(argv=args, env=env, cwd=pack)

