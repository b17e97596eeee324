"""The service graph's store, on the servicegraph connector Alloy v1.10.1 runs (`make tools`: otelcol-alloy,
contrib v0.128.0), configured from the rendered Alloy config.

The two spans of a call come from two services' SDKs, each exporting on its own timer, so the client span can
reach Alloy a batch span processor's schedule delay after the server span. The connector pairs them only while
the first waits in its store (store.ttl) and has room for it (store.max_items):

(a) with the client span BSP_SCHEDULE_DELAY_S after the server span, the rendered store pairs every call
    (traces_service_graph_request_total counts each), where Alloy's default store expires every server span
    first and pairs none;
(b) a burst of new calls beyond max_items drops exactly the spans beyond it, counted in the connector's
    dropped-spans counter under Alloy's name, the series AlloyServiceGraphSpansDropped reads.

The collector exports its own instruments under Alloy v1.10.1's names (tests/support/otelcol.py ALLOY_NAMING):
the connector's counters have unit "1", written as ``..._ratio_total``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from components.traces.trace_metrics import SERVICE_GRAPH_REQUESTS
from tests.support.alloy_render import alloy_blocks, one
from tests.support.otelcol import SPAN_KIND_CLIENT, Collector, Sample, collector_config, ports, post_spans, read_by, running, scrape, span, total
from tooling.local_cluster import wait_for
from tooling.render import Render

PROGRAM = "otelcol-alloy"
# Alloy v1.10.1's defaults for what the render leaves out (internal/component/otelcol/connector/servicegraph/
# servicegraph.go, SetToDefault): the store is 2 s / 1000 items, expired every 2 s.
ALLOY_DEFAULT_STORE = {"ttl": "2s", "max_items": 1000}
ALLOY_STORE_EXPIRATION_LOOP = "2s"
# The render flushes every trace_metrics.METRICS_FLUSH_INTERVAL; a second here only brings the counts out sooner
# (pairing does not depend on it).
FLUSH_INTERVAL = "1s"
# The batch span processor's default schedule delay (OpenTelemetry specification, OTEL_BSP_SCHEDULE_DELAY=5000 ms):
# how long after the server span the client span of the same call can reach Alloy.
BSP_SCHEDULE_DELAY_S = 5.0
CALLS = 500
REQUEST = 500  # spans per OTLP/HTTP request
OVERFLOW = 2000  # new calls beyond max_items in the burst
CLIENT, SERVER = "frontend", "checkout"
# The server the connector names for a client span that expired unpaired and carries no peer attribute
# (servicegraphconnector v0.128.0 getPeerHost).
VIRTUAL_SERVER = "unknown"
# The connector's counters (unit "1") under Alloy's names.
DROPPED = "otelcol_connector_servicegraph_dropped_spans_ratio_total"
EXPIRED = "otelcol_connector_servicegraph_expired_edges_ratio_total"
EDGES = "otelcol_connector_servicegraph_total_edges_ratio_total"


def _rendered_connector(render: Render) -> dict[str, Any]:
    """The collector config of the rendered otelcol.connector.servicegraph: its attributes and store block
    (the Alloy names are the collector's; Alloy's defaults where the render sets none), Alloy's default
    expiration loop, a short flush."""
    block = one(alloy_blocks(render), "otelcol.connector.servicegraph")
    store = {**ALLOY_DEFAULT_STORE, **{k: v for b in block.children("store") for k, v in b.attributes.items()}}
    return {"store_expiration_loop": ALLOY_STORE_EXPIRATION_LOOP, **block.attributes, "store": store, "metrics_flush_interval": FLUSH_INTERVAL}


def _config(connector: dict[str, Any], tmp: Path) -> tuple[dict[str, Any], int, int]:
    """(collector config: OTLP in, the connector, prometheus out; its OTLP port; its metrics port)."""
    otlp, own, metrics_port = ports(3)
    config = collector_config(
        {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp}"}}}},
        {"traces": {"receivers": ["otlp"], "exporters": ["servicegraph"]},
         "metrics": {"receivers": ["servicegraph"], "exporters": ["prometheus"]}},
        telemetry_port=own, alloy_names=True,
        connectors={"servicegraph": connector},
        exporters={"prometheus": {"endpoint": f"127.0.0.1:{metrics_port}"}},
    )
    return config, otlp, metrics_port


def _calls(count: int) -> list[tuple[str, str, str]]:
    """(trace ID, client span ID, server span ID) of ``count`` calls."""
    return [(secrets.token_hex(16), secrets.token_hex(8), secrets.token_hex(8)) for _ in range(count)]


def _send(port: int, spans: list[dict[str, Any]], service: str) -> None:
    for start in range(0, len(spans), REQUEST):
        assert post_spans(port, spans[start:start + REQUEST], service=service) == 200


def _servers(calls: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [span(trace, server, parent=client) for trace, client, server in calls]


def _clients(calls: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [span(trace, client, kind=SPAN_KIND_CLIENT) for trace, client, _ in calls]


def _edges(samples: list[Sample]) -> dict[tuple[str, str], float]:
    """Calls counted per (client, server) by traces_service_graph_request_total."""
    edges: dict[tuple[str, str], float] = {}
    for s in samples:
        if s.name == SERVICE_GRAPH_REQUESTS:
            edges[s.labels["client"], s.labels["server"]] = edges.get((s.labels["client"], s.labels["server"]), 0) + s.value
    return edges


def _until(read: Callable[[], list[Sample]], name: str, at_least: float, seconds: float) -> list[Sample] | None:
    """The first samples ``read`` returns with ``name`` summing to ``at_least`` within ``seconds``; None after."""
    def enough() -> list[Sample] | None:
        samples = read()
        return samples if total(samples, name) >= at_least else None

    found: list[Sample] | None = wait_for(enough, seconds, 0.5)
    return found


def _own(collector: Collector, name: str) -> float:
    return total(collector.own_metrics(), name)


# --- (a) the client span a schedule delay after the server span --------------------------------------------


def test_the_rendered_store_pairs_calls_whose_client_span_comes_a_schedule_delay_later(prod_render: Render, tmp_path: Path) -> None:
    rendered = _rendered_connector(prod_render)
    default = {**rendered, "store": dict(ALLOY_DEFAULT_STORE)}
    calls = _calls(CALLS)
    rendered_config, rendered_otlp, rendered_metrics = _config(rendered, tmp_path / "rendered")
    default_config, default_otlp, default_metrics = _config(default, tmp_path / "default")
    with running(rendered_config, tmp_path / "rendered", PROGRAM) as with_rendered, running(default_config, tmp_path / "default", PROGRAM) as with_default:
        for port in (rendered_otlp, default_otlp):
            _send(port, _servers(calls), SERVER)
        time.sleep(BSP_SCHEDULE_DELAY_S)
        for port in (rendered_otlp, default_otlp):
            _send(port, _clients(calls), CLIENT)

        rendered_out = _until(lambda: scrape(rendered_metrics), SERVICE_GRAPH_REQUESTS, CALLS, 15)
        assert rendered_out is not None, f"the rendered store paired {total(scrape(rendered_metrics), SERVICE_GRAPH_REQUESTS)} of {CALLS} calls"
        # Under Alloy's default every edge expires unpaired: each server side before its client span comes,
        # then each client side, which the connector counts as a call to a virtual node (below).
        default_out = _until(lambda: scrape(default_metrics), SERVICE_GRAPH_REQUESTS, CALLS, 20)
        assert default_out is not None, f"{_own(with_default, EXPIRED)} edges expired under Alloy's default store"
        rendered_own, default_own = with_rendered.own_metrics(), with_default.own_metrics()
    assert _edges(rendered_out) == {(CLIENT, SERVER): CALLS}
    assert total(rendered_own, EXPIRED) == 0 and total(rendered_own, DROPPED) == 0
    # Not one call between the two services; every call shown going to "unknown" instead (the connector's virtual
    # node, feature gate connector.servicegraph.virtualNode, beta so on in Alloy v1.10.1: the peer attributes of
    # an expired client span, else "unknown").
    assert _edges(default_out) == {(CLIENT, VIRTUAL_SERVER): CALLS}, "Alloy's default store paired calls 5 s apart"
    assert total(default_own, EXPIRED) == 2 * CALLS and total(default_own, DROPPED) == 0


# --- (b) a burst beyond max_items -----------------------------------------------------------------------------


def test_a_burst_beyond_max_items_drops_spans_and_the_alert_reads_the_counter(prod_render: Render, tmp_path: Path) -> None:
    rendered = _rendered_connector(prod_render)
    max_items = int(rendered["store"]["max_items"])
    config, otlp, _ = _config(rendered, tmp_path)
    with running(config, tmp_path, PROGRAM) as collector:
        started = time.monotonic()
        # New calls whose other side has not come yet: each takes a place in the store.
        _send(otlp, _servers(_calls(max_items + OVERFLOW)), SERVER)
        sent_in = time.monotonic() - started
        assert sent_in < float(rendered["store"]["ttl"].removesuffix("s")), f"sending took {sent_in:.1f}s, beyond the ttl: the store was not full"
        samples = _until(collector.own_metrics, DROPPED, OVERFLOW, 10)
        assert samples is not None, f"the connector dropped {_own(collector, DROPPED)} spans, not {OVERFLOW}"
    assert total(samples, DROPPED) == OVERFLOW
    assert total(samples, EDGES) == max_items
    dropped = [s for s in samples if s.name == DROPPED and s.value > 0]
    assert dropped and all(read_by("AlloyServiceGraphSpansDropped", s) for s in dropped)
