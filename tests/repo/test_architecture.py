"""The layout's rules, checked on the source: no import circle, layers that import downwards only, kit apart
from the settings model, repository paths written once (components/paths.py), few modules flat in components/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from components import paths
from tooling.import_graph import cycles, import_graph, package_graph, project_modules

GRAPH = import_graph()

# Each top-level package and what it may import besides itself (lower layers only).
LAYERS = {
    "components": set(),
    "dashboards": {"components"},
    "program": {"components", "dashboards"},
    "__main__": {"components", "program"},
    "policy": set(),
    "tooling": {"components", "dashboards", "program"},
    "scripts": {"components", "dashboards", "program", "tooling"},
    "tests": {"components", "dashboards", "program", "policy", "tooling", "scripts"},
}


def test_no_module_is_part_of_an_import_circle() -> None:
    assert cycles(GRAPH) == []


def test_top_level_packages_import_only_lower_layers() -> None:
    packages = package_graph(GRAPH)
    assert set(packages) == set(LAYERS)
    assert {name: sorted(targets - LAYERS[name]) for name, targets in packages.items() if targets - LAYERS[name]} == {}
    assert cycles(packages) == []


def _in_kit(module: str) -> bool:
    return module == "components.kit" or module.startswith("components.kit.")


def test_kit_never_imports_the_settings_model_or_the_components_above_it() -> None:
    allowed = {"components", "components.paths"}
    above = {module: sorted(t for t in targets if not _in_kit(t) and t not in allowed) for module, targets in GRAPH.items() if _in_kit(module)}
    assert {module: targets for module, targets in above.items() if targets} == {}


def test_the_settings_package_exports_the_model_only() -> None:
    # Importing components.settings.X runs the package: it must not pull in the loader and its checks.
    runs = {t for t in GRAPH["components.settings"] if t.rsplit(".", 1)[-1] in {"loader", "pulumi_config"} or t.endswith("checks")}
    assert runs == set()


def test_at_most_eight_modules_sit_flat_in_components() -> None:
    flat = sorted(p.name for p in paths.COMPONENTS_DIR.glob("*.py"))
    assert len(flat) <= 8, flat


# Modules allowed to name their own file, and why; any other module takes its paths from components/paths.py.
OWN_FILE = {
    "components/paths.py": "the one place repository paths are computed",
    "policy/__main__.py": "the policy pack runs from policy/ and puts the repository on sys.path",
    "scripts/inject_sla_violation.py": "a uv-run script: puts the repository on sys.path when run as a file",
    "scripts/load_generator.py": "a uv-run script: puts the repository on sys.path when run as a file",
    "components/metrics/operator_crds.py": "its own source is part of its cache key",
    "tooling/manifest_yaml.py": "its own source is part of its cache key",
    "tests/support/config_reference/__init__.py": "the references are data files beside the module",
    "tests/support/go_template.py": "the Go stage program is a file beside the module",
}


def _names_own_file(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.Name) and node.id == "__file__" for node in ast.walk(tree))


def test_repository_paths_come_from_components_paths() -> None:
    using = {str(path.relative_to(paths.REPO_ROOT)) for path in project_modules().values() if _names_own_file(path)}
    assert using == set(OWN_FILE)


# A repository path built from the root and a literal: it belongs in components/paths.py. Allowed, and why:
ROOT_JOINS = {"tests/scripts/test_script_metadata.py": "uv.lock: a file that must not exist, not one the project reads"}
ROOT_JOIN = re.compile(r"\b(?:REPO_ROOT|ROOT|REPO)\s*/\s*[\"']")


def test_no_module_builds_a_repository_path_from_the_root_itself() -> None:
    joining = {
        name
        for path in project_modules().values()
        if (name := str(path.relative_to(paths.REPO_ROOT))) != "components/paths.py" and ROOT_JOIN.search(path.read_text(encoding="utf-8"))
    }
    assert joining == set(ROOT_JOINS)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_graph_counts_late_imports_and_package_runs(tmp_path: Path) -> None:
    # A circle closed only by an import inside a function, and one closed by a package's __init__.
    root = _tree(
        tmp_path,
        {
            "components/__init__.py": "",
            "components/a.py": "from components.b import thing\n",
            "components/b.py": "def thing():\n    from components import a\n",
            "components/pkg/__init__.py": "from components.pkg.inner import x\n",
            "components/pkg/inner.py": "from components.c import y\nx = 1\n",
            "components/c.py": "import components.pkg.other\ny = 2\n",
            "components/pkg/other.py": "",
        },
    )
    graph = import_graph(root)
    assert cycles(graph) == [["components.a", "components.b"], ["components.c", "components.pkg", "components.pkg.inner"]]
    # A module importing its own package's sibling does not count as importing its package back.
    assert "components.pkg" not in graph["components.pkg.inner"]


@pytest.mark.parametrize(
    "files",
    [
        # A module imports a name of its own package, whose __init__ imports the module: at module level
        # this fails at runtime ("cannot import name ... partially initialized module"); late, it hides.
        {"components/pkg/__init__.py": "from components.pkg.a import A\nB = 1\n", "components/pkg/a.py": "from . import B\nA = 2\n"},
        {"components/pkg/__init__.py": "from components.pkg.a import A\nB = 1\n", "components/pkg/a.py": "def f():\n    from components.pkg import B\nA = 2\n"},
        # Through a third module and the top-level package's __init__.
        {"components/__init__.py": "from components import x\nZ = 1\n", "components/x.py": "from components import y\n",
         "components/y.py": "def f():\n    from components import Z\n"},
    ],
)
def test_a_module_naming_its_own_package_closes_a_circle(tmp_path: Path, files: dict[str, str]) -> None:
    graph = import_graph(_tree(tmp_path, {"components/__init__.py": "", **files}))
    assert len(cycles(graph)) == 1


def test_a_layout_without_circles_has_none(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"components/__init__.py": "", "components/a.py": "from components import b\n", "components/b.py": "import os\n"})
    graph = import_graph(root)
    assert graph["components.a"] == {"components.b"}
    assert cycles(graph) == []
