"""End to end: the span metrics' remote write (Alloy's), with an exemplar, into the local Prometheus started from the rendered resource.

The local Prometheus takes its flags from the rendered Prometheus resource
(tooling/local_flags.py). A span-metrics sample carrying a trace-ID exemplar is
remote-written the way Alloy's prometheus.remote_write does (protobuf, snappy, to the
path Alloy's rendered config names) and read back through /api/v1/query and
/api/v1/query_exemplars. With either setting removed from the render the same
write is refused or its exemplar is lost. The three Prometheus instances start
side by side, once for the module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from tests.support.alloy_render import alloy_blocks
from tooling.local_flags import rendered_resource
from tooling.localstack import E2E, LocalStack, free_ports, start_all
from tooling.remote_write import TRACE_ID_LABEL, Exemplar, Series, decode_request, push, write_request
from tooling.render import Render

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
METRIC = "traces_spanmetrics_calls_total"
LABELS = {"__name__": METRIC, "service": "checkout", "span_name": "GET /cart", "status_code": "STATUS_CODE_UNSET", "source": "tempo"}


def _write_path(render: Render) -> str:
    """The path Alloy's rendered prometheus.remote_write sends span metrics to."""
    paths = {urlparse(e.attributes["url"]).path for b in alloy_blocks(render) if b.name == "prometheus.remote_write" for e in b.children("endpoint")}
    (path,) = paths
    return str(path)


def _without(render: Render, field: str) -> dict[str, str]:
    """The render's files with ``field`` removed from the Prometheus resource's spec."""
    files = dict(render.files)
    resource = rendered_resource(files, "Prometheus")
    assert resource is not None and field in resource["spec"]
    path = next(p for p, text in files.items() if p.startswith("manifests/prometheus_") and yaml.safe_load(text).get("kind") == "Prometheus")
    del resource["spec"][field]
    files[path] = yaml.safe_dump(resource, sort_keys=False)
    return files


def _stack(files: dict[str, str], render: Render) -> LocalStack:
    return LocalStack(files, E2E, render.settings.namespace, free_ports())


def _write(stack: LocalStack, path: str) -> tuple[int, float]:
    now_ms = int(time.time() * 1000)
    series = Series(LABELS, [(now_ms, 42.0)], [Exemplar({TRACE_ID_LABEL: TRACE_ID}, 42.0, now_ms)])
    response = push(f"{stack.prometheus_url}{path}", [series])
    return response.status_code, now_ms / 1000


def _exemplars(stack: LocalStack, at: float) -> list[dict[str, Any]]:
    data = stack.api("/api/v1/query_exemplars", query=f'{METRIC}{{service="checkout"}}', start=at - 60, end=at + 60)
    return [e for group in data for e in group["exemplars"]]


@pytest.fixture(scope="module")
def stacks(prod_render: Render) -> Iterator[dict[str, LocalStack]]:
    """The prod render as it is, and without each of the two settings remote write needs, running side by side."""
    out = {
        "rendered": _stack(dict(prod_render.files), prod_render),
        "without receiver": _stack(_without(prod_render, "enableRemoteWriteReceiver"), prod_render),
        "without exemplars": _stack(_without(prod_render, "enableFeatures"), prod_render),
    }
    start_all(list(out.values()))
    try:
        yield out
    finally:
        for stack in out.values():
            stack.close()


@pytest.fixture(scope="module")
def rendered_stack(stacks: dict[str, LocalStack]) -> LocalStack:
    return stacks["rendered"]


def test_the_local_prometheus_runs_with_the_rendered_flags(rendered_stack: LocalStack) -> None:
    flags = rendered_stack.components["prometheus"].argv
    assert "--web.enable-remote-write-receiver" in flags
    assert "--enable-feature=exemplar-storage" in flags
    assert "--storage.tsdb.retention.time=90d" in flags and "--storage.tsdb.retention.size=80GB" in flags
    assert rendered_stack.prometheus_rendered.external_labels["environment"] == "prod"
    assert "--data.retention=120h" in rendered_stack.components["alertmanager"].argv
    # Prometheus reports the flags it actually runs with.
    running = rendered_stack.api("/api/v1/status/flags")
    assert running["web.enable-remote-write-receiver"] == "true"
    assert "exemplar-storage" in running["enable-feature"]


def test_a_remote_written_sample_and_its_exemplar_read_back(rendered_stack: LocalStack, prod_render: Render) -> None:
    status, at = _write(rendered_stack, _write_path(prod_render))
    assert status in (200, 204), status
    (sample,) = rendered_stack.wait_for_series(f'{METRIC}{{service="checkout"}}', 10)
    assert float(sample["value"][1]) == 42.0
    assert sample["metric"]["span_name"] == "GET /cart"
    (exemplar,) = _exemplars(rendered_stack, at)
    assert exemplar["labels"] == {TRACE_ID_LABEL: TRACE_ID}
    assert float(exemplar["value"]) == 42.0


def test_without_the_receiver_in_the_render_the_write_is_refused(stacks: dict[str, LocalStack], prod_render: Render) -> None:
    stack = stacks["without receiver"]
    assert "--web.enable-remote-write-receiver" not in stack.components["prometheus"].argv
    status, _ = _write(stack, _write_path(prod_render))
    # Prometheus: "remote write receiver needs to be enabled with --web.enable-remote-write-receiver".
    assert status == 404
    assert stack.query(f'{METRIC}{{service="checkout"}}') == []


def test_without_exemplar_storage_in_the_render_the_exemplar_is_lost(stacks: dict[str, LocalStack], prod_render: Render) -> None:
    stack = stacks["without exemplars"]
    assert "exemplar-storage" not in stack.api("/api/v1/status/flags").get("enable-feature", "")
    status, at = _write(stack, _write_path(prod_render))
    assert status in (200, 204), status
    stack.wait_for_series(f'{METRIC}{{service="checkout"}}', 10)
    assert _exemplars(stack, at) == []


def test_the_body_is_the_specified_message() -> None:
    series = Series({"b": "2", "__name__": "m", "a": "1"}, [(1000, 1.5)], [Exemplar({TRACE_ID_LABEL: TRACE_ID}, 1.5, 1000)])
    import cramjam

    decoded = decode_request(bytes(cramjam.snappy.compress_raw(write_request([series]))))
    (entry,) = decoded.timeseries
    # Labels sorted by name (the specification requires it); samples and exemplars with millisecond timestamps.
    assert [(label.name, label.value) for label in entry.labels] == [("__name__", "m"), ("a", "1"), ("b", "2")]
    assert [(s.timestamp, s.value) for s in entry.samples] == [(1000, 1.5)]
    assert [(e.labels[0].name, e.labels[0].value, e.timestamp) for e in entry.exemplars] == [(TRACE_ID_LABEL, TRACE_ID, 1000)]
