"""Property: one random mutation of a valid stack config either renders, or is refused with exit
code 2 and a message naming ``observability:<key>`` and the accepted form. Nothing crashes, a
refusal comes before the program runs, and no secret value reaches the output.

The example count is kept small so `make test` stays fast; raise it for a deeper search with
``SETTINGS_PROPERTY_EXAMPLES=500 .venv/bin/python -m pytest tests/settings/test_settings_properties.py``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scripts.render as render_script
from components.settings.loader import environment_defaults
from components.settings.secrets import SECRET_KEYS
from scripts.render import main
from tooling.stack_config import add_secret, read_stack_config

EXAMPLES = int(os.environ.get("SETTINGS_PROPERTY_EXAMPLES", "10"))
STACKS = ("dev", "staging", "prod")
# A refusal parses settings only; on the shared 2-core CI runner that is well under this.
REFUSAL_SECONDS = 10
MEMORY_GROWTH_MB = 400
# Distinct, secret-looking values for every secret key; none may appear in any output.
SECRETS = {key: f"{key}-plaintext-Zq7x9Lk2Vw4" for key in SECRET_KEYS}
HOOK = "https://hooks.slack.com/" + "services/T0AAA/B0BBB/leakedHookZ9x8"  # assembled so no secret pattern sits in the repository
RAW_WORDS = re.compile(r"Input should|tuple|pydantic|Traceback|model_|valid string|For further information")
PROBLEM_LINE = re.compile(r"^  - (\S+) = ")

# Values a tired operator types, including the examples of issue 16.
NASTY: list[Any] = [
    None, "", "null", "~", 0, -1, 1, 2, 99999999999, 10**30, 0.5, 1e400, float("nan"), True, False,
    "7d", "5d", "0s", "500ms", "300y", "９d", "５Gi", "0Gi", "4GiB", "20Gi", "1e9", "kube-system", "default",
    "Fast_SSD", "#ops", "'#ops'", "x" * 300, HOOK, [], {}, ["a"], {"a": 1}, [None], "dev", "prod", "off", "yes",
]
# Raw --set text, read as YAML the way the command line reads it.
RAW_TEXTS = ["[7d", "{a: 1", "#monitoring", "a: b: c", "!!python/object:os.system", "*alias", "- x", "'unterminated", ".nan", ".inf", "0x10", "1_000"]


def _leaf_paths(document: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(document, dict) and document:
        return [path for key, value in document.items() for path in _leaf_paths(value, (*prefix, str(key)))] + ([prefix] if prefix else [])
    return [prefix] if prefix else []


@functools.cache
def _paths(environment: str) -> tuple[tuple[str, ...], ...]:
    return tuple(sorted(set(_leaf_paths(environment_defaults(environment)))))


def _yaml_text(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip()
    return text.removesuffix("...").strip()


values = st.one_of(
    st.sampled_from(NASTY),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.builds("{}{}".format, st.integers(0, 10**15), st.sampled_from(["ms", "s", "m", "h", "d", "w", "y", "Ki", "Mi", "Gi", "B", "GB", "GiB", "%", "m5s"])),
    st.lists(st.sampled_from(NASTY[:20]), max_size=3),
)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, str, str]:
    """(stack, dotted key, --set value text)."""
    stack = draw(st.sampled_from(STACKS))
    path = list(draw(st.sampled_from(_paths(stack))))
    kind = draw(st.sampled_from(["value", "value", "value", "raw", "typo", "null"]))
    if kind == "typo":
        index = draw(st.integers(0, len(path[-1])))
        path[-1] = path[-1][:index] + draw(st.sampled_from("xeé_.")) + path[-1][index:]
    if kind == "raw":
        text = draw(st.sampled_from(RAW_TEXTS))
    elif kind == "null":
        text = "null"
    else:
        text = _yaml_text(draw(values))
    return stack, ".".join(path), text


@pytest.fixture(scope="module")
def with_secrets() -> Iterator[None]:
    """Every run reads its stack file with every secret set (as Pulumi secrets) to a known value."""

    def read(stack: str) -> Any:
        config = read_stack_config(stack)
        for key, value in SECRETS.items():
            add_secret(config, key, value)
        return config

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render_script, "read_stack_config", read)
        yield


def _run(argv: list[str]) -> tuple[int, str, float]:
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue() + err.getvalue(), time.monotonic() - started


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.usefixtures("with_secrets")
def test_a_random_mutation_renders_or_is_refused_cleanly() -> None:
    peak_before = _peak_mb()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutations())
    def check(mutation: tuple[str, str, str]) -> None:
        stack, key, text = mutation
        out = Path(tempfile.mkdtemp(prefix="mutation-"))
        try:
            code, output, seconds = _run(["--stack", stack, "--out", str(out / "render"), "--set", f"{key}={text}"])
            written = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
        finally:
            shutil.rmtree(out, ignore_errors=True)
        assert code in (0, 2), output
        for secret in (*SECRETS.values(), HOOK):
            assert secret not in output, f"{secret!r} echoed for --set {key}={text}"
        for secret in SECRETS.values():
            assert secret not in written
        if code == 2:
            assert seconds < REFUSAL_SECONDS, f"refusing --set {key}={text} took {seconds:.1f}s"
            keys = [match.group(1) for line in output.splitlines() if (match := PROBLEM_LINE.match(line))]
            if keys:  # a settings refusal: every problem names its key and the accepted form
                assert any(k.startswith(f"observability:{key.split('.')[0]}") for k in keys), output
                for line in output.splitlines():
                    if PROBLEM_LINE.match(line):
                        assert "accepted" in line and not RAW_WORDS.search(line), line
            else:  # the --set text itself: names the assignment and the accepted form
                assert output.startswith("render failed: --set") and "accepted form" in output, output
            assert "Traceback" not in output

    check()
    assert _peak_mb() - peak_before < MEMORY_GROWTH_MB
