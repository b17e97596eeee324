"""The live-stacks plugin (tests/support/live_stacks.py) in small pytest sessions: each stack starts once, on one worker,
and stops right after the last test that needs it; a stack needed again after it stopped starts again."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components import paths

REPO = paths.REPO_ROOT

# Stand-in stacks that log every launch and close, and the tests that ran, to one file (in run order per process).
CONFTEST = '''
import json, os
import pytest

from components import paths
from components import paths
from tests.support.live_stacks import LiveStacks, live_stacks
from tests.support.xdist_groups import XdistGroups

EVENTS = os.environ["EVENTS"]

def log(event, name):
    with open(EVENTS, "a") as f:
        f.write(json.dumps([os.getpid(), event, name]) + "\\n")

class Fake:
    def __init__(self, name): self.name = name
    def launch(self): log("launch", self.name)
    def wait_ready(self): log("ready", self.name)
    def close(self): log("close", self.name)
    def cpu_seconds(self): return 0.0

def fixture_for(name):
    @pytest.fixture(name=name)
    def get(request):
        return live_stacks(request.config).acquire(request, name)[name]
    return get

a, b, c = (fixture_for(n) for n in "abc")

def pytest_configure(config):
    config.addinivalue_line("markers", "xdist_group(name): pytest-xdist's group (unknown without xdist)")
    config.pluginmanager.register(LiveStacks({n: (lambda request, n=n: Fake(n)) for n in "abc"}), "live-stacks")
    config.pluginmanager.register(XdistGroups(), "xdist-groups")

@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    live = live_stacks(config)
    groups = live.groups(items)
    for item in items:
        if item.nodeid in groups:
            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
    yield
    if os.environ.get("ORDER") == "1":
        items.sort(key=lambda item: (bool(live.needs(item)), live.order_key(item)))

def pytest_runtest_call(item):
    log("test", item.name)
'''

TESTS = '''
import pytest

from components import paths

def test_b_only(b): pass
def test_none_1(): pass
def test_a_only(a): pass
def test_a_and_b(a, b): pass
def test_none_2(): pass
@pytest.mark.live_stacks("a", "b")
def test_a_marked_with_b(a): pass
@pytest.mark.parametrize("name", ["b"])
def test_b_by_name(name, request): request.getfixturevalue(name)
def test_c_only(c): pass
def test_none_3(): pass
'''

NEEDS = {"test_b_only": "b", "test_a_only": "a", "test_a_and_b": "ab", "test_a_marked_with_b": "ab", "test_b_by_name[b]": "b", "test_c_only": "c"}


def run(pytester: pytest.Pytester, env: pytest.MonkeyPatch, *args: str, order: bool, passed: int = 9) -> list[list[Any]]:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sessions=TESTS)
    events = pytester.path / "events.jsonl"
    env.setenv("EVENTS", str(events))
    env.setenv("ORDER", "1" if order else "0")
    env.setenv("PYTHONPATH", str(REPO))
    env.delenv("LIVE_STACKS_LOG", raising=False)  # the stand-ins are not the run's stacks
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", *args)
    result.assert_outcomes(passed=passed)
    return [json.loads(line) for line in events.read_text().splitlines()]


def check_lifetimes(events: list[list[Any]]) -> None:
    """In each process: every test finds its stacks ready, and each stack closes before the next test that does not need it."""
    for pid in {e[0] for e in events}:
        running: set[str] = set()
        for _, event, name in (e for e in events if e[0] == pid):
            assert isinstance(name, str)
            if event == "ready":
                running.add(name)
            elif event == "close":
                running.discard(name)
            elif event == "test":
                assert running == set(NEEDS.get(name, "")), (name, running)
        assert not running


def test_each_stack_starts_once_on_one_worker_and_stops_after_its_last_test(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    events = run(pytester, monkeypatch, "-n", "2", "--dist", "loadgroup", order=True)
    check_lifetimes(events)
    launches = [(e[0], e[2]) for e in events if e[1] == "launch"]
    assert sorted(name for _, name in launches) == ["a", "b", "c"]
    # a and b are used together, so all their tests ran on one worker.
    assert len({pid for pid, name in launches if name in "ab"}) == 1


def test_a_stack_needed_again_after_it_stopped_starts_again_with_the_others_its_test_needs(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # In file order (no sorting) b stops before test_none_1 and is needed again by test_a_and_b; both stop before
    # test_none_2, and test_a_marked_with_b (b only by the marker) starts them again, side by side.
    events = run(pytester, monkeypatch, "-p", "no:xdist", order=False)
    check_lifetimes(events)
    launches = [e[2] for e in events if e[1] == "launch"]
    assert launches.count("b") == 3 and launches.count("a") == 2 and launches.count("c") == 1
    marked = [e[1:] for e in events].index(["test", "test_a_marked_with_b"])
    assert [e[1:] for e in events][marked - 4:marked] == [["launch", "a"], ["launch", "b"], ["ready", "a"], ["ready", "b"]]
