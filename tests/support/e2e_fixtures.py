"""Fixtures for the end-to-end tests: local stacks of real binaries on loopback, time compressed.

`storage_stack`: Prometheus, Alertmanager (one catch-all receiver) and Pushgateway, no rules;
tests may restart its components. `live_stack` / `prod_live_stack`: the rendered dev / prod
stack's rules and routes under synthetic load, shared read-mostly by the alert and dashboard tests.

The stacks belong to the live-stacks plugin (tests/support/live_stacks.py), not to pytest's fixture cache:
each starts with the first test that needs it and stops after the last one, so the fixtures here
are per test and only hand out the running stack.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from tests.support.live_stacks import Factory, live_stacks
from tooling.load import PushLoop, build
from tooling.localstack import E2E, LocalStack, free_ports
from tooling.render import Render

# Pushes land every second; two pushes and a scrape or two make a rate().
LOAD_INTERVAL = 1.0
# The longest a stack may take to see that (it usually takes two or three seconds).
LOAD_WARMUP_TIMEOUT = 30.0
# Every pushed group scraped with two different push times: each pushed counter has a rate().
RATES_COMPUTABLE = "min(changes(push_time_seconds[1m])) >= 1"
# When each live stack's load became visible to rate() (monotonic seconds), by id of the stack.
_WARM_SINCE: dict[int, float] = {}


def observe_under_load(stack: LocalStack, seconds: float) -> None:
    """Return once ``stack`` has been under rate-visible load for ``seconds``: a fixed observation window that
    costs nothing when earlier tests on the stack already spent it (or it passed while another test ran)."""
    remaining = _WARM_SINCE[id(stack)] + seconds - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


class LoadedStack:
    """A render's rules and routes on a local stack, under healthy synthetic load from a push loop."""

    def __init__(self, render: Render) -> None:
        settings = render.settings
        self.stack = LocalStack(render.files, E2E, settings.namespace, free_ports())
        self.loop = PushLoop(build(settings.environment, settings.namespace), self.stack.pushgateway_url, LOAD_INTERVAL)
        self._looping = False

    def launch(self) -> None:
        self.stack.launch()
        # The load starts as soon as its gateway listens, while Prometheus is still starting.
        self.stack.wait_component("pushgateway")
        self.loop.__enter__()
        self._looping = True

    def wait_ready(self) -> None:
        self.stack.wait_ready()
        self.stack.wait_for_series(RATES_COMPUTABLE, LOAD_WARMUP_TIMEOUT)
        _WARM_SINCE[id(self.stack)] = time.monotonic()

    def cpu_seconds(self) -> float:
        return self.stack.cpu_seconds() + self.loop.cpu_seconds

    def close(self) -> None:
        _WARM_SINCE.pop(id(self.stack), None)
        try:
            if self._looping:
                self._looping = False
                self.loop.__exit__(None, None, None)
                assert not self.loop.errors, f"load generator push failures: {self.loop.errors[:3]}"
        finally:
            self.stack.close()


class StorageStack(LocalStack):
    """A stack without rules or routes (one catch-all receiver), its Pushgateway persisting every second."""

    def __init__(self) -> None:
        super().__init__({}, E2E, ports=free_ports(), require_routes=False, pushgateway_persistence_interval="1s")


S = TypeVar("S", StorageStack, LoadedStack)


def _loaded(render_fixture: str) -> Factory:
    def build_stack(request: pytest.FixtureRequest) -> LoadedStack:
        render: Render = request.getfixturevalue(render_fixture)
        return LoadedStack(render)

    return build_stack


# The stacks, in the order their tests are kept adjacent (tests/support/live_stacks.py: LiveStacks.order_key).
LIVE_STACKS: dict[str, Factory] = {
    "storage_stack": lambda request: StorageStack(),
    "live_stack": _loaded("dev_render"),
    "prod_live_stack": _loaded("prod_render"),
}


def _acquire(request: pytest.FixtureRequest, kind: type[S], *names: str) -> dict[str, S]:
    """The live stacks ``names``, started when not running; each is a ``kind``."""
    stacks: dict[str, S] = {}
    for name, stack in live_stacks(request.config).acquire(request, *names).items():
        assert isinstance(stack, kind)
        stacks[name] = stack
    return stacks


def _loaded_stack(request: pytest.FixtureRequest, name: str) -> LocalStack:
    return _acquire(request, LoadedStack, name)[name].stack


@pytest.fixture
def storage_stack(request: pytest.FixtureRequest) -> LocalStack:
    return _acquire(request, StorageStack, "storage_stack")["storage_stack"]


@pytest.fixture(scope="session")
def dev_render(render_stack: Callable[..., Render]) -> Render:
    return render_stack("dev")


@pytest.fixture
def live_stack(request: pytest.FixtureRequest) -> LocalStack:
    """The dev render's rules and routes under load."""
    return _loaded_stack(request, "live_stack")


@pytest.fixture(scope="session")
def prod_render(render_stack: Callable[..., Render]) -> Render:
    return render_stack("prod")


@pytest.fixture
def prod_live_stack(request: pytest.FixtureRequest) -> LocalStack:
    """Prod's routes page: the stack where severities reach different receivers."""
    return _loaded_stack(request, "prod_live_stack")


def loaded_stacks(request: pytest.FixtureRequest, *names: str) -> dict[str, LocalStack]:
    """Several live stacks at once, for fixtures wider than a test (started together when not running)."""
    return {name: loaded.stack for name, loaded in _acquire(request, LoadedStack, *names).items()}
