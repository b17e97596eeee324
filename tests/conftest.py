"""Shared fixtures: stacks rendered through the same path as `python -m scripts.render`."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pytest

from scripts.render import Render, render
from scripts.stack_config import add_secret, apply_overrides, read_stack_config

STACKS = ("dev", "staging", "prod")


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the end-to-end tests last: their local stacks (session fixtures) then live only until the end
    instead of evaluating rules in the background while the rest of the suite runs."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/test_e2e_"))
