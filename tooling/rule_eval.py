"""Evaluate rule files on test series with Prometheus's own rule engine, and read what each alert says.

``evaluate(cases)`` runs ``rule-eval`` (tools/rule-eval, built by ``make tools`` against the deployed Prometheus
release): the ``rules`` and ``promql`` packages that promtool's unit tests run, over promtool-style cases. Where
promtool only compares, it returns every firing alert with its labels, its **rendered annotations** and its
value at each asked time, and the samples of any PromQL query: the page text a person reads, rendered by the
template engine Prometheus renders it with.

A case is a mapping (promtool's test-file fields)::

    {"rule_files": ["/abs/rules.yaml"], "interval": "1m", "evaluation_interval": "1m",
     "input_series": [{"series": 'up{job="x"}', "values": "0x20"}],
     "eval_times": ["10m"], "queries": [{"expr": "up", "eval_time": "10m"}]}

Errors: :class:`RuleEvalError` when the program fails or a case reports errors (load, parse, evaluation),
naming the case's index and the first errors.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tooling.go_tools import require

BINARY = "rule-eval"


class RuleEvalError(RuntimeError):
    """rule-eval failed, or a case could not be loaded or evaluated; the message says which case and why."""


@dataclass(frozen=True)
class FiringAlert:
    """One firing alert: labels (alertname included), rendered annotations, the expression's value."""

    labels: dict[str, str]
    annotations: dict[str, str]
    value: float
    active_at_seconds: float

    @property
    def name(self) -> str:
        return self.labels["alertname"]


@dataclass(frozen=True)
class QueryResult:
    expr: str
    eval_time: str
    samples: list[tuple[dict[str, str], float]]
    error: str


@dataclass(frozen=True)
class CaseResult:
    """Firing alerts by eval time (as written in the case), and query results in the order asked."""

    alerts: dict[str, list[FiringAlert]]
    queries: list[QueryResult]

    def firing(self, eval_time: str, alertname: str | None = None) -> list[FiringAlert]:
        return [a for a in self.alerts.get(eval_time, []) if alertname is None or a.name == alertname]


def evaluate(cases: Sequence[Mapping[str, Any]], *, allow_errors: bool = False, timeout: float = 600) -> list[CaseResult]:
    """Run every case in one rule-eval process; one result per case, in order."""
    binary = require(BINARY)[BINARY]
    done = subprocess.run([str(binary)], input=json.dumps(list(cases)), capture_output=True, text=True,
                          check=False, timeout=timeout)
    if done.returncode != 0:
        raise RuleEvalError(f"{binary}: exit {done.returncode}: {done.stderr.strip()[-2000:]}")
    raw: list[dict[str, Any]] = json.loads(done.stdout)
    out = []
    for i, result in enumerate(raw):
        if result["errors"] and not allow_errors:
            raise RuleEvalError(f"case {i} ({cases[i].get('name', 'unnamed')}): " + "; ".join(result["errors"][:5]))
        alerts = {t: [FiringAlert(a["labels"], a["annotations"], float(a["value"]), float(a["active_at_seconds"])) for a in found]
                  for t, found in result["alerts"].items()}
        queries = [QueryResult(q["expr"], q["eval_time"], [(s["labels"], float(s["value"])) for s in q["samples"]], q["error"])
                   for q in result["queries"]]
        out.append(CaseResult(alerts, queries))
    return out
