"""Fixtures for the end-to-end tests: local stacks of real binaries on loopback, time compressed.

`storage_stack`: Prometheus, Alertmanager (one catch-all receiver) and Pushgateway, no rules;
tests may restart its components. `live_stack` / `prod_live_stack`: the rendered dev / prod
stack's rules and routes under synthetic load, shared read-mostly by the alert and dashboard tests.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import pytest

from scripts.load_generator import PushLoop, build
from scripts.localstack import E2E, LocalStack, free_ports
from scripts.render import Render

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
    costs nothing when earlier tests on the stack already spent it."""
    remaining = _WARM_SINCE[id(stack)] + seconds - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


@pytest.fixture(scope="session")
def storage_stack() -> Iterator[LocalStack]:
    with LocalStack({}, E2E, ports=free_ports(), require_routes=False, pushgateway_persistence_interval="1s") as stack:
        yield stack


@pytest.fixture(scope="session")
def dev_render(render_stack: Callable[..., Render]) -> Render:
    return render_stack("dev")


@contextlib.contextmanager
def loaded_stack(render: Render) -> Iterator[LocalStack]:
    """A render's rules and routes on a local stack, under healthy synthetic load."""
    settings = render.settings
    with LocalStack(render.files, E2E, settings.namespace, free_ports()) as stack:
        generator = build(settings.environment, settings.namespace)
        with PushLoop(generator, stack.pushgateway_url, LOAD_INTERVAL) as loop:
            stack.wait_for_series(RATES_COMPUTABLE, LOAD_WARMUP_TIMEOUT)
            _WARM_SINCE[id(stack)] = time.monotonic()
            yield stack
        assert not loop.errors, f"load generator push failures: {loop.errors[:3]}"


@pytest.fixture(scope="session")
def live_stack(dev_render: Render) -> Iterator[LocalStack]:
    with loaded_stack(dev_render) as stack:
        yield stack


@pytest.fixture(scope="session")
def prod_render(render_stack: Callable[..., Render]) -> Render:
    return render_stack("prod")


@pytest.fixture(scope="session")
def prod_live_stack(prod_render: Render) -> Iterator[LocalStack]:
    """Prod's routes page: the stack where severities reach different receivers."""
    with loaded_stack(prod_render) as stack:
        yield stack
