"""`make demo`: a local Prometheus + Alertmanager + Pushgateway on loopback with a stack's rules and routes.

    python -m scripts.localstack demo [--stack dev] [--timeout 60] [--free-ports]

Renders the stack, starts it locally (tooling/localstack.py), injects a Seamless SLA violation
and prints which alerts fired and which receiver each notification reached.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from types import FrameType

from tooling.localstack import ALERTMANAGER_FILE, DEMO_PORTS, E2E, HOST, LocalStack, LocalStackError, Ports, duration_seconds, free_ports
from tooling.render import render
from tooling.sla_violation import Violation, default_duration, push_violation
from tooling.stack_config import read_stack_config


def _raise_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# The alert a violation of the Seamless SLA budget notifies with, and the warning of the same requests it mutes.
PAGE = "SeamlessSlaBudgetErrorBudgetBurn"
MUTED = "SeamlessSla99thDegraded"


def demo(stack: str = "dev", ports: Ports = DEMO_PORTS, timeout: float = 60.0) -> int:
    """Render the stack, start it locally, inject an SLA violation, print what fired and where it went."""
    signal.signal(signal.SIGTERM, _raise_on_signal)
    signal.signal(signal.SIGHUP, _raise_on_signal)
    result = render(read_stack_config(stack))
    settings = result.settings
    print(f"rendered stack {stack!r}: {sum(1 for f in result.files if f.startswith('rules/'))} rule file(s), {ALERTMANAGER_FILE}")
    try:
        with LocalStack(result.files, E2E, settings.namespace, ports, str(settings.pushgateway.persistence_interval)) as local:
            print(f"prometheus {local.prometheus_url}  alertmanager {local.alertmanager_url}  pushgateway {local.pushgateway_url}"
                  f"  webhook sink http://{HOST}:{ports.webhook} (profile {E2E.name}: scrape/eval {E2E.scrape_interval}, for {E2E.for_},"
                  f" group_wait {E2E.group_wait})")
            violation = Violation("seam-node-1", default_duration())
            print(f"injecting an SLA violation on {violation.node_id}: requests of {violation.duration:g}s")
            stop = threading.Event()
            pusher = threading.Thread(target=push_violation, args=(local.pushgateway_url, violation, stop, 1.0), daemon=True)
            pusher.start()
            try:
                # Requests past the budget: the budget's burn-rate alert is the fault's one notification, and it mutes
                # the "approaching the budget" warning of the same requests (issue 23; components/rules/causes.py).
                delivery = local.sink.wait_for(PAGE, timeout)
            finally:
                stop.set()
                pusher.join(10)
            time.sleep(duration_seconds(E2E.group_interval or "1s") + 1)
            print("\nfiring in Prometheus:")
            for name, alerts in sorted(local.firing().items()):
                print(f"  {name}: {', '.join(sorted({a.get('severity', '?') for a in alerts}))}")
            print("\ndelivered by Alertmanager (receiver <- alert):")
            silent = local.config.silent_receivers
            for receiver, name in sorted({(d.receiver, n) for d in local.sink.deliveries for n in d.alertnames}):
                print(f"  {receiver} <- {name}")
            print(f"\n{PAGE} fired and reached receiver {delivery.receiver!r}")
            muted = [a for a in local.alertmanager_alerts(MUTED) if a["status"]["inhibitedBy"]]
            if muted:
                print(f"{MUTED} fired too; Alertmanager holds it muted by {PAGE}: one notification for one fault")
            if delivery.receiver in silent:
                print(f"(receiver {delivery.receiver!r} has no integration in stack {stack!r}: in the cluster this alert notifies nobody)")
    except LocalStackError as error:
        print(f"demo failed: {error}")
        return 1
    except KeyboardInterrupt:
        print("interrupted; stopped every process of the local stack")
        return 130
    print("local stack stopped; nothing left running")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.localstack", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="start the local stack, inject an SLA violation, show the alert path")
    d.add_argument("--stack", default="dev")
    d.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the alert (default 60)")
    d.add_argument("--free-ports", action="store_true", help=f"use any free loopback ports instead of {sorted(p for _, p in DEMO_PORTS.items())}")
    args = p.parse_args(argv)
    return demo(args.stack, free_ports() if args.free_ports else DEMO_PORTS, args.timeout)


if __name__ == "__main__":
    raise SystemExit(main())
