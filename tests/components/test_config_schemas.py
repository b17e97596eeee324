"""The generated Loki and Tempo files against the configuration reference of the deployed releases
(tests/support/config_reference/), and the docs' retention table against them."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from components import paths
from components.logs.loki_config import loki_config
from components.settings import Settings
from components.settings.loader import load_settings
from components.traces.tempo_config import tempo_config
from components.wiring import endpoints
from tests.support.config_reference import check_keys, image_version, reference
from tests.support.k8s_objects import mounted_yaml
from tooling.render import Render

DOCS = paths.DOCS_DIR / "logs-and-traces.md"
STORAGE_VARIANTS = [
    {},
    {"objectStorage": {"backend": "s3", "bucket": "b-1", "region": "eu-west-1", "credentials": "workloadIdentity"}},
    {"objectStorage": {"backend": "s3", "bucket": "b-1", "endpoint": "minio:9000", "credentials": "workloadIdentity"}},
    {"objectStorage": {"backend": "gcs", "bucket": "b-1", "credentials": "workloadIdentity"}},
]


def _reference(name: str, settings: Settings) -> dict[str, Any]:
    """The configuration reference of the release the settings deploy (image tag), e.g. loki-3.5.3.yaml."""
    image = settings.loki.image if name == "loki" else settings.tempo.image
    return reference(name, image_version(image))


def _errors(name: str, document: dict[str, Any], settings: Settings) -> list[str]:
    return check_keys(document, _reference(name, settings))


def _loki(render: Render) -> dict[str, Any]:
    return mounted_yaml(render, "StatefulSet", endpoints.LOKI_NAME, "/etc/loki/loki.yaml")


def _tempo(render: Render) -> dict[str, Any]:
    return mounted_yaml(render, "StatefulSet", endpoints.TEMPO_NAME, "/etc/tempo/tempo.yaml")


@pytest.mark.parametrize("name", ["loki", "tempo"])
def test_the_reference_is_of_the_deployed_release(name: str) -> None:
    for stack in ("dev", "staging", "prod"):
        settings = load_settings({}, stack)
        ref = _reference(name, settings)
        image = settings.loki.image if name == "loki" else settings.tempo.image
        assert ref["source"]["repo"] == f"grafana/{name}"
        assert ref["source"]["tag"].lstrip("v") == image_version(image)


def test_rendered_configs_use_only_keys_of_the_deployed_release(rendered: Render) -> None:
    assert _errors("loki", _loki(rendered), rendered.settings) == []
    assert _errors("tempo", _tempo(rendered), rendered.settings) == []


@pytest.mark.parametrize("variant", STORAGE_VARIANTS)
def test_every_storage_variant_matches_the_reference(variant: dict[str, Any]) -> None:
    # Loki's bucket starts a schema period on a recorded day (loki.objectStorage.since).
    loki = {"objectStorage": {**variant["objectStorage"], "since": "2027-01-04"}} if variant else variant
    settings = load_settings({"observability:loki": loki, "observability:tempo": variant}, "prod")
    # Through YAML, as the file the program reads.
    assert _errors("loki", yaml.safe_load(yaml.safe_dump(loki_config(settings))), settings) == []
    assert _errors("tempo", yaml.safe_load(yaml.safe_dump(tempo_config(settings))), settings) == []


@pytest.mark.parametrize(
    ("name", "path", "key"),
    [
        ("loki", ("compactor",), "retention_enable"),
        ("loki", ("limits_config",), "retention"),
        ("loki", ("query_range", "results_cache"), "enabled"),
        ("loki", ("schema_config", "configs", 0, "index"), "retention"),
        ("tempo", ("compactor", "compaction"), "block_retentions"),
        ("tempo", ("overrides", "defaults", "ingestion"), "burst_bytes"),
        ("tempo", ("distributor", "receivers", "otlp", "protocols", "grpc"), "listen"),
        ("tempo", (), "stream_over_http"),
    ],
)
def test_an_invented_key_is_refused(render_stack, name: str, path: tuple[str | int, ...], key: str) -> None:
    render = render_stack("dev")
    document = copy.deepcopy(_loki(render) if name == "loki" else _tempo(render))
    target: Any = document
    for part in path:
        target = target[part]
    target[key] = "72h"
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in (*path, key)).lstrip(".")
    assert _errors(name, document, render.settings) == [f"{dotted}: not a key of this release's configuration"]


@pytest.mark.parametrize(
    ("name", "path", "value", "expected"),
    [
        ("loki", ("limits_config", "retention_period"), 72, "duration"),  # a number where a duration is read
        ("loki", ("limits_config", "ingestion_rate_mb"), "4MB", "float"),
        ("loki", ("limits_config", "per_stream_rate_limit"), "fast", "bytes"),
        ("loki", ("compactor", "retention_enabled"), "yes", "boolean"),
        ("loki", ("schema_config", "configs", 0, "from"), "01/01/2025", "daytime"),
        ("loki", ("limits_config", "discover_service_name"), "service", "list of strings"),
        ("tempo", ("compactor", "compaction", "block_retention"), "14 days", "duration"),
        ("tempo", ("server", "http_listen_port"), "3200", "int"),
        ("tempo", ("distributor", "receivers", "otlp", "protocols", "grpc", "max_recv_msg_size_mib"), "16MiB", "int"),
        ("tempo", ("stream_over_http_enabled",), 1, "boolean"),
    ],
)
def test_a_wrong_typed_value_is_refused(render_stack, name: str, path: tuple[str | int, ...], value: Any, expected: str) -> None:
    render = render_stack("prod")
    document = copy.deepcopy(_loki(render) if name == "loki" else _tempo(render))
    target: Any = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    errors = _errors(name, document, render.settings)
    assert len(errors) == 1 and errors[0].endswith(f"expected {expected}, got {value!r}"), errors


def test_the_docs_retention_table_matches_the_configs(render_stack) -> None:
    text = DOCS.read_text()
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\| (Loki|Tempo) `[^`]+` \| (\w+) \| (\w+) \| (\w+) \|$", line)
        if match:
            rows[match.group(1)] = match.groups()[1:]
    assert set(rows) == {"Loki", "Tempo"}
    for index, stack in enumerate(("dev", "staging", "prod")):
        render = render_stack(stack)
        assert rows["Loki"][index] == _loki(render)["limits_config"]["retention_period"]
        assert rows["Tempo"][index] == _tempo(render)["compactor"]["compaction"]["block_retention"]
