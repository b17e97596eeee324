"""Synthetic Seamless SLA violations (seed 000): the metrics, their values and the push loop.

Shared by the injector command (scripts/inject_sla_violation.py), the local stack's demo and the benchmark.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest, push_to_gateway

from components.rules.catalog import load_catalog
from components.rules.thresholds import threshold
from tooling.synthetic import child, make_metric

SYSTEM = "qmtl-seamless"
JOB = "seamless-sla-injector"
BUDGET = "seamless_sla_p99_budget_seconds"
STUCK_LEASE_RATIO = 0.2
# How a slow request's deadline splits over the waiting phases.
PHASE_SHARE = {"storage_wait": 0.15, "backfill_wait": 0.55, "live_wait": 0.30}
PHASE_MS_FAMILY = {
    "storage_wait": "seamless_storage_wait_ms",
    "backfill_wait": "seamless_backfill_wait_ms",
    "live_wait": "seamless_live_wait_ms",
}
DOWNGRADE_REASON = "deadline_exceeded"


@dataclass(frozen=True)
class Violation:
    node_id: str
    duration: float
    world_id: str = "world-main"
    interval: str = "60"
    stuck_lease: str | None = None
    conformance_flags: int = 0


def default_duration() -> float:
    """A request a quarter above the p99 budget of SeamlessSla99thDegraded."""
    return threshold(BUDGET) * 1.25


class SeamlessMetrics:
    """Every Seamless family of the catalog in one registry, created at zero."""

    def __init__(self, violation: Violation) -> None:
        self.violation = violation
        self.registry = CollectorRegistry(auto_describe=True)
        families = load_catalog().by_system(SYSTEM)
        if not families:
            raise SystemExit(f"the metric catalog has no system {SYSTEM!r}; the injector covers its families")
        self.m = {f.name: make_metric(f, self.registry) for f in families}
        self._create_series()

    def _node(self) -> dict[str, str]:
        v = self.violation
        return {"node_id": v.node_id, "interval": v.interval, "world_id": v.world_id}

    def _create_series(self) -> None:
        node = self._node()
        for phase in (*PHASE_SHARE, "total"):
            child(self.m["seamless_sla_deadline_seconds"], {"phase": phase})
        for name in (*PHASE_MS_FAMILY.values(), "seamless_total_ms", "gap_repair_latency_ms"):
            child(self.m[name], node)
        for name in ("domain_gate_holds", "partial_fill_returns"):
            child(self.m[name], {"reason": DOWNGRADE_REASON})
        child(self.m["backfill_completion_ratio"], {"lease_key": f"{self.violation.node_id}-lease"}).set(1.0)  # type: ignore[union-attr]
        if self.violation.stuck_lease:
            # Reported stuck from its first sample: SeamlessBackfillStuckLease needs no progress over its stall window
            # (15 minutes of wall time, which the compressed local profile does not shorten), so a lease seen at 100%
            # first and then stuck could not fire within a test's wait.
            child(self.m["backfill_completion_ratio"], {"lease_key": self.violation.stuck_lease}).set(STUCK_LEASE_RATIO)  # type: ignore[union-attr]
        child(self.m["seamless_conformance_flag_total"], {"flag_type": "schema_drift"})
        child(self.m["coverage_ratio"], node).set(1.0)  # type: ignore[union-attr]
        self.m["seamless_rl_tokens_available"].set(100.0)  # type: ignore[union-attr]

    def record(self) -> None:
        """One slow request on the node, with what the SLA policy does about it."""
        v = self.violation
        node = self._node()
        total = v.duration
        deadline = self.m["seamless_sla_deadline_seconds"]
        for phase, share in PHASE_SHARE.items():
            child(deadline, {"phase": phase}).observe(total * share)  # type: ignore[union-attr]
            child(self.m[PHASE_MS_FAMILY[phase]], node).observe(total * share * 1000)  # type: ignore[union-attr]
        child(deadline, {"phase": "total"}).observe(total)  # type: ignore[union-attr]
        child(self.m["seamless_total_ms"], node).observe(total * 1000)  # type: ignore[union-attr]
        child(self.m["gap_repair_latency_ms"], node).observe(total * PHASE_SHARE["backfill_wait"] * 1000)  # type: ignore[union-attr]
        child(self.m["coverage_ratio"], node).set(0.6)  # type: ignore[union-attr]
        child(self.m["live_staleness_seconds"], node).set(total)  # type: ignore[union-attr]
        for name in ("domain_gate_holds", "partial_fill_returns"):
            child(self.m[name], {"reason": DOWNGRADE_REASON}).inc()  # type: ignore[union-attr]
        self.m["seamless_rl_tokens_available"].set(0.0)  # type: ignore[union-attr]
        self.m["seamless_rl_dropped_total"].inc()  # type: ignore[union-attr]
        self.m["artifact_publish_latency_ms"].observe(total * 1000)  # type: ignore[union-attr]
        if v.stuck_lease:
            child(self.m["backfill_completion_ratio"], {"lease_key": v.stuck_lease}).set(STUCK_LEASE_RATIO)  # type: ignore[union-attr]
        if v.conformance_flags:
            child(self.m["seamless_conformance_flag_total"], {"flag_type": "schema_drift"}).inc(v.conformance_flags)  # type: ignore[union-attr]
            self.m["seamless_conformance_warning_total"].inc(v.conformance_flags)  # type: ignore[union-attr]

    def exposition(self) -> str:
        return generate_latest(self.registry).decode()


def push_violation(url: str, violation: Violation, stop: threading.Event, interval: float, job: str = JOB) -> int:
    """Push a zero baseline, then one slow request every ``interval`` seconds until ``stop`` is set; returns the requests pushed."""
    metrics = SeamlessMetrics(violation)
    pushed = 0
    push_to_gateway(url, job=job, registry=metrics.registry, grouping_key={"instance": violation.node_id})
    while not stop.wait(interval):
        metrics.record()
        push_to_gateway(url, job=job, registry=metrics.registry, grouping_key={"instance": violation.node_id})
        pushed += 1
    return pushed
