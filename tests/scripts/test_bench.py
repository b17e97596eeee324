"""The benchmark measures a render against its real import floor and records its figures where the docs say."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from components import paths
from scripts import bench
from scripts.import_floor import imported_by_render

ROOT = paths.REPO_ROOT


def test_the_floor_holds_the_sdk_submodules_a_render_loads_and_none_of_the_project(tmp_path: Path) -> None:
    names = imported_by_render("dev")
    # Loaded lazily on first use: `import pulumi_kubernetes` alone (the old floor) imports none of them.
    assert {"pulumi_kubernetes.core.v1", "pulumi_kubernetes.apps.v1", "pulumi_kubernetes.apiextensions.v1", "pulumiverse_grafana.oss"} <= set(names)
    assert not [n for n in names if n.split(".")[0] in ("components", "scripts", "tests", "dashboards")]
    listing = tmp_path / "modules.json"
    listing.write_text(json.dumps(names))
    imported = subprocess.run([sys.executable, "-m", "scripts.import_floor", "import", str(listing)], cwd=ROOT, capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr


def test_the_readme_block_is_replaced_between_its_markers_only() -> None:
    text = f"intro\n{bench.README_START}\nold figures\n{bench.README_END}\noutro\n"
    assert bench.readme_with(text, "new figures") == f"intro\n{bench.README_START}\nnew figures\n{bench.README_END}\noutro\n"
    assert bench.readme_with("no markers\n", "new") == "no markers\n"
    readme = (paths.README).read_text()
    assert readme.count(bench.README_START) == 1 and readme.count(bench.README_END) == 1


def test_paired_ratios_report_median_and_spread() -> None:
    spread = bench.Spread.of([1.4, 1.1, 1.2])
    assert (spread.median, spread.low, spread.high) == (1.2, 1.1, 1.4)
    assert spread.ratio() == "1.20x (1.10-1.40)"
    cost = bench.RenderCost("dev", 3, spread, spread, spread, spread, spread, spread, 700, 1.0)
    row = bench.Row("dev", cost, None, Decimal(1), Decimal(2**30))
    text = bench.summary([row], None)
    assert "| dev | 1.20s / 1.20s | 1.20s / 1.20s | 1.20x (1.10-1.40) | 1.20x (1.10-1.40) | 700 | 1.0 |" in text
    assert "`make test` was not timed in this run." in text


def test_the_engine_section_is_replaced_in_place_and_nothing_else_moves() -> None:
    from scripts.bench import ENGINE_HEADING, with_section

    page = "# Benchmarks\n\n## Render\n\nrender table\n\nHow to read it:\n\n- notes\n"
    first = with_section(page, [ENGINE_HEADING, "", "first figures"])
    assert first.index("## Render") < first.index(ENGINE_HEADING) < first.index("How to read it")
    second = with_section(first, [ENGINE_HEADING, "", "second figures"])
    assert "second figures" in second and "first figures" not in second
    assert second.replace("second figures", "first figures") == first
