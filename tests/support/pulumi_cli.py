"""Which `pulumi …` command lines the real CLI accepts, read from the CLI itself (the build of `make tools`).

The docs and scripts print Pulumi commands for people to run; the tests check each against the CLI's own
help: every subcommand must be one the parent command lists (or an alias its help names), every flag one
of the command's own or the global flags. This replaced a hand-written table of commands and flags.
"""

from __future__ import annotations

import functools
import re
import subprocess

from tests.support.tools import tool

SHELL_STOP = {"<", ">", "|", "&&", ";", "#"}
_SECTION = re.compile(r"^(?P<name>[A-Z][A-Za-z ]+):\s*$")


@functools.cache
def _help(words: tuple[str, ...]) -> dict[str, list[str]] | None:
    """The sections of ``pulumi WORDS --help`` (title -> lines); None when the CLI refuses it."""
    # Experimental flags (`up --plan`) are accepted either way; the help lists them only when asked to.
    env = {"PULUMI_SKIP_UPDATE_CHECK": "1", "PULUMI_EXPERIMENTAL": "true", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    result = subprocess.run([str(tool("pulumi")), *words, "--help"], capture_output=True, text=True, timeout=60, check=False, env=env)
    if result.returncode != 0:
        return None
    sections: dict[str, list[str]] = {}
    current = "text"
    for line in result.stdout.splitlines():
        match = _SECTION.match(line)
        if match:
            current = match["name"]
            sections[current] = []
        else:
            sections.setdefault(current, []).append(line)
    return sections


def _children(words: tuple[str, ...]) -> set[str]:
    """Subcommands the help lists: under "Available Commands" or, at the root, one "... Commands" group each."""
    sections = _help(words) or {}
    lines = [line for title, body in sections.items() if title.endswith("Commands") for line in body]
    return {line.split()[0] for line in lines if line.startswith("  ") and line.strip()}


def _is_alias(words: tuple[str, ...], word: str) -> bool:
    sections = _help((*words, word))
    aliases = " ".join(sections.get("Aliases", [])) if sections else ""
    return word in {a.strip() for a in aliases.split(",")}


def _flags(words: tuple[str, ...]) -> set[str]:
    sections = _help(words) or {}
    lines = sections.get("Flags", []) + sections.get("Global Flags", [])
    return {match[1] for line in lines if (match := re.match(r"^\s+(?:-\w, )?--([a-z0-9-]+)", line))}


def cli_problems(argv: list[str]) -> list[str]:
    """Why ``argv`` (a `pulumi …` command line) is not one the CLI accepts: an unknown subcommand or flag."""
    assert argv[0] == "pulumi"
    words: tuple[str, ...] = ()
    rest = list(argv[1:])
    while rest and not rest[0].startswith("-") and rest[0] not in SHELL_STOP and _children(words):
        if rest[0] in _children(words) or _is_alias(words, rest[0]):
            words = (*words, rest.pop(0))
        else:
            return [f"unknown command: pulumi {' '.join((*words, rest[0]))}"]
    if not words:
        return [f"unknown command: pulumi {' '.join(rest[:1])}"]
    known = _flags(words)
    problems = []
    for token in rest:
        if token in SHELL_STOP:
            break
        if token.startswith("--"):
            flag = token[2:].split("=", 1)[0]
            if flag not in known:
                problems.append(f"pulumi {' '.join(words)}: unknown flag --{flag}")
    return problems
