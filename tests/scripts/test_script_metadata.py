"""The seeds' scripts run as the seeds write them, `uv run scripts/<name>.py ...`, from their inline script metadata (PEP 723).

uv builds each script an environment holding only the metadata's
dependencies (not the project's venv), so running them through uv proves
the metadata is complete. The pins are the ones of requirements.txt.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from components import paths
from tests.support.loopback_coordinator import Coordinator

ROOT = paths.REPO_ROOT
SCRIPTS = ("inject_sla_violation.py", "lease_recover.py", "seamless_health_check.py")
# The reference regex of the inline script metadata specification (PEP 723).
METADATA = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


def metadata(path: Path) -> dict:
    blocks = [m for m in METADATA.finditer(path.read_text()) if m.group("type") == "script"]
    assert len(blocks) == 1, f"{path}: expected one '# /// script' block"
    content = "".join(line[2:] if line.startswith("# ") else line[1:] for line in blocks[0].group("content").splitlines(keepends=True))
    return tomllib.loads(content)


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (paths.REQUIREMENTS).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


@pytest.mark.parametrize("script", SCRIPTS)
def test_metadata_pins_the_requirements_versions(script: str) -> None:
    meta = metadata(paths.SCRIPTS_DIR / script)
    assert meta["requires-python"] == ">=3.11"
    pins = requirement_pins()
    for dependency in meta["dependencies"]:
        name, sep, version = dependency.partition("==")
        assert sep, f"{script}: {dependency!r} is not pinned with =="
        assert pins.get(name.lower()) == version, f"{script}: {dependency} differs from requirements.txt ({pins.get(name.lower())})"


def uv_run(*args: str) -> subprocess.CompletedProcess[str]:
    """`uv run` from the repository root, with the uv pinned in requirements.txt and this interpreter (uv downloads no Python)."""
    uv = Path(sys.executable).parent / "uv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env |= {"UV_PYTHON_DOWNLOADS": "never", "UV_PYTHON": sys.executable, "UV_NO_PROGRESS": "1"}
    return subprocess.run([str(uv), "run", *args], capture_output=True, text=True, timeout=240, cwd=ROOT, env=env)


def test_uv_runs_the_runbook_lease_recover_command() -> None:
    with Coordinator({"lease-A": "deadbeef", "lease-B": "feedface"}) as coordinator:
        result = uv_run("scripts/lease_recover.py", "--coordinator-url", coordinator.url, "lease-A:deadbeef", "lease-B:feedface")
    assert result.returncode == 0, result.stderr
    assert coordinator.released == {"lease-A": "fail", "lease-B": "fail"}
    assert not (ROOT / "uv.lock").exists(), "uv treated the repository as a project"


def test_uv_runs_the_health_check() -> None:
    with Coordinator({}) as coordinator:
        result = uv_run("scripts/seamless_health_check.py", "--coordinator-url", coordinator.url, "--prometheus-url", "http://127.0.0.1:1",
                        "--prometheus-metric", "backfill_completion_ratio")
    assert result.returncode == 1, result.stderr
    assert f"ok   coordinator: {coordinator.url}/health answered HTTP 200" in result.stdout
    assert "FAIL prometheus: cannot reach http://127.0.0.1:1/-/ready" in result.stderr


def test_uv_runs_the_seed_injector_command(tmp_path: Path) -> None:
    out = tmp_path / "seamless.metrics"
    result = uv_run("scripts/inject_sla_violation.py", "seam-node-1", "--duration", "240", "--repetitions", "2", "--interval", "0.01", "--write-to", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert 'seamless_sla_deadline_seconds_count{phase="total"} 2.0' in text
