"""Shared fixtures: stacks rendered through the same path as `python -m scripts.render`."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from functools import cache

import pytest

from components import build_cache
from scripts.render import Render, render
from scripts.stack_config import add_secret, apply_overrides, read_stack_config

STACKS = ("dev", "staging", "prod")

# Renders in subprocesses, including those run in copies of this checkout (the render diff's), reuse this
# checkout's parsed CRDs and their YAML instead of each building its own build cache.
os.environ.setdefault(build_cache.CACHE_ENV, str(build_cache.CACHE_DIR))


@cache
def _render(stack: str, overrides: tuple[str, ...], secrets: tuple[tuple[str, str], ...]) -> Render:
    config = read_stack_config(stack)
    apply_overrides(config, overrides)
    for key, value in secrets:
        add_secret(config, key, value)
    return render(config)


RenderStack = Callable[..., Render]


@pytest.fixture(scope="session")
def render_stack() -> RenderStack:
    """render_stack(stack, *overrides, secrets={key: value}) -> Render (cached per arguments)."""

    def run(stack: str, *overrides: str, secrets: dict[str, str] | None = None) -> Render:
        return _render(stack, tuple(overrides), tuple(sorted((secrets or {}).items())))

    return run


@pytest.fixture(scope="session", params=STACKS)
def rendered(request: pytest.FixtureRequest, render_stack: RenderStack) -> Render:
    """Each stack's render with its committed config."""
    return render_stack(request.param)

# Local stacks of real Prometheus/Alertmanager/Pushgateway binaries for the end-to-end tests.
from tests.e2e_fixtures import dev_render, live_stack, prod_live_stack, prod_render, storage_stack  # noqa: E402, F401

# Session fixtures that start real binaries: every test needing one runs on the same xdist worker, so each starts once.
LIVE_FIXTURES = ("live_stack", "prod_live_stack", "storage_stack")


def _named_fixtures(item: pytest.Item) -> set[str]:
    """Fixtures a test requests, including those a parameter names for ``request.getfixturevalue``."""
    names = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    for value in (callspec.params.values() if callspec else ()):
        names.update(v for v in (value if isinstance(value, tuple | list) else (value,)) if isinstance(v, str))
    return names


def _module_fixture_scope(item: pytest.Item) -> bool:
    """Whether the test uses a fixture that lives for its module (set up once per worker that runs any of its tests)."""
    fixture_info = getattr(item, "_fixtureinfo", None)
    definitions = getattr(fixture_info, "name2fixturedefs", {})
    return any(defs and defs[-1].scope in ("module", "class", "package") for defs in definitions.values())


def xdist_group(item: pytest.Item) -> str | None:
    """The worker group of a test: the live stacks it uses, else its module when a module fixture is shared, else none."""
    live = sorted(_named_fixtures(item) & set(LIVE_FIXTURES))
    if live:
        return "+".join(live)
    if _module_fixture_scope(item):
        return item.nodeid.split("::", 1)[0]
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Tune the cyclic garbage collector for the run (each xdist worker collects, so each worker does this).

    A test process keeps large, long-lived graphs (imported modules, collected items, cached renders and their
    parsed manifests) and makes little cyclic garbage. With the default thresholds (700, 10, 10) the collector
    took about a third of the render-heavy modules' CPU re-walking those graphs; frozen after collection and
    with rarer young collections it takes about a tenth of that (measured: tests/test_grafana.py, test_loki.py
    and test_network_policies.py, 30.5 s -> 23.1 s CPU together, peak memory 206 -> 228 MB)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group tests for pytest-xdist (``--dist loadgroup``), and order them.

    On parallel workers the end-to-end tests go first: they mostly wait on real binaries, and those waits
    then overlap the other workers' CPU-bound tests instead of being the run's tail. Run serially they go
    last, so their local stacks (session fixtures) do not evaluate rules in the background meanwhile.
    """
    for item in items:
        group = xdist_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
    parallel = bool(getattr(config.option, "numprocesses", None)) or hasattr(config, "workerinput")
    items.sort(key=lambda item: item.nodeid.startswith("tests/test_e2e_") != parallel)
