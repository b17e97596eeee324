"""Seed alerts travel the whole path on real binaries: push -> scrape -> rule -> firing -> Alertmanager -> receiver.

Live stacks run the rendered dev and prod rules and routes with time
compressed (tests/support/e2e_fixtures.py) under healthy synthetic load. Each stack
is first shown quiet under that load; then the data that should trigger each
case is pushed. The receiver an alert must reach is the one the design gives
its severity in that environment (components/metrics/alertmanager_config.py: dev
pages nobody, prod pages on critical), and `amtool config routes test`, on
the stack's routing tree, must agree for the labels Alertmanager delivered.

The dev and prod stacks run side by side for this module (one start-up, one
observation window and one incident wait serve both).
"""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from components.metrics.alertmanager_config import PAGERDUTY, receivers_and_routes
from components.rules.thresholds import threshold
from tests.support.e2e_fixtures import loaded_stacks, observe_under_load
from tests.support.tools import tool
from tooling.localstack import E2E, Delivery, LocalStack, LocalStackError, duration_seconds
from tooling.render import Render
from tooling.sla_violation import Violation, default_duration, push_violation

DELIVERY_TIMEOUT = 45.0
TRIGGER_JOB = "e2e-trigger"
# Evaluations past the longest `for` that must pass in silence under healthy load.
QUIET_EVALUATIONS = 3


@dataclass(frozen=True)
class Case:
    alert: str
    severity: str
    # Exposition text pushed under job=e2e-trigger (None: the Seamless injector does it).
    exposition: Callable[[], str] | None = None
    # The alert of the same fault that mutes this one in Alertmanager (components/rules/causes.py): it fires,
    # and the one notification of the fault is the muting alert's.
    muted_by: str | None = None


def _gauge(name: str, labels: str, value: float) -> str:
    return f"# TYPE {name} gauge\n{name}{{{labels}}} {value}\n"


def _counter(name: str, labels: str, value: float) -> str:
    return f"# TYPE {name} counter\n{name}{{{labels}}} {value}\n"


CASES = [
    # The injected requests take 1.25x the budget: the budget's burn-rate alert pages, and the "approaching the
    # budget" warning of the same requests is muted by it (issue 23: one page per fault).
    Case("SeamlessSla99thDegraded", "warning", muted_by="SeamlessSlaBudgetErrorBudgetBurn"),
    Case("SeamlessBackfillStuckLease", "critical"),
    Case("SeamlessConformanceFlagSpike", "warning"),
    Case("CrossContextCacheHit", "critical",
         lambda: _counter("cross_context_cache_hit_total",
                          'node_id="seam-node-9",world_id="world-main",execution_domain="live",as_of="__unset__",partition="__unset__"', 1)),
    Case("ProjectionLag", "warning",
         lambda: _gauge("dvt_projection_lag_events", 'adapter="temporal"', 5 * threshold("dvt_projection_lag_events"))),
    Case("CopilotQueueLagHigh", "error",
         lambda: _gauge("rabbitmq_queue_message_age_seconds", 'queue="parsing",vhost="/"', 2 * threshold("copilot_queue_age_seconds_parsing"))),
]


def expected_receivers(stack: LocalStack, labels: dict[str, str]) -> list[str]:
    """amtool's answer for these labels on the stack's routing tree (receivers rewritten, routes as rendered)."""
    args = [tool("amtool"), "config", "routes", "test", f"--config.file={stack.config.alertmanager_config}"]
    args += [f"{k}={v}" for k, v in sorted(labels.items())]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=30).stdout
    return sorted(out.split())


def _push_text(stack: LocalStack, text: str) -> None:
    request = urllib.request.Request(f"{stack.pushgateway_url}/metrics/job/{TRIGGER_JOB}", data=text.encode(), method="PUT")
    with urllib.request.urlopen(request, timeout=5):
        pass


@dataclass
class Incident:
    stack: LocalStack
    render: Render
    quiet_before: dict[str, bool]
    deliveries: dict[str, list[Delivery]]
    errors: dict[str, str]
    # Alertmanager's view of each muted case's alert after the wait (GET /api/v2/alerts).
    muted: dict[str, list[dict[str, Any]]]


# Stack name -> (live stack fixture, render fixture).
STACKS = {"dev": ("live_stack", "dev_render"), "prod": ("prod_live_stack", "prod_render")}
# Every test here holds both stacks, so both start together with the first one.
pytestmark = pytest.mark.live_stacks(*(fixture for fixture, _ in STACKS.values()))


@pytest.mark.parametrize("fixtures", list(STACKS.values()), ids=list(STACKS))
def test_healthy_load_fires_nothing(fixtures: tuple[str, str], request: pytest.FixtureRequest) -> None:
    """Under synthetic load alone, after several evaluations past every (compressed) `for`, no alert is pending or
    firing but the dead-man's switch, which fires as long as the rules evaluate."""
    stack: LocalStack = request.getfixturevalue(fixtures[0])
    # Past the longest `for` the stack loaded plus three evaluations, all of them under load that rate() sees.
    observe_under_load(stack, stack.quiet_window(QUIET_EVALUATIONS))
    active = sorted({(a["labels"]["alertname"], a["state"]) for a in stack.api("/api/v1/alerts")["alerts"]})
    assert ("Watchdog", "firing") in active, f"the dead-man's switch is not firing: {active}"
    active.remove(("Watchdog", "firing"))
    assert not active, f"alerts active under healthy synthetic load: {active}"


def _delete_trigger(stack: LocalStack) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{stack.pushgateway_url}/metrics/job/{TRIGGER_JOB}", method="DELETE"), timeout=5)


@pytest.fixture(scope="module")
def incidents(request: pytest.FixtureRequest) -> Iterator[dict[str, Incident]]:
    """Trigger every case on every stack at once (one wait instead of one per alert and stack), then collect what
    reached each stack's sink."""
    stacks = loaded_stacks(request, *(fixture for fixture, _ in STACKS.values()))
    live = {name: stacks[fixture] for name, (fixture, _) in STACKS.items()}
    renders: dict[str, Render] = {name: request.getfixturevalue(render) for name, (_, render) in STACKS.items()}
    quiet = {name: {c.alert: c.alert not in stack.firing() for c in CASES} for name, stack in live.items()}
    started = time.time()
    stop = threading.Event()
    violation = Violation("seam-node-1", default_duration(), stuck_lease="lease-stuck",
                          conformance_flags=int(threshold("seamless_conformance_flags_per_15m")))
    pushers = [threading.Thread(target=push_violation, args=(stack.pushgateway_url, violation, stop, 1.0), daemon=True) for stack in live.values()]
    try:
        for pusher in pushers:
            pusher.start()
        for stack in live.values():
            _push_text(stack, "".join(c.exposition() for c in CASES if c.exposition))
        errors: dict[str, dict[str, str]] = {name: {} for name in live}
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        for name, stack in live.items():
            for case in CASES:
                try:
                    stack.sink.wait_for(case.muted_by or case.alert, max(1.0, deadline - time.monotonic()), since=started)
                except LocalStackError as error:
                    errors[name][case.alert] = str(error)
        # Let routes with `continue` deliver to their other receivers too, so a wrong extra receiver is seen:
        # a later batch of the group, or an alert firing one evaluation later.
        time.sleep(duration_seconds(E2E.group_interval or "0s") + duration_seconds(E2E.evaluation_interval))
        yield {
            name: Incident(stack, renders[name], quiet[name],
                           {c.alert: [d for d in stack.sink.deliveries if (c.muted_by or c.alert) in d.alertnames and d.received_at >= started]
                            for c in CASES},
                           errors[name], {c.alert: stack.alertmanager_alerts(c.alert) for c in CASES if c.muted_by})
            for name, stack in live.items()
        }
    finally:
        stop.set()
        for pusher in pushers:
            if pusher.ident is not None:  # started
                pusher.join(10)
        for stack in live.values():
            _delete_trigger(stack)


@pytest.fixture(params=list(STACKS))
def incident(request: pytest.FixtureRequest, incidents: dict[str, Incident]) -> Incident:
    return incidents[request.param]


@pytest.mark.parametrize("case", CASES, ids=[c.alert for c in CASES])
def test_alert_fires_and_reaches_its_receiver(case: Case, incident: Incident) -> None:
    assert incident.quiet_before[case.alert], f"{case.alert} was already firing under healthy load"
    assert case.alert not in incident.errors, incident.errors.get(case.alert)
    got = incident.deliveries[case.alert]
    if case.muted_by:
        # It fired and reached Alertmanager, which holds it muted by the alert of the same fault; that alert is
        # the notification. Whether the muted one slipped out first is not asserted here: the order rests on the
        # rules' `for:` (the page waits 2m, the warning 5m), which this profile compresses to one value for all,
        # so here it is a race. The order is checked with the real `for:` in tests/rules/test_causes.py and
        # tests/components/metrics/test_outage_pages.py.
        held = incident.muted[case.alert]
        assert held and all(a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"] for a in held), held
        assert held[0]["labels"]["severity"] == case.severity
        return
    alert = next(a for d in got for a in d.payload["alerts"] if a["labels"]["alertname"] == case.alert)
    assert alert["labels"]["severity"] == case.severity
    assert alert["status"] == "firing"
    assert alert["annotations"].get("runbook_url") and alert["annotations"].get("summary")
    receivers = sorted({d.receiver for d in got})
    _, route = receivers_and_routes(incident.render.settings.alerting)
    assert receivers == [route[case.severity]]
    assert receivers == expected_receivers(incident.stack, alert["labels"])
    if incident.render.settings.environment == "dev":
        assert receivers[0] in incident.stack.config.silent_receivers  # dev pages nobody
    elif case.severity == "critical":
        assert receivers == [PAGERDUTY]
