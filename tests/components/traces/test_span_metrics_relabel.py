"""The rendered prometheus.relabel of the span metrics on a real relabeller: Prometheus 3.5.0, whose relabel
package Alloy v1.10.1's prometheus.relabel reproduces (internal/component/common/relabel/relabel.go).

The series are shaped as Alloy's otelcol.exporter.prometheus hands them over: the resource's service in
`job` (``<service.namespace>/<service.name>`` or ``<service.name>``), a named data point's own
``service_name``, and an overflow data point (past aggregation_cardinality_limit) with only
``otel_metric_overflow="true"``. Prometheus scrapes them with honor_labels (so `job` stays the exposed one)
and applies the rendered rules as metric_relabel_configs; the result must be what tests/support/relabel.py
gives, and two services' overflow series must stay two.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from components.traces import trace_metrics
from tests.support import relabel
from tests.support.alloy_render import alloy_blocks, one
from tests.support.served import answer, program, prometheus_argv
from tooling.local_cluster import free_port
from tooling.render import Render

CALLS = trace_metrics.CALLS_COUNTER
# (labels as the exporter writes them, value). The overflow points have neither service_name nor instance.
SERIES: list[tuple[dict[str, str], int]] = [
    ({"job": "checkout", "otel_metric_overflow": "true"}, 5),
    ({"job": "shop/cart", "otel_metric_overflow": "true"}, 7),
    ({"job": "shop/cart", "instance": "cart-7d9f-abc", "service_name": "cart", "span_name": "GET /items", "span_kind": "SPAN_KIND_SERVER"}, 3),
]
TARGET_JOB = "spanmetrics"


def _exposition() -> bytes:
    lines = [f"# TYPE {CALLS} counter"]
    for labels, value in SERIES:
        inner = ",".join(f'{name}="{text}"' for name, text in labels.items())
        lines.append(f"{CALLS}{{{inner}}} {value}")
    return ("\n".join(lines) + "\n").encode()


class _Exporter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = _exposition()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def exporter() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()



def _written_by_prometheus(rules: list[dict[str, Any]], exporter_port: int, tmp_path: Path) -> list[dict[str, str]]:
    """The label sets of CALLS after Prometheus scraped the exporter with ``rules`` as metric_relabel_configs
    (job, instance and Prometheus' own labels as the scrape gives them)."""
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{
            "job_name": TARGET_JOB, "honor_labels": True, "metric_relabel_configs": rules,
            "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
        }],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()

    def stored() -> list[dict[str, str]]:
        response = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": f"{{__name__=~\"{CALLS}\"}}"}, timeout=2)
        response.raise_for_status()
        return [item["metric"] for item in response.json()["data"]["result"]]

    with program(prometheus_argv(tmp_path, port)) as process:
        return answer(process, stored, "prometheus storing span-metric series", interval=0.3)


def test_the_real_relabeller_keeps_two_services_overflow_series_apart(rendered: Render, exporter: int, tmp_path: Path) -> None:
    blocks = one(alloy_blocks(rendered), "prometheus.relabel").children("rule")
    got = _written_by_prometheus([dict(b.attributes) for b in blocks], exporter, tmp_path)
    # The model on the same input: what the scrape adds (the target's instance where the series has none).
    scraped = [{"__name__": CALLS, "instance": f"127.0.0.1:{exporter}", **labels} for labels, _ in SERIES]
    expected = [relabel.apply(blocks, series, {}) for series in scraped]
    key = sorted
    assert key(tuple(sorted(m.items())) for m in got) == key(tuple(sorted(m.items())) for m in expected if m), (got, expected)
    overflow = sorted(m["service"] for m in got if m.get("otel_metric_overflow") == "true")
    assert overflow == ["checkout", "shop/cart"], got
