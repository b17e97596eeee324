"""The layout's rules, checked on the source: no import circle, layers that import downwards only, kit apart
from the settings model, repository paths written once (components/paths.py), few modules flat in components/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from components import paths
from tooling.import_graph import cycles, import_graph, package_graph, project_modules, reachable

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


def _loads(module: str, graph: dict[str, set[str]] = GRAPH) -> set[str]:
    """What importing ``module`` loads: its enclosing packages run first, then whatever any of them reaches."""
    parts = module.split(".")
    starts = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return set().union(*(reachable(graph, start) | {start} for start in starts if start in graph))


def kit_escapes(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Each kit module -> what it loads outside kit and components/paths.py (none: kit stands alone)."""
    found = {m: sorted(x for x in _loads(m, graph) if not _in_kit(x) and x not in ("components", "components.paths")) for m in graph if _in_kit(m)}
    return {module: escapes for module, escapes in found.items() if escapes}


def test_kit_never_loads_the_settings_model_or_the_components_above_it() -> None:
    # Transitively, and through the packages an import runs: components/__init__.py runs before any kit module.
    assert kit_escapes(GRAPH) == {}


def test_the_settings_package_loads_the_model_only() -> None:
    # Importing components.settings.X runs the package: it must not load the loader, the checks or Pulumi's config.
    settings_modules = {m for m in _loads("components.settings") if m.startswith("components.settings.")}
    model = {"components.settings.errors", "components.settings.masking", "components.settings.secrets", "components.settings.units"}
    runs = {m for m in settings_modules - model if m.rsplit(".", 1)[-1] in {"loader", "pulumi_config", "checks", "messages"} or "checks" in m}
    assert runs == set()


def test_at_most_eight_modules_sit_flat_in_components() -> None:
    flat = sorted(p.name for p in paths.COMPONENTS_DIR.glob("*.py"))
    assert len(flat) <= 8, flat


# Modules allowed to name their own file, and why; any other module takes its paths from components/paths.py.
OWN_FILE = {
    "components/paths.py": "the one place repository paths are computed",
    "policy/__main__.py": "the policy pack runs from policy/ and puts the repository on sys.path",
    "policy/analyzer.py": "the pack as an executable the CLI starts alone: the pack is the directory it lives in",
    "scripts/inject_sla_violation.py": "a uv-run script: puts the repository on sys.path when run as a file",
    "scripts/load_generator.py": "a uv-run script: puts the repository on sys.path when run as a file",
    "components/metrics/operator_crds.py": "its own source is part of its cache key",
    "tooling/manifest_yaml.py": "its own source is part of its cache key",
    "tests/support/config_reference/__init__.py": "the references are data files beside the module",
    "tests/support/go_template.py": "the Go stage program is a file beside the module",
    "scripts/import_floor.py": "reads the __file__ of the modules a render imported, not its own",
    "tests/repo/test_architecture.py": "this rule's own test cases",
}


def names_own_file(source: str) -> bool:
    """Whether the code (not its comments) reaches its own file: ``__file__`` however spelled, ``__spec__.origin``,
    ``inspect.getfile``/``getsourcefile`` or a code object's ``co_filename``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and node.id == "__file__":
            return True
        if isinstance(node, ast.Attribute) and node.attr in ("__file__", "co_filename", "getsourcefile", "getfile"):
            return True
        if isinstance(node, ast.Attribute) and node.attr == "origin" and isinstance(node.value, ast.Name) and node.value.id == "__spec__":
            return True
        if isinstance(node, ast.Constant) and node.value == "__file__":
            return True
    return False


def _names_own_file(path: Path) -> bool:
    return names_own_file(path.read_text(encoding="utf-8"))


def test_repository_paths_come_from_components_paths() -> None:
    using = {str(path.relative_to(paths.REPO_ROOT)) for path in project_modules().values() if _names_own_file(path)}
    assert using == set(OWN_FILE)


# A repository path built from the root and a literal: it belongs in components/paths.py. Allowed, and why:
ROOT_JOINS = {"tests/scripts/test_script_metadata.py": "uv.lock: a file that must not exist, not one the project reads"}


def _is_root(node: ast.expr, aliases: set[str]) -> bool:
    """``REPO_ROOT``, ``paths.REPO_ROOT`` or a name the module bound to either."""
    if isinstance(node, ast.Attribute):
        return node.attr == "REPO_ROOT"
    return isinstance(node, ast.Name) and node.id in aliases


def _literal(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def joins_the_root(source: str) -> bool:
    """Whether the code builds a path from the repository root and a literal: ``ROOT / "x"``, ``ROOT.joinpath("x")``,
    ``Path(ROOT, "x")`` or ``os.path.join(ROOT, "x")``, with ROOT any name bound to the root."""
    tree = ast.parse(source)
    aliases = {"REPO_ROOT"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _is_root(node.value, aliases):
            aliases |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and _is_root(node.left, aliases) and _literal(node.right):
            return True
        if isinstance(node, ast.Call):
            func, args = node.func, node.args
            if isinstance(func, ast.Attribute) and func.attr == "joinpath" and _is_root(func.value, aliases) and any(map(_literal, args)):
                return True
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("Path", "join") and args and _is_root(args[0], aliases) and any(map(_literal, args[1:])):
                return True
    return False


def test_no_module_builds_a_repository_path_from_the_root_itself() -> None:
    joining = {
        name
        for path in project_modules().values()
        if (name := str(path.relative_to(paths.REPO_ROOT))) != "components/paths.py" and joins_the_root(path.read_text(encoding="utf-8"))
    }
    assert joining == set(ROOT_JOINS)


@pytest.mark.parametrize(
    "source",
    [
        "x = REPO_ROOT / 'catalog'",
        "x = paths.REPO_ROOT / f'slo'",
        "ROOT = paths.REPO_ROOT\nx = ROOT / ('README.md')",
        "x = paths.REPO_ROOT.joinpath('catalog', 'metrics.yaml')",
        "x = Path(paths.REPO_ROOT, 'rules')",
        "x = os.path.join(REPO_ROOT, 'docs')",
        "base = REPO_ROOT\nother = base\nx = other / 'x'",
    ],
)
def test_root_joins_are_found_however_spelled(source: str) -> None:
    assert joins_the_root(source)


@pytest.mark.parametrize("source", ["# ROOT / 'components' in a comment\n", "ROOT = tmp_path\nx = ROOT / 'x'", "x = paths.RULES_DIR / 'dvt.yaml'"])
def test_paths_that_are_not_root_joins_pass(source: str) -> None:
    assert not joins_the_root(source)


@pytest.mark.parametrize(
    "source",
    ["p = __file__", "p = sys.modules[__name__].__file__", "p = globals()['__file__']", "p = __spec__.origin",
     "p = inspect.getsourcefile(lambda: 0)", "p = f.__code__.co_filename"],
)
def test_a_module_reaching_its_own_file_is_found_however_spelled(source: str) -> None:
    assert names_own_file(source)


def test_a_comment_about_the_own_file_is_not_a_use() -> None:
    assert not names_own_file("# computed from __file__ once, in components/paths.py\nx = 1\n")


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


def test_kit_escapes_are_found_through_the_package_init_and_by_name(tmp_path: Path) -> None:
    graph = import_graph(
        _tree(
            tmp_path,
            {
                "components/__init__.py": "import components.settings.loader\n",
                "components/kit/__init__.py": "",
                "components/kit/labels.py": "import importlib\nx = importlib.import_module('components.wiring.flows')\n",
                "components/settings/__init__.py": "",
                "components/settings/loader.py": "",
                "components/wiring/__init__.py": "",
                "components/wiring/flows.py": "",
            },
        )
    )
    assert kit_escapes(graph)["components.kit.labels"] == ["components.settings", "components.settings.loader", "components.wiring", "components.wiring.flows"]


def test_every_python_folder_is_in_the_graph_and_imports_past_the_top_are_dropped(tmp_path: Path) -> None:
    # A circle through a top-level folder nobody listed, and a relative import beyond the top (Python refuses it).
    graph = import_graph(
        _tree(
            tmp_path,
            {
                "components/__init__.py": "",
                "components/a.py": "def f():\n    from lib.helpers import H\nfrom ...tooling import t\n",
                "lib/__init__.py": "",
                "lib/helpers.py": "from components.a import f\nH = 1\n",
                "tooling/__init__.py": "",
                "tooling/t.py": "",
            },
        )
    )
    assert cycles(graph) == [["components.a", "lib.helpers"]]
    assert "tooling.t" not in graph["components.a"]


def test_a_layout_without_circles_has_none(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"components/__init__.py": "", "components/a.py": "from components import b\n", "components/b.py": "import os\n"})
    graph = import_graph(root)
    assert graph["components.a"] == {"components.b"}
    assert cycles(graph) == []
