"""How the Pulumi CLI starts a Python policy pack, modelled from its source.

There is no Pulumi CLI here, so the tests start the pack with exactly the
command, environment and working directory the CLI's Python language host
would use (pulumi/pulumi v3.2xx):

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


# --- the CLI's commands and flags ----------------------------------------------
#
# The long flags of the commands the docs use, read from pulumi/pulumi's command
# definitions (pkg/cmd/pulumi/operations/{preview,up,import,refresh,destroy}.go,
# state/state_{unprotect,delete}.go, stack/stack_{new,select,history,export,output}.go
# and stack.go, config/config.go, and the root command's persistent flags in
# pulumi.go). `stack init` is an alias of `stack new` (stack_new.go).
GLOBAL_FLAGS = frozenset(
    {"color", "cwd", "disable-integrity-checking", "emoji", "fully-qualify-stack-names", "logflow", "logtostderr",
     "memprofilerate", "non-interactive", "otel-traces", "profiling", "tracing", "tracing-header", "verbose", "help"}
)  # fmt: skip
_OPERATION = {"config", "config-file", "config-path", "debug", "diff", "event-log", "exclude", "exclude-dependents", "json",
              "message", "parallel", "refresh", "run-program", "show-config", "show-full-output", "show-reads",
              "show-replacement-steps", "show-sames", "show-secrets", "skip-config-validation", "skip-plugin-pre-install",
              "stack", "suppress-outputs", "suppress-permalink", "suppress-progress", "target", "target-dependents", "urns",
              "policy-pack", "policy-pack-config", "expect-no-changes", "replace", "target-replace", "ignore-protect"}  # fmt: skip
COMMAND_FLAGS: dict[tuple[str, ...], frozenset[str]] = {
    ("preview",): frozenset(_OPERATION | {"save-plan", "import-file", "show-policy-remediations"}),
    ("up",): frozenset(_OPERATION | {"plan", "yes", "skip-preview", "strict", "continue-on-error", "secrets-provider"}),
    ("import",): frozenset(
        {"config-file", "debug", "diff", "event-log", "file", "from", "generate-code", "generate-resources", "json", "message",
         "out", "parallel", "parent", "preview-only", "properties", "protect", "provider", "skip-plugin-pre-install",
         "skip-preview", "stack", "suppress-outputs", "suppress-permalink", "suppress-progress", "yes"}
    ),
    ("refresh",): frozenset(
        _OPERATION - {"policy-pack", "policy-pack-config", "replace", "target-replace", "ignore-protect"} | {"yes", "skip-preview", "preview-only"}
    ),
    ("destroy",): frozenset(_OPERATION | {"yes", "skip-preview", "preview-only", "exclude-protected", "remove", "continue-on-error"}),
    ("state", "unprotect"): frozenset({"all", "stack", "yes"}),
    ("state", "delete"): frozenset({"all", "force", "stack", "target-dependents", "yes"}),
    ("stack",): frozenset({"show-ids", "show-name", "show-secrets", "show-urns", "stack"}),
    ("stack", "init"): frozenset({"copy-config-from", "no-select", "remote-config", "secrets-provider", "stack", "teams", "yes"}),
    ("stack", "select"): frozenset({"create", "secrets-provider", "stack"}),
    ("stack", "history"): frozenset({"full-dates", "page", "page-size", "show-secrets", "stack"}),
    ("stack", "export"): frozenset({"file", "show-secrets", "stack", "version"}),
    ("stack", "output"): frozenset({"json", "shell", "show-secrets", "stack"}),
    ("config",): frozenset({"config-file", "json", "open", "show-secrets", "stack"}),
    ("config", "set"): frozenset({"config-file", "json", "path", "plaintext", "secret", "stack", "type"}),
    ("login",): frozenset({"cloud-url", "default-org", "insecure", "local", "interactive"}),
}
SHELL_STOP = {"<", ">", "|", "&&", ";", "#"}


def cli_problems(argv: list[str]) -> list[str]:
    """Why ``argv`` (a `pulumi …` command line) is not one the CLI accepts: unknown subcommand or flag."""
    assert argv[0] == "pulumi"
    words: list[str] = []
    rest = argv[1:]
    while rest and not rest[0].startswith("-") and tuple([*words, rest[0]]) in {k[: len(words) + 1] for k in COMMAND_FLAGS}:
        words.append(rest.pop(0))
    command = tuple(words)
    if command not in COMMAND_FLAGS:
        return [f"unknown command: pulumi {' '.join(words + rest[:1])}"]
    problems = []
    for token in rest:
        if token in SHELL_STOP:
            break
        if token.startswith("--"):
            flag = token[2:].split("=", 1)[0]
            if flag not in COMMAND_FLAGS[command] | GLOBAL_FLAGS:
                problems.append(f"pulumi {' '.join(command)}: unknown flag --{flag}")
    return problems
