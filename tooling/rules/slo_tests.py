"""promtool unit tests for the rules generated from the SLO specs.

For every SLO: a burning case (the page fires after its ``for``, the ticket
later), a healthy case (nothing fires), and a check of every recording rule's
value. Input rates are powers of two apart so the expected ratios are exact.
"""

from __future__ import annotations

from typing import Any

import promql_parser

from components.rules.catalog import stored_bound
from components.rules.slo import HALF_WINDOW, PAGE_FOR, SLI_WINDOWS, UPTIME_RECORD, Slo, record_name
from components.rules.thresholds import format_number

TOTAL_PER_MIN = 64
SAMPLES = 60  # one hour of data at a 1m interval


def _labels(matchers: str) -> dict[str, str]:
    if not matchers:
        return {}
    expr = promql_parser.parse(f"x{{{matchers}}}")
    assert isinstance(expr, promql_parser.VectorSelector)  # slo.py validated the matchers
    out: dict[str, str] = {}
    for m in expr.matchers.matchers:
        if str(m.op) not in ("MatchOp.Equal", "="):
            raise ValueError(f"SLO test generation needs equality matchers, got {matchers!r}")
        out[m.name] = m.value
    return out


def _series(metric: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{metric}{{{inner}}}"


def _counter(per_min: int, samples: int = SAMPLES) -> str:
    return f"0+{per_min}x{samples}"


def input_series(slo: Slo, bad_fraction_of_64: int, samples: int = SAMPLES) -> list[dict[str, str]]:
    """Series that make ``bad_fraction_of_64`` out of every 64 events bad."""
    bad, good = bad_fraction_of_64, TOTAL_PER_MIN - bad_fraction_of_64
    kind, body = slo.sli_kind, slo.sli[slo.sli_kind]
    if kind == "latency":
        labels = _labels(body["matchers"])
        # The bucket's le as Prometheus 3 stores a scraped one (5 -> "5.0", normalised on ingestion,
        # prometheus/prometheus#15164), whichever spelling the client exposes.
        le_text = stored_bound(body["le"])
        return [
            {"series": _series(f"{body['metric']}_bucket", {**labels, "le": le_text}), "values": _counter(good, samples)},
            {"series": _series(f"{body['metric']}_count", labels), "values": _counter(TOTAL_PER_MIN, samples)},
        ]
    if kind == "ratio":
        err, tot = body["errors"], body["total"]
        err_labels, tot_labels = _labels(err["matchers"]), _labels(tot["matchers"])
        if err["metric"] == tot["metric"]:
            # Same counter: bad events carry the error labels, good ones another value.
            ok_labels = {**tot_labels, **{k: f"not-{v}" for k, v in err_labels.items()}}
            return [
                {"series": _series(err["metric"], {**tot_labels, **err_labels}), "values": _counter(bad, samples)},
                {"series": _series(tot["metric"], ok_labels), "values": _counter(good, samples)},
            ]
        return [
            {"series": _series(err["metric"], err_labels), "values": _counter(bad, samples)},
            {"series": _series(tot["metric"], tot_labels), "values": _counter(TOTAL_PER_MIN, samples)},
        ]
    value = "0" if bad else "1"
    return [{"series": _series(body["metric"], _labels(body["matchers"])), "values": f"{value}x{samples}"}]


def _error_ratio(slo: Slo, bad: int) -> float:
    if slo.sli_kind == "uptime":
        return 1.0 if bad else 0.0
    if slo.sli_kind == "latency":
        return 1 - ((TOTAL_PER_MIN - bad) / TOTAL_PER_MIN)
    return bad / TOTAL_PER_MIN


def tests_for(slo: Slo) -> list[dict[str, Any]]:
    labels = {"service": slo.service, "slo": slo.name}
    page = {"exp_labels": {**labels, "severity": "critical", "component": "slo"}}
    ticket = {"exp_labels": {**labels, "severity": "warning", "component": "slo"}}
    # Uptime SLIs are all-or-nothing per sample; others burn with half the events bad.
    bad = TOTAL_PER_MIN if slo.sli_kind == "uptime" else TOTAL_PER_MIN // 2
    ratio = _error_ratio(slo, bad)
    sel = f'{{slo="{slo.name}"}}'
    exp = [{"labels": _series(record_name(w), labels), "value": ratio} for w in SLI_WINDOWS]
    recordings = [
        {"expr": f"{record_name(w)}{sel}", "eval_time": "10m", "exp_samples": [e]}
        for w, e in zip(SLI_WINDOWS, exp, strict=True)
    ]
    recordings.append({"expr": f"slo:objective:ratio{sel}", "eval_time": "10m",
                       "exp_samples": [{"labels": _series("slo:objective:ratio", labels),
                                        "value": float(format_number(slo.objective / 100))}]})
    recordings.append({"expr": f"slo:error_budget_remaining:ratio{sel}", "eval_time": "10m",
                       "exp_samples": [{"labels": _series("slo:error_budget_remaining:ratio", labels),
                                        "value": 1 - (ratio / slo.budget)}]})
    extra: list[dict[str, Any]] = []
    if slo.half_budget_alert:
        half = {"exp_labels": {**labels, "severity": "warning", "component": "slo"}}
        extra.append({
            "name": f"{slo.name}: half the budget spent within half the window (after 1h)",
            "interval": "1m",
            "input_series": input_series(slo, bad, samples=90),
            "alert_rule_test": [
                {"eval_time": "30m", "alertname": slo.half_alert, "exp_alerts": []},
                {"eval_time": "80m", "alertname": slo.half_alert, "exp_alerts": [half]},
            ],
            "promql_expr_test": [{"expr": f"{record_name(HALF_WINDOW)}{sel}", "eval_time": "10m",
                                  "exp_samples": [{"labels": _series(record_name(HALF_WINDOW), labels), "value": ratio}]}],
        })
        extra.append({
            "name": f"{slo.name}: a healthy service does not spend half its budget",
            "interval": "1m",
            "input_series": input_series(slo, 0, samples=90),
            "alert_rule_test": [{"eval_time": "80m", "alertname": slo.half_alert, "exp_alerts": []}],
        })
    if slo.sli_kind == "uptime":
        recordings.append({"expr": f"{UPTIME_RECORD}{sel}", "eval_time": "10m",
                           "exp_samples": [{"labels": _series(UPTIME_RECORD, labels), "value": 0}]})
        body = slo.sli["uptime"]
        extra.append({
            # No sample at all (the target left discovery) is down, not "no data".
            "name": f"{slo.name}: a target gone from discovery burns the budget",
            "interval": "1m",
            "input_series": [{"series": _series(body["metric"], _labels(body["matchers"])), "values": "1x5 _x55"}],
            "alert_rule_test": [{"eval_time": "35m", "alertname": slo.alert, "exp_alerts": [page, ticket]}],
            "promql_expr_test": [{"expr": f"{UPTIME_RECORD}{sel}", "eval_time": "30m",
                                  "exp_samples": [{"labels": _series(UPTIME_RECORD, labels), "value": 0}]}],
        })
    return [
        *extra,
        {
            "name": f"{slo.name}: burning budget pages after {PAGE_FOR}, then opens a ticket",
            "interval": "1m",
            "input_series": input_series(slo, bad),
            "alert_rule_test": [
                {"eval_time": "1m", "alertname": slo.alert, "exp_alerts": []},
                {"eval_time": "10m", "alertname": slo.alert, "exp_alerts": [page]},
                {"eval_time": "20m", "alertname": slo.alert, "exp_alerts": [page, ticket]},
            ],
            "promql_expr_test": recordings,
        },
        {
            "name": f"{slo.name}: healthy service stays silent",
            "interval": "1m",
            "input_series": input_series(slo, 0),
            "alert_rule_test": [{"eval_time": "30m", "alertname": slo.alert, "exp_alerts": []}],
            "promql_expr_test": [
                {"expr": f"{record_name('1h')}{sel}", "eval_time": "30m",
                 "exp_samples": [{"labels": _series(record_name("1h"), labels), "value": 0}]},
            ],
        },
    ]


def test_file(slos: list[Slo], rule_file: str) -> dict[str, Any]:
    return {
        "rule_files": [rule_file],
        "evaluation_interval": "1m",
        "tests": [t for s in slos for t in tests_for(s)],
    }
