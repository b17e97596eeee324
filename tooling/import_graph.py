"""The project's import graph, read from the source: which of its modules each module imports.

Every import statement counts, those inside functions included (a late import only hides a circle), and so
does ``importlib.import_module("a.b")`` or ``__import__("a.b")`` with a literal name.
Importing ``a.b.c`` also runs the packages ``a`` and ``a.b``, so it counts as importing them too,
except, when only implied, a module's own enclosing packages (a package that re-exports its submodules
is not a circle); a module that names its own package (``from . import X``) does import it.
Used by tests/repo/test_architecture.py.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

from components import paths

# Top-level folders that hold no project code: outputs (git-ignored). Hidden folders (.venv, .git) are skipped too.
NOT_SOURCE = ("build", "dist")


def _is_source(relative: Path) -> bool:
    return not any(part.startswith(".") or part == "__pycache__" for part in relative.parts) and relative.parts[0] not in NOT_SOURCE


def project_modules(root: Path = paths.REPO_ROOT) -> dict[str, Path]:
    """Dotted module name -> its file, for every Python file under ``root`` (packages by their ``__init__.py``):
    a folder added at the top level is part of the graph, and of its layer rules, from its first file."""
    files = sorted(f for f in root.rglob("*.py") if _is_source(f.relative_to(root)))
    modules: dict[str, Path] = {}
    for file in files:
        parts = file.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = file
    return modules


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a project module, None when none is."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, modules: Mapping[str, Path]) -> set[str]:
    """The project modules ``module`` imports, anywhere in its file, with the packages they run."""
    file = modules[module]
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    explicit: set[str] = set()  # what the statements name
    implied: set[str] = set()  # the packages that importing them runs
    # Bytes: ast honours a file's coding declaration.
    for node in ast.walk(ast.parse(file.read_bytes(), str(file))):
        names: Iterable[str] = ()
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Call) and _imports_by_name(node):
            names = [node.args[0].value]  # type: ignore[attr-defined]  # a str constant: _imports_by_name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                depth = len(package.split(".")) - node.level + 1
                if depth < 1:
                    continue  # beyond the top-level package: Python refuses it
                anchor = package.split(".")[:depth]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from a.b import c`` imports the module a.b.c when there is one, else names of a.b.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for name in names:
            target = _resolve(name, modules)
            if target is None:
                continue
            explicit.add(target)
            implied.update(a for a in _ancestors(target) if a in modules)
    # Running one's own package is not an edge (it is already running); naming it explicitly is: a module
    # that takes a name from its package's __init__ closes a circle when that __init__ imports it.
    own = set(_ancestors(module))
    return (explicit | (implied - own)) - {module}


def _imports_by_name(call: ast.Call) -> bool:
    """``importlib.import_module("x")``, ``import_module("x")`` or ``__import__("x")`` with a literal name."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    first = call.args[0] if call.args else None
    return name in ("import_module", "__import__") and isinstance(first, ast.Constant) and isinstance(first.value, str)


def reachable(graph: Mapping[str, set[str]], start: str) -> set[str]:
    """Every module that importing ``start`` can load, through any chain of imports (``start`` excluded)."""
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen - {start}


def import_graph(root: Path = paths.REPO_ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports (see the module docstring for what counts)."""
    modules = project_modules(root)
    return {module: imports_of(module, modules) for module in modules}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (each an import circle), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(root: str) -> None:
        # Iterative Tarjan: the graph is deep enough to matter for Python's recursion limit.
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


def package_graph(graph: Mapping[str, set[str]], depth: int = 1) -> dict[str, set[str]]:
    """The graph between packages: the first ``depth`` parts of each module's name."""
    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        source = ".".join(module.split(".")[:depth])
        out.setdefault(source, set()).update(t2 for t in targets if (t2 := ".".join(t.split(".")[:depth])) != source)
    return out
