"""A pytest plugin that owns the run's live local stacks: each starts when the first test that needs it is set
up and stops right after the last test that needs it, not at session end.

A test needs a stack when it requests the stack's fixture (directly, or by naming it in a parameter for
``request.getfixturevalue``) or carries ``@pytest.mark.live_stacks("name", ...)``. The stacks a test needs
start together: every one is spawned before any is waited for, so their start-up waits overlap. After
each test's teardown pytest, and pytest-xdist on a worker, passes the test that runs next (``nextitem``);
every running stack that test does not need is closed. A later test that needs a closed stack starts it
again (correct, but slow), so the tests of each connected set of stacks form one pytest-xdist group
(``--dist loadgroup`` runs a group on one worker) and are ordered so that each stack's tests are adjacent.

With ``LIVE_STACKS_LOG=<path>`` each closed stack appends one JSON line: name, worker, start-up seconds,
lifetime seconds, CPU seconds of its processes (and of its load generator), tests that used it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import pytest

NAME = "live-stacks"
MARKER = "live_stacks"
LOG_ENV = "LIVE_STACKS_LOG"


class Startable(Protocol):
    """A stack the plugin can run: spawn without waiting, wait until usable, close (idempotent)."""

    def launch(self) -> None: ...

    def wait_ready(self) -> None: ...

    def close(self) -> None: ...

    def cpu_seconds(self) -> float: ...


# A stack factory gets the requesting test's fixture request (to look up the render it runs).
Factory = Callable[[pytest.FixtureRequest], Startable]


@dataclass
class Running:
    stack: Startable
    launched: float
    ready: float = 0.0
    tests: list[str] = field(default_factory=list)


def named_fixtures(item: pytest.Item) -> set[str]:
    """Fixtures a test requests, including those a parameter names for ``request.getfixturevalue``."""
    names = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    for value in (callspec.params.values() if callspec else ()):
        names.update(v for v in (value if isinstance(value, tuple | list) else (value,)) if isinstance(v, str))
    return names


class LiveStacks:
    """The plugin object: ``factories`` maps each stack's fixture name to how to build it, in a fixed order."""

    def __init__(self, factories: Mapping[str, Factory]) -> None:
        self.factories = dict(factories)
        self.running: dict[str, Running] = {}
        self.starts: dict[str, int] = {}

    # -- which tests need which stacks
    def needs(self, item: pytest.Item | None) -> frozenset[str]:
        """The stacks ``item`` needs (none for None, the end of the run)."""
        if item is None:
            return frozenset()
        names = named_fixtures(item)
        for mark in item.iter_markers(MARKER):
            names.update(mark.args)
        unknown = {n for mark in item.iter_markers(MARKER) for n in mark.args} - set(self.factories)
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{MARKER} names unknown stack(s) {sorted(unknown)}; known: {list(self.factories)}")
        return frozenset(names & set(self.factories))

    def groups(self, items: Iterable[pytest.Item]) -> dict[str, str]:
        """Node id -> group name for every test that needs a stack: stacks used by one test together share a group
        (connected sets), so all their tests run on one worker and each stack starts once."""
        parent = {name: name for name in self.factories}

        def root(name: str) -> str:
            while parent[name] != name:
                name = parent[name]
            return name

        needs = {item.nodeid: self.needs(item) for item in items}
        for names in needs.values():
            first, *rest = sorted(names) or [""]
            for other in rest:
                parent[root(other)] = root(first)
        members: dict[str, set[str]] = {}
        for name in self.factories:
            members.setdefault(root(name), set()).add(name)
        return {nodeid: "+".join(sorted(members[root(next(iter(names)))])) for nodeid, names in needs.items() if names}

    def order_key(self, item: pytest.Item) -> tuple[int, int]:
        """Sort key that makes each stack's tests adjacent when stacks are used in a chain (a, a+b, b): tests of
        later stacks first, and of those the ones that also need earlier stacks last. (0, 0) for other tests."""
        index = [i + 1 for i, name in enumerate(self.factories) if name in self.needs(item)]
        return (-max(index), -min(index)) if index else (0, 0)

    # -- lifecycle
    def acquire(self, request: pytest.FixtureRequest, *names: str) -> dict[str, Startable]:
        """The running stacks ``names``, starting together every one of them, and every other stack the requesting
        test needs, that is not running."""
        node = request.node
        wanted = set(names) | (self.needs(node) if isinstance(node, pytest.Item) else set())
        missing = [n for n in self.factories if n in wanted and n not in self.running]
        if missing:
            self._start(request, missing)
        test = node.nodeid
        for name in names:
            if test not in self.running[name].tests:
                self.running[name].tests.append(test)
        return {name: self.running[name].stack for name in names}

    def _start(self, request: pytest.FixtureRequest, names: list[str]) -> None:
        started: dict[str, Running] = {}
        try:
            for name in names:
                stack = self.factories[name](request)
                started[name] = Running(stack, time.monotonic())
                stack.launch()
            for run in started.values():
                run.stack.wait_ready()
                run.ready = time.monotonic()
        except BaseException:
            for run in started.values():
                run.stack.close()
            raise
        for name, run in started.items():
            self.running[name] = run
            self.starts[name] = self.starts.get(name, 0) + 1

    def close(self, names: Iterable[str]) -> None:
        """Close these running stacks (all of them even when one fails to close; the first error is raised)."""
        errors = []
        for name in [n for n in self.factories if n in set(names) and n in self.running]:
            run = self.running.pop(name)
            cpu = run.stack.cpu_seconds()
            try:
                run.stack.close()
            except Exception as error:
                errors.append(error)
            self._log(name, run, cpu)
        if errors:
            raise errors[0]

    def _log(self, name: str, run: Running, cpu: float) -> None:
        path = os.environ.get(LOG_ENV)
        if not path:
            return
        record = {"stack": name, "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"), "pid": os.getpid(),
                  "start_s": round(run.ready - run.launched, 2), "lifetime_s": round(time.monotonic() - run.launched, 2),
                  "cpu_s": round(cpu, 2), "tests": run.tests}
        with open(path, "a") as log:
            log.write(json.dumps(record) + "\n")

    # -- pytest hooks
    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", f"{MARKER}(*names): the test holds these live stacks (started together, kept until its teardown)")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
        """After the test's fixtures are torn down: close every stack the next test does not need."""
        try:
            return (yield)
        finally:
            self.close(set(self.running) - self.needs(nextitem))

    def pytest_sessionfinish(self) -> None:
        self.close(list(self.running))


def live_stacks(config: pytest.Config) -> LiveStacks:
    plugin = config.pluginmanager.get_plugin(NAME)
    assert isinstance(plugin, LiveStacks), f"the {NAME} plugin is not registered (tests/conftest.py registers it)"
    return plugin
