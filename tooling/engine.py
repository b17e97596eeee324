"""The Pulumi CLI running this project: stacks selected through the Automation API, with the program run as
the CLI would run it.

With the Python language host (``pulumi-language-python``, shipped with every Pulumi release) on PATH or
in the plugin cache, the program is the project's own: ``__main__.py`` in the project directory, from
``Pulumi.yaml``, exactly as ``pulumi up`` runs it. Without it (this project's ``make tools`` cannot build
it: the Go module proxy serves no version of ``github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3``),
the same function (:func:`program.run`) is run as an Automation API inline program: the CLI, the engine,
the providers and the stack's configuration are the same; only the process that runs the program
differs (this one, not one started by the language host).

A Python policy pack needs a language host too; without one, :meth:`Engine.policy_packs` hands the CLI the
pack's executable form (``policy/analyzer.py``), which the CLI starts directly as a binary analyzer plugin
and which runs the pack exactly as the language host would.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.paths import REPO_ROOT

LANGUAGE_HOST = "pulumi-language-python"
PROJECT_NAME = "observability"
# A policy pack's executable form (see policy/analyzer.py).
ANALYZER = "analyzer.py"


def language_host(env: Mapping[str, str]) -> str | None:
    """Where the CLI would find the Python language host in ``env`` (PATH, then $PULUMI_HOME/plugins); None: nowhere."""
    for directory in env.get("PATH", "").split(os.pathsep):
        candidate = Path(directory or ".") / LANGUAGE_HOST
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    home = Path(env.get("PULUMI_HOME") or Path.home() / ".pulumi")
    installed = sorted((home / "plugins").glob("language-python-v*/" + LANGUAGE_HOST))
    return str(installed[-1]) if installed else None


def _inline_program() -> None:
    from program import run

    run()


@dataclass(frozen=True)
class Engine:
    """The CLI at ``command`` (None: ``pulumi`` on PATH) with ``env`` for every run, on ``project_dir``."""

    project_dir: Path = REPO_ROOT
    env: Mapping[str, str] | None = None
    command: Path | None = None

    @property
    def environment(self) -> dict[str, str]:
        merged = dict(os.environ)
        merged.update(self.env or {})
        return merged

    @property
    def inline(self) -> bool:
        """True when the program runs in this process (no language host to start it)."""
        return language_host(self.environment) is None

    @contextlib.contextmanager
    def program_environment(self) -> Iterator[None]:
        """While an operation runs: the inline program sees the environment the CLI gets, as a program the
        language host starts would (it inherits the CLI's). The program reads KUBECONFIG (components/cluster.py)."""
        if not self.inline or not self.env:
            yield
            return
        saved = {key: os.environ.get(key) for key in self.env}
        os.environ.update(self.env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def policy_packs(self, packs: list[Path]) -> list[str]:
        """``--policy-pack`` arguments for ``packs`` (directories): the directory itself when a language host can
        start it, else its executable form ``<pack>/analyzer.py``."""
        return [str(pack if not self.inline else pack / ANALYZER) for pack in packs]

    def stack(self, name: str, *, create: bool = True) -> Any:
        """The Automation API stack ``name`` of the project (created on the backend when ``create``)."""
        from pulumi import automation as auto

        pulumi_command = auto.PulumiCommand(root=str(self.command.parent.parent), skip_version_check=False) if self.command else None
        options = auto.LocalWorkspaceOptions(work_dir=str(self.project_dir), env_vars=dict(self.env or {}), pulumi_command=pulumi_command)
        if self.inline:
            select = auto.create_or_select_stack if create else auto.select_stack
            return select(stack_name=name, project_name=PROJECT_NAME, program=_inline_program, opts=options)
        select = auto.create_or_select_stack if create else auto.select_stack
        return select(stack_name=name, work_dir=str(self.project_dir), opts=options)

