"""How the CLI runs this project (tooling/engine.py): the project's program through the language host when
one is installed, the same function inline when not, and the policy pack in its executable form when not."""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
from pathlib import Path

import tooling.engine as engine_module
from components import paths
from tooling.engine import ANALYZER, LANGUAGE_HOST, Engine, language_host


def _executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def test_a_language_host_on_path_runs_the_project_s_own_program(tmp_path: Path) -> None:
    host = _executable(tmp_path / "bin" / LANGUAGE_HOST)
    env = {"PATH": f"/nonexistent{os.pathsep}{host.parent}", "PULUMI_HOME": str(tmp_path / "home")}
    assert language_host(env) == str(host)
    assert not Engine(env=env).inline


def test_a_language_host_in_the_plugin_cache_is_found_too(tmp_path: Path) -> None:
    host = _executable(tmp_path / "home" / "plugins" / "language-python-v3.274.0" / LANGUAGE_HOST)
    assert language_host({"PATH": "", "PULUMI_HOME": str(tmp_path / "home")}) == str(host)


def test_without_a_language_host_the_program_runs_inline(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / LANGUAGE_HOST).write_text("not executable", encoding="utf-8")
    env = {"PATH": str(tmp_path / "bin"), "PULUMI_HOME": str(tmp_path / "home")}
    assert language_host(env) is None
    assert Engine(env=env).inline


def test_the_inline_program_is_the_entry_point_s_function() -> None:
    main = paths.ENTRY_POINT.read_text(encoding="utf-8")
    assert "from program import run" in main and main.rstrip().endswith("run()")
    assert "from program import run" in inspect.getsource(engine_module._inline_program)


def test_the_pack_s_executable_form_runs_it_as_the_language_host_would(tmp_path: Path) -> None:
    """policy/analyzer.py, started by the CLI with argv [engine]: ``<venv>/bin/python -u -m pulumi.policy <engine> <pack>``
    in the pack directory, with the pack's virtualenv activated (PATH, VIRTUAL_ENV; PYTHONHOME dropped)."""
    record = tmp_path / "record"
    venv = tmp_path / "venv"
    _executable(venv / "bin" / "python", f'#!/bin/sh\necho "$@" > {record}\necho "$VIRTUAL_ENV" >> {record}\necho "$PATH" >> {record}\npwd >> {record}\n')
    pack = tmp_path / "policy"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text("runtime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: ../venv\n", encoding="utf-8")
    analyzer = pack / ANALYZER
    shutil.copy2(paths.POLICY_DIR / ANALYZER, analyzer)
    env = {"PATH": "/usr/bin:/bin", "PYTHONHOME": "/wrong"}
    result = subprocess.run([str(analyzer), "127.0.0.1:4711"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 0, result.stderr
    argv, virtual_env, path, cwd = record.read_text(encoding="utf-8").splitlines()
    assert argv == f"-u -m pulumi.policy 127.0.0.1:4711 {pack.resolve()}"
    assert virtual_env == str(venv.resolve())
    assert path.split(os.pathsep)[0] == str(venv.resolve() / "bin")
    assert Path(cwd) == pack.resolve()


def test_the_engine_hands_the_cli_the_pack_it_can_start(tmp_path: Path) -> None:
    without = Engine(env={"PATH": "", "PULUMI_HOME": str(tmp_path / "none")})
    assert without.policy_packs([paths.POLICY_DIR]) == [str(paths.POLICY_DIR / ANALYZER)]
    host = _executable(tmp_path / "bin" / LANGUAGE_HOST)
    with_host = Engine(env={"PATH": str(host.parent), "PULUMI_HOME": str(tmp_path / "none")})
    assert with_host.policy_packs([paths.POLICY_DIR]) == [str(paths.POLICY_DIR)]
    assert os.access(paths.POLICY_DIR / ANALYZER, os.X_OK)


def test_the_repository_s_pack_names_the_project_venv() -> None:
    spec = (paths.POLICY_DIR / "PulumiPolicy.yaml").read_text(encoding="utf-8")
    assert "virtualenv: ../.venv" in spec
