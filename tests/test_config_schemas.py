"""The generated Loki and Tempo files against the documented keys and types, and the docs' retention table against them."""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components.loki_config import loki_config
from components.settings import load_settings
from components.tempo_config import tempo_config
from scripts.render import Render
from tests.k8s_objects import mounted_yaml

SCHEMAS = Path(__file__).with_name("schemas")
DOCS = Path(__file__).resolve().parent.parent / "docs" / "logs-and-traces.md"
STORAGE_VARIANTS = [
    {},
    {"objectStorage": {"backend": "s3", "bucket": "b-1", "region": "eu-west-1", "credentials": "workloadIdentity"}},
    {"objectStorage": {"backend": "s3", "bucket": "b-1", "endpoint": "minio:9000", "credentials": "workloadIdentity"}},
    {"objectStorage": {"backend": "gcs", "bucket": "b-1", "credentials": "workloadIdentity"}},
]


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = yaml.safe_load((SCHEMAS / f"{name}.schema.yaml").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(name: str, document: dict[str, Any]) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(name).iter_errors(document)]


def _loki(render: Render) -> dict[str, Any]:
    return mounted_yaml(render, "StatefulSet", "loki", "/etc/loki/loki.yaml")


def _tempo(render: Render) -> dict[str, Any]:
    return mounted_yaml(render, "StatefulSet", "tempo", "/etc/tempo/tempo.yaml")


def test_rendered_configs_use_only_documented_keys(rendered: Render) -> None:
    assert _errors("loki", _loki(rendered)) == []
    assert _errors("tempo", _tempo(rendered)) == []


@pytest.mark.parametrize("variant", STORAGE_VARIANTS)
def test_every_storage_variant_matches_the_schema(variant: dict[str, Any]) -> None:
    # Loki's bucket starts a schema period on a recorded day (loki.objectStorage.since).
    loki = {"objectStorage": {**variant["objectStorage"], "since": "2027-01-04"}} if variant else variant
    settings = load_settings({"observability:loki": loki, "observability:tempo": variant}, "prod")
    assert _errors("loki", loki_config(settings)) == []
    assert _errors("tempo", tempo_config(settings)) == []


@pytest.mark.parametrize(
    ("name", "path", "key"),
    [("loki", ("compactor",), "retention_enable"), ("loki", ("limits_config",), "retention"), ("tempo", ("compactor", "compaction"), "block_retentions")],
)
def test_a_misspelt_key_is_caught(render_stack, name: str, path: tuple[str, ...], key: str) -> None:
    render = render_stack("dev")
    document = copy.deepcopy(_loki(render) if name == "loki" else _tempo(render))
    target = document
    for part in path:
        target = target[part]
    target[key] = "72h"
    assert any(key in error for error in _errors(name, document))


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
