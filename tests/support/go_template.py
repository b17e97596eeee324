"""Alloy's stage.template cases run by Go's text/template (tests/support/gotemplate/stage.go), built once per session.

The Go toolchain is a requirement of the project (README, "Requirements": Go 1.26, which `make tools` also builds with).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).with_name("gotemplate") / "stage.go"


@dataclass(frozen=True)
class StageResult:
    value: str | None  # the template's output; None when it failed (the stage then changes nothing)
    error: str | None


def build(workdir: Path) -> Path:
    """Compile the runner into ``workdir``; AssertionError (with the fix) when Go is missing."""
    go = shutil.which("go")
    assert go, "the Go toolchain is missing: install Go 1.26 (README, 'Requirements')"
    binary = workdir / "stage"
    env = {"PATH": str(Path(go).parent), "HOME": str(workdir), "GOCACHE": str(workdir / "cache"), "GO111MODULE": "off", "GOFLAGS": ""}
    subprocess.run([go, "build", "-o", str(binary), str(SOURCE)], check=True, capture_output=True, env=env, timeout=300)
    return binary


def run(binary: Path, cases: list[dict[str, Any]]) -> list[StageResult]:
    """Each case: template, source, extracted (name -> text), entry."""
    done = subprocess.run([str(binary)], input=json.dumps(cases), capture_output=True, text=True, check=True, timeout=60)
    return [StageResult(r.get("value"), r.get("error")) for r in json.loads(done.stdout)]


def apply_stage(result: StageResult, extracted: dict[str, str], source: str) -> dict[str, str]:
    """What the stage leaves in the extracted map: unchanged on error, the key removed on empty output."""
    out = dict(extracted)
    if result.error is not None or result.value is None:
        return out
    if result.value == "":
        out.pop(source, None)
    else:
        out[source] = result.value
    return out


def json_stage(line: str) -> dict[str, str]:
    """stage.json with expressions {level = "level"}: the field as text when the line is a JSON object that has it."""
    try:
        document = json.loads(line)
    except ValueError:
        return {}  # not JSON: the stage extracts nothing and the line goes on
    if not isinstance(document, dict) or document.get("level") is None:
        return {}
    value = document["level"]
    return {"level": value if isinstance(value, str) else json.dumps(value)}
