"""Shared fixtures: stacks rendered through the same path as `python -m scripts.render`."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Generator
from functools import cache

import pytest

from components.kit import build_cache
from tooling.go_tools import BIN_DIR
from tooling.render import Render, render
from tooling.stack_config import add_secret, apply_overrides, read_stack_config

STACKS = ("dev", "staging", "prod")

# The programs `make tools` builds (Prometheus, promtool, Alertmanager, amtool, Pushgateway, node_exporter,
# tofu, ...) come first on PATH for this process and every process it starts, so a command that runs one by
# name runs the build at the deployed version, not an older copy elsewhere on PATH. Tests that run one
# themselves take its absolute path from tests/support/tools.py, which fails naming `make tools` when missing.
if os.environ.get("PATH", "").split(os.pathsep)[0] != str(BIN_DIR):
    os.environ["PATH"] = os.pathsep.join([str(BIN_DIR), *(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != str(BIN_DIR))])

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
from tests.support.e2e_fixtures import LIVE_STACKS, dev_render, live_stack, prod_live_stack, prod_render, storage_stack  # noqa: E402, F401
from tests.support.live_stacks import NAME as LIVE_STACKS_PLUGIN  # noqa: E402
from tests.support.live_stacks import LiveStacks, live_stacks  # noqa: E402
from tests.support.xdist_groups import NAME as XDIST_GROUPS_PLUGIN  # noqa: E402
from tests.support.xdist_groups import XdistGroups  # noqa: E402

# Pytester runs small pytest sessions in a temporary directory (tests/e2e/test_live_stacks.py).
pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    # The live stacks start with the first test that needs them and stop after the last one (tests/support/live_stacks.py).
    config.pluginmanager.register(LiveStacks(LIVE_STACKS), LIVE_STACKS_PLUGIN)
    # The xdist_group markers below reach pytest-xdist's scheduler on this pytest (tests/support/xdist_groups.py).
    config.pluginmanager.register(XdistGroups(), XDIST_GROUPS_PLUGIN)


def _module_fixture_scope(item: pytest.Item) -> bool:
    """Whether the test uses a fixture that lives for its module (set up once per worker that runs any of its tests)."""
    fixture_info = getattr(item, "_fixtureinfo", None)
    definitions = getattr(fixture_info, "name2fixturedefs", {})
    return any(defs and defs[-1].scope in ("module", "class", "package") for defs in definitions.values())


def pytest_collection_finish(session: pytest.Session) -> None:
    """Tune the cyclic garbage collector for the run (each xdist worker collects, so each worker does this).

    A test process keeps large, long-lived graphs (imported modules, collected items, cached renders and their
    parsed manifests) and makes little cyclic garbage. With the default thresholds (700, 10, 10) the collector
    took about a third of the render-heavy modules' CPU re-walking those graphs; frozen after collection and
    with rarer young collections it takes about a tenth of that (measured: tests/components/grafana/test_grafana.py, test_loki.py
    and test_network_policies.py, 30.5 s -> 23.1 s CPU together, peak memory 206 -> 228 MB)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Generator[None, None, None]:
    """Group tests for pytest-xdist (``--dist loadgroup``), and order them.

    Groups, before xdist reads them: the tests of each connected set of live stacks form one group, so each
    stack starts on one worker only; else a test that uses a module fixture goes with its module.

    Order (a stable sort, after pytest's own reordering by higher-scoped parameters): on parallel workers the
    end-to-end tests go first, those of the live stacks foremost: they mostly wait on real binaries, and those
    waits then overlap the other workers' CPU-bound tests instead of being the run's tail. Run serially they go
    last, the live stacks' tests at the very end. Each stack's tests are adjacent, so that each stack starts
    once and stops as soon as its last test has run.
    """
    live = live_stacks(config)
    groups = live.groups(items)
    for item in items:
        group = groups.get(item.nodeid) or (item.nodeid.split("::", 1)[0] if _module_fixture_scope(item) else None)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
    yield
    parallel = bool(getattr(config.option, "numprocesses", None)) or hasattr(config, "workerinput")

    def rank(item: pytest.Item) -> tuple[bool, bool, tuple[int, int]]:
        e2e, needs_stack = item.nodeid.startswith("tests/e2e/test_e2e_"), bool(live.needs(item))
        return ((not e2e, not needs_stack) if parallel else (e2e, needs_stack)) + (live.order_key(item),)

    items.sort(key=rank)
