"""Multi-line stack traces: why the pipeline does not join lines, and the condition that reopens the question.

grafana/alloy#3959 reports a collector splitting a stack trace into one entry per line at level UNKNOWN.
The decision (docs/logs-and-traces.md, "Multi-line output") rests on three facts checked here or cited:

- Seed 004 requires one JSON object per record with the stack trace inside it (``error.stack_trace``): a
  JSON encoder escapes the newlines, so such a record is one physical line. Shown below on the real
  Python ``logging`` and ``json`` modules, and the record's level read through the rendered template by
  Go's text/template.
- Through the API (``loki.source.kubernetes``) the kubelet joins the runtime's partial records (lines
  over 16 KiB) back into one line with one timestamp (k8s.io/cri-client v0.34.4, pkg/logs/logs.go:
  ``isNewLine`` decides the timestamp prefix).
- ``stage.multiline`` of the deployed Alloy (v1.10.1, internal/component/loki/process/stages/multiline.go)
  starts one goroutine and channel per label set and never removes them; the only per-container label
  at that stage is ``instance`` (namespace/pod:container, kubetail/target.go PrepareLabels), so joining
  per container keeps a goroutine for every container ever seen, and joining per ``service`` would mix
  the lines of its replicas. Alloy removes idle streams from v1.16.0 (grafana/alloy#6036).
"""

from __future__ import annotations

import io
import json
import logging
import traceback
from pathlib import Path
from typing import Any

import pytest

from components.logs.alloy_config import CONFIG
from components.wiring import endpoints
from tests.support import go_template
from tests.support.alloy_parser import Block, parse
from tests.support.config_reference import image_version
from tests.support.k8s_objects import find
from tooling.render import Render

# The first Alloy release whose multiline stage drops idle streams (grafana/alloy#6036, tag v1.16.0-rc.0).
MULTILINE_STREAMS_RELEASED = (1, 16, 0)


class SeedJsonFormatter(logging.Formatter):
    """Seed 004's record shape: timestamp, level, service, message, and the exception under error."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "timestamp": self.formatTime(record),
            "level": record.levelname,
            "service": "parsing",
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            document["error"] = {
                "type": record.exc_info[0].__name__,
                "message": str(record.exc_info[1]),
                "stack_trace": "".join(traceback.format_exception(*record.exc_info)),
            }
        return json.dumps(document)


def _pipeline(render: Render) -> Block:
    text = find(render, "ConfigMap", f"{endpoints.ALLOY_SERVICE}-config")["data"][CONFIG.name]
    found = [b for b in parse(text) if b.name == "loki.process"]
    assert len(found) == 1, f"loki.process: {len(found)}"
    return found[0]


def _logged_exception() -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SeedJsonFormatter())
    logger = logging.getLogger("seed-004-record")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        try:
            raise ConnectionError("Connection refused")
        except ConnectionError:
            logger.exception("Database timeout")
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


@pytest.fixture(scope="module")
def stage_runner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return go_template.build(tmp_path_factory.mktemp("gotemplate"))


def test_a_seed_record_with_a_stack_trace_is_one_line_at_level_error(rendered: Render, stage_runner: Path) -> None:
    output = _logged_exception()
    lines = output.splitlines()
    assert len(lines) == 1, f"a seed-004 record spans {len(lines)} lines: {output!r}"
    record = json.loads(lines[0])
    assert record["error"]["stack_trace"].count("\n") >= 3, "the record carries the whole traceback"

    process = _pipeline(rendered)
    template = process.child("stage.template").attributes
    source = template["source"]
    assert process.child("stage.json").attributes["expressions"] == {source: source}
    case = {"template": template["template"], "source": source, "extracted": {source: record[source]}, "entry": lines[0]}
    (result,) = go_template.run(stage_runner, [case])
    assert result.error is None, result.error
    assert go_template.apply_stage(result, case["extracted"], source)[source] == "ERROR"


def test_lines_are_not_joined_while_the_deployed_alloy_keeps_a_goroutine_per_stream(rendered: Render) -> None:
    version = tuple(int(part) for part in image_version(rendered.settings.alloy.image).split("."))
    stages = [child.name for child in _pipeline(rendered).blocks]
    assert "stage.multiline" not in stages or version >= MULTILINE_STREAMS_RELEASED, (
        f"stage.multiline on Alloy {version}: its streams are never removed before v1.16.0 (grafana/alloy#6036)"
    )
    assert version < MULTILINE_STREAMS_RELEASED, (
        f"Alloy {version} removes idle multiline streams (grafana/alloy#6036): revisit the decision in "
        "docs/logs-and-traces.md ('Multi-line output') and this test"
    )
