"""The PR render diff: real renders of two checkouts, diffed per stack."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from components import paths
from scripts import render_diff
from scripts.render_diff import StackDiff, main, report

ROOT = paths.REPO_ROOT


def checkout(dest: Path) -> Path:
    """A copy of the working tree's tracked and new files (what a checkout holds)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def tree_digest(directory: Path) -> str:
    """A hash of every file's path and bytes under ``directory``, bytecode caches left out (a render writes them)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        data = path.read_bytes()
        digest.update(f"{path.relative_to(directory)}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


@pytest.fixture(scope="module", autouse=True)
def renders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[Path, str]]]:
    """The (checkout, stack) of every render the diff asks for; each distinct tree is rendered once.

    A render is a pure function of the checkout's files, the stack and the interpreter, so a tree identical to
    one rendered earlier in this module gets a copy of that real render's output. Only within this module's
    run: nothing persists, so a changed tree is always rendered for real."""
    real = render_diff.render
    done: dict[tuple[str, str, str], tuple[render_diff.RenderResult, Path]] = {}
    store = tmp_path_factory.mktemp("renders")
    asked: list[tuple[Path, str]] = []

    def render_once(tree: Path, stack: str, out_dir: Path, python: str) -> render_diff.RenderResult:
        asked.append((tree, stack))
        key = (tree_digest(tree), stack, python)
        if key in done:
            result, kept = done[key]
            shutil.copytree(kept, out_dir, dirs_exist_ok=True)
            return render_diff.RenderResult(result.ok, out_dir, result.log)
        result = real(tree, stack, out_dir, python)
        kept = store / str(len(done))
        shutil.copytree(out_dir, kept)
        done[key] = (result, kept)
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render_diff, "render", render_once)
        yield asked


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return checkout(tmp_path_factory.mktemp("base"))


def test_a_config_change_shows_in_its_stack_only(base: Path, tmp_path: Path) -> None:
    head = checkout(tmp_path / "head")
    dev_file = head / "Pulumi.dev.yaml"
    document = yaml.safe_load(dev_file.read_text())
    document["config"]["observability:pushgateway"] = {"persistenceInterval": "5m"}
    dev_file.write_text(yaml.safe_dump(document))
    out = tmp_path / "diff.md"

    args = ["--base", str(base), "--head", str(head), "--out", str(out), "--python", sys.executable]
    assert main([*args, "--stack", "dev", "--stack", "staging"]) == 0

    text = out.read_text()
    assert "- `staging`: no changes" in text and "prod" not in text
    assert "<code>dev</code>: 1 file(s) changed" in text
    assert "--- base/dev/manifests/deployment_observability_pushgateway.yaml\n" in text
    assert "-        - --persistence.interval=1m\n" in text
    assert "+        - --persistence.interval=5m\n" in text


def test_a_head_that_does_not_render_fails_and_says_why(base: Path, tmp_path: Path, renders: list[tuple[Path, str]]) -> None:
    head = checkout(tmp_path / "head")
    (head / "Pulumi.prod.yaml").write_text(yaml.safe_dump({"config": {"observability:prometheus": {"retention": "soon"}}}))
    out = tmp_path / "diff.md"
    renders.clear()
    assert main(["--base", str(base), "--head", str(head), "--out", str(out), "--stack", "prod"]) == 1
    text = out.read_text()
    assert "**prod: render failed at head**" in text
    assert "observability:prometheus.retention" in text
    # The report shows no diff for a failed head, so the base was not rendered for it.
    assert renders == [(head.resolve(), "prod")]


def test_a_base_without_the_renderer_diffs_against_nothing(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "Pulumi.dev.yaml").write_text("config: {}\n")
    head = checkout(tmp_path / "head")
    work = tmp_path / "work"
    diff = render_diff.diff_stack(old, head, "dev", work, sys.executable)
    assert diff.base_error is None and diff.head_error is None
    assert "Only in head/dev: manifests\n" in diff.diff


def test_report_truncates_to_fit_a_pr_comment() -> None:
    big = "".join(f"+line {i}\n" for i in range(20_000))
    text = report([StackDiff("dev", big, None, None)], budget=5_000)
    assert len(text) < 6_000
    assert "... (truncated: run `python -m scripts.render_diff` locally)" in text


def test_stacks_come_from_the_stack_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        (tmp_path / name).write_text("config: {}\n")
    assert render_diff.stacks_in(tmp_path) == {"dev", "prod"}
    with pytest.raises(SystemExit):
        main(["--base", str(tmp_path), "--head", str(tmp_path), "--out", str(tmp_path / "x.md"), "--stack", "qa"])
    assert "unknown stack(s) qa; known: dev, prod" in capsys.readouterr().err
