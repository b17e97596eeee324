"""The Prometheus datasource's jsonData against the options Grafana 12.1.1 declares (tests/support/config_reference/grafana-*.yaml)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.support.config_reference import check_keys, image_version, reference
from tooling.render import Render


def _json_data(render: Render, uid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(render.files[f"grafana/datasource-{uid}.json"])["jsonDataEncoded"]
    return data


def _errors(render: Render, json_data: dict[str, Any]) -> list[str]:
    ref = reference("grafana", image_version(render.settings.grafana.image))
    return check_keys(json_data, ref, spec=ref["root"]["prometheus"], path="jsonData")


def test_the_reference_is_of_the_deployed_release(rendered: Render) -> None:
    ref = reference("grafana", image_version(rendered.settings.grafana.image))
    assert ref["source"]["tag"] == image_version(rendered.settings.grafana.image)


def test_the_prometheus_datasource_uses_only_declared_options(rendered: Render) -> None:
    json_data = _json_data(rendered, "prometheus")
    assert json_data, "the Prometheus datasource has no jsonData"
    assert _errors(rendered, json_data) == []


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("exemplarTraceIdDestination", [], "jsonData.exemplarTraceIdDestination: not a key"),
        ("prometheusType", "prometheus", "jsonData.prometheusType: expected one of Cortex, Mimir, Prometheus, Thanos"),
        ("timeInterval", 15, "jsonData.timeInterval: expected string, got 15"),
        ("exemplarTraceIdDestinations", [{"name": "trace_id", "datasourceUID": "tempo"}], "jsonData.exemplarTraceIdDestinations[0].datasourceUID: not a key"),
    ],
)
def test_an_invented_or_wrong_typed_option_is_refused(render_stack, key: str, value: Any, expected: str) -> None:
    render = render_stack("dev")
    json_data = copy.deepcopy(_json_data(render, "prometheus"))
    json_data[key] = value
    errors = _errors(render, json_data)
    assert any(error.startswith(expected) for error in errors), errors
