"""The level of a logfmt line: real lines of the programs the stack deploys, through the rendered stages.

The stack's own components log logfmt (go-kit's ``level=info``, slog's ``level=INFO``). Without a level
from them, every line of Loki, Prometheus or Alertmanager was ``level="UNKNOWN"`` and the generated
runbooks' ``{service="<component>", level=~"ERROR|CRITICAL"}`` found nothing. The lines here come from
the real binaries at the deployed versions (``make tools``); the rendered regex is applied with Python's
``re`` (this pattern means the same in Go's RE2), and the rendered template runs in Go's text/template.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.logs.alloy_config import CONFIG, LOGFMT_LEVEL, UNKNOWN_LEVEL
from components.wiring import endpoints
from tests.support import go_template
from tests.support.alloy_parser import Block, parse
from tests.support.k8s_objects import find
from tests.support.tools import tool
from tooling.render import Render


def _process(render: Render) -> Block:
    text = find(render, "ConfigMap", f"{endpoints.ALLOY_SERVICE}-config")["data"][CONFIG.name]
    (process,) = [b for b in parse(text) if b.name == "loki.process"]
    return process


def _first_lines(argv: list[str], count: int) -> list[str]:
    """The first ``count`` lines a real program logs (stderr), then it is stopped."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) >= count, f"{argv[0]} logged {lines!r}"
    return lines[:count]


@pytest.fixture(scope="module")
def real_lines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """level as the program wrote it -> one real line of that level."""
    tmp = tmp_path_factory.mktemp("levels")
    lines = {}
    # slog (Prometheus 3.5): an ERROR line, from a config file that is not there.
    (error,) = [line for line in _first_lines([str(tool("prometheus")), "--config.file=/nonexistent", f"--storage.tsdb.path={tmp}"], 1)
                if "level=ERROR" in line]
    lines["ERROR"] = error
    # slog (node_exporter 1.9.1): INFO at start; go-kit (Pushgateway 1.11.0): info. Both stop on a bad flag value.
    lines["INFO"] = _first_lines([str(tool("node_exporter")), "--web.listen-address=bad address", "--collector.disable-defaults"], 1)[0]
    lines["info"] = _first_lines([str(tool("pushgateway")), "--web.listen-address=bad address", f"--persistence.file={tmp}/p"], 1)[0]
    return lines


@pytest.fixture(scope="module")
def stage_runner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return go_template.build(tmp_path_factory.mktemp("gotemplate"))


def _levels(render: Render, runner: Path, lines: list[str]) -> list[str]:
    process = _process(render)
    stages = [b.name for b in process.blocks]
    assert stages.index("stage.json") < stages.index("stage.regex") < stages.index("stage.template")
    pattern = re.compile(process.child("stage.regex").attributes["expression"])
    template = process.child("stage.template").attributes
    source = template["source"]
    cases: list[dict[str, Any]] = []
    for line in lines:
        extracted = go_template.json_stage(line)
        match = pattern.search(line)
        if match:
            extracted.update({k: v for k, v in match.groupdict().items() if v is not None})
        cases.append({"template": template["template"], "source": source, "extracted": extracted, "entry": line})
    out = []
    for case, result in zip(cases, go_template.run(runner, cases), strict=True):
        assert result.error is None, result.error
        out.append(go_template.apply_stage(result, case["extracted"], source).get(source, ""))
    return out


def test_real_logfmt_lines_get_their_level(rendered: Render, stage_runner: Path, real_lines: dict[str, str]) -> None:
    written = list(real_lines)
    levels = _levels(rendered, stage_runner, [real_lines[w] for w in written])
    assert levels == [w.upper() for w in written], dict(zip(written, levels, strict=True))


def test_a_json_record_keeps_its_own_level_and_other_text_stays_unknown(rendered: Render, stage_runner: Path) -> None:
    lines = {
        # The JSON field wins over a level= inside its message.
        '{"level": "INFO", "message": "set level=debug on request"}': "INFO",
        # A JSON record without a level is not read as logfmt.
        '{"message": "retry level=error"}': UNKNOWN_LEVEL,
        'level=warn ts=2026-12-07T10:00:00Z caller=x.go:1 msg="slow"': "WARNING",
        'logger=settings t=2026-12-07T10:00:00Z level=error msg="x"': "ERROR",
        "Traceback (most recent call last):": UNKNOWN_LEVEL,
        "a loglevel=error is not a level key": UNKNOWN_LEVEL,
    }
    assert _levels(rendered, stage_runner, list(lines)) == list(lines.values())


def test_the_extracted_name_is_the_one_the_template_reads(rendered: Render) -> None:
    process = _process(rendered)
    assert f"(?P<{LOGFMT_LEVEL}>" in process.child("stage.regex").attributes["expression"]
    assert f".{LOGFMT_LEVEL}" in process.child("stage.template").attributes["template"]
